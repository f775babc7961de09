"""The engine host's side (services/engine_host.py): runs the window's engine calls.

The main thread reads requests; each lane has a thread that runs its calls in order, and a call
without a lane gets a thread of its own. A call's events and its end go back through the one pipe
(a lock keeps messages whole). No Qt is imported here.
"""

from __future__ import annotations

import os
import pickle
import queue
import threading
from typing import Any, Callable, Optional

from studio.services.child_process import _portable
from studio.services.engine_import import import_engine


class Context:
    """What a call's function gets as its first argument."""

    def __init__(self, send: Callable[[tuple], None], call_id: int, state: dict):
        self._send, self.id = send, call_id
        self.cancel = threading.Event()  # set when the caller cancels
        self.state = state                # the lane's dict (a call without a lane: its own)

    def emit(self, kind: str, payload: Any = None) -> None:
        self._send(("event", self.id, kind, payload))

    def cancelled(self) -> bool:
        return self.cancel.is_set()


class _Host:
    def __init__(self, conn: Any):
        self.conn = conn
        self._send_lock = threading.Lock()
        self.running: dict[int, Context] = {}
        self.lanes: dict[str, "queue.Queue[Optional[tuple]]"] = {}
        self.states: dict[str, dict] = {}

    def send(self, message: tuple) -> None:
        """(what, call id, a, b): a and b pickled apart from the header (engine_host._unpack)."""
        what, call_id, a, b = message
        try:
            blob = pickle.dumps((a, b))
        except Exception as e:  # an unpicklable result: say so instead
            if what == "event":
                raise  # in the call's own thread: the call fails with it
            what, blob = "error", pickle.dumps(
                (_portable(TypeError(f"cannot send the call's {what} back: {e}")), None))
        with self._send_lock:
            self.conn.send((what, call_id, blob))

    def serve(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                return  # the window is gone
            kind = message[0]
            if kind == "exit":
                return
            if kind == "cancel":
                ctx = self.running.get(message[1])
                if ctx is not None:
                    ctx.cancel.set()
            elif kind == "drop":
                self._lane(message[1]).put(None)
            elif kind == "call":
                try:
                    request = pickle.loads(message[2])
                except Exception as e:  # e.g. a function this process cannot import
                    self.send(("error", message[1], _portable(e), None))
                    continue
                self._submit(message[1], *request)

    def _submit(self, call_id: int, lane: Optional[str], serial: bool, fn: Callable,
                args: tuple, env: dict, cwd: str) -> None:
        state = self.states.setdefault(lane, {}) if lane else {}
        ctx = Context(self.send, call_id, state)
        self.running[call_id] = ctx
        job = (ctx, fn, args, env, cwd)
        if lane and serial:
            self._lane(lane).put(job)
        else:
            threading.Thread(target=self._run, args=job, name=f"call-{call_id}",
                             daemon=True).start()

    def _lane(self, lane: str) -> "queue.Queue[Optional[tuple]]":
        if lane not in self.lanes:
            jobs: "queue.Queue[Optional[tuple]]" = queue.Queue()
            self.lanes[lane] = jobs
            threading.Thread(target=self._lane_loop, args=(lane, jobs), name=f"lane-{lane}",
                             daemon=True).start()
        return self.lanes[lane]

    def _lane_loop(self, lane: str, jobs: "queue.Queue[Optional[tuple]]") -> None:
        while True:
            job = jobs.get()
            if job is None:  # drop: free the lane's models, keep the thread for later calls
                self.states.get(lane, {}).clear()
                from studio.core.gc_policy import collect_garbage

                collect_garbage()
                continue
            self._run(*job)

    def _run(self, ctx: Context, fn: Callable, args: tuple, env: dict, cwd: str) -> None:
        try:
            # The engine's import first, whole: transformers is a lazy module, and a call
            # that imported from it while the start-up thread was still importing it found
            # names missing ("cannot import name 'AutoTokenizer'"). Once done, it costs nothing.
            import_engine()
            _follow(env, cwd)
            result = fn(ctx, *args)
        except BaseException as e:  # everything goes back to the caller, who reports it
            self.send(("error", ctx.id, _portable(e), None))
        else:
            self.send(("result", ctx.id, result, None))
        finally:
            self.running.pop(ctx.id, None)


_seen_env: dict = dict(os.environ)  # the caller's environment as last followed


def _follow(env: dict, cwd: str) -> None:
    """The caller's environment variables and working directory, as they are now (variables
    the host's own libraries set, and the caller never had, are left alone)."""
    global _seen_env
    for key in set(_seen_env) - set(env):
        os.environ.pop(key, None)
    for key, value in env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value
    _seen_env = env
    if cwd and os.path.isdir(cwd) and os.getcwd() != cwd:
        os.chdir(cwd)
    from studio.core.model.hub import follow_environment

    follow_environment()  # huggingface_hub read its HF_* variables once, when imported


def plain(ctx: Context, fn: Callable, *args: Any) -> Any:
    """A function that needs no context (EngineHost.in_host)."""
    return fn(*args)


# How much lower than the window the engine runs (Unix nice steps). The GUI thread needs a core
# for a few ms at a time to paint; torch's threads (one per core, spinning between ops) took it
# from the window for 50-200 ms while a run trained: the tour's training-phase event-loop p99
# was 59-71 ms at the window's priority, 28-40 ms at +5 (docs/performance.md). A lower priority
# costs the engine nothing while the window is idle (it yields only while the window paints);
# beside other busy programs it gets a smaller share of the CPU.
ENGINE_NICE = 5


def lower_priority(steps: int = ENGINE_NICE) -> None:
    """Run this process `steps` nice levels below its parent (Windows: below normal)."""
    try:
        if hasattr(os, "nice"):
            os.nice(steps)
        else:  # Windows: priority classes, not nice levels
            import psutil

            psutil.Process().nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
    except (OSError, ImportError):
        pass  # a priority is a preference: the host runs anyway


def serve(conn: Any) -> None:
    """The host process's main (spawned by EngineHost)."""
    lower_priority()
    threading.Thread(target=import_engine, name="engine-import", daemon=True).start()
    _Host(conn).serve()
