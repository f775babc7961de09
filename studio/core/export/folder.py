"""Take a run's result away: an adapter folder or a merged model, checked on the way out.

`export(run_dir, to, fmt=...)` writes into a temporary folder beside `to`, verifies it
(export_check.py: reload with plain transformers/peft, logits vs the in-studio model, EOS stop),
and only then renames it to `to`. Nothing is written outside `to` and that temporary; a
non-empty `to` is replaced only with `overwrite` and only when it holds a previous export.

- adapter: PEFT save_pretrained layout (adapter_config.json + adapter_model.safetensors), the
  tokenizer when the run's differs from the base model's, README.md (model_card.py), config.yaml.
- merged: the adapter merged into the base weights (merge_and_unload), safetensors shards,
  tokenizer + chat template, generation_config whose EOS includes the template's end of turn.
  A qlora run's base is 4-bit: merging into it is refused unless `dequantize`, which merges into
  those 4-bit weights dequantized to float (the values the adapter was trained against).
  Full / freeze runs are already whole models: merged == their weights.
- gguf: the merged model as one .gguf file for llama.cpp / Ollama / LM Studio, verified by
  llama.cpp itself, with an Ollama Modelfile and verification.md (gguf_export.py).

torch / transformers / peft are imported inside functions (the export dialog imports this).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from studio.core import runs
from studio.core.config import RunConfig
from studio.core.export import FORMATS, ExportError, model_card
from studio.core.faults import fault_at
from studio.core.gc_policy import collect_garbage
from studio.core.model.load import release
from studio.core.train.checkpoint import why_write_failed, write_errors

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class ExportResult:
    path: Path
    fmt: str
    step: Optional[int]
    files: tuple[str, ...]
    size_mb: float
    max_abs_diff: Optional[float]       # logits, export reloaded vs in-studio model
    stopped_at_eos: Optional[bool]
    generated_tokens: int
    stop_tokens: tuple[str, ...]
    warnings: tuple[str, ...]
    seconds: float
    dtype: str = ""                     # what the weights were made and checked in
    checks: tuple = ()                  # checklist.Check; see checklist()

    def checklist(self) -> tuple:
        """The verification as checks: llama.cpp's for a GGUF, else the reload checks."""
        from studio.core.export.checklist import Check

        if self.checks or self.fmt == "gguf":
            return self.checks
        out = []
        if self.max_abs_diff is not None:
            out.append(Check("reloads with plain transformers" + (" + peft" if self.fmt ==
                             "adapter" else "") + " and matches the in-studio model", True,
                             f"logits max abs diff {self.max_abs_diff:.2e}"))
        if self.stopped_at_eos is not None:
            out.append(Check("generation stops at the end of the turn",
                             True if self.stopped_at_eos else None,
                             f"greedy: {'stopped' if self.stopped_at_eos else 'did not stop'} "
                             f"after {self.generated_tokens} tokens (stop tokens "
                             f"{', '.join(self.stop_tokens)})",
                             "a barely trained model often runs on; train longer"))
        return tuple(out)

    def summary(self, checks: bool = True) -> str:
        """What was written and what the checks found (`checks=False`: without the check lines,
        for a window that shows them as a checklist)."""
        lines = [f"exported {self.fmt} to {self.path} ({len(self.files)} files, "
                 f"{self.size_mb:.1f} MB, {self.dtype}) in {self.seconds:.1f} s"]
        if self.max_abs_diff is not None:
            lines.append(f"logits vs the in-studio model: max abs diff {self.max_abs_diff:.2e} "
                         "(ok)")
        if self.stopped_at_eos is not None:
            how = "stopped at EOS" if self.stopped_at_eos else "did not stop at EOS"
            lines.append(f"canned prompt: {how} after {self.generated_tokens} tokens "
                         f"(stop tokens {', '.join(self.stop_tokens)})")
        for c in self.checks if checks else ():
            mark = {True: "ok", False: "FAILED", None: "--"}[c.passed]
            lines.append(f"[{mark:>6}] {c.name}: {c.figure}")
        lines += [f"note: {w}" for w in self.warnings]
        return "\n".join(lines)


