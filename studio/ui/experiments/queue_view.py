"""The run queue of the runs folder, as a list: state and progress of each entry, with Run,
Pause, Up / Down, Cancel and Retry. The queue lives on disk and is run by a background process
(core/experiments/runner.py), so closing the window changes nothing; this view re-reads it
every two seconds in a worker thread.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import UserError
from studio.core.experiments.queue import Queue, describe
from studio.services.workers import run_task

ID_ROLE = Qt.ItemDataRole.UserRole
STATE_COLOURS = {"running": "#1f5fa8", "finished": "#1e8449", "failed": "#b03a2e",
                 "cancelled": "#7f8c8d", "queued": "#2c3e50"}


def read_queue(root: str) -> dict:
    """What the view shows (in a worker thread: run.json of every entry is read)."""
    q = Queue(root)
    state = q.read()
    return {"rows": [describe(e) for e in state.entries], "paused": state.paused,
            "runner": q.runner_pid()}


class QueueView(QWidget):
    sig_error = Signal(str)

    def __init__(self, root: Path, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.root = Path(root)
        self._task = None
        self.snapshot: dict = {"rows": [], "paused": False, "runner": None}
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.title = QLabel()
        self.title.setObjectName("queue_title")
        self.title.setWordWrap(True)  # the board's runs pane is narrow
        head.addWidget(self.title, 1)
        head.addWidget(QLabel(self.tr("At once:")))
        # runs the runner trains side by side (queue run --parallel N); on the CPU each gets
        # cores / N threads, so more than the cores only slows every run down
        self.parallel = QSpinBox()
        self.parallel.setObjectName("queue_parallel")
        self.parallel.setRange(1, max(1, os.cpu_count() or 1))
        self.parallel.setToolTip(self.tr("How many queued runs train at the same time when "
                                         "the runner starts (on the CPU they share the cores)."))
        head.addWidget(self.parallel)
        col.addLayout(head)
        self.tree = QTreeWidget()
        self.tree.setObjectName("queue_tree")
        self.tree.setRootIsDecorated(False)
        self.tree.setHeaderLabels([self.tr("Run"), self.tr("State"), self.tr("Step"),
                                   self.tr("Method")])
        self.tree.setColumnWidth(0, 150)
        col.addWidget(self.tree, 1)
        row = QGridLayout()  # two rows of three: the board's left pane stays narrow
        self.buttons: dict[str, QPushButton] = {}
        for key, text, tip in (
                ("run", self.tr("Run queue"), self.tr("Start the queue's runner in the "
                                                      "background: it keeps going when the "
                                                      "window closes.")),
                ("pause", self.tr("Pause"), self.tr("The run in progress finishes; no other "
                                                    "starts until you continue.")),
                ("up", "▲", self.tr("Move up")), ("down", "▼", self.tr("Move down")),
                ("cancel", self.tr("Cancel"), self.tr("A waiting run never starts; a running "
                                                      "one stops with a checkpoint.")),
                ("retry", self.tr("Retry"), self.tr("Queue a failed or cancelled run again "
                                                    "(it resumes from its checkpoint)."))):
            b = QPushButton(text)
            b.setObjectName(f"queue_{key}")
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False, k=key: self._act(k))
            row.addWidget(b, len(self.buttons) // 3, len(self.buttons) % 3)
            self.buttons[key] = b
        col.addLayout(row)
        self.timer = QTimer(self)
        self.timer.setInterval(2000)
        self.timer.timeout.connect(self.refresh)

    def set_root(self, root: Path) -> None:
        self.root = Path(root)
        self.refresh()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.refresh()
        self.timer.start()
        super().showEvent(event)

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.timer.stop()
        super().hideEvent(event)

    def refresh(self) -> None:
        if self._task is not None:
            return
        self._task = run_task(read_queue, str(self.root), on_result=self._fill,
                              on_error=lambda reason, _d: self._done_error(reason), parent=self)

    def _done_error(self, reason: str) -> None:
        self._task = None
        self.sig_error.emit(reason)

    def _fill(self, snapshot: dict) -> None:
        self._task = None
        self.snapshot = snapshot
        keep = self.selected_id()
        self.tree.clear()
        for r in snapshot["rows"]:
            step = f"{r['step']}/{r['total_steps']}" if r["total_steps"] else ""
            item = QTreeWidgetItem([r["name"], self._state_text(r["state"]), step, r["method"]])
            item.setData(0, ID_ROLE, r["id"])
            item.setToolTip(0, r["run_dir"])
            item.setToolTip(1, r["reason"])
            item.setForeground(1, _brush(STATE_COLOURS.get(r["state"], "#2c3e50")))
            self.tree.addTopLevelItem(item)
            if r["id"] == keep:
                self.tree.setCurrentItem(item)
        waiting = sum(r["state"] in ("queued", "running") for r in snapshot["rows"])
        runner = self.tr("running") if snapshot["runner"] else self.tr("not running")
        paused = self.tr(", paused") if snapshot["paused"] else ""
        self.title.setText(self.tr("<b>Queue</b>: {n} waiting{paused}; runner {runner}").format(
            n=waiting, paused=paused, runner=runner))
        self.buttons["pause"].setText(self.tr("Continue") if snapshot["paused"]
                                      else self.tr("Pause"))
        self.buttons["run"].setEnabled(not snapshot["runner"] and waiting > 0)

    def _state_text(self, state: str) -> str:
        return {"queued": self.tr("queued"), "running": self.tr("running"),
                "finished": self.tr("finished"), "failed": self.tr("failed"),
                "cancelled": self.tr("cancelled")}.get(state, state)

    def selected_id(self) -> str:
        item = self.tree.currentItem()
        return str(item.data(0, ID_ROLE)) if item is not None else ""

    def _act(self, key: str) -> None:
        """Queue changes are a lock and a small file write: quick enough for the GUI thread."""
        from studio.core.experiments.runner import start_background_runner

        q, entry_id = Queue(self.root), self.selected_id()
        try:
            if key == "run":
                start_background_runner(self.root, parallel=self.parallel.value())
            elif key == "pause":
                q.set_paused(not self.snapshot["paused"])
            elif entry_id and key in ("up", "down"):
                ids = [r["id"] for r in self.snapshot["rows"]]
                pos = ids.index(entry_id) + 1 if entry_id in ids else 1
                q.move(entry_id, pos - 1 if key == "up" else pos + 1)
            elif entry_id and key == "cancel":
                q.cancel(entry_id)
            elif entry_id and key == "retry":
                q.retry(entry_id)
        except (UserError, OSError) as e:
            self.sig_error.emit(e.one_line() if isinstance(e, UserError) else str(e))
        self.refresh()


def _brush(colour: str):
    from PySide6.QtGui import QBrush, QColor

    return QBrush(QColor(colour))
