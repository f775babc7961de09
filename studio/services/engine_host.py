"""The engine's own process: torch, transformers and peft never load in the window's process.

Why: the window's GUI thread needs the GIL for every call into Python (each pyqtgraph item it
paints, each widget override Qt calls), and a thread of the same process that runs Python (the
training loop of a small model, PEFT's adapter injection, a model load, torch's import, which
holds the GIL for 0.1-0.25 s at a time in its C initialisers) makes it wait each time: the tour
measured 50-330 ms freezes that were nothing but that wait. A child process has its own GIL.

One host process serves every service (training, probes, chat, the model page, export): it
imports the engine once, and models loaded for one request stay loaded for the next in the
state of the caller's *lane*. The window's side, in a worker thread:

    call = engine_host().call(fn, *args, lane="probes")     # fn(ctx, *args) runs in the host
    result = call.wait(on_event=lambda kind, payload: ...)  # blocks (GIL released); re-raises
    call.cancel()                                           # from any thread: ctx.cancel is set

`fn` must be a module-level function (it is pickled by name) and its arguments, events and result
picklable. Calls of one lane run one after another in that lane's thread of the host, and
`ctx.state` is the lane's dict (its loaded models); a call without a lane gets its own thread.
`drop_lane(lane)` frees a lane's state. `serial=False` runs a call beside the lane's queue, in a
thread of its own, with the lane's state. The host runs each call with the caller's environment
variables and working directory (tests and the app change them after the host started).

If the host dies (the system killed it for memory, a library crashed), every call in flight fails
with a `ChildFailed` that says so, and the next call starts a new host. No Qt here, nor in the
host (services/host_main.py).
"""

from __future__ import annotations

import itertools
import os
import pickle
import queue
import threading
from typing import Any, Callable, Optional

from studio.services.child_process import _CTX, ChildFailed

_EVENT, _RESULT, _ERROR = "event", "result", "error"


class Call:
    """One request to the host, seen from the thread that made it."""

    def __init__(self, host: "EngineHost", call_id: int):
        self._host, self.id = host, call_id
        self.proc: Any = None
        self._inbox: "queue.Queue[tuple[str, Any, Any]]" = queue.Queue()

    def wait(self, on_event: Optional[Callable[[str, Any], None]] = None,
             stop: Optional[threading.Event] = None) -> Any:
        """Relay the call's events to on_event(kind, payload) until it ends; its result, or
        what it raised (a user error as itself, anything else as ChildFailed). `stop`: an
        event of the caller's that cancels the call once set (checked every 50 ms)."""
        asked = False
        while True:
            if stop is not None and not asked and stop.is_set():
                asked = True
                self.cancel()
            try:
                what, a, b = self._inbox.get(timeout=0.05 if stop is not None else None)
            except queue.Empty:
                continue
            if what == _EVENT:
                if on_event is not None:
                    on_event(a, b)
            elif what == _RESULT:
                return a
            else:
                raise a

    def cancel(self) -> None:
        self._host._send(("cancel", self.id))


class EngineHost:
    def __init__(self) -> None:
        self._lock = threading.Lock()   # one writer at a time, and (re)starting
        self._conn: Any = None
        self._proc: Any = None
        self._calls: dict[int, Call] = {}
        self._ids = itertools.count(1)

    # --- lifetime ---------------------------------------------------------------------------
    def start(self) -> "EngineHost":
        """Start the host now (it imports the engine while nothing waits for it)."""
        with self._lock:
            self._ensure()
        return self

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self.alive else None

    def _ensure(self) -> None:  # with self._lock held
        if self.alive and self._conn is not None:
            return
        from studio.services import host_main

        ours, theirs = _CTX.Pipe(duplex=True)
        self._proc = _CTX.Process(target=host_main.serve, args=(theirs,), name="studio-engine",
                                  daemon=True)
        self._proc.start()
        theirs.close()
        self._conn = ours
        threading.Thread(target=self._read, args=(ours, self._proc), name="engine-host-reader",
                         daemon=True).start()

    def close(self, timeout_s: float = 5.0) -> None:
        """End the host: calls in flight fail; the next call starts a new one."""
        with self._lock:
            conn, proc, self._conn, self._proc = self._conn, self._proc, None, None
        if conn is None:
            return
        try:
            conn.send(("exit",))
        except OSError:
            pass
        proc.join(timeout_s)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout_s)
        conn.close()

    # --- requests ---------------------------------------------------------------------------
    def call(self, fn: Callable[..., Any], *args: Any, lane: Optional[str] = None,
             serial: bool = True) -> Call:
        """Run fn(ctx, *args) in the host; see the module's docstring. serial=False: a thread
        of its own, still with the lane's state (a preview beside a long pass over the rows;
        the functions then guard what they share)."""
        call = Call(self, next(self._ids))
        self._calls[call.id] = call
        with self._lock:
            self._ensure()
            call.proc = self._proc  # which host answers it (a dead one's calls fail)
            try:
                self._conn.send(("call", call.id, pickle.dumps(
                    (lane, serial, fn, args, dict(os.environ), os.getcwd()))))
            except OSError:
                self._calls.pop(call.id, None)
                raise ChildFailed("the engine process ended unexpectedly") from None
        return call

    def run(self, fn: Callable[..., Any], *args: Any, lane: Optional[str] = None,
            serial: bool = True, on_event: Optional[Callable[[str, Any], None]] = None) -> Any:
        """call(...).wait(on_event): the blocking form, for a worker thread."""
        return self.call(fn, *args, lane=lane, serial=serial).wait(on_event)

    def drop_lane(self, lane: str) -> None:
        """Free a lane's state (its models) once its queued calls have run."""
        self._send(("drop", lane))

    def _send(self, message: tuple) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.send(message)
                except OSError:
                    pass  # the host is gone: the reader fails the calls

    # --- the reader thread -------------------------------------------------------------------
    def _read(self, conn: Any, proc: Any) -> None:
        """Route the host's messages to their calls; when the host is gone, fail the rest."""
        try:
            while True:
                what, call_id, blob = conn.recv()
                what, a, b = _unpack(what, blob)
                call = self._calls.get(call_id)
                if what != _EVENT:
                    self._calls.pop(call_id, None)
                if call is not None:
                    call._inbox.put((what, a, b))
        except (EOFError, OSError):
            pass
        proc.join(1)
        with self._lock:
            if self._proc is proc:
                self._conn = self._proc = None
        code = proc.exitcode
        gone = ChildFailed(f"the engine process ended unexpectedly (exit code {code}): the "
                           "system may have run out of memory" if code else
                           "the engine process was closed")
        for call_id, call in list(self._calls.items()):
            if call.proc is proc and self._calls.pop(call_id, None) is not None:
                call._inbox.put((_ERROR, gone, None))


def _unpack(what: str, blob: bytes) -> tuple[str, Any, Any]:
    """A message's payload, unpickled apart from its header: one that cannot be read here (a
    class this process cannot import) fails its own call, not the reader and every call."""
    try:
        a, b = pickle.loads(blob)
    except Exception as e:
        return _ERROR, ChildFailed(f"the engine's answer cannot be read here: "
                                   f"{type(e).__name__}: {e}"), None
    return what, a, b


def in_host(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args) (a plain function: no context) in the host, waited for: a worker thread's
    one engine call."""
    from studio.services.host_main import plain

    return engine_host().run(plain, fn, *args)


_host: Optional[EngineHost] = None
_host_lock = threading.Lock()


def engine_host() -> EngineHost:
    """The process's one host (not started until the first call or start())."""
    global _host
    with _host_lock:
        if _host is None:
            _host = EngineHost()
        return _host
