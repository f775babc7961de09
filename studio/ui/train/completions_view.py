"""Stage grpo: the current group's completions with their rewards, on the Train page.

Fed the newest line of the run's completions.jsonl (core/train/grpo/completions.py, a tail
read of a few kB) at each grpo step, and the step's per-reward means and spreads."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

COLUMNS = 3  # the completion with its rewards under it, total, advantage: fits a narrow tab


class CompletionsView(QWidget):
    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.header = QLabel(self.tr("A grpo run shows each step's group of completions here."))
        self.header.setObjectName("completions_header")
        self.header.setWordWrap(True)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.header)
        self.table = QTableWidget(0, COLUMNS)
        self.table.setObjectName("completions_table")
        self.table.setHorizontalHeaderLabels([self.tr("Completion"), self.tr("Total"),
                                              self.tr("Advantage")])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        self.table.setTextElideMode(Qt.TextElideMode.ElideNone)  # wrap the rewards instead
        self.table.verticalHeader().setVisible(False)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, COLUMNS):
            head.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.table, 1)

    def show_group(self, record: Optional[dict], summary: Optional[dict] = None) -> None:
        """record: a completions.jsonl line; summary: the step line's `rewards` field."""
        if not record:
            return
        lines = [self.tr("Step {step}, row {row}: {prompt}").format(
            step=record.get("step", "?"), row=record.get("row", "?"),
            prompt=str(record.get("prompt", ""))[:300])]
        if record.get("reference"):
            lines.append(self.tr("Reference answer: {answer}").format(
                answer=str(record["reference"])[:200]))
        if summary:
            lines.append("  ·  ".join(f"{name} {v.get('mean', 0):.3f} ± {v.get('std', 0):.3f}"
                                      for name, v in summary.items()))
        self.header.setText("\n".join(lines))
        rows = [c for c in record.get("completions", []) if isinstance(c, dict)]
        rows.sort(key=lambda c: -float(c.get("total", 0.0)))  # the best first
        self.table.setRowCount(len(rows))
        for i, c in enumerate(rows):
            text = str(c.get("text", ""))
            if not c.get("ended", True):
                text += " …"  # cut at grpo_max_completion
            scores = c.get("rewards") or {}
            rewards = ", ".join(f"{k} {float(v):.2f}" for k, v in scores.items())
            cells = [f"{text}\n{rewards}", f"{float(c.get('total', 0.0)):.3f}",
                     f"{float(c.get('advantage', 0.0)):+.2f}"]
            for col, value in enumerate(cells):
                item = QTableWidgetItem(value)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, col, item)
        self.table.resizeRowsToContents()
        # again once the stretched column has its width (the layout runs after this call)
        QTimer.singleShot(0, self.table, self.table.resizeRowsToContents)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self.table.resizeRowsToContents()  # the wrapped lines follow the column's width

    def clear(self) -> None:
        self.table.setRowCount(0)
        self.header.setText(self.tr("A grpo run shows each step's group of completions here."))
