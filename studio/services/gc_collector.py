"""Cyclic garbage collection in the GUI thread only (why: studio/core/gc_policy.py).

Automatic collection is turned off; a timer collects the young generation a few times a
second and everything every ~10 s. Objects that live as long as the app (modules, widgets
made at start, the engine's imports: see engine_import.py) are frozen, so a full collection
walks only what the session made since.
"""

from __future__ import annotations

import gc
from typing import Optional

from PySide6.QtCore import QObject, QTimer

TICK_MS = 250
FULL_EVERY = 40  # ticks between full collections (~10 s)
MIDDLE_EVERY = 8


class GuiThreadCollector(QObject):
    def __init__(self, parent: Optional[QObject] = None):
        super().__init__(parent)
        self._ticks = 0
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self.collect)

    def start(self) -> "GuiThreadCollector":
        gc.freeze()  # what exists now lives as long as the app (no collection first: ~20 ms
        #              of start-up for the little garbage that start-up leaves)
        gc.disable()
        self._timer.start()
        return self

    def stop(self) -> None:
        self._timer.stop()
        gc.enable()

    def collect(self) -> None:
        self._ticks += 1
        if self._ticks % FULL_EVERY == 0:
            gc.collect(2)
        elif self._ticks % MIDDLE_EVERY == 0:
            gc.collect(1)
        elif gc.get_count()[0] >= gc.get_threshold()[0]:
            gc.collect(0)
