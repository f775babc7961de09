"""Run something once a widget has painted for the first time.

The app's start-up work after `show()` (device detection importing torch, the GUI imports of
ui/prewarm.py, listing runs) runs in worker threads, but those threads hold the GIL for most of
their imports: started before the first paint, they delayed it (the first paint waited ~0.1 s
for the GIL on 2 cores). Started from the first Paint event they leave the paint alone.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget


class _FirstPaint(QObject):
    def __init__(self, widget: QWidget, then: Callable[[], None], fallback_ms: int):
        super().__init__(widget)
        self._then = then
        self._widget = widget
        widget.installEventFilter(self)
        # a window never painted (minimised at start, a platform without paint events) still
        # gets its start-up work
        QTimer.singleShot(fallback_ms, self, self._run)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if obj is self._widget and event.type() == QEvent.Type.Paint:
            QTimer.singleShot(0, self, self._run)  # after this paint, not inside it
        return False

    def _run(self) -> None:
        if self._then is None:
            return
        then, self._then = self._then, None
        self._widget.removeEventFilter(self)
        then()


def after_first_paint(widget: QWidget, then: Callable[[], None],
                      fallback_ms: int = 1000) -> None:
    """Call `then()` once, just after `widget`'s first paint (or after `fallback_ms`)."""
    _FirstPaint(widget, then, fallback_ms)