# --- checks before any work ----------------------------------------------------------------------

def check_request(cfg: RunConfig, fmt: str, dequantize: bool, gguf_type: str = "f16") -> None:
    """Refuse what cannot be exported, with the reason and the way out."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose adapter, merged or gguf")
    if fmt == "adapter" and not cfg.is_peft:
        raise ExportError(f"a {cfg.method} run trains the weights themselves and has no "
                          "adapter; export --format merged (its full weights)")
    spec = cfg.method_spec
    if fmt in ("merged", "gguf") and not spec.mergeable:
        what = "adds virtual tokens in front of the prompt; they" if spec.virtual_tokens \
            else "trains weights that"
        raise ExportError(f"{cfg.method} {what} cannot be merged into the weights"
                          f"{' (a GGUF file holds merged weights)' if fmt == 'gguf' else ''}: "
                          "export --format adapter")
    if fmt == "gguf":
        from studio.core.export import gguf

        gguf.check_type(gguf_type)   # a 4-bit base is dequantized for GGUF: no question
        return
    if fmt == "merged" and spec.quantized_base and not dequantize:
        raise ExportError("the base of a qlora run is 4-bit: merging the adapter into it would "
                          "round the update away. Dequantize the base to its compute dtype "
                          "first (--dequantize; the merged model is full size), or export "
                          "--format adapter")


def check_destination(run: runs.RunDir, to: str | Path, overwrite: bool) -> Path:
    """The absolute export folder, refused when writing there could harm the run or the
    user's files."""
    given = Path(to).expanduser()
    if given.is_symlink():
        raise ExportError(f"{given} is a symbolic link; give the real folder to export into")
    dest = given.resolve()
    run_path = run.path.resolve()
    if dest == run_path or run_path.is_relative_to(dest):
        raise ExportError(f"{dest} holds the run itself; export into a folder of its own")
    for keep in (run.adapter_dir, run.model_dir, run.checkpoints):
        if dest.is_relative_to(keep.resolve()):
            raise ExportError(f"{dest} is inside the run's {keep.name}/; export elsewhere")
    if dest.exists() and not dest.is_dir():
        raise ExportError(f"{dest} is a file, not a folder")
    if dest.is_dir() and any(dest.iterdir()):
        if not overwrite:
            raise ExportError(f"{dest} is not empty; choose a new folder or pass --overwrite "
                              "to replace it")
        if not looks_like_export(dest):
            raise ExportError(f"{dest} holds files that are not a model or adapter export; "
                              "Studio replaces only a previous export (choose another folder)")
    parent = dest.parent
    if not parent.is_dir():
        try:
            parent.mkdir(parents=True)
        except OSError as e:
            raise ExportError(f"cannot create {parent}: {e.strerror or e}") from None
    if not os.access(parent, os.W_OK):
        raise ExportError(f"{parent} is not writable")
    return dest


def looks_like_export(folder: Path) -> bool:
    """A Hugging Face model or adapter folder, or a GGUF export: its marker file and no
    sub-folders (a project or home folder with a config.json in it is not)."""
    has_marker = (folder / "config.json").is_file() or (folder / "adapter_config.json").is_file() \
        or ((folder / "Modelfile").is_file() and any(folder.glob("*.gguf")))
    return has_marker and not any(p.is_dir() for p in folder.iterdir())


# --- the export ----------------------------------------------------------------------------------

