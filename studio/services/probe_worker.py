"""Probes off the GUI thread and out of the window's process: the engine host runs the attention
/ embedding / tokenizer jobs (services/probe_host.py) and keeps the loaded models between jobs.

`ProbeService` lives in the GUI thread; views call its request methods (each returns a job id)
and listen to `sig_result(kind, result)`, `sig_error(kind, reason, details)` and
`sig_progress(kind, fraction, message)`, all emitted in the GUI thread. A newer request of
the same kind replaces a queued older one (typing fast never builds a backlog) and the result
of an older job is dropped. Cancel reaches the job in the host as a threading.Event it checks
(architecture.md: a worker busy in a loop never runs queued slots).

Why the host: a model load or a forward pass in a thread of this process holds the GIL, and the
GUI thread waits for it to paint (services/engine_host.py); torch is never imported here. Each
service has its own lane in the host: its jobs run one after another there, its models stay in
the lane's state until shutdown drops them, and two probes never run torch on one model at once.

One relay thread per service sends the jobs in order and turns each call's events and result
into this object's signals. It is a daemon `threading.Thread`, started at the first request: a
page that is never used costs nothing (not even the host), and a QThread object destroyed while
running (a window dropped without shutdown, interpreter exit) would abort the process. Its
signals still reach the GUI thread queued: Qt queues any emission from a thread other than the
receiver's.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot

from studio.core.errors import UserError
from studio.core.probes.attention import ProbeTarget
from studio.services import probe_host
from studio.services.engine_host import Call, engine_host
from studio.services.latest import Latest
from studio.services.probe_host import (  # noqa: F401  (the views import the results from here)
    AttentionResult,
    NeighbourResult,
    PointsResult,
    TokenResult,
)
from studio.services.workers import describe_error

KINDS = ("attention", "embeddings", "samples", "neighbours", "tokens", "project")
# A lane per service, numbered rather than id(self): a dead service's id can be reused before
# the host has freed its lane.
_lanes = itertools.count(1)


# --- the relay ----------------------------------------------------------------------------------

@dataclass
class _Job:
    id: int
    kind: str
    fn: Callable[..., Any]                 # a job of probe_host, run there as fn(ctx, *args)
    args: tuple
    cancelled: bool = False
    call: Optional[Call] = None            # the host call, once sent

    def cancel(self) -> None:
        """From the GUI thread; the relay checks `cancelled` right after sending, so a cancel
        racing the send is never lost (whichever side sees the other's write cancels)."""
        self.cancelled = True
        if self.call is not None:
            self.call.cancel()


class _Relay(QObject):
    sig_result = Signal(str, int, object)
    sig_error = Signal(str, int, str, str)
    sig_progress = Signal(str, int, float, str)
    sig_busy = Signal(bool)
    sig_done = Signal(int)           # job id: ran or was skipped

    def __init__(self, jobs: "queue.Queue[Optional[_Job]]", lane: str):
        super().__init__()
        self._jobs, self._lane = jobs, lane

    def run(self) -> None:
        """The loop of the relay thread (not a slot: it runs in a plain Python thread)."""
        while True:
            job = self._jobs.get()
            if job is None:
                break
            if self._superseded(job):
                self.sig_done.emit(job.id)
                continue
            self.sig_busy.emit(True)
            try:
                result = self._run(job)
            except Exception as e:  # reported to the view, never lost in a terminal
                self.sig_error.emit(job.kind, job.id, *describe_error(e))
            else:
                self.sig_result.emit(job.kind, job.id, result)
            finally:
                self.sig_busy.emit(False)
                self.sig_done.emit(job.id)

    def _run(self, job: _Job) -> Any:
        """Send the job to the host and wait for it (the GIL is free meanwhile)."""
        job.call = engine_host().call(probe_host.run, job.fn, *job.args, lane=self._lane)
        if job.cancelled:
            job.call.cancel()

        def relay(kind: str, payload: Any) -> None:
            if kind == probe_host.PROGRESS:
                self.sig_progress.emit(job.kind, job.id, *payload)

        return job.call.wait(relay)

    def _superseded(self, job: _Job) -> bool:
        """A newer job of the same kind is waiting: skip this one."""
        with self._jobs.mutex:
            return any(j is not None and j.kind == job.kind and j.id > job.id
                       for j in self._jobs.queue)


class ProbeService(QObject):
    """The views' door to the probes. Emits in the GUI thread."""

    sig_result = Signal(str, object)          # kind, result
    sig_error = Signal(str, str, str)         # kind, reason, details
    sig_progress = Signal(str, float, str)    # kind, fraction, message
    sig_busy = Signal(bool)

    def __init__(self, parent: Optional[QObject] = None):
        super().__init__(parent)
        self._jobs: queue.Queue[Optional[_Job]] = queue.Queue()
        self._latest = Latest()
        self._cancels: dict[int, _Job] = {}
        self._lane = f"probes-{next(_lanes)}"
        # the relay object lives in the GUI thread; its loop runs in the service's own thread
        self._relay = _Relay(self._jobs, self._lane)
        self._relay.sig_result.connect(self._on_result)
        self._relay.sig_error.connect(self._on_error)
        self._relay.sig_progress.connect(self._on_progress)
        self._relay.sig_busy.connect(self._on_busy)
        self._relay.sig_done.connect(self._on_done)
        self._thread: Optional[threading.Thread] = None
        self._closed = False
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # --- plumbing --------------------------------------------------------------------------
    def submit(self, kind: str, fn: Callable[..., Any], *args: Any) -> int:
        """Run fn(ctx, *args) in the engine host (fn: a module-level function there, such as
        probe_host's jobs; args picklable); a newer `kind` job replaces a waiting older one."""
        if self._closed:
            raise UserError("the probe service has been shut down")
        job = _Job(self._latest.take(kind), kind, fn, args)
        self.cancel(kind)  # the newest request wins: an older one still running may stop early
        if self._thread is None:
            self._thread = threading.Thread(target=self._relay.run, name="probes", daemon=True)
            self._thread.start()
        self._cancels[job.id] = job
        self._jobs.put(job)
        return job.id

    def cancel(self, kind: Optional[str] = None) -> None:
        """Ask running and waiting jobs (of `kind`, or all) to stop."""
        for job in list(self._cancels.values()):
            if kind is None or job.kind == kind:
                job.cancel()

    def is_current(self, kind: str, job_id: int) -> bool:
        return self._latest.is_current(kind, job_id)

    @Slot(str, int, object)
    def _on_result(self, kind: str, job_id: int, result: Any) -> None:
        if self.is_current(kind, job_id):
            self.sig_result.emit(kind, result)

    @Slot(str, int, str, str)
    def _on_error(self, kind: str, job_id: int, reason: str, details: str) -> None:
        if self.is_current(kind, job_id):
            self.sig_error.emit(kind, reason, details)

    @Slot(str, int, float, str)
    def _on_progress(self, kind: str, job_id: int, fraction: float, message: str) -> None:
        if self.is_current(kind, job_id):
            self.sig_progress.emit(kind, fraction, message)

    @Slot(int)
    def _on_done(self, job_id: int) -> None:
        self._cancels.pop(job_id, None)

    @Slot(bool)
    def _on_busy(self, busy: bool) -> None:
        self.sig_busy.emit(busy)

    @property
    def pending(self) -> int:
        """Jobs submitted and not yet reported."""
        return len(self._cancels)

    @Slot()
    def shutdown(self) -> None:
        """Cancel everything, end the thread, free the models in the host. Safe to call
        twice."""
        if self._closed:
            return
        self._closed = True
        self.cancel()
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join(timeout=30)  # a job finishes its current step, then the loop ends
            engine_host().drop_lane(self._lane)

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Process events until every submitted job has reported (tests, the tour)."""
        deadline = time.monotonic() + timeout_s
        app = QCoreApplication.instance()
        while self._cancels and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        return not self._cancels

    # --- requests (each returns the job id) --------------------------------------------------
    def attention(self, target: ProbeTarget, text: str, compare: bool = False) -> int:
        return self.submit("attention", probe_host.attention_job, target, text, compare)

    def tokens(self, target: ProbeTarget, text: str) -> int:
        return self.submit("tokens", probe_host.tokens_job, target, text)

    def words(self, target: ProbeTarget, words: list[str], layer: Optional[int],
              method: str = "pca", dims: int = 2, compare: bool = False,
              axes: Optional[tuple[tuple[str, str], Optional[tuple[str, str]]]] = None) -> int:
        return self.submit("embeddings", probe_host.words_job, target, list(words), layer,
                           method, dims, compare, axes)

    def samples(self, target: ProbeTarget, dataset: str, layer: int = -1,
                method: str = "pca", dims: int = 2, max_rows: int = 300) -> int:
        return self.submit("embeddings", probe_host.samples_job, target, dataset, layer,
                           method, dims, max_rows)

    def neighbours(self, target: ProbeTarget, query: str, k: int = 12) -> int:
        """Nearest tokens to a word, or to an expression with + / - (king - man + woman)."""
        return self.submit("neighbours", probe_host.neighbours_job, target, query, k)
