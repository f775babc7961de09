"""The buffers behind the training charts: growable (step, value) arrays per series, the
smoothed loss, and a past run's curves read from its metrics.jsonl.

No Qt here (numpy and core's records only), so a past run's curves are built off the GUI thread,
in a child process for many runs at once (see load_overlays).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import numpy as np

from studio.core.events import EvalMetrics, Record, StepMetrics

# every series a run has; plots.SERIES gives each its chart, legend name and colour
SERIES_KEYS = ("loss", "loss_smooth", "eval_loss", "lr", "grad_norm", "tokens_per_s",
               "mem_allocated", "mem_reserved", "mem_peak", "mem_rss",
               "rewards_chosen", "rewards_rejected", "reward_margin", "reward_accuracy", "kl",
               "reward", "reward_std", "clip_fraction", "completion_length")
# stage dpo / kto / grpo: step-line fields drawn as they are (absent, None or NaN: no point)
STAGE_KEYS = SERIES_KEYS[10:]


class Series:
    """Growable (x, y) float arrays; append is amortised O(1)."""

    def __init__(self, capacity: int = 1024):
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self.n = 0

    def __len__(self) -> int:
        return self.n

    @property
    def x(self) -> np.ndarray:
        return self._x[: self.n]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self.n]

    def append(self, x: float, y: float) -> None:
        if self.n == len(self._x):
            self._x = np.resize(self._x, 2 * self.n)
            self._y = np.resize(self._y, 2 * self.n)
        self._x[self.n] = x
        self._y[self.n] = y
        self.n += 1

    def truncate_from(self, x: float) -> None:
        """Drop points at x and after: a run resumed from an earlier checkpoint redoes them."""
        if self.n and self._x[self.n - 1] >= x:
            self.n = int(np.searchsorted(self.x, x, side="left"))

    def clear(self) -> None:
        self.n = 0


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """Debiased exponential moving average (as TensorBoard's smoothing): early points are not
    pulled towards zero. NaN inputs (a skipped step) keep the previous value."""
    out = np.empty_like(values)
    acc, norm = 0.0, 0.0
    for i, v in enumerate(values):
        if np.isfinite(v):
            acc = weight * acc + (1 - weight) * v
            norm = weight * norm + (1 - weight)
        out[i] = acc / norm if norm > 0 else np.nan
    return out


class RunCurves:
    """The buffers of one run (the live one or an overlaid past one)."""

    def __init__(self) -> None:
        self.series = {key: Series() for key in SERIES_KEYS}
        self.reward_parts: dict[str, Series] = {}  # grpo: each reward's mean, by name
        self.smooth_state = (0.0, 0.0)  # (acc, norm) of the running EMA of the loss
        self.smoothed_with: Optional[float] = None  # the EMA weight loss_smooth was made with

    def clear(self) -> None:
        for s in self.series.values():
            s.clear()
        self.reward_parts.clear()
        self.smooth_state = (0.0, 0.0)

    def last_step(self) -> float:
        loss = self.series["loss"]
        return loss.x[-1] if len(loss) else -1.0

    def add_step(self, m: StepMetrics, mem: Any, weight: float) -> None:
        x = float(m.step)
        loss = self.series["loss"]
        if len(loss) and loss.x[-1] >= x:  # resumed from an earlier step: redo from here
            for s in [*self.series.values(), *self.reward_parts.values()]:
                s.truncate_from(x)  # (an eval at step x goes too: it is redone)
            self.resmooth(weight)
        loss.append(x, m.loss)
        self.smoothed_with = weight
        acc, norm = self.smooth_state
        if np.isfinite(m.loss):
            acc, norm = weight * acc + (1 - weight) * m.loss, weight * norm + (1 - weight)
        self.smooth_state = (acc, norm)
        self.series["loss_smooth"].append(x, acc / norm if norm else np.nan)
        self.series["lr"].append(x, m.lr)
        self.series["grad_norm"].append(x, m.grad_norm)
        self.series["tokens_per_s"].append(x, m.tokens_per_s)
        peak = m.mem_mb
        if mem is not None:
            alloc = float(getattr(mem, "allocated_mb", 0.0) or 0.0)
            reserved = float(getattr(mem, "reserved_mb", 0.0) or 0.0)
            rss = float(getattr(mem, "rss_mb", 0.0) or 0.0)
            # core.memory reports RSS as "allocated" and "reserved" on the CPU: draw those
            # two only when they are the GPU allocator's own figures.
            if (alloc > 0 or reserved > 0) and not alloc == reserved == rss:
                self.series["mem_allocated"].append(x, alloc)
                self.series["mem_reserved"].append(x, reserved)
                peak = float(getattr(mem, "peak_mb", 0.0) or peak)
            if rss:
                self.series["mem_rss"].append(x, rss)
        if np.isfinite(peak):
            self.series["mem_peak"].append(x, peak)
        for key in STAGE_KEYS:
            v = getattr(m, key, None)
            if v is not None and np.isfinite(v):
                self.series[key].append(x, v)
        for name, part in (m.rewards or {}).items():
            mean = part.get("mean") if isinstance(part, dict) else None
            if mean is not None and np.isfinite(mean):
                self.reward_parts.setdefault(name, Series()).append(x, mean)

    @classmethod
    def from_records(cls, records: Iterable[Record], weight: float) -> "RunCurves":
        """A past run's buffers. Plain Python and numpy, no Qt: build them in a worker (10,000
        steps take ~0.1 s, and fifty overlaid runs froze the window for seconds when this ran
        in the GUI thread)."""
        curves = cls()
        for r in records:
            if isinstance(r, StepMetrics):
                curves.add_step(r, None, weight)
            elif isinstance(r, EvalMetrics):
                curves.add_eval(r)
        return curves

    def add_eval(self, e: EvalMetrics) -> None:
        self.series["eval_loss"].truncate_from(e.step)
        self.series["eval_loss"].append(float(e.step), e.eval_loss)

    def resmooth(self, weight: float) -> None:
        self.smoothed_with = weight
        loss, smooth = self.series["loss"], self.series["loss_smooth"]
        smooth.clear()
        for x, y in zip(loss.x, ema(loss.y, weight)):
            smooth.append(x, y)
        acc = norm = 0.0
        for v in loss.y:
            if np.isfinite(v):
                acc, norm = weight * acc + (1 - weight) * v, weight * norm + (1 - weight)
        self.smooth_state = (acc, norm)


def load_overlays(emit: Callable[[str, Any], None], run_dirs: list[str], weight: float,
                  every_s: float = 0.5) -> None:
    """emit("curves", [(run folder, RunCurves), ...]) in batches, about every `every_s`
    seconds of reading: each batch costs the window one repaint of every chart, so fifty runs
    arrive in a few batches, not fifty. A child-process job: parsing 50 runs x 10,000
    metrics lines in a thread starved the GUI thread of the GIL (12 s frozen, measured)."""
    import time

    from studio.core import runs

    batch: list[tuple[str, RunCurves]] = []
    last = time.monotonic()
    for run_dir in run_dirs:
        batch.append((run_dir, RunCurves.from_records(runs.read_metrics(Path(run_dir)),
                                                      weight)))
        if time.monotonic() - last >= every_s:
            emit("curves", batch)
            batch, last = [], time.monotonic()
    if batch:
        emit("curves", batch)
