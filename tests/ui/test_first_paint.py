"""after_first_paint: the app's start-up workers begin after the window's first paint."""

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QLabel

from studio.ui.first_paint import after_first_paint


class _Paints(QObject):
    def __init__(self):
        super().__init__()
        self.count = 0

    def eventFilter(self, obj, event):  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def test_the_work_runs_once_after_the_first_paint(qtbot):
    w = QLabel("hello")
    qtbot.addWidget(w)
    paints = _Paints()
    w.installEventFilter(paints)
    seen: list[int] = []
    after_first_paint(w, lambda: seen.append(paints.count), fallback_ms=60_000)
    w.show()
    assert seen == []  # not from show(): the paint comes first
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    assert seen[0] >= 1
    w.update()
    qtbot.waitUntil(lambda: paints.count > seen[0], timeout=10_000)
    qtbot.wait(50)
    assert len(seen) == 1  # once


def test_a_window_that_never_paints_gets_its_work_after_the_fallback(qtbot):
    w = QLabel("hidden")
    qtbot.addWidget(w)
    seen: list[bool] = []
    after_first_paint(w, lambda: seen.append(True), fallback_ms=50)
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    assert seen == [True] and not w.isVisible()
