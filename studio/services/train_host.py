"""The window's training runs, on the engine host's side (services/engine_host.py).

Session's TrainWorker relays `engine_host().call(train_run, cfg)` (or `resume_run`): the
training loop, the model and torch live in the host process, so the window's GUI thread never
waits for their GIL. The engine's Reporter calls become the call's events:
("step", (StepMetrics, MemorySample or None)), ("eval", EvalMetrics), ("event", RunEvent).
The caller's cancel (Session.stop) is the trainer's stop Event: it checkpoints, then stops.

No Qt here: this module is imported in the host.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Optional

from studio.core.config import RunConfig
from studio.core.events import EvalMetrics, RunEvent, StepMetrics
from studio.services.engine_import import import_engine


class HostReporter:
    """The engine's Reporter in the host: each report becomes an event of the call. The memory
    sample is taken here, where the run's torch and GPU are."""

    def __init__(self, ctx: Any):
        self._ctx = ctx

    def on_step(self, m: StepMetrics) -> None:
        self._ctx.emit("step", (m, _sample_memory()))

    def on_eval(self, m: EvalMetrics) -> None:
        self._ctx.emit("eval", m)

    def on_event(self, e: RunEvent) -> None:
        self._ctx.emit("event", e)


def _sample_memory() -> Any:
    """Memory now, or None: a failed reading must never stop a run."""
    try:
        # Lazy: studio.core.model.memory imports torch when it is used.
        from studio.core.model.memory import sample_memory

        return sample_memory(init_nvml=True)  # a call's thread: NVML may start here (once)
    except Exception:
        return None


def train_run(ctx: Any, cfg: RunConfig) -> Any:
    """Train cfg (a hub id is fetched first); the engine's RunResult."""
    import_engine()  # the host imports it at start; this waits for that import to end
    from studio.core.train import trainer

    reporter = HostReporter(ctx)
    fetch_hub_model(cfg, reporter, ctx.cancel)
    return trainer.train(cfg, reporter=reporter, stop=ctx.cancel)


def resume_run(ctx: Any, run_dir: Path, overrides: Optional[dict]) -> Any:
    """Continue the run in run_dir from its newest checkpoint; the engine's RunResult."""
    import_engine()
    from studio.core.train import trainer

    return trainer.resume(run_dir, reporter=HostReporter(ctx), stop=ctx.cancel,
                          overrides=overrides)


def fetch_hub_model(cfg: RunConfig, reporter: Any, stop: threading.Event) -> None:
    """A hub id is fetched before the run loads it, its progress in the run log (a "download"
    event every tenth of the bytes; not a metrics line) and Stop cancelling it. Nothing to do
    for a folder or a model already in the cache."""
    from studio.core.model.hub import is_hub_id
    from studio.core.model.load import resolve_model

    if not is_hub_id(cfg.model):
        return
    shown = [-1]

    def progress(done: int, total: int, message: str) -> None:
        tenth = 10 * done // total if total else 0
        if tenth != shown[0]:
            shown[0] = tenth
            reporter.on_event(RunEvent(step=0, event="download", detail=message))

    resolve_model(cfg.model, trust_remote_code=cfg.trust_remote_code,
                  allow_pickle=cfg.allow_pickle, progress=progress, cancelled=stop.is_set)
