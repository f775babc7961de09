"""The dataset doctor off the GUI thread: index the file, check every row, load the model's
tokenizer, measure token lengths, render a row's tokens. The data panel calls DataDoctor and
listens to its signals (all emitted in the GUI thread).

Nothing heavy runs in this process: the file check runs in a one-shot child process, and the
tokenizer (transformers, torch) lives in the engine host, in this doctor's lane, where the
length pass and the previews use it (services/data_host.py); a worker thread here only relays.
A newer request replaces an older one of the same kind: the older job is told to stop (its
host call is cancelled) and whatever it still emits is dropped by a generation number.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, Signal, Slot

from studio.services import data_host
from studio.services.child_process import run_in_child
from studio.services.data_jobs import check_file
from studio.services.engine_host import engine_host
from studio.services.latest import Latest
from studio.services.stream_job import Emit, HostStreamJob, StreamJob

# --- the jobs (plain functions of core calls, run in the worker thread) ------------------------

def _file_job(path: str, fmt: str, index: Any = None,
              columns: str = "") -> Callable[[Emit, Callable], None]:
    def job(emit: Emit, cancelled: Callable[[], bool]) -> None:
        # In a child process: parsing every row in a thread here would starve the GUI thread
        # of the GIL (child_process.py says how badly).
        run_in_child(check_file, (path, fmt, index, columns), emit, cancelled,
                     name="studio-data-check")
    return job


def shape_of(report: Any) -> Any:
    """How the report's rows were read: a format name, or the column mapping."""
    from studio.core.data.columns import parse_columns  # standard library only

    return parse_columns(report.columns) if report.columns else report.format


# --- the service ---------------------------------------------------------------------------------

