"""The run directory (contract.md): config.yaml, metrics.jsonl, checkpoints/, run.json.

Standard library only (plus studio.core.config/events), so the app can list runs and follow
metrics without importing torch. Every file that must be complete or absent is written under a
temporary name and renamed (rename is atomic on one filesystem).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from studio.core import config as config_mod
from studio.core import files
from studio.core.config import RunConfig
from studio.core.errors import ConfigError, UserError
from studio.core.events import EvalMetrics, Record, RunEvent, StepMetrics, parse_lines, to_json_line

STATUSES = ("running", "finished", "stopped", "failed")
_CKPT = re.compile(r"^step-(\d+)$")
TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def config_file(self) -> Path:
        return self.path / "config.yaml"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def status_file(self) -> Path:
        return self.path / "run.json"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def adapter_dir(self) -> Path:
        return self.path / "adapter"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"


@dataclass(frozen=True)
class RunSummary:
    run_dir: Path
    status: str
    step: int
    total_steps: int
    method: str
    model: str
    dataset: str
    started: float
    reason: str = ""


# --- creating and reading ------------------------------------------------------------------------

# What a run writes as it goes, and what an export folder holds beside its copy of config.yaml.
RUN_MARKERS = ("run.json", "metrics.jsonl", "checkpoints")
EXPORT_MARKERS = ("config.json", "adapter_config.json")


def holds_run(path: str | Path) -> bool:
    """Whether `path` is a run directory: the one place that decides it (the drop handler, the
    run lists, chat, probes, resume and a new run's output_dir all ask here). A run has written
    status, metrics or checkpoints there, or was created there (its config.yaml, which an
    export also carries a copy of, beside the model or adapter it holds)."""
    p = Path(path).expanduser()
    if not p.is_dir():
        return False
    if any((p / m).exists() for m in RUN_MARKERS):
        return True
    return (p / "config.yaml").is_file() and not any((p / m).is_file() for m in EXPORT_MARKERS)


def create(cfg: RunConfig) -> RunDir:
    """Make the run directory for a new run. Refuses one that already holds a run unless
    `overwrite`, and a non-empty folder that is not a run at all (it may be the user's files)."""
    path = Path(cfg.output_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"output_dir {path} is a file, not a folder")
    if path.is_dir() and any(path.iterdir()):
        if not holds_run(path):
            raise ConfigError(f"output_dir {path} is not empty and holds no run; "
                              "choose an empty or new folder")
        if not cfg.overwrite:
            raise ConfigError(f"output_dir {path} already holds a run; use "
                              f"`python main.py resume {path}` or --set overwrite=true")
        _clear_run(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create output_dir {path}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK):
        raise ConfigError(f"output_dir {path} is not writable")
    run = RunDir(path)
    atomic_write_text(run.config_file, config_mod.to_yaml(cfg))
    return run


def _clear_run(path: Path) -> None:
    # Only the things a run writes: never the user's other files that may sit beside them.
    for name in ("run.json", "metrics.jsonl", "config.yaml", "samples.jsonl"):
        (path / name).unlink(missing_ok=True)
    for name in ("checkpoints", "adapter", "model"):
        shutil.rmtree(path / name, ignore_errors=True)


def open_run(path: str | Path) -> RunDir:
    p = Path(path).expanduser()
    if not p.is_dir():
        raise UserError(f"run directory not found: {p}")
    if (p / "config.yaml").exists():  # a pipe or device there is named as such, not "no run"
        files.regular_file(p / "config.yaml", "run config")
    if not (p / "config.yaml").is_file() or not holds_run(p):
        raise UserError(f"{p} is not a run directory (no config.yaml, or an export's copy)")
    return RunDir(p)


def load_config(run: RunDir) -> RunConfig:
    import yaml

    text = files.read_text(run.config_file, "run config")
    try:
        data = yaml.safe_load(text) or {}
    except (yaml.YAMLError, ValueError, RecursionError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"cannot read {run.config_file}: {first}") from None
    return config_mod.from_dict(data, check_required=True)


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --- run.json -------------------------------------------------------------------------------------

def write_status(run: RunDir, status: str, *, step: int, total_steps: int,
                 reason: str = "", **extra: Any) -> None:
    assert status in STATUSES, status
    old = read_status(run.path)
    data = {**old, **extra, "status": status, "step": step, "total_steps": total_steps,
            "reason": reason, "updated": time.time(), "pid": os.getpid()}
    data.setdefault("started", time.time())
    atomic_write_text(run.status_file, json.dumps(data, indent=2, ensure_ascii=False))


def read_status(path: str | Path) -> dict:
    f = Path(path) / "run.json"
    try:
        data = json.loads(files.read_text(f, "run status"))
    except (UserError, ValueError, RecursionError):  # absent or damaged: no status known
        return {}
    return data if isinstance(data, dict) else {}


def effective_status(path: str | Path) -> str:
    """run.json's status, except that a 'running' run whose process is gone was killed."""
    st = read_status(path)
    status = st.get("status", "unknown")
    if status == "running" and not pid_alive(st.get("pid")):
        return "stopped"
    return status


def pid_alive(pid: Any) -> bool:
    """Is the process `pid` running (a run's recorded pid, a queue runner's)?"""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:  # Windows: a pid that is not there
        return False
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    # A killed child of this very process stays a zombie until reaped: it is not running.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


# --- checkpoints ---------------------------------------------------------------------------------

def checkpoint_steps(run: RunDir) -> list[int]:
    """Steps of the complete checkpoints, oldest first. Temporaries are ignored."""
    if not run.checkpoints.is_dir():
        return []
    steps = []
    for p in run.checkpoints.iterdir():
        m = _CKPT.match(p.name)
        if m and p.is_dir() and (p / "trainer_state.json").is_file():
            steps.append(int(m.group(1)))
    return sorted(steps)


def checkpoint_path(run: RunDir, step: int) -> Path:
    return run.checkpoints / f"step-{step}"


def latest_checkpoint(run: RunDir) -> Optional[Path]:
    steps = checkpoint_steps(run)
    return checkpoint_path(run, steps[-1]) if steps else None


def temp_checkpoint_path(run: RunDir, step: int) -> Path:
    return run.checkpoints / f"{TMP_PREFIX}step-{step}-{os.getpid()}"


def clean_temporaries(run: RunDir) -> list[Path]:
    """Remove partial checkpoints left by a killed process; returns what was removed."""
    removed = []
    for folder in (run.checkpoints, run.path):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if p.name.startswith(TMP_PREFIX):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                removed.append(p)
    return removed


def commit_checkpoint(run: RunDir, tmp: Path, step: int, keep: int) -> Path:
    """Rename a finished temporary checkpoint into place, then rotate old ones out."""
    final = checkpoint_path(run, step)
    if final.exists():  # the same step saved again (e.g. stop right after a periodic save)
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in checkpoint_steps(run)[:-keep]:
        shutil.rmtree(checkpoint_path(run, old), ignore_errors=True)
    return final


# --- metrics -------------------------------------------------------------------------------------

class MetricsWriter:
    """A Reporter that appends each record to metrics.jsonl and flushes it at once, so another
    process (the app following a CLI run) sees every line as soon as it is written."""

    def __init__(self, run: RunDir):
        self._f = open(run.metrics_file, "a", encoding="utf-8")

    def _write(self, rec: Record) -> None:
        self._f.write(to_json_line(rec) + "\n")
        self._f.flush()

    def on_step(self, m: StepMetrics) -> None:
        self._write(m)

    def on_eval(self, m: EvalMetrics) -> None:
        self._write(m)

    def on_event(self, e: RunEvent) -> None:
        self._write(e)

    def close(self) -> None:
        self._f.close()


def read_metrics(path: str | Path) -> list[Record]:
    f = Path(path) / "metrics.jsonl"
    if not f.is_file():
        return []
    with open(f, encoding="utf-8", errors="replace") as fh:
        return parse_lines(fh)


class MetricsTail:
    """Incremental reader of a metrics.jsonl another process is appending to. Only complete
    lines are consumed; a half-written last line waits for the next call."""

    def __init__(self, path: str | Path):
        p = Path(path)
        self.path = p / "metrics.jsonl" if p.is_dir() else p
        self._offset = 0

    def read_new(self) -> list[Record]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except OSError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self._offset += end + 1
        return parse_lines(chunk[:end].decode("utf-8", errors="replace").splitlines())


def append_samples(run: RunDir, record: dict) -> None:
    """samples.jsonl (config log_samples): the dataset rows of every optimizer step. A resume
    appends {"resumed_from": N}; entries after it supersede those of steps > N (those steps'
    weights were never checkpointed, so they were not trained as far as the result goes)."""
    with open(run.path / "samples.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def trained_samples(path: str | Path) -> list[dict]:
    """The effective step log of samples.jsonl after applying resume markers."""
    steps: dict[int, dict] = {}
    f = Path(path) / "samples.jsonl"
    if not f.is_file():
        return []
    for line in f.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if "resumed_from" in rec:
            steps = {k: v for k, v in steps.items() if k <= rec["resumed_from"]}
        elif "step" in rec:
            steps[rec["step"]] = rec
    return [steps[k] for k in sorted(steps)]


# --- history -------------------------------------------------------------------------------------

def list_runs(root: str | Path) -> list[RunSummary]:
    """Every run directory directly under `root` (newest first)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        return []
    out = []
    for p in root.iterdir():
        if holds_run(p) and (p / "config.yaml").is_file():
            out.append(summarize(p))
    return sorted(out, key=lambda s: s.started, reverse=True)


def summarize(path: Path) -> RunSummary:
    st = read_status(path)
    cfg: dict = {}
    try:
        import yaml

        cfg = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")) or {}
    except Exception:  # a damaged config still lists the run, with blanks
        cfg = {}
    return RunSummary(run_dir=path, status=effective_status(path) if st else "unknown",
                      step=int(st.get("step", 0)), total_steps=int(st.get("total_steps", 0)),
                      method=str(cfg.get("method", "")), model=str(cfg.get("model", "")),
                      dataset=str(cfg.get("dataset", "")),
                      started=float(st.get("started", path.stat().st_mtime)),
                      reason=str(st.get("reason", "")))
