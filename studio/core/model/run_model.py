"""Load what a run produced, for chat, export and probes.

`load_run_model(run_dir, step=None)`: the final adapter (PEFT methods) or model (full / freeze)
when step is None; otherwise checkpoint step-N rebuilt exactly as the trainer had it: base model
+ the same method (`registry.apply_method`) + `trainable.safetensors` copied in by parameter name.

`load_chat_models(...)`: a ChatModels holding the engines the chat pane and `main.py chat`
answer with. Base and tuned share one copy of the base weights when the method allows it
(every PEFT method: the base answer is generated with the adapter switched off); a full or
freeze run changes the weights themselves, so its base is a second copy, and `note` says so.

torch / transformers / peft are imported inside the functions (the UI imports this module).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from studio.core import runs
from studio.core.config import RunConfig
from studio.core.errors import UserError


@dataclass
class RunModel:
    model: Any              # a PeftModel for PEFT methods, the trained model for full / freeze
    tokenizer: Any
    cfg: RunConfig
    run: runs.RunDir
    step: Optional[int]     # None: the final adapter / model
    base_path: Path         # the base model's local folder
    source: Path            # adapter/, model/ or checkpoints/step-N

    @property
    def is_peft(self) -> bool:
        return self.cfg.is_peft

    @property
    def label(self) -> str:
        where = f"step {self.step}" if self.step is not None else "final"
        return f"{self.run.path.name} ({self.cfg.method}, {where})"


def pick_device(device: Optional[str] = None) -> str:
    """"cuda" | "mps" | "cpu": the one device policy (studio.core.device)."""
    from studio.core import device as policy

    return policy.resolve(device)


def final_step(run: runs.RunDir) -> Optional[int]:
    """The step the final adapter / model was saved at (run.json), if known."""
    st = runs.read_status(run.path)
    return int(st["step"]) if st.get("status") == "finished" and "step" in st else None


def _base(cfg: RunConfig, device: str, dequantize: bool = False,
          dtype: Any = None) -> tuple[Any, Path]:
    from studio.core.model import load as model_mod

    path = model_mod.resolve_model(cfg.model, trust_remote_code=cfg.trust_remote_code,
                                   allow_pickle=cfg.allow_pickle)
    model = model_mod.load_model(path, device=device, dtype=dtype,
                                 quantize_4bit=cfg.method_spec.quantized_base,
                                 trust_remote_code=cfg.trust_remote_code,
                                 allow_pickle=cfg.allow_pickle)
    if dequantize and getattr(model, "is_loaded_in_4bit", False):
        # The 4-bit weights, dequantized to float: exactly the values the adapter was trained
        # against (reloading the original full-precision weights would not be).
        model = model.dequantize()
    return model, path


def load_run_model(run_dir: str | Path, step: Optional[int] = None, *,
                   device: Optional[str] = None, dequantize: bool = False,
                   dtype: Any = None) -> RunModel:
    """The run's final adapter / model (step None) or checkpoint `step`, ready for inference.

    dequantize: for a qlora run, put the adapter on the 4-bit base dequantized to float (what
    a merged export needs); otherwise the base stays 4-bit as in training.
    dtype: None = what the device computes best in (load.resolve_dtype: fp32 on the CPU, bf16
    or fp16 on a GPU); "fp32" keeps weights exact (export).
    """
    from studio.core.model import load as model_mod

    run = runs.open_run(run_dir)
    cfg = runs.load_config(run)
    dev = pick_device(device)
    if step is None:
        source = run.adapter_dir if cfg.is_peft else run.model_dir
        if not source.is_dir():
            steps = runs.checkpoint_steps(run)
            hint = f"; pick a checkpoint (steps {', '.join(map(str, steps))})" if steps else ""
            raise UserError(f"run {run.path} has no final {source.name}/ (it did not finish)"
                            + hint)
    else:
        source = runs.checkpoint_path(run, step)
        if step not in runs.checkpoint_steps(run):
            have = ", ".join(map(str, runs.checkpoint_steps(run))) or "none"
            raise UserError(f"run {run.path} has no checkpoint at step {step} "
                            f"(complete checkpoints: {have})")
    if step is None and not cfg.is_peft:
        tokenizer = model_mod.load_tokenizer(source, trust_remote_code=cfg.trust_remote_code)
        model = model_mod.load_model(source, device=dev, dtype=dtype,
                                     trust_remote_code=cfg.trust_remote_code)
        base_path = model_mod.resolve_model(cfg.model, trust_remote_code=cfg.trust_remote_code,
                                            allow_pickle=cfg.allow_pickle)
    else:
        base, base_path = _base(cfg, dev, dequantize, dtype)
        tok_dir = source if (source / "tokenizer_config.json").is_file() else base_path
        tokenizer = model_mod.load_tokenizer(tok_dir, trust_remote_code=cfg.trust_remote_code)
        if step is None:
            model = model_mod.attach_adapter(base, source)
        else:
            model = _from_checkpoint(base, cfg, source)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return RunModel(model=model, tokenizer=tokenizer, cfg=cfg, run=run, step=step,
                    base_path=Path(base_path), source=source)


def _from_checkpoint(base: Any, cfg: RunConfig, ckpt: Path) -> Any:
    """Rebuild the model as training had it at this checkpoint."""
    import torch

    from studio.core import files
    from studio.core.methods.registry import apply_method
    from studio.core.train import checkpoint

    state = checkpoint.read_state(ckpt)
    # Same seed as the trainer: parts a method initialises but does not train stay identical.
    torch.manual_seed(cfg.seed)
    model = apply_method(base, _inference_method(cfg), state.total_steps)
    weights = files.load_safetensors(ckpt / "trainable.safetensors")
    params = dict(model.named_parameters())
    unknown = [n for n in weights if n not in params]
    missing = [n for n, p in params.items() if p.requires_grad and n not in weights]
    if unknown or missing:
        name = (unknown or missing)[0]
        raise UserError(f"checkpoint {ckpt} does not match the model rebuilt from the run's "
                        f"config (e.g. {name}); was config.yaml or the base model changed?")
    with torch.no_grad():
        for name, tensor in weights.items():
            params[name].copy_(tensor.to(params[name].device, params[name].dtype))
    return model


def _inference_method(cfg: RunConfig) -> RunConfig:
    """The method to rebuild a checkpoint with. QLoRA's builder prepares a 4-bit model for
    training (prepare_model_for_kbit_training casts every other weight to fp32): for chat and
    export only its LoRA layers are wanted, on the 4-bit or dequantized base as loaded."""
    return cfg.replace(method="lora") if cfg.method_spec.quantized_base else cfg


def load_adapter_model(model: str | Path | None, adapter: str | Path, *,
                       device: Optional[str] = None) -> tuple[Any, Any, Path]:
    """(PeftModel, tokenizer, base folder) for a saved adapter folder. The base defaults to the
    adapter's base_model_name_or_path when `model` is None."""
    from studio.core.model import load as model_mod

    adapter = Path(adapter).expanduser()
    conf = adapter / "adapter_config.json"
    if not conf.exists():
        raise UserError(f"{adapter} is not an adapter folder (no adapter_config.json)")
    from studio.core import files

    meta = files.read_json(conf, "adapter config")
    if not isinstance(meta, dict):
        raise UserError(f"{conf} is not an adapter config (a JSON object)")
    base_name = model or meta.get("base_model_name_or_path")
    if not base_name:
        raise UserError(f"{conf} names no base model; pass --model")
    path = model_mod.resolve_model(base_name)
    base = model_mod.load_model(path, device=pick_device(device))
    tok_dir = adapter if (adapter / "tokenizer_config.json").is_file() else path
    tokenizer = model_mod.load_tokenizer(tok_dir)
    peft_model = model_mod.attach_adapter(base, adapter)
    peft_model.eval()
    return peft_model, tokenizer, path


