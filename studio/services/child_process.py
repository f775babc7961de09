"""Run a long pure-Python job in a child process and stream what it emits back to the calling
(worker) thread.

Why a process and not just a thread: a thread busy in Python code (parsing 200,000 JSON rows)
holds the GIL in 5 ms slices, and the GUI thread needs the GIL for every call into Python, e.g.
every cell of a table model's data() during a repaint. Each call waits up to one slice, so one
repaint of the rows table took over a second (measured: p99 261 ms, max 1.1 s of event-loop
delay while a 200k-row file was checked). A child process has its own interpreter and GIL; the
relaying thread sleeps in poll(), which releases the GIL.

`target(emit, *args)` must be a module-level function (the child imports it by name) and its
arguments and emitted payloads picklable. No Qt here: the child imports only what the target's
module imports.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import traceback
from typing import Any, Callable

from studio.core.errors import Cancelled, UserError

# spawn, never fork: the parent runs Qt and torch threads, and a forked copy of their locks
# can deadlock the child.
_CTX = mp.get_context("spawn")
_END, _ERROR = "__end__", "__error__"


class ChildFailed(Exception):
    """The job raised something that cannot cross the process boundary, or the child died."""

    def __init__(self, reason: str, details: str = ""):
        super().__init__(reason)
        self.details = details


def run_in_child(target: Callable[..., None], args: tuple, emit: Callable[[str, Any], None],
                 cancelled: Callable[[], bool], *, name: str = "studio-job",
                 poll_s: float = 0.05) -> None:
    """Run target(emit, *args) in a child; each emit(kind, payload) there calls `emit` here.
    Returns when the target returns; re-raises what it raised; raises Cancelled (the child is
    killed at once) when `cancelled()` turns true."""
    receive, send = _CTX.Pipe(duplex=False)
    proc = _CTX.Process(target=_child_main, args=(send, target, args), name=name, daemon=True)
    proc.start()
    send.close()  # the child holds the only writer: EOF here means it is gone
    try:
        _relay(receive, proc, emit, cancelled, poll_s)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        receive.close()


def _relay(receive: Any, proc: Any, emit: Callable[[str, Any], None],
           cancelled: Callable[[], bool], poll_s: float) -> None:
    while True:
        if cancelled():
            raise Cancelled()
        if not receive.poll(poll_s):
            continue
        try:
            kind, payload = receive.recv()
        except EOFError:  # died without a word: killed by the OS (memory) or a crash
            proc.join(1)
            raise ChildFailed(f"the worker process ended unexpectedly (exit code "
                              f"{proc.exitcode}); the file may be too large for the memory "
                              "left") from None
        if kind == _END:
            return
        if kind == _ERROR:
            raise payload
        emit(kind, payload)


def _child_main(send: Any, target: Callable[..., None], args: tuple) -> None:
    try:
        target(lambda kind, payload: send.send((kind, payload)), *args)
        send.send((_END, None))
    except BaseException as e:  # everything goes back to the parent, which reports it
        send.send((_ERROR, _portable(e)))
    finally:
        send.close()


def _portable(e: BaseException) -> BaseException:
    """A user error itself (its class and one-line reason are what the parent shows); anything
    else as its text and the child's traceback, which pickling an exception would drop."""
    if isinstance(e, UserError):
        try:
            pickle.loads(pickle.dumps(e))
            return e
        except Exception:
            pass
    first = str(e).splitlines()[0] if str(e) else ""
    reason = f"{type(e).__name__}: {first}" if first else type(e).__name__
    return ChildFailed(reason, "".join(traceback.format_exception(e)))
