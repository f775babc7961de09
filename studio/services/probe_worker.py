"""Probes off the GUI thread: one worker thread runs attention / embedding / tokenizer jobs in
order and keeps the loaded models between jobs.

`ProbeService` lives in the GUI thread; views call its request methods (each returns a job id)
and listen to `sig_result(kind, result)`, `sig_error(kind, reason, details)` and
`sig_progress(kind, fraction, message)`, all emitted in the GUI thread. A newer request of
the same kind replaces a queued older one (typing fast never builds a backlog) and the result
of an older job is dropped. Cancel is a threading.Event the job checks (architecture.md: a worker
busy in a loop never runs queued slots).

One thread on purpose: models stay in the cache of the thread that uses them, and two probes
never run torch on one model at once. At most MAX_MODELS models stay loaded.

The thread is a daemon `threading.Thread`, started at the first request: a page that is never
used costs nothing, and a QThread object destroyed while running (a window dropped without
shutdown, interpreter exit) would abort the process. Its signals still reach the GUI thread
queued: Qt queues any emission from a thread other than the receiver's.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot

from studio.core.errors import Cancelled, UserError
from studio.core.probes.attention import AttentionMaps, ProbeTarget
from studio.services.engine_import import import_engine
from studio.services.latest import Latest
from studio.services.workers import describe_error

if TYPE_CHECKING:
    import numpy as np  # at run time only where used: this module loads before first paint

MAX_MODELS = 2
KINDS = ("attention", "embeddings", "samples", "neighbours", "tokens", "project")


# --- results (plain data, emitted to the GUI) ---------------------------------------------------

@dataclass(frozen=True)
class AttentionResult:
    maps: AttentionMaps
    base: Optional[AttentionMaps]          # the same text through the base model
    entropy: np.ndarray                    # (layers, heads) bits
    patterns: dict                         # name -> (layers, heads) shares (probes.head_patterns)
    special: np.ndarray                    # (T,) bool

    @property
    def diff(self) -> Optional[np.ndarray]:
        return None if self.base is None else self.maps.attention - self.base.attention


@dataclass(frozen=True)
class PointsResult:
    """Points to draw: words or dataset samples, projected; base points for drift arrows."""

    labels: tuple[str, ...]
    coords: np.ndarray                     # (N, 2|3)
    base_coords: Optional[np.ndarray]      # (N, 2|3) or None
    vectors: np.ndarray                    # (N, D) original vectors (neighbours, re-projection)
    base_vectors: Optional[np.ndarray]
    method: str
    groups: tuple[str, ...] = ()           # per point: a colour group ("train"/"eval") or ()
    values: Optional[np.ndarray] = None    # per point: a value to colour by (loss) or None
    explained: Optional[np.ndarray] = None
    axis_names: tuple[str, str] = ("", "")
    note: str = ""


@dataclass(frozen=True)
class NeighbourResult:
    query: str
    neighbours: tuple                      # probes_embed.Neighbour
    terms: tuple = ()


@dataclass(frozen=True)
class TokenResult:
    split: Any                             # probes_tokens.TokenSplit
    template: Any                          # probes_tokens.TemplateSplit or None
    model: str


# --- the worker ---------------------------------------------------------------------------------

@dataclass
class _Job:
    id: int
    kind: str
    fn: Callable[["_Context"], Any]
    cancel: threading.Event


class _Context:
    """What a job gets: the model cache, progress reporting and its cancel flag."""

    def __init__(self, runner: "_Runner", job: _Job):
        self._runner, self._job = runner, job
        self.cancel = job.cancel
        self._last = 0.0

    def model(self, target: ProbeTarget) -> Any:
        self.fetch(target, files="all")
        return self._runner.model(target)

    def tokenizer(self, target: ProbeTarget) -> Any:
        self.fetch(target, files="tokenizer")
        return self._runner.tokenizer(target)

    def fetch(self, target: ProbeTarget, files: str) -> None:
        """A hub id's files into the Hugging Face cache first, as on the Train page: progress
        in the view's status line, this job's cancel stopping the download (what arrived stays
        for the next try), nothing fetched when cached; offline, the cached snapshot."""
        from studio.core.model.hub import fetch, is_hub_id

        if not is_hub_id(str(target.model)):
            return

        def progress(done: int, total: int, message: str) -> None:
            self.progress(min(done / total, 0.99) if total else 0.0, message)

        fetch(str(target.model), files=files, progress=progress, cancelled=self.cancel.is_set)

    def vocab_index(self, target: ProbeTarget) -> Any:
        return self._runner.vocab_index(target)

    def progress(self, fraction: float, message: str = "") -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - self._last < 0.05:  # at most ~20 signals a second
            return
        self._last = now
        self._runner.sig_progress.emit(self._job.kind, self._job.id, float(fraction), message)

    def check(self) -> None:
        if self.cancel.is_set():
            raise Cancelled()


class _Runner(QObject):
    sig_result = Signal(str, int, object)
    sig_error = Signal(str, int, str, str)
    sig_progress = Signal(str, int, float, str)
    sig_busy = Signal(bool)
    sig_done = Signal(int)           # job id: ran or was skipped

    def __init__(self, jobs: "queue.Queue[Optional[_Job]]"):
        super().__init__()
        self._jobs = jobs
        self._models: OrderedDict[ProbeTarget, Any] = OrderedDict()
        self._tokenizers: dict[ProbeTarget, Any] = {}
        self._indexes: dict[ProbeTarget, Any] = {}

    def run(self) -> None:
        """The loop of the probe thread (not a slot: it runs in a plain Python thread)."""
        while True:
            job = self._jobs.get()
            if job is None:
                break
            if self._superseded(job):
                self.sig_done.emit(job.id)
                continue
            self.sig_busy.emit(True)
            try:
                result = job.fn(_Context(self, job))
            except Exception as e:  # reported to the view, never lost in a terminal
                self.sig_error.emit(job.kind, job.id, *describe_error(e))
            else:
                self.sig_result.emit(job.kind, job.id, result)
            finally:
                self.sig_busy.emit(False)
                self.sig_done.emit(job.id)
        self._models.clear()  # frees the weights before the thread ends

    def _superseded(self, job: _Job) -> bool:
        """A newer job of the same kind is waiting: skip this one."""
        with self._jobs.mutex:
            return any(j is not None and j.kind == job.kind and j.id > job.id
                       for j in self._jobs.queue)

    def model(self, target: ProbeTarget) -> Any:
        from studio.core.probes.attention import (
            load_probe_model,  # lazy: torch, in this thread only
        )

        import_engine()

        if target in self._models:
            self._models.move_to_end(target)
            return self._models[target]
        while len(self._models) >= MAX_MODELS:
            old, _ = self._models.popitem(last=False)
            self._indexes.pop(old, None)
        pm = load_probe_model(target)
        self._models[target] = pm
        return pm

    def tokenizer(self, target: ProbeTarget) -> Any:
        if target in self._models:
            return self._models[target].tokenizer
        if target not in self._tokenizers:
            from studio.core.model import load as model_mod

            folder = model_mod.resolve_model(target.model, tokenizer_only=True)
            self._tokenizers[target] = model_mod.load_tokenizer(folder)
        return self._tokenizers[target]

    def vocab_index(self, target: ProbeTarget) -> Any:
        from studio.core.probes.embed import VocabIndex

        pm = self.model(target)
        if target not in self._indexes:
            self._indexes[target] = VocabIndex(pm)
        return self._indexes[target]


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
        self._runner = _Runner(self._jobs)  # lives in the GUI thread; its loop runs in ours
        self._runner.sig_result.connect(self._on_result)
        self._runner.sig_error.connect(self._on_error)
        self._runner.sig_progress.connect(self._on_progress)
        self._runner.sig_busy.connect(self._on_busy)
        self._runner.sig_done.connect(self._on_done)
        self._thread: Optional[threading.Thread] = None
        self._closed = False
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # --- plumbing --------------------------------------------------------------------------
    def submit(self, kind: str, fn: Callable[[_Context], Any]) -> int:
        """Run fn(ctx) in the probe thread; a newer `kind` job replaces a waiting older one."""
        if self._closed:
            raise UserError("the probe service has been shut down")
        job = _Job(self._latest.take(kind), kind, fn, threading.Event())
        self.cancel(kind)  # the newest request wins: an older one still running may stop early
        if self._thread is None:
            self._thread = threading.Thread(target=self._runner.run, name="probes", daemon=True)
            self._thread.start()
        self._cancels[job.id] = job
        self._jobs.put(job)
        return job.id

    def cancel(self, kind: Optional[str] = None) -> None:
        """Ask running and waiting jobs (of `kind`, or all) to stop."""
        for job in list(self._cancels.values()):
            if kind is None or job.kind == kind:
                job.cancel.set()

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
        """Cancel everything, end the thread, free the models. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.cancel()
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join(timeout=30)  # a job finishes its current step, then the loop ends

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
        return self.submit("attention", lambda ctx: _attention_job(ctx, target, text, compare))

    def tokens(self, target: ProbeTarget, text: str) -> int:
        return self.submit("tokens", lambda ctx: _tokens_job(ctx, target, text))

    def words(self, target: ProbeTarget, words: list[str], layer: Optional[int],
              method: str = "pca", dims: int = 2, compare: bool = False,
              axes: Optional[tuple[tuple[str, str], Optional[tuple[str, str]]]] = None) -> int:
        return self.submit("embeddings", lambda ctx: _words_job(
            ctx, target, words, layer, method, dims, compare, axes))

    def samples(self, target: ProbeTarget, dataset: str, layer: int = -1,
                method: str = "pca", dims: int = 2, max_rows: int = 300) -> int:
        return self.submit("embeddings", lambda ctx: _samples_job(
            ctx, target, dataset, layer, method, dims, max_rows))

    def neighbours(self, target: ProbeTarget, query: str, k: int = 12) -> int:
        """Nearest tokens to a word, or to an expression with + / - (king - man + woman)."""
        return self.submit("neighbours", lambda ctx: _neighbours_job(ctx, target, query, k))