# --- chat models ---------------------------------------------------------------------------------

SIDES = ("base", "tuned")


@dataclass
class ChatModels:
    """The engines that answer: `tuned` is None when only a base model was loaded. When
    `shared`, both sides are one engine (adapter on / off)."""
    base: Any                   # ChatEngine
    tuned: Optional[Any]        # ChatEngine or None
    shared: bool
    label: str                  # what the tuned side is (run, step / adapter folder)
    note: str = ""              # memory / template remarks for the user

    def reply(self, side: str, messages: Sequence[dict], settings: Any,
              on_chunk: Optional[Callable] = None, cancel: Any = None) -> Any:
        if side not in SIDES:
            raise UserError(f"unknown side {side!r}")
        if side == "tuned" and self.tuned is None:
            raise UserError("no tuned model is loaded: pick a run or an adapter")
        engine = self.tuned if side == "tuned" else self.base
        use_adapter = side == "tuned"
        return engine.reply(messages, settings, on_chunk=on_chunk, cancel=cancel,
                            use_adapter=use_adapter)


def load_chat_models(*, model: str | Path | None = None, adapter: str | Path | None = None,
                     run: str | Path | None = None, step: Optional[int] = None,
                     with_base: bool = True, device: Optional[str] = None) -> ChatModels:
    """Load for chat: a plain model, a model + adapter folder, or a run (final or a step)."""
    from studio.core.chat.engine import ChatEngine
    from studio.core.model import load as model_mod

    if run is not None and adapter is not None:
        raise UserError("give either a run or an adapter folder, not both")
    if run is not None:
        rm = load_run_model(run, step, device=device)
        tuned = ChatEngine(rm.model, rm.tokenizer)
        if rm.is_peft:
            return ChatModels(tuned, tuned, True, rm.label, _notes(tuned, shared=True))
        if not with_base:
            return ChatModels(tuned, tuned, False, rm.label, _notes(tuned))
        base_model = model_mod.load_model(rm.base_path, device=pick_device(device))
        base = ChatEngine(base_model, model_mod.load_tokenizer(rm.base_path))
        mb = _size_mb(base_model)
        note = (f"{rm.cfg.method} changed the weights themselves, so the base is a second "
                f"copy in memory (+{mb:.0f} MB)")
        return ChatModels(base, tuned, False, rm.label, _join(note, _notes(tuned)))
    if adapter is not None:
        peft_model, tok, _ = load_adapter_model(model, adapter, device=device)
        engine = ChatEngine(peft_model, tok)
        return ChatModels(engine, engine, True, Path(adapter).name, _notes(engine, shared=True))
    if model is None:
        raise UserError("nothing to chat with: give a model folder, an adapter or a run")
    path = model_mod.resolve_model(model)
    engine = ChatEngine(model_mod.load_model(path, device=pick_device(device)),
                        model_mod.load_tokenizer(path))
    return ChatModels(engine, None, False, path.name, _notes(engine))


def _notes(engine: Any, shared: bool = False) -> str:
    parts = []
    if shared:
        parts.append("base and tuned share one copy of the weights (adapter off / on)")
    if engine.note:
        parts.append(engine.note)
    return "; ".join(parts)


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _size_mb(model: Any) -> float:
    return sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
