"""The queue runner: takes the queue's runs one after another (or N at once), each in its own
process.

Each run is a child `python -m studio train|resume ... --quiet`, so a run that fails (bad data,
out of memory, a crash) ends only itself, and the device memory is free again for the next one.
The runner itself holds no model and may be killed at any time:

- a run it had started is taken again by the next runner and *resumed* from its newest
  complete checkpoint (trainer.resume restores weights, optimizer and data position);
- on Linux the child gets SIGUSR1 when the runner dies, which stops it after the current step
  with a checkpoint; a child still training on its own (another OS) is waited for, not doubled.

Cancelling a running entry (from the CLI or the app) stops its child the same clean way.

`parallel` N: N worker threads in the runner, each taking the next entry and waiting for its
child, so up to N runs train at once (CPU runs, or small runs that fit on one GPU together). The
machine's cores are split between them: each child gets OMP_NUM_THREADS = cores // N (torch
sizes its thread pool from it), else N runs would each start one thread per core and fight.
Standard library only; torch lives in the children.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Optional

from studio.core import config as config_mod
from studio.core import runs
from studio.core.errors import UserError
from studio.core.experiments.queue import Entry, Queue, entry_config
from studio.core.faults import fault_at
from studio.core.runs import pid_alive
from studio.paths import studio_command

POLL_S = 0.3


def run_queue(queue: Queue, *, stop: Optional[threading.Event] = None, wait: bool = False,
              only: Optional[set[str]] = None, log: Callable[[str], None] = print,
              parallel: int = 1) -> int:
    """Run entries, up to `parallel` at once, until none is waiting (or, with `wait`, until
    `stop`). `only`: ids of the entries to run (a sweep waiting for its own runs). Returns how
    many runs failed."""
    if parallel < 1:
        raise UserError(f"--parallel must be at least 1; got {parallel}")
    held = _Held(stop or threading.Event(), wait, only, log, child_threads(parallel))
    with _RunnerClaim(queue, parallel):
        if parallel == 1:
            _worker(queue, held)  # in this thread: Ctrl+C reaches it as before
        else:
            workers = [threading.Thread(target=_worker, args=(queue, held), daemon=True,
                                        name=f"queue-worker-{i + 1}") for i in range(parallel)]
            for w in workers:
                w.start()
            for w in workers:  # short joins: the main thread still takes signals
                while w.is_alive():
                    w.join(0.2)
        if queue.read().paused:
            log("the queue is paused: no further run starts (python main.py queue unpause)")
    return held.failed


class _Held:
    """What the workers of one runner share: the entries they are running, the failures."""

    def __init__(self, stop: threading.Event, wait: bool, only: Optional[set[str]],
                 log: Callable[[str], None], threads: Optional[int]):
        self.stop, self.wait, self.only, self.log, self.threads = stop, wait, only, log, threads
        self.ids: dict[str, Path] = {}     # entry id -> run folder, while a worker runs it
        self.failed = 0
        self.lock = threading.Lock()


def child_threads(parallel: int) -> Optional[int]:
    """CPU threads for each child when `parallel` runs share the machine (None: one run, torch
    decides)."""
    if parallel <= 1:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // parallel)


def _worker(queue: Queue, held: _Held) -> None:
    """Take the next entry, run it, record how it ended; again until none is left."""
    while not held.stop.is_set():
        entry = _take_next(queue, held)
        if entry is None:
            if not held.wait:
                return
            held.stop.wait(POLL_S * 3)
            continue
        held.log(f"[{entry.id}] {'resuming' if entry.attempts > 1 else 'starting'} "
                 f"{entry.name} -> {entry.run_dir}")
        try:
            state, reason = _run_entry(queue, entry, held)
            done = _finish(queue, entry, state, reason)
        finally:
            with held.lock:
                held.ids.pop(entry.id, None)
        with held.lock:
            held.failed += done.state == "failed"
        held.log(f"[{entry.id}] {done.state}" + (f": {done.reason}" if done.reason else ""))


def _take_next(queue: Queue, held: _Held) -> Optional[Entry]:
    """Mark the next entry running and return it. A 'running' entry that no worker of this
    runner holds comes first: the runner that had it was killed, and it is resumed before
    anything new starts."""
    with queue.change() as state:  # the file lock also serialises this runner's workers
        if state.paused:
            return None
        with held.lock:
            mine = [e for e in state.entries if (held.only is None or e.id in held.only)
                    and e.id not in held.ids]
            entry = next((e for e in mine if e.state == "running"), None) or \
                next((e for e in mine if e.state == "queued"), None)
            if entry is None:
                return None
            entry = replace(entry, state="running", started=entry.started or time.time(),
                            attempts=entry.attempts + 1)
            state.put(entry)
            held.ids[entry.id] = entry.run_dir
            return entry


def _finish(queue: Queue, entry: Entry, state: str, reason: str) -> Entry:
    with queue.change() as q:
        now = q.find(entry.id)
        if state == "queued" or now.state == "cancelled":  # runner stopped, or user cancelled
            done = replace(now, state="cancelled" if now.state == "cancelled" else "queued")
        else:
            done = replace(now, state=state, reason=reason, ended=time.time())
        q.put(done)
        return done


# --- one run -------------------------------------------------------------------------------------

def _run_entry(queue: Queue, entry: Entry, held: _Held) -> tuple[str, str]:
    """Train or resume the entry's run in a child process. -> (state, reason); state "queued"
    when the runner itself was asked to stop (the entry waits for the next runner)."""
    run_dir = entry.run_dir
    _wait_for_orphan(run_dir, held.stop)
    if _already_finished(run_dir):
        return "finished", ""
    argv = _child_argv(queue, entry)
    log_file = queue.log_file(entry.id)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        # The worker thread that starts the child waits for it: Linux's parent-death signal
        # follows the starting thread, so it must not end before its child.
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                 env=_child_env(held.threads),
                                 preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        asked_to_stop = _watch(queue, entry, child, held)
    code = child.returncode
    if asked_to_stop == "runner":
        return "queued", ""
    status = runs.read_status(run_dir)
    if code == 0 and status.get("status") == "finished":
        return "finished", ""
    if asked_to_stop == "cancel":
        return "cancelled", "cancelled by the user"
    reason = status.get("reason") or _last_error_line(log_file) or f"exit code {code}"
    return "failed", reason


def _child_argv(queue: Queue, entry: Entry) -> list[str]:
    """`resume RUN_DIR` when the run folder has a checkpoint to continue from, else `train`."""
    base = studio_command()
    run = runs.RunDir(entry.run_dir)
    if run.config_file.is_file() and runs.latest_checkpoint(run) is not None:
        return base + ["resume", str(entry.run_dir), "--quiet"]
    cfg = entry_config(entry)
    if runs.holds_run(entry.run_dir):  # started but never checkpointed: nothing to resume
        cfg = cfg.replace(overwrite=True)
    cfg_file = queue.config_file(entry.id)
    cfg_file.parent.mkdir(parents=True, exist_ok=True)
    runs.atomic_write_text(cfg_file, config_mod.to_yaml(cfg))
    return base + ["train", str(cfg_file), "--quiet"]


def _child_env(threads: Optional[int]) -> Optional[dict[str, str]]:
    return None if threads is None else {**os.environ, "OMP_NUM_THREADS": str(threads)}


def _watch(queue: Queue, entry: Entry, child: subprocess.Popen, held: _Held) -> str:
    """Wait for the child; stop it (SIGTERM: a checkpoint, then exit) when the runner is asked
    to stop or the entry is cancelled. -> "", "runner" or "cancel"."""
    why = ""
    while child.poll() is None:
        if not why:
            if held.stop.is_set():
                why = "runner"
            elif queue.read().find(entry.id).state == "cancelled":
                why = "cancel"
            if why:
                child.terminate()
        _runner_faults(held)
        time.sleep(POLL_S)
    return why


def _runner_faults(held: _Held) -> None:
    # kill_runner@K (reliability tests): SIGKILL this runner once checkpoint K is complete on
    # disk in every run it is running (with --parallel: all of them are caught mid-run).
    with held.lock:
        dirs = list(held.ids.values())
    have = [set(runs.checkpoint_steps(runs.RunDir(d))) for d in dirs]
    for step in set.intersection(*have) if have else ():
        fault_at("kill_runner", step)


def _wait_for_orphan(run_dir: Path, stop: threading.Event) -> None:
    """A child of a killed runner may still be training (where it got no parent-death
    signal): wait for it instead of starting a second process on the same run."""
    while not stop.is_set():
        st = runs.read_status(run_dir)
        pid = st.get("pid")
        if st.get("status") != "running" or not isinstance(pid, int) or not pid_alive(pid):
            return
        time.sleep(POLL_S)


def _already_finished(run_dir: Path) -> bool:
    return runs.read_status(run_dir).get("status") == "finished"


def _last_error_line(log_file: Path) -> str:
    try:
        lines = log_file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    errors = [ln for ln in lines if ln.startswith("error:")]
    return errors[-1][len("error:"):].strip() if errors else ""


def _die_with_parent() -> None:
    # Linux: the child gets SIGUSR1 when the runner dies, and stops with a checkpoint (the
    # train command's console). Not SIGTERM, whose second arrival aborts: the kernel sends the
    # parent-death signal each time the child is handed on, to another thread of the dying
    # runner (one per --parallel worker) and then to init.
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGUSR1)


class _RunnerClaim:
    """One runner per queue: runner.json names the live one; a second is refused."""

    def __init__(self, queue: Queue, parallel: int = 1):
        self.queue, self.parallel = queue, parallel

    def __enter__(self) -> None:
        q = self.queue
        with q.change():  # under the queue lock, so two runners cannot both claim it
            pid = q.runner_pid()
            if pid is not None and pid != os.getpid():
                raise UserError(f"a runner is already running this queue (pid {pid})")
            runs.atomic_write_text(q.runner_file, json.dumps({
                "pid": os.getpid(), "started": time.time(), "parallel": self.parallel}))

    def __exit__(self, *exc) -> None:
        try:
            if self.queue.runner_pid() == os.getpid():
                self.queue.runner_file.unlink(missing_ok=True)
        except OSError:
            pass


def start_background_runner(root: str | Path, parallel: int = 1) -> Optional[int]:
    """Start `python -m studio queue run --root ROOT --parallel N` detached from this process
    (it outlives the window or the terminal). Returns its pid, or None when a runner is
    already running."""
    queue = Queue(root)
    if queue.runner_pid() is not None:
        return None
    queue.dir.mkdir(parents=True, exist_ok=True)
    log = open(queue.dir / "runner.log", "ab")
    kwargs: dict = {"start_new_session": True} if os.name != "nt" else \
        {"creationflags": getattr(subprocess, "DETACHED_PROCESS", 0)
         | getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    argv = [*studio_command(), "queue", "run", "--root", str(queue.root),
            "--parallel", str(parallel)]
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, **kwargs)
    log.close()
    return proc.pid


def wait_for(queue: Queue, ids: set[str], stop: Optional[threading.Event] = None) -> None:
    """Block until none of the entries `ids` is waiting any more (another runner runs them)."""
    stop = stop or threading.Event()
    while not stop.is_set():
        if not any(e.id in ids for e in queue.read().waiting()):
            return
        stop.wait(POLL_S * 3)
