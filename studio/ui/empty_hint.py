"""A line over a view with nothing to show yet, saying what to do (instead of empty axes)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QLabel, QWidget


class EmptyHint(QLabel):
    """Centred over `target`, following its size; the owner hides it once data arrives."""

    def __init__(self, target: QWidget, text: str, width: int = 460):
        super().__init__(text, target)
        self.setObjectName("empty_hint")
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._width = width
        target.installEventFilter(self)
        self._place()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self._place()
        return False

    def _place(self) -> None:
        target = self.parentWidget()
        w = max(120, min(self._width, target.width() - 24))
        h = self.heightForWidth(w) + 24
        self.setGeometry((target.width() - w) // 2, (target.height() - h) // 2, w, h)
        self.raise_()
