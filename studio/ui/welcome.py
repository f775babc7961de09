"""The welcome page: what Studio does in three steps, and a way in (the tour, a dataset, a run).
"""

from __future__ import annotations

import time
from typing import Optional

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class WelcomePage(QWidget):
    sig_tour = Signal()
    sig_open_dataset = Signal()
    sig_follow_run = Signal()
    sig_go_train = Signal()
    sig_open_run = Signal(str)  # a past run's folder: show it on the Train page

    def __init__(self, icon: Optional[QPixmap] = None, parent: Optional[QWidget] = None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(40, 32, 40, 32)
        head = QHBoxLayout()
        if icon is not None and not icon.isNull():
            logo = QLabel()
            logo.setPixmap(icon.scaled(72, 72, Qt.AspectRatioMode.KeepAspectRatio,
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
        outer.addLayout(head)
        outer.addSpacing(18)
        steps = QGridLayout()
        steps.setHorizontalSpacing(18)
        cards = [
            (self.tr("1. Data"), self.tr("Drop a .json, .jsonl, .csv, .parquet or .txt file "
                                         "anywhere on this window. Studio detects its format "
                                         "and points at rows it cannot train on.")),
            (self.tr("2. Model and method"), self.tr("Pick a model folder or create a small "
                                                     "starter model, then a method: LoRA, "
                                                     "QLoRA, full fine-tuning and more.")),
            (self.tr("3. Train"), self.tr("Press Start and watch loss, learning rate and "
                                          "memory live. Stop saves a checkpoint; Resume "
                                          "continues the same curve.")),
        ]
        for i, (head_text, body) in enumerate(cards):
            steps.addWidget(self._card(head_text, body), 0, i)
        outer.addLayout(steps)
        outer.addSpacing(24)
        buttons = QHBoxLayout()
        self.tour_button = self._button(self.tr("Take the tour"), self.sig_tour, "tour_button")
        self.tour_button.setDefault(True)
        self.tour_button.setToolTip(self.tr(
            "Creates a small starter model and trains it for a few steps on a sample "
            "dataset, showing each page on the way. Takes about a minute on a CPU."))
        for b in (self.tour_button,
                  self._button(self.tr("Open a dataset…"), self.sig_open_dataset,
                               "welcome_open"),
                  self._button(self.tr("Follow a run folder…"), self.sig_follow_run,
                               "welcome_follow"),
                  self._button(self.tr("Go to training"), self.sig_go_train, "welcome_train")):
            buttons.addWidget(b)
        buttons.addStretch(1)
        outer.addLayout(buttons)
        outer.addSpacing(12)
        self.note = QLabel(self.tr(
            "Tip: everything here also runs without the window: python main.py --help. A run "
            "started with “python main.py train” can be followed live from File › Follow a "
            "run folder."))
        self.note.setObjectName("welcome_note")
        self.note.setWordWrap(True)
        outer.addWidget(self.note)
        outer.addSpacing(18)
        self.runs_title = QLabel(self.tr("Recent runs (double-click to see their curves)"))
        self.runs_title.setObjectName("card_title")
        self.runs = QListWidget()
        self.runs.setObjectName("welcome_runs")
        self.runs.setMaximumHeight(150)
        self.runs.itemDoubleClicked.connect(
            lambda item: self.sig_open_run.emit(item.data(Qt.ItemDataRole.UserRole)))
        outer.addWidget(self.runs_title)
        outer.addWidget(self.runs)
        self.set_runs([])
        outer.addStretch(1)

    def set_runs(self, summaries: list, limit: int = 6) -> None:
        """Show the newest runs (core.runs.RunSummary); the section hides when there are none."""
        self.runs.clear()
        for s in summaries[:limit]:
            step = f"{s.step}/{s.total_steps}" if s.total_steps else str(s.step)
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.started))
            status = QCoreApplication.translate("RunsList", s.status)  # the runs list's words
            item = QListWidgetItem(f"{s.run_dir.name}   ·   {status}   ·   {step}   ·   "
                                   f"{s.method}   ·   {when}")
            item.setData(Qt.ItemDataRole.UserRole, str(s.run_dir))
            item.setToolTip(str(s.run_dir))
            self.runs.addItem(item)
        self.runs_title.setVisible(bool(summaries))
        self.runs.setVisible(bool(summaries))

    def _card(self, head: str, body: str) -> QFrame:
        card = QFrame()
        card.setObjectName("welcome_card")
        card.setFrameShape(QFrame.Shape.StyledPanel)
        col = QVBoxLayout(card)
        h = QLabel(head)
        h.setObjectName("card_title")
        b = QLabel(body)
        b.setWordWrap(True)
        b.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        col.addWidget(h)
        col.addWidget(b, 1)
        return card

    def _button(self, text: str, signal, name: str) -> QPushButton:
        b = QPushButton(text)
        b.setObjectName(name)
        b.setMinimumHeight(34)
        b.clicked.connect(lambda _=False: signal.emit())
        return b
