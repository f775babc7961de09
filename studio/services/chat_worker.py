"""Chat off the GUI thread: one worker thread loads the models and generates the replies.

`ChatService` lives in the GUI thread. The chat pane calls `load(source)`, `ask(...)`, `stop()`
and listens to its signals, all emitted in the GUI thread:
  sig_loaded(Loaded)              models ready (what, and a memory / template note)
  sig_chunk(side, Chunk)          new text of the reply being written on `side`
  sig_reply(side, Reply)          that reply is complete (tokens, speed, why it stopped)
  sig_done()                      every side of the question has answered (or was stopped)
  sig_error(reason, details)      a load or a reply failed
  sig_state(str)                  idle | loading | generating
  sig_progress(done, total, msg)  a hub id's download (bytes): stop() cancels it, and what
                                  arrived stays in the cache for the next try

One thread on purpose: the loaded models belong to it, and base and tuned answers that share
one PEFT model (adapter off / on) must never run at the same time. Only one set of models is
loaded at a time: loading another frees the previous one first. Stop is a threading.Event the
engine checks after every token (architecture.md: a busy worker never runs queued slots).
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from studio.core.errors import UserError
from studio.core.gc_policy import collect_garbage
from studio.services.engine_import import import_engine
from studio.services.workers import describe_error

STATES = ("idle", "loading", "generating")


@dataclass(frozen=True)
class ChatSource:
    """What to chat with: a model folder, optionally an adapter folder, or a run (+ step)."""
    model: Optional[str] = None
    adapter: Optional[str] = None
    run: Optional[str] = None
    step: Optional[int] = None       # None: the run's final weights
    with_base: bool = True           # full / freeze runs: also load the base (a second copy)

    def describe(self) -> str:
        if self.run:
            where = f"step {self.step}" if self.step is not None else "final"
            return f"{Path(self.run).name} ({where})"
        if self.adapter:
            return Path(self.adapter).name
        return Path(self.model or "").name


@dataclass(frozen=True)
class Loaded:
    source: ChatSource
    label: str
    note: str
    has_tuned: bool
    shared: bool
    stage: str = ""           # a run's stage: dpo / kto runs compare with their reference


@dataclass
class _Load:
    source: ChatSource
    cancel: threading.Event   # stops a hub id's download


@dataclass
class _Ask:
    sides: tuple[str, ...]
    messages: dict            # side -> list of messages (each side keeps its own history)
    settings: Any             # core.chat.GenSettings
    cancel: threading.Event


def _stage_of(src: ChatSource) -> str:
    """The stage a run trained with ("" for a model or adapter folder)."""
    if not src.run:
        return ""
    from studio.core import runs

    return runs.load_config(runs.open_run(src.run)).stage


class _Runner(QObject):
    sig_progress = Signal(object, object, str)  # bytes: past 2**31 for a 7B model
    sig_loaded = Signal(object)
    sig_chunk = Signal(str, object)
    sig_reply = Signal(str, object)
    sig_done = Signal()
    sig_error = Signal(str, str)
    sig_state = Signal(str)

    def __init__(self, jobs: "queue.Queue[Any]"):
        super().__init__()
        self._jobs = jobs
        self.models: Any = None  # core.run_model.ChatModels

    @Slot()
    def run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                break
            loaded = None
            try:
                if isinstance(job, _Load):
                    loaded = self._load(job.source, job.cancel)
                elif isinstance(job, _Ask):
                    self._ask(job)
                elif job == "unload":
                    self._free()
            except Exception as e:  # shown in the pane, never lost in a terminal
                self.sig_error.emit(*describe_error(e))
            finally:
                # idle first: the service is no longer busy when its users hear "done"
                self.sig_state.emit("idle")
                if loaded is not None:
                    self.sig_loaded.emit(loaded)
                if isinstance(job, _Ask):
                    self.sig_done.emit()
        self._free()  # the weights go with the thread

    def _free(self) -> None:
        models, self.models = self.models, None
        if models is not None:
            from studio.core.model.load import release

            # 4-bit layers hold reference cycles, and this thread never collects them (the GUI
            # thread does, on a timer): broken here, the weights go now, before the next load
            for engine in (models.base, models.tuned):
                if engine is not None:
                    release(engine.model)
        del models
        collect_garbage()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
                torch.mps.empty_cache()
        except ImportError:  # torch not imported yet: nothing to free
            pass

    def _load(self, src: ChatSource, cancel: threading.Event) -> Loaded:
        # Lazy: torch + transformers + peft take seconds to import; only ever in this thread.
        from studio.core.model.hub import fetch, is_hub_id
        from studio.core.model.run_model import load_chat_models

        import_engine()

        self.sig_state.emit("loading")
        self._free()  # never two sets of weights at once
        if src.model and not src.run and is_hub_id(src.model):
            # the whole snapshot into the cache first, with progress and cancel (hub.py);
            # loading then finds it there
            fetch(src.model, progress=self.sig_progress.emit, cancelled=cancel.is_set)
        self.models = load_chat_models(model=src.model, adapter=src.adapter, run=src.run,
                                       step=src.step, with_base=src.with_base)
        m = self.models
        return Loaded(source=src, label=m.label, note=m.note, has_tuned=m.tuned is not None,
                      shared=m.shared, stage=_stage_of(src))

    def _ask(self, job: _Ask) -> None:
        if self.models is None:
            raise UserError("no model is loaded yet: pick a run or a model and press Load")
        self.sig_state.emit("generating")
        for side in job.sides:
            if job.cancel.is_set():
                break
            reply = self.models.reply(
                side, job.messages[side], job.settings, cancel=job.cancel,
                on_chunk=lambda c, s=side: self.sig_chunk.emit(s, c))
            self.sig_reply.emit(side, reply)


class ChatService(QObject):
    sig_loaded = Signal(object)       # Loaded
    sig_chunk = Signal(str, object)   # side, core.chat.Chunk
    sig_reply = Signal(str, object)   # side, core.chat.Reply
    sig_done = Signal()
    sig_error = Signal(str, str)      # reason, details
    sig_state = Signal(str)           # one of STATES
    sig_progress = Signal(object, object, str)  # bytes done, bytes in all, message

    def __init__(self, parent: Optional[QObject] = None):
        super().__init__(parent)
        self._jobs: queue.Queue[Any] = queue.Queue()
        self._cancel = threading.Event()
        self.state = "idle"
        self.loaded: Optional[Loaded] = None
        self._pending = 0
        self._thread = QThread()
        self._thread.setObjectName("chat")
        self._runner = _Runner(self._jobs)
        self._runner.moveToThread(self._thread)
        self._thread.started.connect(self._runner.run)
        # Queued: the runner emits in its thread, these slots run in the GUI thread.
        self._runner.sig_loaded.connect(self._on_loaded)
        self._runner.sig_chunk.connect(self._on_chunk)
        self._runner.sig_reply.connect(self._on_reply)
        self._runner.sig_done.connect(self._on_done)
        self._runner.sig_error.connect(self._on_error)
        self._runner.sig_state.connect(self._on_state)
        self._runner.sig_progress.connect(self._on_progress)
        self._closed = False
        # The thread starts with the first request: an app that never chats runs no thread
        # (and a QThread destroyed while running would abort the process at exit).
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # --- requests ------------------------------------------------------------------------------
    def load(self, source: ChatSource) -> None:
        """Load `source` (replacing what is loaded); a reply being written is stopped first.
        stop() cancels a hub id's download."""
        self._check_open()
        self.stop()
        self._cancel = threading.Event()
        self._put(_Load(source, self._cancel))

    def ask(self, messages: dict, settings: Any, sides: tuple[str, ...]) -> None:
        """Answer on each side in turn. messages: side -> the conversation ending with the
        user's new message."""
        self._check_open()
        missing = [s for s in sides if s not in messages]
        if missing:
            raise UserError(f"no conversation for side {missing[0]}")
        self._cancel = threading.Event()
        self._put(_Ask(tuple(sides), dict(messages), settings, self._cancel))

    def stop(self) -> None:
        """Stop the reply being written (within one token) and any queued question."""
        self._cancel.set()

    def unload(self) -> None:
        self.stop()
        self.loaded = None
        self._put("unload")

    @property
    def busy(self) -> bool:
        return self._pending > 0

    def _put(self, job: Any) -> None:
        if not self._thread.isRunning():
            self._thread.start()
        self._pending += 1
        self._jobs.put(job)

    def _check_open(self) -> None:
        if self._closed:
            raise UserError("the chat service has been shut down")

    # --- from the runner (GUI thread) -----------------------------------------------------------
    @Slot(object)
    def _on_loaded(self, loaded: Loaded) -> None:
        self.loaded = loaded
        self.sig_loaded.emit(loaded)

    @Slot(str, object)
    def _on_chunk(self, side: str, chunk: Any) -> None:
        self.sig_chunk.emit(side, chunk)

    @Slot(str, object)
    def _on_reply(self, side: str, reply: Any) -> None:
        self.sig_reply.emit(side, reply)

    @Slot()
    def _on_done(self) -> None:
        self.sig_done.emit()

    @Slot(str, str)
    def _on_error(self, reason: str, details: str) -> None:
        self.sig_error.emit(reason, details)

    @Slot(object, object, str)
    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.sig_progress.emit(done, total, message)

    @Slot(str)
    def _on_state(self, state: str) -> None:
        if state == "idle":
            self._pending = max(0, self._pending - 1)
            if self._pending:
                return  # more jobs queued: not idle yet
        self.state = state
        self.sig_state.emit(state)

    # --- lifetime --------------------------------------------------------------------------------
    @Slot()
    def shutdown(self) -> None:
        """Stop, end the thread, free the models. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        if self._thread.isRunning():
            self._jobs.put(None)
            self._thread.quit()
            self._thread.wait()

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Process events until every request has been handled (tests, the tour)."""
        import time

        deadline = time.monotonic() + timeout_s
        app = QCoreApplication.instance()
        while self._pending and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        app.processEvents()
        return not self._pending