# --- the jobs (run in the probe thread) -----------------------------------------------------------

def _attention_job(ctx: _Context, target: ProbeTarget, text: str,
                   compare: bool) -> AttentionResult:
    from studio.core.probes import attention as probes  # lazy: torch

    ctx.progress(0.0, "loading model")
    pm = ctx.model(target)
    ctx.check()
    ctx.progress(0.3, "capturing attention")
    maps = probes.capture_attention(pm, text)
    base = None
    if compare:
        ctx.check()
        base = _base_attention(ctx, pm, target, text)
    special = probes.special_mask(pm, maps.tokens)
    ctx.progress(1.0, "")
    return AttentionResult(maps=maps, base=base, entropy=probes.attention_entropy(maps.attention),
                           patterns=probes.head_patterns(maps.attention, special),
                           special=special)


def _base_attention(ctx: _Context, pm: Any, target: ProbeTarget, text: str) -> AttentionMaps:
    from studio.core.probes import attention as probes

    if pm.has_adapter:
        return probes.capture_attention(pm, text, adapter=False)
    if target.base is not None:
        return probes.capture_attention(ctx.model(ProbeTarget(model=target.base)), text)
    raise UserError(f"{target.label} has no base to compare with: pick a trained run")


def _tokens_job(ctx: _Context, target: ProbeTarget, text: str) -> TokenResult:
    from studio.core.probes.tokens import split_text, template_split

    tok = ctx.tokenizer(target)
    return TokenResult(split=split_text(tok, text), template=template_split(tok, text),
                       model=target.label)


