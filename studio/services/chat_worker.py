"""Chat off the GUI thread: the models load and answer in the engine host, one relay thread
here hands what they report to the GUI thread.

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

The engine work (services/chat_host.py) runs in the engine host (services/engine_host.py), in
a lane of this service's own: its calls run one after another there, so the loaded models
stay in the lane between a load and the questions, and base and tuned answers that share one
PEFT model (adapter off / on) never run at the same time. This process never imports torch:
its GUI thread would wait for the GIL while the engine's Python runs. Only one set of models
is loaded at a time: loading another frees the previous one first. stop() cancels the host call
being run (the engine checks after every token; architecture.md: a busy worker never runs
queued slots).
"""

from __future__ import annotations

import itertools
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from studio.core.errors import UserError
from studio.services import chat_host
from studio.services.chat_host import ChatSource, Loaded
from studio.services.engine_host import engine_host
from studio.services.workers import describe_error

__all__ = ["STATES", "ChatService", "ChatSource", "Loaded"]

STATES = ("idle", "loading", "generating")
_lanes = itertools.count(1)  # each service's lane in the host: its own models


class _Stop:
    """A request's stop: set once, it cancels the host call running the request (now, or
    when the call is made: a request stopped while queued is cancelled as soon as it is sent)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False
        self._call: Any = None  # engine_host.Call

    def set(self) -> None:
        with self._lock:
            self._set, call = True, self._call
        if call is not None:
            call.cancel()

    def attach(self, call: Any) -> None:
        with self._lock:
            self._call, stopped = call, self._set
        if stopped and call is not None:
            call.cancel()


@dataclass
class _Load:
    source: ChatSource
    stop: _Stop               # stops a hub id's download


@dataclass
class _Ask:
    sides: tuple[str, ...]
    messages: dict            # side -> list of messages (each side keeps its own history)
    settings: Any             # core.chat.GenSettings
    stop: _Stop


class _Runner(QObject):
    """The relay: sends each job to the host and turns what comes back into signals (emitted
    in its thread; queued to the GUI thread by ChatService's connections)."""
    sig_progress = Signal(object, object, str)  # bytes: past 2**31 for a 7B model
    sig_loaded = Signal(object)
    sig_chunk = Signal(str, object)
    sig_reply = Signal(str, object)
    sig_done = Signal()
    sig_error = Signal(str, str)
    sig_state = Signal(str)

    def __init__(self, jobs: "queue.Queue[Any]", lane: str):
        super().__init__()
        self._jobs, self._lane = jobs, lane
        self._events: dict[str, Callable[[Any], None]] = {
            "state": self.sig_state.emit,
            "progress": lambda p: self.sig_progress.emit(*p),
            "chunk": lambda p: self.sig_chunk.emit(*p),
            "reply": lambda p: self.sig_reply.emit(*p),
        }

    @Slot()
    def run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                break
            loaded = None
            try:
                if isinstance(job, _Load):
                    loaded = self._call(job.stop, chat_host.load, job.source)
                elif isinstance(job, _Ask):
                    self._call(job.stop, chat_host.ask, job.sides, job.messages, job.settings)
                elif job == "unload":
                    self._call(None, chat_host.free)
            except Exception as e:  # shown in the pane, never lost in a terminal
                self.sig_error.emit(*describe_error(e))
            finally:
                # idle first: the service is no longer busy when its users hear "done"
                self.sig_state.emit("idle")
                if loaded is not None:
                    self.sig_loaded.emit(loaded)
                if isinstance(job, _Ask):
                    self.sig_done.emit()
        # the weights go with the service (after its queued calls; a dead host has none)
        engine_host().drop_lane(self._lane)

    def _call(self, stop: Optional[_Stop], fn: Callable, *args: Any) -> Any:
        call = engine_host().call(fn, *args, lane=self._lane)
        if stop is not None:
            stop.attach(call)
        try:
            return call.wait(self._relay)
        finally:
            if stop is not None:
                stop.attach(None)

    def _relay(self, kind: str, payload: Any) -> None:
        self._events[kind](payload)


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
        self._stop = _Stop()
        self.state = "idle"
        self.loaded: Optional[Loaded] = None
        self._pending = 0
        self._thread = QThread()
        self._thread.setObjectName("chat")
        self._runner = _Runner(self._jobs, lane=f"chat-{next(_lanes)}")
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
        self._stop = _Stop()
        self._put(_Load(source, self._stop))

    def ask(self, messages: dict, settings: Any, sides: tuple[str, ...]) -> None:
        """Answer on each side in turn. messages: side -> the conversation ending with the
        user's new message."""
        self._check_open()
        missing = [s for s in sides if s not in messages]
        if missing:
            raise UserError(f"no conversation for side {missing[0]}")
        self._stop = _Stop()
        self._put(_Ask(tuple(sides), dict(messages), settings, self._stop))

    def stop(self) -> None:
        """Stop the reply being written (within one token) and any queued question."""
        self._stop.set()

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
