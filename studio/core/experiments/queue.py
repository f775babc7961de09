"""The run queue: a file next to the runs that lists runs waiting for the device.

`<root>/queue/queue.json` holds the entries in the order they will run, plus a `paused` flag.
Every change (add, cancel, move, pause, the runner taking the next run) happens under a lock
file and is written by rename, so the CLI, the app and the runner process may all change it at
once and a kill never leaves it half written. Standard library only: the app reads it before
torch is imported.

An entry is one run: its whole config (every key, output_dir absolute), a name, and a state:
  queued -> running -> finished | failed | cancelled
A running entry whose runner died (killed, machine restarted) is taken again by the next runner,
which resumes the run from its newest checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Optional

from studio.core import config as config_mod
from studio.core.config import RunConfig
from studio.core.errors import UserError
from studio.core.runs import atomic_write_text, pid_alive

STATES = ("queued", "running", "finished", "failed", "cancelled")
WAITING = ("queued", "running")       # entries a runner still has work for
DIR_NAME = "queue"                     # <root>/queue/ (no config.yaml: never listed as a run)


@dataclass(frozen=True)
class Entry:
    id: str
    name: str
    config: dict                       # every RunConfig key; output_dir absolute
    state: str = "queued"
    sweep: str = ""                    # the sweep folder it belongs to, if any
    added: float = field(default_factory=time.time)
    started: float = 0.0
    ended: float = 0.0
    reason: str = ""                   # why it failed / was cancelled
    attempts: int = 0                  # times a runner took it (more than 1: it was resumed)

    @property
    def run_dir(self) -> Path:
        return Path(self.config["output_dir"])


@dataclass
class QueueState:
    entries: list[Entry] = field(default_factory=list)
    paused: bool = False
    next_id: int = 1

    def find(self, entry_id: str) -> Entry:
        for e in self.entries:
            if e.id == entry_id:
                return e
        raise UserError(f"no entry {entry_id!r} in the queue (see `python main.py queue list`)")

    def put(self, entry: Entry) -> None:
        self.entries = [entry if e.id == entry.id else e for e in self.entries]

    def waiting(self) -> list[Entry]:
        return [e for e in self.entries if e.state in WAITING]


class Queue:
    """The queue of the runs folder `root`."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.dir = self.root / DIR_NAME
        self.file = self.dir / "queue.json"

    # --- files --------------------------------------------------------------------------------
    def log_file(self, entry_id: str) -> Path:
        return self.dir / "logs" / f"{entry_id}.log"

    def config_file(self, entry_id: str) -> Path:
        return self.dir / "configs" / f"{entry_id}.yaml"

    @property
    def runner_file(self) -> Path:
        return self.dir / "runner.json"

    def read(self) -> QueueState:
        """The queue as it is now (no lock: a reader sees the last complete write)."""
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return QueueState()
        except (OSError, json.JSONDecodeError) as e:
            raise UserError(f"cannot read the queue file {self.file}: {e}") from None
        known = set(Entry.__dataclass_fields__)
        entries = [Entry(**{k: v for k, v in d.items() if k in known}) for d in data["entries"]]
        return QueueState(entries, bool(data.get("paused")), int(data.get("next_id", 1)))

    def _write(self, state: QueueState) -> None:
        data = {"version": 1, "paused": state.paused, "next_id": state.next_id,
                "entries": [asdict(e) for e in state.entries]}
        atomic_write_text(self.file, json.dumps(data, indent=2, ensure_ascii=False))

    @contextlib.contextmanager
    def change(self) -> Iterator[QueueState]:
        """Read, let the caller change, write back: all under the queue's lock. A change that
        fails on a queue that did not exist yet leaves no folder behind."""
        created = self.dir
        while not created.parent.exists():  # the top-most folder this call creates
            created = created.parent
        fresh = not self.dir.exists()
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            with _file_lock(self.dir / ".lock"):
                state = self.read()
                yield state
                self._write(state)
        except BaseException:
            if fresh:
                shutil.rmtree(created, ignore_errors=True)
            raise

    # --- what people do -----------------------------------------------------------------------
    def add(self, cfg: RunConfig, name: str = "", sweep: str = "") -> Entry:
        """Queue a run. Refuses a run folder that already holds a run (unless the config says
        overwrite) or that another waiting entry will write."""
        cfg = cfg.replace(output_dir=str(Path(cfg.output_dir).expanduser().resolve()))
        return self.add_many([(cfg, name)], sweep)[0]

    def add_many(self, items: list[tuple[RunConfig, str]], sweep: str = "") -> list[Entry]:
        from studio.core.train.setup import check_output_dir  # light: no torch at import

        for cfg, _ in items:
            check_output_dir(cfg)
        out = []
        with self.change() as state:
            taken = {str(e.run_dir) for e in state.waiting()}
            for cfg, name in items:
                out_dir = str(Path(cfg.output_dir).expanduser().resolve())
                if out_dir in taken:
                    raise UserError(f"the queue already has a run writing to {out_dir}")
                taken.add(out_dir)
                data = {**config_mod.to_dict(cfg), **_absolute_paths(cfg), "output_dir": out_dir}
                entry = Entry(id=f"q{state.next_id}", name=name or Path(out_dir).name,
                              config=data, sweep=sweep)
                state.next_id += 1
                state.entries.append(entry)
                out.append(entry)
        return out

    def cancel(self, entry_id: str) -> Entry:
        """A queued entry never starts; a running one is stopped by its runner with a
        checkpoint (so it can still be resumed by hand)."""
        with self.change() as state:
            e = state.find(entry_id)
            if e.state not in WAITING:
                raise UserError(f"{entry_id} is already {e.state}")
            e = replace(e, state="cancelled", reason="cancelled by the user",
                        ended=time.time() if e.state == "queued" else e.ended)
            state.put(e)
        return e

    def retry(self, entry_id: str) -> Entry:
        """Put a failed or cancelled entry back at the end of the queue (it resumes from its
        checkpoint if it has one)."""
        with self.change() as state:
            e = state.find(entry_id)
            if e.state in WAITING or e.state == "finished":
                raise UserError(f"{entry_id} is {e.state}; only failed or cancelled runs retry")
            e = replace(e, state="queued", reason="", ended=0.0)
            state.entries = [x for x in state.entries if x.id != entry_id] + [e]
        return e

    def move(self, entry_id: str, position: int) -> None:
        """Move an entry to `position` (1 = first) among all entries."""
        with self.change() as state:
            e = state.find(entry_id)
            rest = [x for x in state.entries if x.id != entry_id]
            i = min(max(position, 1), len(rest) + 1) - 1
            state.entries = rest[:i] + [e] + rest[i:]

    def set_paused(self, paused: bool) -> None:
        """Paused: the runner finishes the run in progress and starts no other."""
        with self.change() as state:
            state.paused = paused

    def remove_done(self) -> int:
        """Forget finished / failed / cancelled entries (their run folders stay)."""
        with self.change() as state:
            before = len(state.entries)
            state.entries = state.waiting()
            return before - len(state.entries)

    # --- the runner ---------------------------------------------------------------------------
    def runner_pid(self) -> Optional[int]:
        """The pid of the live runner of this queue, if one is running."""
        try:
            pid = json.loads(self.runner_file.read_text(encoding="utf-8")).get("pid")
        except (OSError, json.JSONDecodeError):
            return None
        return pid if isinstance(pid, int) and pid_alive(pid) else None


