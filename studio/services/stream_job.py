"""StreamJob: a job in its own QThread that streams items back to the GUI thread.

job(emit, cancelled) runs once in the thread; every emit(kind, payload) arrives in the GUI
thread as sig_item(kind, payload). Used by the dataset doctor and the Train page's overlay
loader; a job that parses a lot in Python runs its work in a child process (child_process.py)
and only relays from here. HostStreamJob relays a call to the engine host (engine_host.py).
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from studio.core.errors import Cancelled
from studio.services.engine_host import engine_host
from studio.services.workers import describe_error

Emit = Callable[[str, Any], None]


class _StreamWorker(QObject):
    """Runs job(emit, cancelled) once in its thread; every emit(kind, payload) is a signal."""

    sig_item = Signal(str, object)
    sig_error = Signal(str, str)
    sig_end = Signal()

    def __init__(self, job: Callable[[Emit, Callable[[], bool]], None], cancel: threading.Event):
        super().__init__()
        self._job, self._cancel = job, cancel

    @Slot()
    def run(self) -> None:
        try:
            self._job(self.sig_item.emit, self._cancel.is_set)
        except Cancelled:  # a newer request, or the user, stopped it
            pass
        except Exception as e:  # shown in the panel, never lost in a terminal
            if not self._cancel.is_set():
                self.sig_error.emit(*describe_error(e))
        finally:
            self.sig_end.emit()
            # End the thread from inside: it must not wait for the GUI loop to say so (at
            # shutdown that loop no longer runs, and a running QThread aborts the process).
            QThread.currentThread().quit()


class StreamJob(QObject):
    """A job in its own QThread whose items arrive here, in the GUI thread, as sig_item. Keeps
    itself alive until its thread has ended (a running QThread must not be destroyed)."""

    sig_item = Signal(str, object)
    sig_error = Signal(str, str)
    sig_done = Signal()
    _live: set["StreamJob"] = set()

    def __init__(self, name: str, job: Callable[[Emit, Callable[[], bool]], None]):
        super().__init__()
        self.cancel_event = threading.Event()
        self._thread = QThread()
        self._thread.setObjectName(name)
        self._worker = _StreamWorker(job, self.cancel_event)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.sig_item.connect(self._on_item)
        self._worker.sig_error.connect(self._on_error)
        self._worker.sig_end.connect(self._on_end)
        self._thread.finished.connect(self._on_finished)
        self.running = False

    def start(self) -> "StreamJob":
        StreamJob._live.add(self)
        self.running = True
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.cancel_event.set()

    @Slot(str, object)
    def _on_item(self, kind: str, payload: Any) -> None:
        if not self.cancel_event.is_set():
            self.sig_item.emit(kind, payload)

    @Slot(str, str)
    def _on_error(self, reason: str, details: str) -> None:
        if not self.cancel_event.is_set():
            self.sig_error.emit(reason, details)

    @Slot()
    def _on_end(self) -> None:
        self._thread.quit()

    @Slot()
    def _on_finished(self) -> None:
        self._thread.wait()
        self.running = False
        StreamJob._live.discard(self)
        self.sig_done.emit()

    def wait(self, ms: int = 60000) -> bool:
        """Block until the thread ends (tests and shutdown only)."""
        return self._thread.wait(ms)


class HostStreamJob(StreamJob):
    """A StreamJob whose work is fn(ctx, *args) in the engine host: its thread only relays the
    call's events (ctx.emit(kind, payload) -> sig_item) and waits with the GIL released, and
    cancel() reaches the call (ctx.cancel). fn's result is not used: it emits what it has."""

    def __init__(self, name: str, fn: Callable[..., Any], *args: Any, lane: str | None = None,
                 serial: bool = True):
        super().__init__(name, self._relay)
        self._request = (fn, args, lane, serial)
        self._call: Any = None
        self._call_lock = threading.Lock()

    def _relay(self, emit: Emit, cancelled: Callable[[], bool]) -> None:
        if cancelled():  # replaced before its thread started: the host need not hear of it
            return
        fn, args, lane, serial = self._request
        call = engine_host().call(fn, *args, lane=lane, serial=serial)
        with self._call_lock:
            self._call = call
        if cancelled():  # cancel() ran before the call existed: it could not reach it
            call.cancel()
        call.wait(on_event=emit)

    def cancel(self) -> None:
        super().cancel()  # first: _relay checks it after publishing the call
        with self._call_lock:
            call = self._call
        if call is not None:
            call.cancel()
