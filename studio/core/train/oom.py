"""Out of memory: what the trainer does about it, and the device memory helpers it uses.

Out of memory anywhere in a run (forward, backward, optimizer step, evaluation, checkpoint,
final save) ends the same way (trainer._out_of_memory): what was trained is kept, and the
remedies for that place are named. Recognising one is device.is_out_of_memory.
"""

from __future__ import annotations

from typing import Any, Optional

from studio.core.gc_policy import collect_garbage


def smaller_micro_batch(batch_size: int, grad_accum: int) -> Optional[tuple[int, int]]:
    """The out-of-memory remedy: (batch_size, grad_accum) with the micro-batch about halved and
    the effective batch kept (the largest divisor up to half, so 5 -> 1 x 5, 6 -> 3 x 2).
    None when the micro-batch is already 1."""
    if batch_size <= 1:
        return None
    smaller = max(d for d in range(1, batch_size // 2 + 1) if batch_size % d == 0)
    return smaller, grad_accum * (batch_size // smaller)


# Where an out-of-memory leaves the weights as the last finished step had them (the failed work
# never reached the optimizer), so they are worth a checkpoint. A failed optimizer step may have
# moved some weights and not others; a failed save would fail again: the last checkpoint stays.
WEIGHTS_WHOLE = ("forward", "backward", "evaluation")


def remedies(cfg: Any, run_path: Any, where: str) -> list[str]:
    """What to change after running out of memory at `where`, as commands where possible."""
    if where in ("checkpoint", "final save"):  # host memory: the weights are copied out to it
        return [f"close other programs, then python main.py resume {run_path}"]
    tips = []
    smaller = smaller_micro_batch(cfg.batch_size, cfg.grad_accum)
    if smaller is not None and where != "optimizer step":
        tips.append(f"resume with a smaller micro-batch, same effective batch: python main.py "
                    f"resume {run_path} --set batch_size={smaller[0]} "
                    f"--set grad_accum={smaller[1]}")
    if where == "optimizer step":
        tips.append("a new run with optimizer: paged_adamw_8bit (its state is a quarter of "
                    "AdamW's and moves to CPU memory under pressure)")
    elif getattr(cfg, "is_grpo", False):  # the group's completions are the long part
        tips.append(f"a new run with a smaller grpo_group_size than {cfg.grpo_group_size} or "
                    f"grpo_max_completion than {cfg.grpo_max_completion}")
    else:
        tips.append(f"a shorter max_length than {cfg.max_length}")
    if not cfg.method_spec.quantized_base:
        tips.append("method: qlora (4-bit base weights)")
    if where != "optimizer step":
        tips.append("gradient_checkpointing: on")
    if getattr(cfg, "processes", 1) > 1 and cfg.distributed == "ddp":
        tips.append(f"python main.py resume {run_path} --set distributed=fsdp (weights, "
                    "gradients and optimizer state shared out across the processes)")
    return tips


def give_back_memory(device: Any) -> None:
    """Cycles collected (where this thread may) and the allocator's cache handed back."""
    import torch

    collect_garbage()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def reset_peak_memory(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def memory_mb(device: Any) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import psutil

    return psutil.Process().memory_info().rss / 2**20
