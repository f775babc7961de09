"""An export's verification as a checklist a person reads at a glance: one row per check with
its verdict, its figure and, when it did not pass, what to do."""

from __future__ import annotations

from typing import Any, Iterable, Optional

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

_LOOK = {True: ("✓", "#2e7d32"), False: ("✗", "#c62828"), None: ("–", "#616161")}


class ChecklistView(QTreeWidget):
    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setColumnCount(3)
        self.setHeaderLabels(["", self.tr("Check"), self.tr("Result")])
        self.setRootIsDecorated(False)
        self.setWordWrap(True)
        self.setUniformRowHeights(False)
        head = self.header()
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)

    def show_checks(self, checks: Iterable[Any]) -> None:
        """checks: studio.core.export.checklist.Check (name, passed, figure, fix)."""
        self.clear()
        for c in checks:
            mark, colour = _LOOK[c.passed]
            text = c.figure if c.passed is not False or not c.fix else \
                f"{c.figure}\n{self.tr('What to do:')} {c.fix}"
            item = QTreeWidgetItem([mark, c.name, text])
            item.setForeground(0, QBrush(QColor(colour)))
            item.setToolTip(2, text if c.passed is not None else
                            self.tr("A figure, not a verdict: a quantized file answers a "
                                    "little differently by design."))
            self.addTopLevelItem(item)

    def verdicts(self) -> list[tuple[str, str]]:
        """(mark, check name) per row, for tests."""
        return [(self.topLevelItem(i).text(0), self.topLevelItem(i).text(1))
                for i in range(self.topLevelItemCount())]
