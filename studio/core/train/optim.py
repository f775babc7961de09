"""Optimizer and learning-rate schedule.

The schedule is a pure function of the step (no scheduler object to save): a resumed run sets
exactly the learning rate the uninterrupted run would have had.
"""

from __future__ import annotations

import math
from typing import Any

from studio.core.config import RunConfig


def lr_at(step: int, cfg: RunConfig, total_steps: int) -> float:
    """Learning rate for optimizer step `step` (0-based): linear warm-up, then the schedule."""
    warmup = int(math.ceil(cfg.warmup_ratio * total_steps))
    peak = cfg.learning_rate
    if step < warmup:
        return peak * (step + 1) / (warmup + 1)
    if cfg.lr_scheduler == "constant":
        return peak
    span = max(1, total_steps - warmup)
    progress = min(1.0, (step - warmup) / span)
    if cfg.lr_scheduler == "linear":
        return peak * (1.0 - progress)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))  # cosine


def _param_groups(model: Any, weight_decay: float) -> list[dict]:
    # No decay on biases and norm weights (1-D tensors): decaying them only hurts.
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def choose_optimizer(cfg: RunConfig, device_kind: str) -> str:
    if cfg.optimizer != "auto":
        return cfg.optimizer
    if cfg.method_spec.quantized_base and device_kind == "cuda":
        return "paged_adamw_8bit"  # pages optimizer state to CPU RAM under memory pressure
    return "adamw"


def build_optimizer(model: Any, cfg: RunConfig, device_kind: str) -> tuple[Any, str]:
    import torch

    name = choose_optimizer(cfg, device_kind)
    groups = _param_groups(model, cfg.weight_decay)
    if name in ("adamw_8bit", "paged_adamw_8bit"):
        import bitsandbytes as bnb  # lazy: only these optimizers need it

        cls = bnb.optim.PagedAdamW8bit if name == "paged_adamw_8bit" else bnb.optim.AdamW8bit
        return cls(groups, lr=cfg.learning_rate), name
    fused = device_kind == "cuda"  # one kernel for all parameters; CPU has no fused AdamW gain
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, fused=fused or None), name


def set_lr(optimizer: Any, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
