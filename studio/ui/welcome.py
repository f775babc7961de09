"""The welcome page, a start screen: a one-click first run on the starter model, this machine
(device, memory, what fits, problems with their fixes), and the recent runs with resume / chat /
export one click away.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from studio.ui.welcome_machine import MachineCard

STATUS_ROLE = Qt.ItemDataRole.UserRole + 1
RESUMABLE = ("stopped", "failed")
FINISHED = ("finished",)


class WelcomePage(QScrollArea):
    sig_tour = Signal()
    sig_open_dataset = Signal()
    sig_follow_run = Signal()
    sig_go_train = Signal()
    sig_open_run = Signal(str)    # a past run's folder: show it on the Train page
    sig_resume_run = Signal(str)
    sig_chat_run = Signal(str)
    sig_export_run = Signal(str)

    def __init__(self, icon: Optional[QPixmap] = None, parent: Optional[QWidget] = None):
        super().__init__(parent)
        # Scrolls rather than cuts anything off on a small screen (1366 x 768).
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        self.setWidget(body)
        outer = QVBoxLayout(body)
        outer.setContentsMargins(32, 20, 32, 20)
        outer.addLayout(self._header(icon))
        outer.addSpacing(12)
        cards = QHBoxLayout()
        cards.setSpacing(16)
        cards.addWidget(self._start_card(), 3)
        self.machine = MachineCard()
        cards.addWidget(self.machine, 2)
        outer.addLayout(cards)
        outer.addSpacing(12)
        outer.addWidget(self._runs_card(), 1)
        self.set_runs([])

    # --- parts ---------------------------------------------------------------------------------
    def _header(self, icon: Optional[QPixmap]) -> QHBoxLayout:
        head = QHBoxLayout()
        if icon is not None and not icon.isNull():
            logo = QLabel()
            logo.setPixmap(icon.scaled(56, 56, Qt.AspectRatioMode.KeepAspectRatio,
                                       Qt.TransformationMode.SmoothTransformation))
            head.addWidget(logo)
        titles = QVBoxLayout()
        title = QLabel(self.tr("Welcome to Studio"))
        title.setObjectName("welcome_title")
        subtitle = QLabel(self.tr("Fine-tune a language model on your own computer and watch "
                                  "it learn."))
        subtitle.setObjectName("welcome_subtitle")
        subtitle.setWordWrap(True)
        titles.addWidget(title)
        titles.addWidget(subtitle)
        head.addLayout(titles, 1)
        return head

    def _start_card(self) -> QFrame:
        card, col = self._card(self.tr("Start here"))
        self.tour_button = self._button(self.tr("First run: the starter model learns its name"),
                                        self.sig_tour, "tour_button")
        self.tour_button.setDefault(True)
        self.tour_button.setMinimumHeight(44)
        self.tour_button.setToolTip(self.tr(
            "Creates a small starter model and trains it for a few steps on a sample "
            "dataset, showing each page on the way. Takes about a minute on a CPU."))
        col.addWidget(self.tour_button)
        steps = QLabel(self.tr(
            "1. <b>Data</b>: drop a .json, .jsonl, .csv, .parquet or .txt file anywhere on this "
            "window; Studio detects its format and points at rows it cannot train on.<br>"
            "2. <b>Model and method</b>: a model folder or hub id, then LoRA, QLoRA, full "
            "fine-tuning and more, with the memory each needs.<br>"
            "3. <b>Train</b>: watch loss, learning rate and memory live; Stop saves a "
            "checkpoint, Resume continues the same curve."))
        steps.setWordWrap(True)
        steps.setTextFormat(Qt.TextFormat.RichText)
        col.addWidget(steps)
        row = QHBoxLayout()
        for b in (self._button(self.tr("Open a dataset…"), self.sig_open_dataset,
                               "welcome_open"),
                  self._button(self.tr("Follow a run folder…"), self.sig_follow_run,
                               "welcome_follow"),
                  self._button(self.tr("Go to training"), self.sig_go_train, "welcome_train")):
            row.addWidget(b)
        row.addStretch(1)
        col.addLayout(row)
        self.note = QLabel(self.tr(
            "Tip: everything here also runs without the window: studio --help (or python "
            "main.py --help)."))
        self.note.setObjectName("welcome_note")
        self.note.setWordWrap(True)
        col.addWidget(self.note)
        col.addStretch(1)
        return card

    def _runs_card(self) -> QFrame:
        card, col = self._card(self.tr("Recent runs"))
        self.runs_title = card.findChild(QLabel, "card_title")
        self.runs_empty = QLabel(self.tr(
            "No runs yet. Start with the first run above (about a minute on a CPU), or drop a "
            "dataset on the window and press Start on the Train page."))
        self.runs_empty.setObjectName("welcome_runs_empty")
        self.runs_empty.setWordWrap(True)
        self.runs_empty.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        col.addWidget(self.runs_empty, 1)
        self.runs = QListWidget()
        self.runs.setObjectName("welcome_runs")
        self.runs.setMinimumHeight(110)
        self.runs.itemDoubleClicked.connect(
            lambda item: self.sig_open_run.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.runs.currentItemChanged.connect(lambda *_: self._update_run_buttons())
        col.addWidget(self.runs, 1)
        row = QHBoxLayout()
        self.curves_button = self._run_button(self.tr("Show curves"), self.sig_open_run)
        self.resume_button = self._run_button(self.tr("Resume"), self.sig_resume_run)
        self.chat_button = self._run_button(self.tr("Chat with it"), self.sig_chat_run)
        self.export_button = self._run_button(self.tr("Export…"), self.sig_export_run)
        for b in (self.curves_button, self.resume_button, self.chat_button,
                  self.export_button):
            row.addWidget(b)
        row.addStretch(1)
        self.run_buttons = QWidget()
        self.run_buttons.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.run_buttons)
        return card

    # --- state -----------------------------------------------------------------------------------
    def set_runs(self, summaries: list, limit: int = 8) -> None:
        """Show the newest runs (core.runs.RunSummary); with none, what to do instead."""
        self.runs.clear()
        for s in summaries[:limit]:
            step = f"{s.step}/{s.total_steps}" if s.total_steps else str(s.step)
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.started))
            status = QCoreApplication.translate("RunsList", s.status)  # the runs list's words
            item = QListWidgetItem(f"{s.run_dir.name}   ·   {status}   ·   {step}   ·   "
                                   f"{s.method}   ·   {when}")
            item.setData(Qt.ItemDataRole.UserRole, str(s.run_dir))
            item.setData(STATUS_ROLE, s.status)
            item.setToolTip(str(s.run_dir))
            self.runs.addItem(item)
        has = bool(summaries)
        self.runs.setVisible(has)
        self.run_buttons.setVisible(has)
        self.runs_empty.setVisible(not has)
        if has:
            self.runs.setCurrentRow(0)
        self._update_run_buttons()

    def set_environment(self, env: Any) -> None:
        self.machine.set_environment(env)

    def selected_run(self) -> Optional[tuple[str, str]]:
        item = self.runs.currentItem()
        if item is None:
            return None
        return item.data(Qt.ItemDataRole.UserRole), item.data(STATUS_ROLE)

    def _update_run_buttons(self) -> None:
        sel = self.selected_run()
        status = sel[1] if sel else ""
        self.curves_button.setEnabled(sel is not None)
        self.resume_button.setEnabled(status in RESUMABLE)
        self.chat_button.setEnabled(status in FINISHED)
        self.export_button.setEnabled(status in FINISHED)

    # --- helpers ---------------------------------------------------------------------------------
    def _card(self, title: str) -> tuple[QFrame, QVBoxLayout]:
        card = QFrame()
        card.setObjectName("welcome_card")
        card.setFrameShape(QFrame.Shape.StyledPanel)
        col = QVBoxLayout(card)
        head = QLabel(title)
        head.setObjectName("card_title")
        col.addWidget(head)
        return card, col

    def _button(self, text: str, signal: Any, name: str) -> QPushButton:
        b = QPushButton(text)
        b.setObjectName(name)
        b.setMinimumHeight(34)
        b.clicked.connect(lambda _=False: signal.emit())
        return b

    def _run_button(self, text: str, signal: Any) -> QPushButton:
        b = QPushButton(text)
        b.setMinimumHeight(30)
        b.clicked.connect(lambda _=False: self._emit_selected(signal))
        return b

    def _emit_selected(self, signal: Any) -> None:
        sel = self.selected_run()
        if sel:
            signal.emit(sel[0])
