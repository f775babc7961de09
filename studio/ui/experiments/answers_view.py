"""The board's Answers tab: one prompt, each compared run's greedy answer beside its name.

The models load one at a time in a worker thread (core/experiments/answers.py); the GUI thread
only fills the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.services.workers import run_task
from studio.ui.errors import show_error


class AnswersView(QWidget):
    def __init__(self, rows: Callable[[], list[dict]], colour_of: Callable[[str], str],
                 parent: Optional[QWidget] = None):
        super().__init__(parent)
        self._rows, self._colour_of = rows, colour_of
        self._task = None
        col = QVBoxLayout(self)
        row = QHBoxLayout()
        self.prompt = QLineEdit()
        self.prompt.setObjectName("board_prompt")
        self.prompt.setPlaceholderText(self.tr("A prompt every ticked run answers (greedy)"))
        self.prompt.returnPressed.connect(self.ask)
        row.addWidget(self.prompt, 1)
        self.button = QPushButton(self.tr("Answer"))
        self.button.setObjectName("board_ask")
        self.button.clicked.connect(lambda _=False: self.ask())
        row.addWidget(self.button)
        col.addLayout(row)
        self.table = QTableWidget(0, 2)
        self.table.setObjectName("board_answers")
        self.table.setHorizontalHeaderLabels([self.tr("Run"), self.tr("Answer")])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        col.addWidget(self.table, 1)

    @property
    def busy(self) -> bool:
        return self._task is not None

    def ask(self) -> None:
        from studio.core.experiments.answers import answers

        prompt = self.prompt.text().strip()
        rows = self._rows()
        if not prompt or not rows or self.busy:
            return
        self.button.setEnabled(False)
        self.button.setText(self.tr("Answering…"))
        self._task = run_task(answers, [r["_path"] for r in rows], [prompt],
                              on_result=self._show, on_error=self._failed, parent=self)

    def _done(self) -> None:
        self._task = None
        self.button.setEnabled(True)
        self.button.setText(self.tr("Answer"))

    def _failed(self, reason: str, _details: str) -> None:
        self._done()
        show_error(self, reason)

    def _show(self, said: dict) -> None:
        self._done()
        names = {r["_path"]: r["run"] for r in self._rows()}
        self.table.setRowCount(len(said))
        for i, (path, texts) in enumerate(said.items()):
            name = QTableWidgetItem(names.get(path, Path(path).name))
            name.setForeground(QBrush(QColor(self._colour_of(path))))
            self.table.setItem(i, 0, name)
            self.table.setItem(i, 1, QTableWidgetItem(texts[0]))
        self.table.resizeColumnToContents(0)
        self.table.resizeRowsToContents()