def _vectors(ctx: _Context, target: ProbeTarget, words: list[str], layer: Optional[int],
             compare: bool) -> tuple[np.ndarray, Optional[np.ndarray]]:
    from studio.core.probes.embed import word_vectors

    pm = ctx.model(target)
    tuned = word_vectors(pm, words, layer).vectors
    if not compare:
        return tuned, None
    if pm.has_adapter:
        return tuned, word_vectors(pm, words, layer, adapter=False).vectors
    if target.base is not None:
        return tuned, word_vectors(ctx.model(ProbeTarget(model=target.base)), words,
                                   layer).vectors
    raise UserError(f"{target.label} has no base to compare with: pick a trained run")


def _words_job(ctx: _Context, target: ProbeTarget, words: list[str], layer: Optional[int],
               method: str, dims: int, compare: bool, axes: Any) -> PointsResult:
    ctx.progress(0.0, "loading model")
    words = list(dict.fromkeys(words + ([w for pair in axes if pair for w in pair]
                                        if axes else [])))
    vecs, base = _vectors(ctx, target, words, layer, compare)
    ctx.check()
    if axes:
        return _axis_points(words, vecs, base, axes)
    return _project_points(ctx, tuple(words), vecs, base, method, dims)


def _axis_points(words: list[str], vecs: np.ndarray, base: Optional[np.ndarray],
                 axes: Any) -> PointsResult:
    from studio.core.probes import projection as project

    v = dict(zip(words, vecs))
    px = (v[axes[0][0]], v[axes[0][1]])
    py = (v[axes[1][0]], v[axes[1][1]]) if axes[1] else None
    coords = project.analogy_plane(vecs, px, py).coords
    base_coords = None if base is None else project.analogy_plane(base, px, py).coords
    names = (f"{axes[0][0]} → {axes[0][1]}",
             f"{axes[1][0]} → {axes[1][1]}" if axes[1] else "PC1 of the rest")
    return PointsResult(labels=tuple(words), coords=coords, base_coords=base_coords,
                        vectors=vecs, base_vectors=base, method="axis", axis_names=names)


