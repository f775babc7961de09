"""Measure the GUI event loop's delay: a 10 ms timer that records how late each tick fires.

A tick due at t fires at t + d; d is the time the loop was busy (or waiting for the GIL) when it
should have been free. p99 of d is the responsiveness figure of the tour (contract.md).
"""

from __future__ import annotations

import time
from typing import Optional

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer


class LatencyProbe(QObject):
    def __init__(self, interval_ms: int = 10, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.interval = interval_ms / 1000.0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last = 0.0
        self.last_tick = 0.0  # perf_counter of the latest tick while running, else 0 (read by
        # the stall sampler's thread)
        self.delays_ms: list[float] = []

    def start(self) -> None:
        self.delays_ms.clear()
        self._last = self.last_tick = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self.last_tick = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        self.delays_ms.append(max(0.0, (now - self._last - self.interval) * 1000.0))
        self._last = self.last_tick = now

    def stats(self, start: int = 0, end: Optional[int] = None) -> dict[str, float]:
        """p50 / p99 / max of the ticks [start, end) (default: all)."""
        if not self.delays_ms[start:end]:
            return {"p50": 0.0, "p99": 0.0, "max": 0.0, "n": 0}
        d = np.asarray(self.delays_ms[start:end])
        return {"p50": float(np.percentile(d, 50)), "p99": float(np.percentile(d, 99)),
                "max": float(d.max()), "n": int(d.size)}

    def line(self, start: int = 0, end: Optional[int] = None) -> str:
        s = self.stats(start, end)
        return f"gui latency p50={s['p50']:.1f} ms p99={s['p99']:.1f} ms max={s['max']:.1f} ms"
