"""Follow a run directory written by another process (`python main.py train`), live.

A QTimer in the GUI thread polls `MetricsTail.read_new()`: each poll reads only the bytes added
since the last one (a stat + a short read, well under a millisecond), so polling twice a second
costs the event loop nothing. The first poll of a long finished run reads its whole history at
once (~50 ms per 10,000 lines).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from studio.core import runs
from studio.core.events import Record

END_EVENTS = ("finished", "stopped", "failed")


class RunFollower(QObject):
    """Emits `sig_records(list[Record])` as the run's metrics.jsonl grows, then `sig_ended(status,
    reason)` once the run has ended (its last event, run.json, or its process exiting)."""

    sig_records = Signal(list)
    sig_ended = Signal(str, str)

    def __init__(self, parent: Optional[QObject] = None, interval_ms: int = 500):
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.poll)
        self._tail: Optional[runs.MetricsTail] = None
        self._process: Optional[subprocess.Popen] = None
        self._log: Optional[Path] = None
        self.run_dir: Optional[Path] = None

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def follow(self, run_dir: str | Path, process: Optional[subprocess.Popen] = None,
               log_file: Optional[Path] = None) -> None:
        """Start following; `process` / `log_file` when this app launched the run itself, so a
        process that dies before writing anything still reports why."""
        self.run_dir = Path(run_dir)
        self._tail = runs.MetricsTail(self.run_dir / "metrics.jsonl")
        self._process, self._log = process, log_file
        self._timer.start()
        self.poll()

    def stop(self) -> None:
        self._timer.stop()

    @Slot()
    def poll(self) -> None:
        if self._tail is None or self.run_dir is None:
            return
        records = self._tail.read_new()
        if records:
            self.sig_records.emit(records)
        ended = self._ended(records)
        if ended is not None:
            self._timer.stop()
            self.sig_ended.emit(*ended)

    def _ended(self, records: list[Record]) -> Optional[tuple[str, str]]:
        last = next((r for r in reversed(records) if getattr(r, "type", "") == "event"), None)
        if last is not None and last.event in END_EVENTS:
            # An old "stopped" line of a run being resumed right now is not its end.
            if runs.effective_status(self.run_dir) != "running":
                return last.event, last.detail
        if self._process is not None:
            code = self._process.poll()
            if code is None:
                return None
            status = runs.read_status(self.run_dir)
            if status.get("status") in END_EVENTS:
                return status["status"], str(status.get("reason", ""))
            return "failed", self._log_reason(code)
        # A run we did not launch: trust run.json (its pid check spots a killed process).
        if (self.run_dir / "run.json").exists():
            status = runs.effective_status(self.run_dir)
            if status in END_EVENTS:
                return status, str(runs.read_status(self.run_dir).get("reason", ""))
        return None

    def _log_reason(self, code: int) -> str:
        """The last line of the launched process's output: its `error: ...` line."""
        if self._log is not None and self._log.is_file():
            lines = [ln for ln in self._log.read_text(encoding="utf-8", errors="replace")
                     .splitlines() if ln.strip()]
            if lines:
                return lines[-1].removeprefix("error: ")
        return f"the training process exited with code {code}"

    def log_text(self) -> str:
        if self._log is not None and self._log.is_file():
            return self._log.read_text(encoding="utf-8", errors="replace")[-20000:]
        return ""
