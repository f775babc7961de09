"""Import the pages' own modules, then what they draw with (numpy, pyqtgraph), in a worker
thread after the first paint (the window builds each page when its tab is first shown).

pyqtgraph's import walks every Qt enum (~0.5 s of pure Python, 1-4 s on a loaded machine):
imported by the first page that draws a chart, the window froze for all of it. In a worker the
GUI thread waits at most a GIL switch interval (1 ms in the app) at a time instead. What was
imported is then frozen (gc.freeze), like the engine's imports (services/engine_import.py), so
the GUI thread's full collections do not walk it.
"""

from __future__ import annotations

import gc
import importlib
import threading

from studio.services.engine_import import IMPORT_LOCK

_started = threading.Event()
_done = threading.Event()


def prewarm_gui(modules: tuple[str, ...] = (), later: tuple[str, ...] = ()) -> None:
    """Import `modules`, then numpy and pyqtgraph, then `later` (what the pages import when
    first shown, pyqtgraph among it) (call in a worker thread; once is enough).
    Module-level code of a page must therefore not create widgets or pixmaps (GUI thread only);
    classes, colours and constants are fine."""
    _started.set()
    # One import of pure Python at a time: with two threads importing beside it, the GUI
    # thread lost the GIL race for a whole second (measured by the tour's stall sampler).
    with IMPORT_LOCK:
        enabled = gc.isenabled()
        gc.disable()
        try:
            # The pages' own modules first (~0.15 s, no numpy or pyqtgraph at module level): a
            # page opened right after the paint (a file given to the app, the tour's dataset)
            # waited for the worker to import pyqtgraph, then its module (0.2-0.3 s stalls).
            for name in modules:
                importlib.import_module(name)
            import numpy  # noqa: F401
            import pyqtgraph  # noqa: F401

            for name in later:
                importlib.import_module(name)
        finally:
            gc.freeze()
            if enabled:
                gc.enable()
            _done.set()


def expect_prewarm() -> None:
    """The prewarm is on its way (it starts once the Qt types exist, ui/qt_types.py): from now
    on gui_import_pending() is True, and a chart waits for the worker instead of importing
    pyqtgraph on the GUI thread (a page opened right after the paint did: a 0.4 s stall)."""
    _started.set()


def gui_import_pending() -> bool:
    """True from expect_prewarm() (or the prewarm's start) until prewarm_gui() ends: a widget
    that needs pyqtgraph now would wait for that import on the GUI thread (the import lock); it
    can draw a moment later instead."""
    return _started.is_set() and not _done.is_set()
