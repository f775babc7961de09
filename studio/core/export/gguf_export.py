"""The GGUF export of a run: merge, write one .gguf file, verify it with llama.cpp, write an
Ollama Modelfile, the verification report and the model card, then move the folder into place.

Like the other exports it is built in a temporary folder beside the destination and renamed
only when complete; a failed check leaves nothing behind.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable, Optional

from studio.core import runs
from studio.core.config import RunConfig
from studio.core.export import gguf as gguf_mod
from studio.core.export import model_card
from studio.core.export.checklist import VERDICT, write_report
from studio.core.export.modelfile import Sampling, jinja_renderer, modelfile
from studio.core.gc_policy import collect_garbage
from studio.core.train.checkpoint import why_write_failed, write_errors

Progress = Callable[[float, str], None]


def export_gguf(run: runs.RunDir, cfg: RunConfig, dest: Path, tmp: Path, *, step: Optional[int],
                gguf_type: str, device: Optional[str], verify: bool, sampling: Sampling,
                say: Progress) -> tuple[list[str], list[Any]]:
    """Fill `tmp` with the GGUF export; returns (warnings, checks). Raises ExportError when
    the file cannot be written or fails a check it must pass."""
    from studio.core.chat.engine import end_of_turn_ids, template_end_token
    from studio.core.export import gguf_check
    from studio.core.export.folder import ExportError
    from studio.core.model.run_model import load_run_model

    t0 = time.perf_counter()
    say(0.05, "loading the run's model")
    rm = load_run_model(run.path, step, device="cpu", dequantize=cfg.method_spec.quantized_base,
                        dtype="fp32")
    model = rm.model.merge_and_unload() if rm.is_peft else rm.model
    model = model.float()
    tokenizer = rm.tokenizer
    stop_ids = tuple(end_of_turn_ids(tokenizer, model.generation_config))
    # The file's end of turn is the token the template writes after a reply (<|im_end|>,
    # <|eot_id|>); other stop ids (EOS, padding) stay stops in the Modelfile.
    eot = template_end_token(tokenizer)
    eot = eot if eot is not None else tokenizer.eos_token_id
    name = f"model-{gguf_type}.gguf"
    warnings: list[str] = []
    if cfg.method_spec.quantized_base:
        warnings.append("merged into the 4-bit base dequantized to fp32, then written as "
                        f"{gguf_type}")
    try:
        written = gguf_mod.write_gguf(model, tokenizer, tmp / name, gguf_type,
                                      eot_ids=(eot,) if eot is not None else (), name=run.path.name,
                                      progress=lambda f, m: say(0.1 + 0.5 * f, m))
    except write_errors() as e:
        raise ExportError(f"could not write the gguf next to {dest}: "
                          f"{why_write_failed(e, tmp.parent)}; nothing was written") from None
    warnings += list(written.notes)
    say(0.62, "computing the studio model's answers on the probes")
    ref = gguf_check.reference(model, tokenizer, gguf_type, stop_ids, eot) if verify else None
    render = jinja_renderer(tokenizer)
    stops = [tokenizer.convert_ids_to_tokens(i) for i in stop_ids]
    text, note = modelfile(name, render, stops, sampling)
    del model, rm
    collect_garbage()
    (tmp / "Modelfile").write_text(text, encoding="utf-8")
    if note:
        warnings.append(note)
    checks: list[Any] = []
    if ref is not None:
        say(0.7, "loading the file with llama.cpp and comparing")
        checks = gguf_check.verify(tmp / name, gguf_type, ref, tokenizer)
        write_report(tmp, checks, f"GGUF {gguf_type}")
        failed = [c for c in checks if c.passed is False]
        if failed:
            raise ExportError(f"the {gguf_type} GGUF failed a check: {failed[0].name} "
                              f"({failed[0].figure}); nothing was written to {dest}")
    say(0.92, "writing the model card")
    _card(tmp, cfg, run, step, name, checks, warnings)
    warnings.append(f"GGUF written in {time.perf_counter() - t0:.1f} s")
    return warnings, checks


def _card(tmp: Path, cfg: RunConfig, run: runs.RunDir, step: Optional[int], name: str,
          checks: list[Any], warnings: list[str]) -> None:
    shutil.copyfile(run.config_file, tmp / "config.yaml")
    files = tuple(sorted({p.name for p in tmp.iterdir()} | {"README.md"}))
    notes = tuple(warnings) + tuple(f"llama.cpp check: {c.name}: {VERDICT[c.passed]} "
                                    f"({c.figure})" for c in checks)
    facts = model_card.CardFacts(
        fmt="gguf", step=step, files=files, max_abs_diff=None, stopped_at_eos=None,
        generated_tokens=0, eos_tokens=(), tokenizer_note=f"inside {name} (tokens, merges, "
        "pre-tokenizer, chat template, BOS / EOS / end-of-turn ids)", warnings=notes)
    (tmp / "README.md").write_text(model_card.render(cfg, run, facts), encoding="utf-8")
