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
from studio.core.config import RunConfig
from studio.core.errors import ConfigError, DataError
from studio.core.train import batching, distributed, optim
from studio.core.train.checkpointing import check_checkpointing


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
    scaler: Any = None          # torch.amp.GradScaler for fp16 (device.needs_grad_scaler)
    data_info: dict = field(default_factory=dict)
    reference: Any = None      # dpo / kto on full / freeze: stored reference log-probs
    grpo: Any = None           # stage grpo: rewards, end-of-turn ids, reference (grpo/step.py)
    # this process's place among the run's processes (SINGLE: the only one)
    world: Any = field(default_factory=lambda: distributed.SINGLE)

    def autocast(self) -> Any:
        """Mixed precision for forward passes (a no-op in fp32)."""
        import contextlib

        import torch

        if self.precision in ("bf16", "fp16"):
            dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
            return torch.autocast(device_type=self.device.type, dtype=dtype)
        return contextlib.nullcontext()

    def backward(self, loss: Any) -> None:
        """loss.backward(), scaled by fp16's gradient scaler when there is one (the step
        unscales before clipping)."""
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()


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

    from studio.core import device as policy

    return torch.device(policy.resolve(cfg.device))


def pick_precision(cfg: RunConfig, device: Any, model_path: Any = None) -> str:
    """The run's precision; on a CPU `auto` weighs its bf16 units and the model's size."""
    from studio.core import device as policy

    flags, params = (), 0
    if device.type == "cpu" and cfg.precision in ("", "auto"):
        flags, params = policy.cpu_flags(), _base_params(model_path)
    return policy.training_precision(cfg.precision, device.type,
                                     policy.capability_of(device.type, _index(device)),
                                     cpu_flags=flags, params=params,
                                     full_weights=not cfg.is_peft)


def _base_params(model_path: Any) -> int:
    """The model's parameter count from its config.json (0 when it cannot be read)."""
    from studio.core.errors import UserError
    from studio.core.model import memory

    if model_path is None:
        return 0
    try:
        return memory.model_dims(memory.read_config(model_path)).base_params()
    except (UserError, OSError, ValueError):
        return 0


def _index(device: Any) -> int:
    return device.index if device.index is not None else 0


def total_steps_of(cfg: RunConfig, steps_per_epoch_or_total: int) -> int:
    return cfg.max_steps if cfg.max_steps else steps_per_epoch_or_total


