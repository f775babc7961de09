"""An export in the engine host (services/export_jobs.py), waited for in a worker thread, with
its progress as queued signals.

`ExportJob(request).start()`; signals (emitted in the GUI thread): sig_progress(fraction,
message), sig_result(core.export.ExportResult), sig_error(reason, details), sig_done().
`cancel()` stops it at the engine's next progress report (the export's temporary folder is
removed, so nothing is written); the error is then core.errors.Cancelled's one word.
The engine's progress callback runs in the worker thread; it emits a private signal whose
receiver (this object's slot) lives in the GUI thread, so Qt queues it there (architecture.md:
a signal connected to a plain function would run in the worker).
"""

from __future__ import annotations

import threading
from typing import Any, Optional

from PySide6.QtCore import QObject, Signal, Slot

from studio.services.engine_host import engine_host
from studio.services.export_jobs import ExportRequest, export_in_host  # noqa: F401 (API)
from studio.services.workers import Task


def _export(request: ExportRequest, progress: Any, stop: threading.Event) -> Any:
    """The export in the engine host, waited for here (a worker thread): its progress relayed,
    `stop` cancelling it there."""
    call = engine_host().call(export_in_host, request)
    return call.wait(on_event=lambda kind, payload: progress(*payload), stop=stop)


class ExportJob(QObject):
    sig_progress = Signal(float, str)
    sig_result = Signal(object)
    sig_error = Signal(str, str)
    sig_done = Signal()
    _sig_progress_raw = Signal(float, str)   # emitted in the worker thread

    def __init__(self, request: ExportRequest, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.request = request
        self.result: Any = None
        self.error: Optional[str] = None
        self._sig_progress_raw.connect(self._on_progress)
        self._task: Optional[Task] = None
        self._stop = threading.Event()

    def start(self) -> "ExportJob":
        self._task = Task(_export, self.request, self._sig_progress_raw.emit, self._stop,
                          parent=self)
        self._task.sig_result.connect(self._on_result)
        self._task.sig_error.connect(self._on_error)
        self._task.sig_done.connect(self.sig_done.emit)
        self._task.start()
        return self

    def cancel(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return self._task is not None and self._task.running

    def wait(self, ms: int = -1) -> bool:
        return self._task.wait(ms) if self._task is not None else True

    @Slot(float, str)
    def _on_progress(self, fraction: float, message: str) -> None:
        self.sig_progress.emit(fraction, message)

    @Slot(object)
    def _on_result(self, result: Any) -> None:
        self.result = result
        self.sig_result.emit(result)

    @Slot(str, str)
    def _on_error(self, reason: str, details: str) -> None:
        self.error = reason
        self.sig_error.emit(reason, details)