def export(run_dir: str | Path, to: str | Path, *, fmt: str = "adapter",
           step: Optional[int] = None, overwrite: bool = False, dequantize: bool = False,
           verify: bool = True, max_shard_size: str | int = "2GB", device: Optional[str] = None,
           progress: Optional[Progress] = None, gguf_type: str = "f16",
           sampling: Any = None) -> ExportResult:
    """Export a run (final weights, or checkpoint `step`) into the folder `to`. `gguf_type`
    and `sampling` (modelfile.Sampling, the Modelfile's defaults) are for fmt="gguf"."""
    from studio.core.export import check as chk
    from studio.core.model.run_model import load_run_model, pick_device

    fmt = fmt.strip().lower()
    t0 = time.perf_counter()
    say = progress or (lambda f, m: None)
    run = runs.open_run(run_dir)
    cfg = runs.load_config(run)
    check_request(cfg, fmt, dequantize, gguf_type)
    dest = check_destination(run, to, overwrite)
    if step is not None and step not in runs.checkpoint_steps(run):
        have = ", ".join(map(str, runs.checkpoint_steps(run))) or "none"
        raise ExportError(f"run {run.path} has no checkpoint at step {step} "
                          f"(complete checkpoints: {have})")
    if fmt == "gguf":
        from studio.core.export.gguf import check_architecture

        check_architecture(_base_config(cfg))    # before the model loads: one line, exit 2
        return _export_gguf(run, cfg, dest, step, gguf_type.strip().lower(), verify, device,
                            sampling, say, t0)

    say(0.05, "loading the run's model")
    kind = pick_device(device)
    rm = load_run_model(run.path, step, device=kind,
                        dequantize=fmt == "merged" and cfg.method_spec.quantized_base,
                        dtype=_load_dtype(cfg, fmt, kind))
    dev = str(next(rm.model.parameters()).device)
    ids = chk.probe_ids(rm.tokenizer, dev)
    reference = chk.logits(rm.model, ids) if verify else None
    tmp = _temp_dir(dest)
    try:
        say(0.25, f"writing the {fmt}")
        try:
            warnings, tok_note = _write(rm, fmt, tmp, max_shard_size)
        except write_errors() as e:
            raise ExportError(f"could not write the {fmt} next to {dest}: "
                              f"{why_write_failed(e, tmp.parent)}; nothing was written") \
                from None
        quant = _quantization(rm.model) if fmt == "adapter" else None
        dtype = _dtype(rm.model)
        release(rm.model)  # 4-bit layers hold cycles: freed now, not at a later collection
        del rm  # free the in-studio copy before the check loads the export
        collect_garbage()
        diff, eos = None, None
        if verify:
            say(0.55, "reloading the export with plain transformers"
                + (" + peft" if fmt == "adapter" else ""))
            plain = chk.reload_plain(tmp, fmt, _base_path(cfg), quant, dev, dtype)
            diff = chk.max_abs_diff(reference, chk.logits(plain, ids))
            tolerance = chk.logit_tolerance(dtype, reference)
            if not diff <= tolerance:
                raise ExportError(f"the exported {fmt} does not reproduce the in-studio model: "
                                  f"logits differ by up to {diff:.3g} (tolerance "
                                  f"{tolerance:.3g} in {_name(dtype)}); nothing was written "
                                  f"to {dest}")
            say(0.8, "checking that generation stops at the end of the turn")
            eos = chk.eos_check(plain, _export_tokenizer(tmp, cfg))
            del plain
            collect_garbage()
            if eos.problem and fmt == "merged":
                raise ExportError(f"the merged model's EOS is wrong: {eos.problem}; nothing "
                                  f"was written to {dest}")
            if eos.problem:
                warnings.append(eos.problem + " (Studio's chat adds it; other tools will run "
                                "past the end of the turn unless the base model's "
                                "generation_config.json lists it)")
            if not eos.stopped:
                warnings.append(f"greedy generation on a canned prompt did not stop within "
                                f"{eos.tokens} tokens (a barely trained model often does "
                                "not; the EOS setup itself is fine)" if not eos.problem else
                                f"greedy generation did not stop within {eos.tokens} tokens")
        say(0.9, "writing the model card")
        _write_card(tmp, cfg, run, fmt, step, diff, eos, tok_note, warnings)
        files = tuple(sorted(p.name for p in tmp.iterdir()))
        size = sum(p.stat().st_size for p in tmp.iterdir()) / 2**20
        fault_at("kill_in_export", 0)
        _move_into_place(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a failed export leaves nothing behind
        raise
    say(1.0, "done")
    return ExportResult(path=dest, fmt=fmt, step=step, files=files, size_mb=size,
                        max_abs_diff=diff, stopped_at_eos=eos.stopped if eos else None,
                        generated_tokens=eos.tokens if eos else 0,
                        stop_tokens=eos.stop_tokens if eos else (),
                        warnings=tuple(warnings), seconds=time.perf_counter() - t0,
                        dtype=_name(dtype))


def _write(rm: Any, fmt: str, tmp: Path, max_shard_size: str | int) -> tuple[list[str], str]:
    """Write the weights + tokenizer into tmp; returns (warnings, tokenizer note)."""
    warnings: list[str] = []
    if fmt == "adapter":
        rm.model.save_pretrained(str(tmp), safe_serialization=True)
        if tokenizer_changed(rm.tokenizer, rm.base_path):
            rm.tokenizer.save_pretrained(str(tmp))
            note = "included (it differs from the base model's)"
        else:
            note = "the base model's, unchanged (not copied: load it from the base model)"
        return warnings, note
    model = rm.model.merge_and_unload() if rm.is_peft else rm.model
    if rm.cfg.method_spec.quantized_base:
        warnings.append("merged into the 4-bit base dequantized to "
                        f"{str(_dtype(model)).replace('torch.', '')}: the merged model behaves "
                        "as the tuned model did, at full size")
    _fix_generation_config(model, rm.tokenizer)
    model.save_pretrained(str(tmp), safe_serialization=True, max_shard_size=max_shard_size)
    rm.tokenizer.save_pretrained(str(tmp))
    return warnings, "included, with its chat template"


def _fix_generation_config(model: Any, tokenizer: Any) -> None:
    """generation_config.json stops at every end-of-turn token the chat template uses."""
    from studio.core.chat.engine import end_of_turn_ids

    gen = model.generation_config
    gen.eos_token_id = end_of_turn_ids(tokenizer, gen)
    if gen.pad_token_id is None and tokenizer.pad_token_id is not None:
        gen.pad_token_id = tokenizer.pad_token_id


def tokenizer_changed(tokenizer: Any, base_path: Path) -> bool:
    """Does the run's tokenizer differ from the base model's (vocabulary, special tokens,
    chat template)?"""
    from studio.core.model import load as model_mod

    base = model_mod.load_tokenizer(base_path)
    return (tokenizer.get_vocab() != base.get_vocab()
            or tokenizer.chat_template != base.chat_template
            or tokenizer.all_special_tokens != base.all_special_tokens)


def _write_card(tmp: Path, cfg: RunConfig, run: runs.RunDir, fmt: str, step: Optional[int],
                diff: Optional[float], eos: Any, tok_note: str, warnings: list[str]) -> None:
    shutil.copyfile(run.config_file, tmp / "config.yaml")
    names = sorted({p.name for p in tmp.iterdir()} | {"README.md"})
    facts = model_card.CardFacts(
        fmt=fmt, step=step, files=tuple(names), max_abs_diff=diff,
        stopped_at_eos=eos.stopped if eos else None, generated_tokens=eos.tokens if eos else 0,
        eos_tokens=eos.stop_tokens if eos else (), tokenizer_note=tok_note,
        warnings=tuple(warnings))
    # PEFT writes its own template README; ours replaces it.
    (tmp / "README.md").write_text(model_card.render(cfg, run, facts), encoding="utf-8")


# --- small helpers -------------------------------------------------------------------------------

def _temp_dir(dest: Path) -> Path:
    # Leftovers of an export to the same folder that was killed are removed first: they are
    # ours (the name says so) and never a finished export.
    for old in dest.parent.glob(f".{dest.name}.{runs.TMP_PREFIX}export-*"):
        shutil.rmtree(old, ignore_errors=True)
    tmp = dest.parent / f".{dest.name}.{runs.TMP_PREFIX}export-{os.getpid()}"
    tmp.mkdir()
    return tmp


def _move_into_place(tmp: Path, dest: Path) -> None:
    """Rename tmp to dest; an existing export is moved aside first and deleted after."""
    if not dest.exists():
        os.replace(tmp, dest)
        return
    old = dest.parent / f".{dest.name}.{runs.TMP_PREFIX}old-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    except OSError:
        os.replace(old, dest)  # put the previous export back
        raise
    shutil.rmtree(old, ignore_errors=True)


def _export_gguf(run: runs.RunDir, cfg: RunConfig, dest: Path, step: Optional[int],
                 gguf_type: str, verify: bool, device: Optional[str], sampling: Any,
                 say: Progress, t0: float) -> ExportResult:
    from studio.core.export.gguf_export import export_gguf
    from studio.core.export.modelfile import Sampling

    tmp = _temp_dir(dest)
    try:
        warnings, checks = export_gguf(run, cfg, dest, tmp, step=step, gguf_type=gguf_type,
                                       device=device, verify=verify,
                                       sampling=sampling or Sampling(), say=say)
        files = tuple(sorted(p.name for p in tmp.iterdir()))
        size = sum(p.stat().st_size for p in tmp.iterdir()) / 2**20
        fault_at("kill_in_export", 0)
        _move_into_place(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a failed export leaves nothing behind
        raise
    say(1.0, "done")
    return ExportResult(path=dest, fmt="gguf", step=step, files=files, size_mb=size,
                        max_abs_diff=None, stopped_at_eos=None, generated_tokens=0,
                        stop_tokens=(), warnings=tuple(warnings),
                        seconds=time.perf_counter() - t0, checks=tuple(checks))


def _base_config(cfg: RunConfig) -> dict:
    from studio.core.model import load as model_mod

    return model_mod.read_model_config(cfg.model, trust_remote_code=cfg.trust_remote_code)


def _base_path(cfg: RunConfig) -> Path:
    from studio.core.model import load as model_mod

    return model_mod.resolve_model(cfg.model, trust_remote_code=cfg.trust_remote_code,
                                   allow_pickle=cfg.allow_pickle)


def _export_tokenizer(folder: Path, cfg: RunConfig) -> Any:
    from studio.core.model import load as model_mod

    src = folder if (folder / "tokenizer_config.json").is_file() else _base_path(cfg)
    return model_mod.load_tokenizer(src)


def _load_dtype(cfg: RunConfig, fmt: str, kind: str) -> Any:
    """A full fine-tune keeps fp32 master weights: exported exact. A merge happens in the
    base model's own dtype (device.export_precision), with a tolerance that dtype can meet.
    An adapter is checked on the base as chat loads it (None: the device's default)."""
    from studio.core import device as policy
    from studio.core.model import load as model_mod

    if not cfg.is_peft:
        return "fp32"
    if fmt != "merged":
        return None
    conf = model_mod.read_model_config(_base_path(cfg))
    own = conf.get("dtype") or conf.get("torch_dtype")  # transformers 5 / 4 spelling
    return policy.export_precision(own, kind, policy.capability_of(kind))


def _name(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


def _quantization(model: Any) -> Any:
    """The BitsAndBytesConfig the in-studio base was loaded with (None when not quantized)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    q = getattr(base.config, "quantization_config", None)
    if q is None:
        return None
    from transformers import BitsAndBytesConfig

    return q if isinstance(q, BitsAndBytesConfig) else BitsAndBytesConfig.from_dict(dict(q))


def _dtype(model: Any) -> Any:
    import torch

    for p in model.parameters():
        if p.dtype.is_floating_point:
            return p.dtype
    return torch.float32