def prepare(cfg: RunConfig, world: Any = None) -> Setup:
    """Load data and model and attach the method. Raises UserError on any bad input. Every
    process of a distributed run (`world`) loads the same data and the same initial model."""
    import torch

    from studio.core import device as policy
    from studio.core.data import doctor as data
    from studio.core.methods.registry import apply_method
    from studio.core.model import load as model_mod

    if cfg.stage == "pretrain" and cfg.method_spec.virtual_tokens:
        raise ConfigError(f"{cfg.method} trains virtual tokens for instructions; use stage: sft")
    check_checkpointing(cfg.gradient_checkpointing, cfg.method)
    if cfg.is_preference and cfg.method_spec.virtual_tokens:
        raise ConfigError(f"stage {cfg.stage} compares replies token by token; {cfg.method} "
                          "adds virtual tokens: use lora, qlora, dora, adalora, ia3, full or "
                          "freeze")
    if cfg.is_grpo:
        from studio.core.train.grpo.step import check as check_grpo

        check_grpo(cfg)  # the rewards, and trust in a user reward file, before any loading
    if cfg.eval_data:
        from studio.core.eval.run_eval import check_eval_data

        check_eval_data(cfg.eval_data, cfg.eval_metric)
    world = world or distributed.SINGLE
    device = distributed.device_of(world, pick_device(cfg))
    path = model_mod.resolve_model(cfg.model, trust_remote_code=cfg.trust_remote_code,
                                   allow_pickle=cfg.allow_pickle)
    precision = pick_precision(cfg, device, path)
    tokenizer = model_mod.load_tokenizer(path, trust_remote_code=cfg.trust_remote_code)
    samples, report = data.load_samples(cfg.dataset, cfg.format, columns=cfg.columns,
                                        stage=cfg.stage, skip_bad_rows=cfg.skip_bad_rows)
    if cfg.is_preference:
        from studio.core.data.preference import tokenize_preference

        tokenized, dropped = tokenize_preference(samples, tokenizer, cfg.max_length,
                                                 stage=cfg.stage)
    elif cfg.is_grpo:
        from studio.core.train.grpo.rollout import tokenize_prompts

        tokenized, dropped = tokenize_prompts(samples, tokenizer, cfg.max_length,
                                              cfg.grpo_max_completion)
    else:
        tokenized, dropped = data.tokenize_dataset(samples, tokenizer, cfg.max_length,
                                                   stage=cfg.stage,
                                                   train_on_prompt=cfg.train_on_prompt)
    if not tokenized:
        raise DataError(f"no sample of {cfg.dataset} has tokens to learn from after the chat "
                        f"template and max_length {cfg.max_length}"
                        + (f" ({dropped[0]})" if dropped else ""))
    # grpo measures itself by its rewards on the prompts it trains on: no held-out loss
    eval_split = 0.0 if cfg.is_grpo else cfg.eval_split
    train_set, eval_set = data.split_train_eval(tokenized, eval_split, cfg.seed)
    per_epoch = batching.steps_per_epoch(len(train_set), cfg.effective_batch)
    total = cfg.max_steps or max(1, math.ceil(cfg.epochs * per_epoch))

    torch.manual_seed(cfg.seed)  # adapter initialisation is part of the run's identity
    # full / freeze keep fp32 master weights (autocast computes); a frozen PEFT base loads at
    # the run's precision
    dtype = policy.weights_precision(precision, full_weights=not cfg.is_peft)
    model = model_mod.load_model(path, device=str(device), dtype=dtype,
                                 quantize_4bit=cfg.method_spec.quantized_base,
                                 trust_remote_code=cfg.trust_remote_code,
                                 allow_pickle=cfg.allow_pickle)
    model = apply_method(model, cfg, total)
    if device.type == "cpu":
        _fit_host_memory(cfg, path)
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
                  packing=cfg.packing and not cfg.method_spec.virtual_tokens, data_info=info,
                  world=world)
    setup.optimizer, setup.optimizer_name = optim.build_optimizer(model, cfg, device.type)
    if policy.needs_grad_scaler(precision):
        setup.scaler = torch.amp.GradScaler(device.type)
    return setup


def _want_checkpointing(cfg: RunConfig, path: Path, device: Any) -> bool:
    from studio.core.train.checkpointing import want_checkpointing

    if cfg.gradient_checkpointing != "auto" or device.type != "cuda":
        # CPU RAM is the limit there, and the estimate is for accelerators
        return want_checkpointing(cfg.gradient_checkpointing, cfg.method, fits=True)
    import torch

    from studio.core import device as policy
    from studio.core.model import memory

    # Free memory, not the card's total: the desktop and other processes hold theirs. The
    # model is loaded by now, so what this process holds is added back.
    free, _ = torch.cuda.mem_get_info(device)
    budget = policy.memory_budget_mb(free / 2**20, torch.cuda.memory_reserved(device) / 2**20)
    return bool(memory.should_checkpoint(cfg, path / "config.json", budget, device_kind="cuda",
                                         capability=policy.capability_of("cuda", _index(device))))


def _fit_host_memory(cfg: RunConfig, path: Path) -> bool:
    """On the CPU, when the run would use most of the free memory, hand freed activations
    back to the system at once (host_memory.py: less memory, some speed). The model is loaded
    by now: what this process holds is added to what is free."""
    import psutil

    from studio.core.model import memory
    from studio.core.train import host_memory

    try:
        est = memory.estimate_memory(cfg, path / "config.json", None, device_kind="cpu")
    except Exception:  # noqa: BLE001 - an unusual config: keep the allocator as it is
        return False
    free = (psutil.virtual_memory().available + psutil.Process().memory_info().rss) / 2**20
    return host_memory.tight(est.total_mb, free) and host_memory.release_freed_memory()


def data_fingerprint(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


