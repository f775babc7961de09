"""The Train page's progress: the step bar (steps done, share drawn inside) and the ETA from
the recent steps' pace."""

from __future__ import annotations

from collections import deque
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QWidget


def fmt_duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Step rate over the last steps -> seconds per step and time left."""

    def __init__(self, window: int = 20):
        self._points: deque[tuple[int, float]] = deque(maxlen=window)

    def reset(self) -> None:
        self._points.clear()

    def add(self, step: int, t: float) -> None:
        if self._points and step <= self._points[-1][0]:
            self._points.clear()  # resumed from an earlier step
        self._points.append((step, t))

    def seconds_per_step(self) -> Optional[float]:
        if len(self._points) < 2:
            return None
        (s0, t0), (s1, t1) = self._points[0], self._points[-1]
        return (t1 - t0) / (s1 - s0) if s1 > s0 else None

    def eta(self, step: int, total: int) -> Optional[float]:
        rate = self.seconds_per_step()
        return None if rate is None or total <= 0 else rate * max(total - step, 0)


class StepBar(QWidget):
    """A thin progress bar. QProgressBar.setValue repaints at once, synchronously (~10 ms a
    step here); this one asks for an update, painted with the charts in the same frame."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self._value, self._maximum = 0, 0
        self.setMinimumHeight(18)

    def value(self) -> int:
        return self._value

    def maximum(self) -> int:
        return self._maximum

    def setMaximum(self, maximum: int) -> None:  # noqa: N802 (QProgressBar's name)
        self._maximum = max(0, int(maximum))
        self.update()

    def setValue(self, value: int) -> None:  # noqa: N802
        if value != self._value:
            self._value = int(value)
            self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        p = QPainter(self)
        r = self.rect().adjusted(0, 0, -1, -1)
        p.setPen(QColor("#b8c4ce"))
        p.setBrush(QColor("#eef2f5"))
        p.drawRoundedRect(r, 4, 4)
        share = self._value / self._maximum if self._maximum else 0.0
        if share > 0:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor("#2e86c1"))
            p.drawRoundedRect(r.adjusted(1, 1, -1, -1).adjusted(
                0, 0, -int((r.width() - 2) * (1 - min(share, 1.0))), 0), 3, 3)
        p.setPen(QColor("#1b2631"))
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, f"{share * 100:.0f}%")
        p.end()
