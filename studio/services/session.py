"""Session: the app's one training run at a time, in the engine host or followed from disk.

The panels talk to a Session and listen to its signals; they never see threads. Two sources feed
the same signals:
- an in-app run: `start(cfg)` / `resume(run_dir)` run the engine in the engine host process
  (services/train_host.py), relayed by a TrainWorker's QThread; `stop()` sets the stop Event,
  which cancels the call: the engine checkpoints, then returns "stopped".
- a followed run: `follow(run_dir)` tails a run written by another process, and
  `start_detached(cfg)` launches `python -m studio train` as its own process (own session, so
  closing the window does not end it) and follows it.
All signals are emitted in the GUI thread.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QThread, Signal, Slot

from studio.core import config as config_mod
from studio.core import runs
from studio.core.config import RunConfig
from studio.core.errors import UserError
from studio.core.events import EvalMetrics, RunEvent, StepMetrics
from studio.paths import studio_command
from studio.services.draft import ConfigDraft
from studio.services.follow import RunFollower
from studio.services.train_host import resume_run, train_run
from studio.services.workers import TrainWorker

STATES = ("idle", "starting", "running", "stopping", "following")


class Session(QObject):
    sig_state = Signal(str)             # one of STATES
    sig_started = Signal(str)           # run directory of the run now shown
    sig_step = Signal(object, object)   # StepMetrics, MemorySample or None
    sig_eval = Signal(object)           # EvalMetrics
    sig_event = Signal(object)          # RunEvent
    sig_finished = Signal(str, str)     # status (finished|stopped|failed), reason
    sig_error = Signal(str, str)        # reason in plain words, details (traceback / log)

    def __init__(self, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.draft = ConfigDraft(self)
        self.state = "idle"
        self.run_dir: Optional[Path] = None
        self.last_result: Any = None
        self._thread: Optional[QThread] = None
        self._worker: Optional[TrainWorker] = None
        self._stop = threading.Event()
        self._process: Optional[subprocess.Popen] = None
        self.follower = RunFollower(self)
        self.follower.sig_records.connect(self._on_records)
        self.follower.sig_ended.connect(self._on_follow_ended)

    # --- state -----------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True while an in-app run is starting, running or stopping."""
        return self.state in ("starting", "running", "stopping")

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.sig_state.emit(state)

    def _refuse_if_busy(self) -> None:
        if self.busy:
            raise UserError("a run is already training in this window; stop it first")

    # --- in-app runs -------------------------------------------------------------------------
    def start(self, cfg: RunConfig) -> None:
        """Train `cfg` in the engine host. Problems of the run (a missing file, a model that
        does not load) arrive as sig_error; only starting a second run raises UserError."""
        self._refuse_if_busy()
        self._launch(train_run, (cfg,), Path(cfg.output_dir))

    def resume(self, run_dir: str | Path, overrides: Optional[dict] = None) -> None:
        self._refuse_if_busy()
        self._launch(resume_run, (Path(run_dir), overrides), Path(run_dir))

    def stop(self) -> None:
        """Ask the run to checkpoint and stop (in-app: within one step; launched process:
        SIGINT, which the CLI turns into the same stop). Following only: stop following."""
        if self.busy:
            self._stop.set()
            self._set_state("stopping")
        elif self.state == "following":
            if self._process is not None and self._process.poll() is None:
                self._process.send_signal(signal.SIGINT)
                self._set_state("stopping")
            else:
                self.unfollow()

    def _launch(self, fn: Callable, args: tuple, run_dir: Path) -> None:
        self.follower.stop()
        self._stop = threading.Event()
        self.run_dir = run_dir
        self.last_result = None
        self._thread = QThread()
        self._thread.setObjectName("training")
        self._worker = TrainWorker(fn, args, self._stop)  # fn(ctx, *args) runs in the host
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        # Queued: the worker emits in its thread, these slots run in the GUI thread.
        self._worker.sig_step.connect(self._on_step)
        self._worker.sig_eval.connect(self._on_eval)
        self._worker.sig_event.connect(self._on_event)
        self._worker.sig_result.connect(self._on_result)
        self._worker.sig_error.connect(self._on_error)
        self._set_state("starting")
        self.sig_started.emit(str(run_dir))
        self._thread.start()

    @Slot(object, object)
    def _on_step(self, m: StepMetrics, mem: Any) -> None:
        if self.state == "starting":
            self._set_state("running")
        self.sig_step.emit(m, mem)

    @Slot(object)
    def _on_eval(self, m: EvalMetrics) -> None:
        self.sig_eval.emit(m)

    @Slot(object)
    def _on_event(self, e: RunEvent) -> None:
        if e.event in ("started", "resumed") and self.state == "starting":
            self._set_state("running")
        self.sig_event.emit(e)

    @Slot(object)
    def _on_result(self, result: Any) -> None:
        self._end_thread()
        self.last_result = result
        status = str(getattr(result, "status", "finished"))
        reason = str(getattr(result, "reason", ""))
        if getattr(result, "run_dir", None):
            self.run_dir = Path(result.run_dir)
        self._set_state("idle")
        self.sig_finished.emit(status, reason)
        if status == "failed":
            self.sig_error.emit(reason or "the run failed", "")

    @Slot(str, str)
    def _on_error(self, reason: str, details: str) -> None:
        self._end_thread()
        self._set_state("idle")
        self.sig_finished.emit("failed", reason)
        self.sig_error.emit(reason, details)

    def _end_thread(self) -> None:
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
            self._thread = None
            self._worker = None

    def wait(self, timeout_s: float = 600.0) -> bool:
        """Block until the in-app run's thread ends (tests, shutdown). Queued signals are
        delivered once the event loop runs again."""
        thread = self._thread
        return thread is None or thread.wait(int(timeout_s * 1000))

    # --- runs in another process -------------------------------------------------------------
    def follow(self, run_dir: str | Path, process: Optional[subprocess.Popen] = None,
               log_file: Optional[Path] = None) -> None:
        self._refuse_if_busy()
        run_dir = Path(run_dir)
        if process is None and not runs.holds_run(run_dir):
            raise UserError(f"{run_dir} is not a run directory (no config.yaml or metrics.jsonl)")
        self._process = process
        self.run_dir = run_dir
        self._set_state("following")
        self.sig_started.emit(str(run_dir))
        self.follower.follow(run_dir, process=process, log_file=log_file)

    def unfollow(self) -> None:
        self.follower.stop()
        self._process = None
        if self._thread is None and self.state in ("following", "stopping"):
            self._set_state("idle")

    def start_detached(self, cfg: RunConfig) -> Path:
        """Launch `python -m studio train` for cfg as a separate process and follow it. The
        config and the process's output go to <runs root>/.launch/<run name>.yaml|.log (the run
        directory itself must be empty when training starts)."""
        self._refuse_if_busy()
        run_dir = Path(cfg.output_dir).expanduser().resolve()
        launch = run_dir.parent / ".launch"
        launch.mkdir(parents=True, exist_ok=True)
        cfg_file = launch / f"{run_dir.name}.yaml"
        log_file = launch / f"{run_dir.name}.log"
        config_mod.save(cfg.replace(output_dir=str(run_dir)), cfg_file)
        self._detach(["train", str(cfg_file)], run_dir, log_file)
        return run_dir

    def resume_detached(self, run_dir: str | Path, overrides: Optional[dict] = None) -> None:
        """`python -m studio resume RUN_DIR` as a separate process, followed (a run of several
        processes resumes so: the command relaunches itself through torchrun)."""
        self._refuse_if_busy()
        run_dir = Path(run_dir).expanduser().resolve()
        launch = run_dir.parent / ".launch"
        launch.mkdir(parents=True, exist_ok=True)
        sets = [a for k, v in (overrides or {}).items() for a in ("--set", f"{k}={v}")]
        self._detach(["resume", str(run_dir), *sets], run_dir,
                     launch / f"{run_dir.name}.resume.log")

    def _detach(self, args: list[str], run_dir: Path, log_file: Path) -> None:
        root = Path(__file__).resolve().parents[2]  # the folder holding the studio package
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(root)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
        with open(log_file, "w", encoding="utf-8") as log:
            # start_new_session: the run is not in the window's process group, so neither
            # closing the window nor a Ctrl+C in its terminal reaches it.
            process = subprocess.Popen(
                [*studio_command(), *args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                cwd=str(Path.cwd()), start_new_session=True)
        self.follow(run_dir, process=process, log_file=log_file)

    @Slot(list)
    def _on_records(self, records: list) -> None:
        for r in records:
            kind = getattr(r, "type", "")
            if kind == "step":
                self.sig_step.emit(r, None)
            elif kind == "eval":
                self.sig_eval.emit(r)
            else:
                self.sig_event.emit(r)

    @Slot(str, str)
    def _on_follow_ended(self, status: str, reason: str) -> None:
        failed_log = self.follower.log_text() if status == "failed" else ""
        self._process = None
        self._set_state("idle")
        self.sig_finished.emit(status, reason)
        if status == "failed":
            self.sig_error.emit(reason or "the run failed", failed_log)
