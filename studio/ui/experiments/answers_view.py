"""The board's Answers tab: each compared run's greedy answers, one column per prompt asked
(the same prompts for every run; asking a prompt again replaces its column).

The models load one at a time in a worker thread (core/experiments/answers.py); the GUI thread
only fills the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.services.engine_host import in_host
from studio.services.workers import run_task
from studio.ui.errors import show_error


class AnswersView(QWidget):
    def __init__(self, rows: Callable[[], list[dict]], colour_of: Callable[[str], str],
                 parent: Optional[QWidget] = None):
        super().__init__(parent)
        self._rows, self._colour_of = rows, colour_of
        self._task = None
        self._said: dict[str, dict[str, str]] = {}  # prompt -> run folder -> answer
        self._asked = ""
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
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
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
        self._asked = prompt
        self._task = run_task(in_host, answers, [r["_path"] for r in rows], [prompt],
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
        self._said.pop(self._asked, None)  # asked again: its column moves to the end
        self._said[self._asked] = {path: texts[0] for path, texts in said.items()}
        names = {r["_path"]: r["run"] for r in self._rows()}
        paths = list(names) + [p for a in self._said.values() for p in a if p not in names]
        paths = list(dict.fromkeys(paths))
        prompts = list(self._said)
        self.table.setColumnCount(1 + len(prompts))
        self.table.setHorizontalHeaderLabels([self.tr("Run")] + prompts)
        self.table.setRowCount(len(paths))
        for i, path in enumerate(paths):
            name = QTableWidgetItem(names.get(path, Path(path).name))
            name.setForeground(QBrush(QColor(self._colour_of(path))))
            self.table.setItem(i, 0, name)
            for c, prompt in enumerate(prompts, start=1):
                text = self._said[prompt].get(path, "")
                # one paragraph: a run that rambles over many lines must not fill the tab
                cell = QTableWidgetItem(" ⏎ ".join(x for x in text.splitlines() if x.strip()))
                cell.setToolTip(text)
                self.table.setItem(i, c, cell)
        self.table.resizeColumnToContents(0)
        width = max(160, (self.table.viewport().width() - self.table.columnWidth(0))
                    // max(1, len(prompts)))
        for c in range(1, 1 + len(prompts)):
            self.table.setColumnWidth(c, width)
        self.table.resizeRowsToContents()
