"""Create PySide's Qt types on the GUI thread, a slice per event-loop turn, before a worker
thread reads them.

PySide 6.11 creates a Qt type when its name is first read (its default, PYSIDE6_OPTION_LAZY=1).
pyqtgraph's import reads every name of QtCore, QtGui and QtWidgets, and it runs in the prewarm
worker (ui/prewarm.py): the types were created in that thread while the GUI thread drew, and
about 1 start in 20 died of a segfault (measured: docs/performance.md). Creating them all at
PySide's import (PYSIDE6_OPTION_LAZY=0) costs 0.1-0.2 s before the first paint; here they are
created after it, on the GUI thread, at most ~10 ms at a time (one type, QtCore.Qt, takes ~40 ms
alone), and the prewarm starts when all exist.
"""

from __future__ import annotations

import importlib
import time
from typing import Callable, Iterator

from PySide6.QtCore import QObject, QTimer

# What pyqtgraph imports: the window's three modules and four of its own.
QT_MODULES = ("PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets", "PySide6.QtOpenGL",
              "PySide6.QtOpenGLWidgets", "PySide6.QtSvg", "PySide6.QtTest")
SLICE_S = 0.01


def _names() -> Iterator[tuple[object, str]]:
    for module_name in QT_MODULES:
        try:  # the first import: here, not in a worker
            module = importlib.import_module(module_name)
        except ImportError:  # e.g. no OpenGL library: pyqtgraph does without it too
            continue
        yield module, ""
        for name in dir(module):
            yield module, name


def make_qt_types(owner: QObject, then: Callable[[], None]) -> None:
    """Create the types of QT_MODULES on the GUI thread over a few event-loop turns (a timer of
    `owner`), then call `then` (on the GUI thread)."""
    names = _names()

    def run_slice() -> None:
        start = time.perf_counter()
        for module, name in names:
            if name:
                getattr(module, name)
            if time.perf_counter() - start > SLICE_S:
                QTimer.singleShot(0, owner, run_slice)
                return
        then()

    run_slice()

