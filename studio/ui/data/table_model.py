"""The rows of a dataset as a Qt table model over a RowIndex: a row is read from the file when
the view first asks for it, and kept in a small cache (a view asks for the ~40 rows it shows,
many times per paint). Nothing is built per row up front, so a 200,000-row file scrolls as
smoothly as a 20-row one.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Optional

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt
from PySide6.QtGui import QBrush, QColor

from studio.core.data.view import RowSummary, summarize_row

CACHE_ROWS = 2048
CELL_CHARS = 160  # a cell shows one line of this many characters; the tooltip shows more
TIP_CHARS = 1200

BAD_BACKGROUND = QColor("#fdecea")
BAD_TEXT = QColor("#b03a2e")


def one_line(text: str, limit: int = CELL_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class RowTableModel(QAbstractTableModel):
    ROW, STATUS, TURNS, PROMPT, REPLY = range(5)

    def __init__(self, parent: Optional[QObject] = None):
        super().__init__(parent)
        self._index: Any = None
        self._fmt = ""
        self._problems: dict[int, str] = {}   # row -> reason found by the doctor / template
        self._cache: OrderedDict[int, RowSummary] = OrderedDict()
        self.reads = 0  # rows read from the file so far (tests check the laziness)

    # --- source --------------------------------------------------------------------------------
    def set_source(self, index: Any, fmt: Any) -> None:
        self.beginResetModel()
        self._index, self._fmt = index, fmt
        self._problems = {}
        self._cache.clear()
        self.endResetModel()

    def set_format(self, fmt: Any) -> None:
        if fmt and fmt != self._fmt:
            self.beginResetModel()
            self._fmt = fmt
            self._cache.clear()
            self.endResetModel()

    def set_problems(self, problems: dict[int, str]) -> None:
        """Problems found by a whole-file check (e.g. the chat template refusing a row)."""
        self._problems = dict(problems)
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(self.rowCount() - 1, self.columnCount() - 1))

    def format(self) -> Any:
        """How rows are read: a format name, or a column mapping (data.columns)."""
        return self._fmt

    def summary(self, i: int) -> RowSummary:
        """Row i (0-based) of the file, read on first use."""
        got = self._cache.get(i)
        if got is not None:
            self._cache.move_to_end(i)
            return got
        got = summarize_row(self._index.read(i), self._fmt)
        self.reads += 1
        self._cache[i] = got
        if len(self._cache) > CACHE_ROWS:
            self._cache.popitem(last=False)
        return got

    def raw(self, i: int) -> Any:
        """Row i (0-based) as read from the file (a RawRow)."""
        return self._index.read(i)

    def problem(self, i: int) -> str:
        s = self.summary(i)
        return s.problem or self._problems.get(s.row, "")

    # --- Qt model --------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008 (Qt API)
        return 0 if parent.isValid() or self._index is None else len(self._index)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else 5

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        titles = (self.tr("Row"), self.tr("Status"), self.tr("Turns"),
                  self.tr("Prompt / text"), self.tr("Reply"))
        return titles[section]

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self._index is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (self.ROW, self.TURNS):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole,
                        Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole):
            return None
        s = self.summary(index.row())
        problem = s.problem or self._problems.get(s.row, "")
        if role == Qt.ItemDataRole.BackgroundRole:
            return QBrush(BAD_BACKGROUND) if problem else None
        if role == Qt.ItemDataRole.ForegroundRole:
            return QBrush(BAD_TEXT) if problem and col == self.STATUS else None
        full = self._cell(s, col, problem)
        if role == Qt.ItemDataRole.ToolTipRole:
            return full[:TIP_CHARS] if col in (self.STATUS, self.PROMPT, self.REPLY) else None
        return one_line(full)

    def _cell(self, s: RowSummary, col: int, problem: str) -> str:
        if col == self.ROW:
            return str(s.row)
        if col == self.STATUS:
            return problem or self.tr("ok")
        if col == self.TURNS:
            return str(s.turns) if s.turns else ""
        if col == self.PROMPT:
            return s.prompt
        return s.reply
