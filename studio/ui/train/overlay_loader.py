"""Reads past runs' curves for the Train page's overlays, off the GUI thread.

Runs ticked while a read is going on wait and go together in the next one, so ticking fifty
runs costs one or two child processes, not fifty threads parsing JSON beside the GUI (which
froze the window for 12 s: the GIL, see services/child_process.py).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from PySide6.QtCore import QCoreApplication, QObject, Signal

from studio.services.child_process import run_in_child
from studio.services.stream_job import StreamJob


class OverlayLoader(QObject):
    sig_curves = Signal(str, object)  # run folder, RunCurves (in the GUI thread)
    sig_error = Signal(str, str)      # reason, details

    def __init__(self, smoothing: Callable[[], float], parent: Optional[QObject] = None):
        super().__init__(parent)
        self._smoothing = smoothing  # the charts' EMA weight when a read starts
        self._queue: list[str] = []
        self._job: Optional[StreamJob] = None
        app = QCoreApplication.instance()
        if app is not None:  # a running QThread must not outlive the app
            app.aboutToQuit.connect(self.shutdown)

    def request(self, run_dir: str) -> None:
        self._queue.append(run_dir)
        self._next()

    def shutdown(self) -> None:
        self._queue = []
        if self._job is not None and self._job.running:
            self._job.cancel()
            self._job.wait(5000)

    def _next(self) -> None:
        if self._job is not None and self._job.running:
            return  # the next batch starts when this one is done
        dirs, self._queue = self._queue, []
        if not dirs:
            return
        weight = self._smoothing()

        def job(emit: Any, cancelled: Any) -> None:
            # lazy: curves imports numpy, which the window does not need before first paint
            from studio.ui.train.curves import load_overlays

            run_in_child(load_overlays, (dirs, weight), emit, cancelled, name="studio-overlays")

        self._job = StreamJob("overlays", job)
        self._job.sig_item.connect(self._on_batch)
        self._job.sig_error.connect(self.sig_error)
        self._job.sig_done.connect(self._next)
        self._job.start()

    def _on_batch(self, kind: str, batch: Any) -> None:
        for run_dir, curves in batch:
            self.sig_curves.emit(run_dir, curves)
