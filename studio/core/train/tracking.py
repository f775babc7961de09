"""Experiment trackers a run also logs to (config `report_to`), beside its metrics.jsonl.

TensorBoard: event files in RUN_DIR/tensorboard/, written by torch's SummaryWriter, one
scalar per metrics field (train/loss, train/lr, ..., eval/loss, eval/perplexity) at the
optimizer step. A resumed run appends a new event file to the same folder; TensorBoard merges
them.

MLflow: the same scalars (same names and steps) and every config key as a param, in one MLflow
run per studio run, through MLflow's own client (tracking_mlflow.py). The app and `compare`
still read metrics.jsonl: the trackers are for people's own tools.
"""

from __future__ import annotations

import importlib
from typing import Any

from studio.core import runs
from studio.core.config import RunConfig
from studio.core.errors import ConfigError
from studio.core.events import EvalMetrics, RunEvent, StepMetrics

TENSORBOARD_DIR = "tensorboard"
STEP_FIELDS = ("loss", "lr", "grad_norm", "tokens_per_s", "mem_mb")


def trackers(cfg: RunConfig) -> tuple[str, ...]:
    """The trackers `report_to` names: "all" is every one."""
    return ("tensorboard", "mlflow") if cfg.report_to == "all" else \
        () if cfg.report_to == "none" else (cfg.report_to,)


def check(cfg: RunConfig) -> None:
    """Refuse, before the run folder exists, a tracker whose package is missing."""
    wanted = trackers(cfg)
    if "tensorboard" in wanted and not _importable("tensorboard"):
        raise ConfigError("report_to: tensorboard needs the tensorboard package "
                          "(pip install tensorboard)")
    if "mlflow" in wanted:
        from studio.core.train import tracking_mlflow

        tracking_mlflow.check(cfg)


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def open_reporters(cfg: RunConfig, run: runs.RunDir) -> list[Any]:
    out: list[Any] = []
    wanted = trackers(cfg)
    if "tensorboard" in wanted:
        out.append(TensorBoardReporter(run))
    if "mlflow" in wanted:
        from studio.core.train.tracking_mlflow import MlflowReporter

        out.append(MlflowReporter(cfg, run))
    return out


class TensorBoardReporter:
    def __init__(self, run: runs.RunDir):
        from torch.utils.tensorboard import SummaryWriter  # needs tensorboard: see check()

        self._w = SummaryWriter(log_dir=str(run.path / TENSORBOARD_DIR), flush_secs=10)

    def on_step(self, m: StepMetrics) -> None:
        for name in STEP_FIELDS:
            self._w.add_scalar(f"train/{name}", getattr(m, name), m.step, walltime=m.time)
        if m.reward is not None:  # stage grpo
            for name in ("reward", "reward_std", "kl", "completion_length", "clip_fraction"):
                self._w.add_scalar(f"grpo/{name}", getattr(m, name), m.step, walltime=m.time)
            for name, part in (m.rewards or {}).items():
                self._w.add_scalar(f"grpo/reward_{name}", part["mean"], m.step,
                                   walltime=m.time)

    def on_eval(self, m: EvalMetrics) -> None:
        self._w.add_scalar("eval/loss", m.eval_loss, m.step, walltime=m.time)
        self._w.add_scalar("eval/perplexity", m.perplexity, m.step, walltime=m.time)
        self._w.flush()

    def on_event(self, e: RunEvent) -> None:
        self._w.add_text("events", f"{e.event}: {e.detail}", e.step, walltime=e.time)
        self._w.flush()

    def close(self) -> None:
        self._w.close()
