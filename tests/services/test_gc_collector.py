"""Cyclic garbage dies in the GUI thread, never in a worker (core/gc_policy.py says why)."""

import gc
import threading
import weakref

from PySide6.QtCore import QObject, QThread

from studio.core.gc_policy import collect_garbage


class Cyclic(QObject):
    died_in: list = []

    def __init__(self):
        super().__init__()
        self.me = self  # a reference cycle: only the cyclic collector frees it

    def __del__(self):
        Cyclic.died_in.append(QThread.currentThread())


def test_the_app_collects_cycles_in_the_gui_thread_and_workers_leave_them(qtbot):
    assert not gc.isenabled()  # the collector (tests' conftest, as in the app) took over
    Cyclic.died_in.clear()
    obj = Cyclic()
    ref = weakref.ref(obj)
    del obj
    worker = threading.Thread(target=collect_garbage)  # e.g. the trainer after an OOM
    worker.start()
    worker.join()
    assert ref() is not None  # the worker did not collect it
    qtbot.waitUntil(lambda: ref() is None, timeout=15_000)  # the GUI thread's timer did
    assert Cyclic.died_in == [QThread.currentThread()]
