"""Past runs under the runs folder: status and progress, with Follow / Resume / Open folder,
and a tick box per run that overlays its curves on the live charts.

Listing reads each run's config.yaml and run.json, so it runs in a worker thread.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core import runs
from studio.services.workers import run_task
from studio.ui import prefs

RUN_ROLE = Qt.ItemDataRole.UserRole


class RunsList(QWidget):
    sig_overlay = Signal(str, bool)  # run folder, shown
    sig_follow = Signal(str)
    sig_resume = Signal(str)

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.loaded = False
        self._filling = False
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.title = QLabel()
        self.title.setObjectName("runs_title")
        # A long folder path must not push the buttons out: the label gives way (clipped),
        # and its tooltip holds the whole path.
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title.setMinimumWidth(60)
        head.addWidget(self.title, 1)
        for text, slot, name in ((self.tr("Refresh"), self.refresh, "refresh_runs"),
                                 (self.tr("Follow"), self._follow, "follow_run"),
                                 (self.tr("Resume"), self._resume, "resume_run"),
                                 (self.tr("Open folder"), self._open, "open_run")):
            b = QPushButton(text)
            b.setObjectName(name)
            b.clicked.connect(lambda _=False, s=slot: s())
            head.addWidget(b)
        col.addLayout(head)
        self.tree = QTreeWidget()
        self.tree.setObjectName("runs_tree")
        self.tree.setRootIsDecorated(False)
        self.tree.setHeaderLabels([self.tr("Run (tick to overlay)"), self.tr("Status"),
                                   self.tr("Step"), self.tr("Method"), self.tr("Model"),
                                   self.tr("Started")])
        self.tree.setColumnWidth(0, 210)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.itemDoubleClicked.connect(lambda item, _c: self.sig_follow.emit(
            item.data(0, RUN_ROLE)))
        col.addWidget(self.tree, 1)
        self.summaries: list[runs.RunSummary] = []

    def status_text(self, status: str) -> str:
        return {"running": self.tr("running"), "finished": self.tr("finished"),
                "stopped": self.tr("stopped"), "failed": self.tr("failed"),
                "unknown": self.tr("unknown")}.get(status, status)

    def refresh(self) -> None:
        root = prefs.runs_root()
        self.title.setText(self.tr("Past runs in {folder}").format(folder=root))
        self.title.setToolTip(str(root.resolve()))
        self._task = run_task(runs.list_runs, root, on_result=self._fill, parent=self)

    def _fill(self, summaries: list) -> None:
        ticked = {self.tree.topLevelItem(i).data(0, RUN_ROLE)
                  for i in range(self.tree.topLevelItemCount())
                  if self.tree.topLevelItem(i).checkState(0) == Qt.CheckState.Checked}
        selected = self.selected_run()
        self._filling = True
        self.tree.clear()
        for s in summaries:
            step = f"{s.step}/{s.total_steps}" if s.total_steps else str(s.step)
            item = QTreeWidgetItem([s.run_dir.name, self.status_text(s.status), step, s.method,
                                    Path(s.model).name or s.model,
                                    time.strftime("%Y-%m-%d %H:%M", time.localtime(s.started))])
            item.setData(0, RUN_ROLE, str(s.run_dir))
            item.setToolTip(0, str(s.run_dir))
            item.setToolTip(1, s.reason)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked if str(s.run_dir) in ticked
                               else Qt.CheckState.Unchecked)
            self.tree.addTopLevelItem(item)
            if str(s.run_dir) == selected:
                self.tree.setCurrentItem(item)
        self._filling = False
        self.summaries = summaries
        self.loaded = True

    def selected_run(self) -> Optional[str]:
        item = self.tree.currentItem()
        return item.data(0, RUN_ROLE) if item is not None else None

    def select(self, run_dir: str | Path) -> bool:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if Path(item.data(0, RUN_ROLE)) == Path(run_dir):
                self.tree.setCurrentItem(item)
                return True
        return False

    def set_overlay(self, run_dir: str | Path, on: bool) -> bool:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if Path(item.data(0, RUN_ROLE)) == Path(run_dir):
                item.setCheckState(0, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
                return True
        return False

    def is_overlaid(self, name: str) -> bool:
        """Whether the run named `name` (its folder name) is ticked for overlay."""
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if Path(item.data(0, RUN_ROLE)).name == name:
                return item.checkState(0) == Qt.CheckState.Checked
        return False

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column == 0 and not self._filling:
            self.sig_overlay.emit(item.data(0, RUN_ROLE),
                                  item.checkState(0) == Qt.CheckState.Checked)

    def _follow(self) -> None:
        run = self.selected_run()
        if run:
            self.sig_follow.emit(run)

    def _resume(self) -> None:
        run = self.selected_run()
        if run:
            self.sig_resume.emit(run)

    def _open(self) -> None:
        run = self.selected_run()
        if run:
            QDesktopServices.openUrl(QUrl.fromLocalFile(run))