def _project_points(ctx: _Context, labels: tuple[str, ...], vecs: np.ndarray,
                    base: Optional[np.ndarray], method: str, dims: int, **extra: Any
                    ) -> PointsResult:
    import numpy as np

    from studio.core.probes import projection as project

    # base and tuned share one projection, so the arrows show real movement
    stacked = vecs if base is None else np.vstack([vecs, base])
    proj = project.project(stacked, method, dims, progress=ctx.progress, cancel=ctx.cancel)
    n = len(vecs)
    return PointsResult(labels=labels, coords=proj.coords[:n],
                        base_coords=None if base is None else proj.coords[n:], vectors=vecs,
                        base_vectors=base, method=method, explained=proj.explained,
                        axis_names=_axis_names(method), **extra)


def _axis_names(method: str) -> tuple[str, str]:
    return {"pca": ("PC1", "PC2"), "umap": ("UMAP 1", "UMAP 2"),
            "tsne": ("t-SNE 1", "t-SNE 2")}.get(method, ("", ""))


def _samples_job(ctx: _Context, target: ProbeTarget, dataset: str, layer: int, method: str,
                 dims: int, max_rows: int) -> PointsResult:
    from studio.core.probes.embed import dataset_vectors

    ctx.progress(0.0, "loading model")
    pm = ctx.model(target)
    sv = dataset_vectors(pm, dataset, max_rows=max_rows, layer=layer,
                         progress=lambda f, m: ctx.progress(0.8 * f, "encoding samples"),
                         cancel=ctx.cancel, **_split_settings(target))
    labels = tuple(f"row {r}" for r in sv.rows)
    return _project_points(ctx, labels, sv.vectors, None, method, dims, groups=sv.splits,
                           values=sv.losses,
                           note=f"{len(labels)} samples, layer {sv.layer}")


def _split_settings(target: ProbeTarget) -> dict:
    """eval_split / seed of the run the adapter came from, so colours match its split."""
    import yaml

    run = target.adapter.parent if target.adapter is not None else (
        target.model.parent if target.base is not None else None)
    cfg_file = run / "config.yaml" if run is not None else None
    if cfg_file is None or not cfg_file.is_file():
        return {}
    try:
        cfg = yaml.safe_load(cfg_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    out = {}
    if isinstance(cfg.get("eval_split"), (int, float)):
        out["eval_split"] = float(cfg["eval_split"])
    if isinstance(cfg.get("seed"), int):
        out["seed"] = int(cfg["seed"])
    return out


def _neighbours_job(ctx: _Context, target: ProbeTarget, query: str, k: int) -> NeighbourResult:
    from studio.core.probes import embed as pe

    pm = ctx.model(target)
    index = ctx.vocab_index(target)
    terms = pe.parse_arithmetic(query)
    if len(terms) == 1 and terms[0][0] > 0:
        near = pe.word_neighbours(pm, terms[0][1], k=k, index=index)
        return NeighbourResult(query=query, neighbours=tuple(near), terms=tuple(terms))
    res = pe.arithmetic(pm, query, k=k, index=index)
    return NeighbourResult(query=query, neighbours=res.neighbours, terms=res.terms)
