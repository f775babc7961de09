"""Host-side functions for the TrainWorker tests (services/workers.py). They run in the engine
host, which imports this module by name: no Qt here."""

import time

from studio.core.errors import DataError
from studio.core.events import EvalMetrics, RunEvent, StepMetrics


def many_steps(ctx, n):
    for i in range(1, n + 1):
        ctx.emit("step", (StepMetrics(step=i, loss=1.0 / i, lr=1e-3, grad_norm=0.5, tokens=64,
                                      tokens_per_s=1000.0, mem_mb=10.0), f"sample {i}"))
    ctx.emit("eval", EvalMetrics(step=n, eval_loss=0.5, perplexity=1.6))
    ctx.emit("event", RunEvent(step=n, event="finished"))
    return "done"


def until_stopped(ctx):
    """A run's shape: report a step, then go on until the caller stops it."""
    ctx.emit("step", (StepMetrics(1, 1.0, 0.1, 0.1, 1, 1.0, 1.0), None))
    deadline = time.monotonic() + 60
    while not ctx.cancel.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    return "stopped" if ctx.cancel.is_set() else "never stopped"


def bad_rows(ctx):
    raise DataError("row 3 has no 'output'")


def training_models(ctx):
    """How many causal LMs in training mode the host still holds (probe and chat models are
    eval()): a run's model must be gone once it ended."""
    import gc

    import torch

    gc.collect()
    return len([o for o in gc.get_objects() if isinstance(o, torch.nn.Module)
                and type(o).__name__.endswith("ForCausalLM") and o.training])
