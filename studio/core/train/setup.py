"""Setting a run up: device, precision, data, model and method, optimizer.

Everything here happens before the run directory exists, so bad input (a missing file, a
broken dataset, a model that cannot load) raises UserError and leaves nothing behind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core import runs
from studio.core.config import PROMPT_METHODS, RunConfig
from studio.core.errors import ConfigError, DataError
from studio.core.train import batching, optim


@dataclass
class Setup:
    """Everything a run needs, built before the run directory exists."""
    cfg: RunConfig
    device: Any
    precision: str
    model: Any
    tokenizer: Any
    train: list
    eval: list
    total_steps: int
    fast_loss: bool
    packing: bool
    optimizer: Any = None
    optimizer_name: str = ""
    data_info: dict = field(default_factory=dict)


# --- setup -------------------------------------------------------------------------------------

def check_output_dir(cfg: RunConfig) -> None:
    out = Path(cfg.output_dir).expanduser()
    if out.is_dir() and any(out.iterdir()) and not cfg.overwrite:
        if runs.holds_run(out):
            raise ConfigError(f"output_dir {out} already holds a run; use `python main.py resume "
                              f"{out}` or --set overwrite=true")
        raise ConfigError(f"output_dir {out} is not empty and holds no run; choose an empty or "
                          "new folder")


def pick_device(cfg: RunConfig) -> Any:
    import torch

    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda was asked for, but no CUDA GPU is available here")
    if cfg.device == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def pick_precision(cfg: RunConfig, device: Any) -> str:
    import torch

    if cfg.precision != "auto":
        if cfg.precision in ("bf16", "fp16") and device.type == "cpu":
            raise ConfigError(f"precision {cfg.precision} needs a GPU here; use fp32 or auto")
        return cfg.precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def total_steps_of(cfg: RunConfig, steps_per_epoch_or_total: int) -> int:
    return cfg.max_steps if cfg.max_steps else steps_per_epoch_or_total


def prepare(cfg: RunConfig) -> Setup:
    """Load data and model and attach the method. Raises UserError on any bad input."""
    import torch

    from studio.core.data import doctor as data
    from studio.core.model import load as model_mod

    if cfg.stage == "pretrain" and cfg.method in PROMPT_METHODS:
        raise ConfigError(f"{cfg.method} trains virtual tokens for instructions; use stage: sft")
    if cfg.eval_data:
        from studio.core.eval.run_eval import check_eval_data

        check_eval_data(cfg.eval_data, cfg.eval_metric)
    device = pick_device(cfg)
    precision = pick_precision(cfg, device)
    path = model_mod.resolve_model(cfg.model, trust_remote_code=cfg.trust_remote_code,
                                   allow_pickle=cfg.allow_pickle)
    tokenizer = model_mod.load_tokenizer(path, trust_remote_code=cfg.trust_remote_code)
    samples, report = data.load_samples(cfg.dataset, cfg.format, stage=cfg.stage,
                                        skip_bad_rows=cfg.skip_bad_rows)
    tokenized, dropped = data.tokenize_dataset(samples, tokenizer, cfg.max_length, stage=cfg.stage,
                                               train_on_prompt=cfg.train_on_prompt)
    if not tokenized:
        raise DataError(f"no sample of {cfg.dataset} has tokens to learn from after the chat "
                        f"template and max_length {cfg.max_length}"
                        + (f" ({dropped[0]})" if dropped else ""))
    train_set, eval_set = data.split_train_eval(tokenized, cfg.eval_split, cfg.seed)
    per_epoch = batching.steps_per_epoch(len(train_set), cfg.effective_batch)
    total = cfg.max_steps or max(1, math.ceil(cfg.epochs * per_epoch))

    torch.manual_seed(cfg.seed)  # adapter initialisation is part of the run's identity
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]
    if not cfg.is_peft:
        dtype = torch.float32  # full / freeze keep fp32 master weights; autocast does the rest
    model = model_mod.load_model(path, device=str(device), dtype=dtype,
                                 quantize_4bit=cfg.method == "qlora",
                                 trust_remote_code=cfg.trust_remote_code,
                                 allow_pickle=cfg.allow_pickle)
    model = model_mod.apply_method(model, cfg, total)
    if _want_checkpointing(cfg, path, device):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
    model.train()
    from studio.core.train.loss import supports_fast_loss

    truncated = sum(1 for t in tokenized if t.truncated)
    info = {"rows": report.total_rows, "good_rows": report.good_rows,
            "bad_rows": report.bad_rows, "dropped_no_labels": len(dropped),
            "truncated": truncated, "train_samples": len(train_set),
            "eval_samples": len(eval_set), "fingerprint": data_fingerprint(cfg.dataset)}
    setup = Setup(cfg=cfg, device=device, precision=precision, model=model, tokenizer=tokenizer,
                  train=train_set, eval=eval_set, total_steps=total,
                  fast_loss=supports_fast_loss(model, cfg.method),
                  packing=cfg.packing and cfg.method not in PROMPT_METHODS, data_info=info)
    setup.optimizer, setup.optimizer_name = optim.build_optimizer(model, cfg, device.type)
    return setup


def _want_checkpointing(cfg: RunConfig, path: Path, device: Any) -> bool:
    if cfg.gradient_checkpointing != "auto":
        return cfg.gradient_checkpointing == "on"
    if device.type != "cuda":
        return False  # CPU RAM is the limit there, and the estimate is for accelerators
    from studio.core.model import memory

    total_mb = memory.detect_device().total_mb
    return bool(memory.should_checkpoint(cfg, path / "config.json", total_mb))


def data_fingerprint(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