class DataDoctor(QObject):
    """One dataset at a time. Signals (GUI thread):
    sig_index(RowIndex, shape) the rows can be read (shape: detected from the first rows, a
                              format name or a column mapping)
    sig_fields(Proposal, applied) the fields with sample values and a proposed column mapping;
                              `applied`: no known shape fits, so the rows are read through it
    sig_report(DatasetReport) every row checked (format, counts, problems by row)
    sig_lengths(LengthSample) token lengths, partial while measuring, then `done`
    sig_tokenizer(str model)  the tokenizer of `model` is loaded (in the engine host; the
                              `tokenizer` attribute: its data_host.TokenizerInfo)
    sig_preview(TokenView) / sig_preview_error(row, reason)
    sig_error(reason, details)            the file cannot be read at all
    sig_tokenizer_error(reason, details)  the model's tokenizer cannot be used
    sig_busy(str)             what runs now: reading | checking | tokenizer | measuring | ""
    """

    sig_index = Signal(object, object)
    sig_fields = Signal(object, bool)
    sig_report = Signal(object)
    sig_lengths = Signal(object)
    sig_tokenizer = Signal(str)
    sig_preview = Signal(object)
    sig_preview_error = Signal(int, str)
    sig_error = Signal(str, str)
    sig_tokenizer_error = Signal(str, str)
    sig_busy = Signal(str)

    def __init__(self, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.path = ""
        self.format = "auto"
        self.columns = ""       # the column mapping asked for ("": detect the shape)
        self.index: Any = None
        self.report: Any = None
        self.lengths: Any = None
        self.tokenizer: Optional[data_host.TokenizerInfo] = None
        self.tokenizer_source = ""
        self.lane = f"data-{id(self)}"  # the engine host's state of this doctor: its tokenizer
        self.stage, self.train_on_prompt = "sft", False
        self._jobs: dict[str, Optional[StreamJob]] = {
            "file": None, "tokenizer": None, "lengths": None, "preview": None}
        self._latest = Latest()

    # --- requests ------------------------------------------------------------------------------
    def open(self, path: str, fmt: str = "auto", columns: str = "") -> None:
        """Read `path` (a new file: index, then the full check), through `columns` if given."""
        self.path, self.format, self.columns = str(path), fmt, columns
        self.index = self.report = self.lengths = None
        self._cancel("lengths")
        self._run("file", _file_job(self.path, fmt, None, columns))
        self._busy()

    def set_format(self, fmt: str) -> None:
        """Check the open file again, reading its rows as `fmt` (auto: detect)."""
        if fmt == self.format or not self.path:
            self.format = fmt
            return
        self.format = fmt
        self._recheck()

    def set_columns(self, columns: str) -> None:
        """Check the open file again, reading its rows through `columns` ("": detect)."""
        if columns == self.columns or not self.path:
            self.columns = columns
            return
        self.columns = columns
        self._recheck()

    def _recheck(self) -> None:
        self.report = self.lengths = None
        self._cancel("lengths")
        self._run("file", _file_job(self.path, self.format, self.index, self.columns))
        self._busy()

    def set_tokenizer_source(self, model: str) -> None:
        """Use the tokenizer (and chat template) of `model`, a folder or hub id ("" = none)."""
        model = str(model or "").strip()
        if model == self.tokenizer_source:
            return
        self.tokenizer_source = model
        self.tokenizer = self.lengths = None
        self._cancel("lengths")
        if model:
            self._run_in_host("tokenizer", data_host.load, model)
        else:
            self._cancel("tokenizer")
            engine_host().drop_lane(self.lane)  # free the tokenizer no longer used
        self._busy()

    def set_length_options(self, stage: str, train_on_prompt: bool) -> None:
        if (stage, train_on_prompt) != (self.stage, self.train_on_prompt):
            self.stage, self.train_on_prompt = stage, train_on_prompt
            self.lengths = None
            self._maybe_measure()

    def request_preview(self, sample: Any, max_length: Optional[int]) -> bool:
        """Render one sample's tokens (needs the tokenizer); False when there is none yet."""
        if self.tokenizer is None or sample is None:
            return False
        # serial=False: beside a length pass of the lane, not behind it (the tokenizer's lock
        # in the host keeps them from using it at the same time)
        self._run_in_host("preview", data_host.preview, self.tokenizer_source, sample,
                          max_length, self.stage, self.train_on_prompt, serial=False)
        return True

    def busy(self) -> str:
        for kind, label in (("file", "reading" if self.index is None else "checking"),
                            ("tokenizer", "tokenizer"), ("lengths", "measuring")):
            job = self._jobs[kind]
            if job is not None and job.running and not job.cancel_event.is_set():
                return label
        return ""

    def shutdown(self, wait_ms: int = 5000) -> None:
        """Stop every job, superseded ones included (window closing, tests)."""
        mine = [job for job in StreamJob._live if getattr(job, "owner", None) is self]
        for job in mine:
            job.cancel()
        for job in mine:
            job.wait(wait_ms)
        engine_host().drop_lane(self.lane)

    # --- plumbing ------------------------------------------------------------------------------
    def _run(self, kind: str, job_fn: Callable) -> None:
        self._start(kind, StreamJob(f"data-{kind}", job_fn))

    def _run_in_host(self, kind: str, fn: Callable, *args: Any, serial: bool = True) -> None:
        """fn(ctx, *args) in this doctor's lane of the engine host, relayed like a job."""
        self._start(kind, HostStreamJob(f"data-{kind}", fn, *args, lane=self.lane,
                                        serial=serial))

    def _start(self, kind: str, job: StreamJob) -> None:
        self._cancel(kind)
        job.gen, job.kind, job.owner = self._latest.take(kind), kind, self
        # Bound slots of this QObject (not lambdas): Qt drops the connections if this object
        # is deleted while a job still runs; sender() says which job spoke.
        job.sig_item.connect(self._job_item)
        job.sig_error.connect(self._job_error)
        job.sig_done.connect(self._busy)
        self._jobs[kind] = job
        job.start()

    def _cancel(self, kind: str) -> None:
        job = self._jobs.get(kind)
        if job is not None:
            job.cancel()

    def _current(self, gen: int, kind: str) -> bool:
        job = self._jobs.get(kind)  # the newest job, unless it was cancelled since
        return self._latest.is_current(kind, gen) and job is not None and \
            not job.cancel_event.is_set()

    @Slot(str, object)
    def _job_item(self, kind: str, payload: Any) -> None:
        job = self.sender()
        if job is None or not self._current(job.gen, job.kind):
            return
        if kind == "index":
            self.index, shape = payload
            self.sig_index.emit(self.index, shape)
        elif kind == "fields":
            proposal, applied = payload
            if applied:  # the rows are read through it: it is the mapping in use
                self.columns = str(proposal.columns)
            self.sig_fields.emit(proposal, applied)
        elif kind == "report":
            self.report = payload
            self.sig_report.emit(payload)
            self._maybe_measure()
        elif kind == "tokenizer":
            self.tokenizer = payload
            self.sig_tokenizer.emit(self.tokenizer_source)
            self._maybe_measure()
        elif kind == "lengths":
            self.lengths = payload
            self.sig_lengths.emit(payload)
        elif kind == "preview":
            self.sig_preview.emit(payload)
        elif kind == "preview_error":
            self.sig_preview_error.emit(*payload)
        elif kind == "download":
            self.sig_busy.emit(payload)  # "fetching org/name: 12.0 MB of 40.1 MB"
            return
        self._busy()

    @Slot(str, str)
    def _job_error(self, reason: str, details: str) -> None:
        job = self.sender()
        if job is None or not self._current(job.gen, job.kind):
            return
        job_kind = job.kind
        if job_kind == "tokenizer":
            self.sig_tokenizer_error.emit(reason, details)
        elif job_kind == "preview":
            self.sig_preview_error.emit(-1, reason)
        else:
            self.sig_error.emit(reason, details)

    def _maybe_measure(self) -> None:
        r = self.report
        if self.tokenizer is None or r is None or self.index is None or not r.good_rows:
            return
        self._run_in_host("lengths", data_host.measure, self.tokenizer_source, self.index,
                          shape_of(r), self.stage, self.train_on_prompt)
        self._busy()

    @Slot()
    def _busy(self) -> None:
        self.sig_busy.emit(self.busy())