def _absolute_paths(cfg: RunConfig) -> dict[str, str]:
    # The runner may start in another folder (the app's, a terminal's): local paths are made
    # absolute; a hub id (no such path here) stays as it is.
    return {k: str(Path(v).expanduser().resolve()) for k in ("model", "dataset")
            if (v := getattr(cfg, k)) and Path(v).expanduser().exists()}


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock held while the block runs (released by the OS if the process dies)."""
    with open(path, "a+b") as f:
        if os.name == "nt":
            import msvcrt

            while True:
                try:
                    msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    time.sleep(0.05)
            try:
                yield
            finally:
                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def entry_config(entry: Entry) -> RunConfig:
    return config_mod.from_dict(entry.config, check_required=True)


def describe(entry: Entry) -> dict[str, Any]:
    """A row for `queue list` and the app: the entry plus its run's progress."""
    from studio.core import runs

    st = runs.read_status(entry.run_dir)
    step = max(int(st.get("step", 0) or 0), _last_logged_step(entry.run_dir))
    return {"id": entry.id, "name": entry.name, "state": entry.state,
            "step": step, "total_steps": int(st.get("total_steps", 0) or 0),
            "method": entry.config.get("method", ""), "run_dir": str(entry.run_dir),
            "reason": entry.reason, "attempts": entry.attempts}


def _last_logged_step(run_dir: Path, tail_bytes: int = 8192) -> int:
    """The step of the last step line in metrics.jsonl, reading only the file's end (run.json
    says the step only when a run starts and ends)."""
    try:
        with open(run_dir / "metrics.jsonl", "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - tail_bytes))
            lines = f.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        if '"type":"step"' in line:
            try:
                return int(json.loads(line)["step"])
            except (ValueError, KeyError, TypeError):
                continue
    return 0
