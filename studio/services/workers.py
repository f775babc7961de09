"""Worker threads that run engine calls off the GUI thread and report back through signals.

Two rules from architecture.md shape this module:
- A signal connected to a plain function runs in the thread that emits it. So a worker's signals
  go only to slots of a `Task` / `Session` that lives in the GUI thread; those re-emit, and from
  there any receiver (lambda included) runs in the GUI thread.
- A worker busy in a loop never runs queued slots: stop requests are a `threading.Event`.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any, Callable, Optional

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from studio.core.errors import UserError
from studio.services.child_process import ChildFailed
from studio.services.engine_host import engine_host


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(reason in plain words, details for the "Show details" button)."""
    if isinstance(exc, UserError):
        return exc.one_line(), ""
    if isinstance(exc, ChildFailed):  # its traceback is the child's, kept as text
        return str(exc), exc.details
    first = str(exc).splitlines()[0] if str(exc) else ""
    reason = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return reason, "".join(traceback.format_exception(exc))


def _quit_own_thread() -> None:
    """End a worker's thread from inside once its job is done: at shutdown the GUI loop no
    longer runs the queued slot that would quit it, and a QThread destroyed while running
    aborts the process. (Never the GUI thread: that would end the app's event loop.)"""
    app = QCoreApplication.instance()
    if app is not None and QThread.currentThread() is not app.thread():
        QThread.currentThread().quit()


class _CallWorker(QObject):
    """Runs fn(*args) once in its thread; emits the result or the error."""

    sig_result = Signal(object)
    sig_error = Signal(str, str)

    def __init__(self, fn: Callable[..., Any], args: tuple):
        super().__init__()
        self._fn, self._args = fn, args

    @Slot()
    def run(self) -> None:
        try:
            result = self._fn(*self._args)
        except Exception as e:  # reported to the GUI, never lost in a terminal
            self.sig_error.emit(*describe_error(e))
        else:
            self.sig_result.emit(result)
        finally:
            _quit_own_thread()


class Task(QObject):
    """One function call in its own QThread. Connect to `sig_result(object)` / `sig_error(reason,
    details)` / `sig_done()`; they are emitted in the GUI thread. Keeps itself alive until the
    thread has ended (a QThread destroyed while running aborts the process)."""

    sig_result = Signal(object)
    sig_error = Signal(str, str)
    sig_done = Signal()

    _live: set["Task"] = set()

    def __init__(self, fn: Callable[..., Any], *args: Any, parent: Optional[QObject] = None):
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName(getattr(fn, "__name__", "task"))
        self._worker = _CallWorker(fn, args)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.sig_result.connect(self._on_result)
        self._worker.sig_error.connect(self._on_error)
        self._thread.finished.connect(self._on_thread_finished)
        self.running = False

    def start(self) -> "Task":
        Task._live.add(self)
        self.running = True
        self._thread.start()
        return self

    @Slot(object)
    def _on_result(self, result: Any) -> None:
        self._thread.quit()
        self.sig_result.emit(result)

    @Slot(str, str)
    def _on_error(self, reason: str, details: str) -> None:
        self._thread.quit()
        self.sig_error.emit(reason, details)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._thread.wait()
        self.running = False
        Task._live.discard(self)
        self.sig_done.emit()
        self.deleteLater()  # a parent would otherwise keep every finished task (and thread)

    def wait(self, ms: int = -1) -> bool:
        """Block until the thread ends (tests and shutdown only)."""
        return self._thread.wait() if ms < 0 else self._thread.wait(ms)

    @classmethod
    def wait_all(cls, timeout_s: float = 30.0) -> bool:
        """At shutdown: let running tasks end (a QThread destroyed while running aborts the
        process). Their results are dropped; returns False if one is still running."""
        return all(t.wait(int(timeout_s * 1000)) for t in list(cls._live))


def run_task(fn: Callable[..., Any], *args: Any, on_result: Optional[Callable] = None,
             on_error: Optional[Callable] = None, parent: Optional[QObject] = None) -> Task:
    """Start fn(*args) in a worker thread; callbacks run in the GUI thread."""
    task = Task(fn, *args, parent=parent)
    if on_result is not None:
        task.sig_result.connect(on_result)
    if on_error is not None:
        task.sig_error.connect(on_error)
    return task.start()


# --- training ------------------------------------------------------------------------------------

class TrainWorker(QObject):
    """Relays one training job (train or resume) that runs in the engine host: `fn(ctx, *args)`
    (services/train_host.py) runs there, and its "step" / "eval" / "event" events become
    queued signals carrying the frozen dataclasses; its RunResult comes back as sig_result.
    This thread only waits (the GIL released): the training loop never competes with the GUI
    thread. Setting the stop Event cancels the call: the trainer checkpoints, then stops."""

    sig_step = Signal(object, object)   # StepMetrics, MemorySample or None
    sig_eval = Signal(object)           # EvalMetrics
    sig_event = Signal(object)          # RunEvent
    sig_result = Signal(object)         # RunResult
    sig_error = Signal(str, str)        # reason, details

    def __init__(self, fn: Callable[..., Any], args: tuple, stop: threading.Event):
        super().__init__()
        self._fn, self._args = fn, args
        self.stop_event = stop

    @Slot()
    def run(self) -> None:
        try:
            result = self._relay()
        except Exception as e:
            self.sig_error.emit(*describe_error(e))
        else:
            self.sig_result.emit(result)
        finally:
            _quit_own_thread()

    def _relay(self) -> Any:
        # The stop Event cancels the call (checked every 50 ms; a step takes longer anyway).
        call = engine_host().call(self._fn, *self._args)
        return call.wait(on_event=self._on_host_event, stop=self.stop_event)

    def _on_host_event(self, kind: str, payload: Any) -> None:
        if kind == "step":
            self.sig_step.emit(*payload)
        elif kind == "eval":
            self.sig_eval.emit(payload)
        elif kind == "event":
            self.sig_event.emit(payload)
