"""The comparison board: pick runs (or a sweep, or a methods comparison) and see side by side
what each cost (trainable share, peak memory, time per step, tokens/s) and what each gave
(final train / eval loss, evaluation figures), the curves overlaid, and the run queue.

The table is core/experiments/compare.py's, read in a child process (many metrics files are
pure-Python parsing: see services/child_process.py); sorting by any column is the table's own;
Export writes the rows in the order shown (CSV / Markdown) and the chart as a PNG.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.experiments import compare
from studio.services.child_process import run_in_child
from studio.services.session import Session
from studio.services.workers import run_task
from studio.ui import prefs
from studio.ui.errors import show_error
from studio.ui.experiments.answers_view import AnswersView
from studio.ui.experiments.queue_view import QueueView

PATH_ROLE = Qt.ItemDataRole.UserRole
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
# distinct, colour-blind-friendly line colours (Okabe-Ito, then Tableau)
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442",
           "#000000", "#8c564b", "#7f7f7f")


def read_board(paths: list[str]) -> dict:
    """rows + curves of the runs (in a worker thread, which waits on a child process)."""
    out: dict = {}
    run_in_child(compare.board_data, (paths,), lambda _k, data: out.update(data),
                 lambda: False, name="studio-compare")
    return out


class _Cell(QTableWidgetItem):
    """Sorts by its value (numbers as numbers; blanks last), shows it formatted."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        a, b = self.data(SORT_ROLE), other.data(SORT_ROLE)
        if a is None or b is None:
            return a is not None
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a < b
        return str(a) < str(b)


class ComparisonBoard(QWidget):
    METRICS = ("loss", "eval_loss", "tokens_per_s", "mem_mb")

    def __init__(self, session: Optional[Session] = None, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.session = session
        self.rows: list[dict] = []
        self.curves: dict[str, dict] = {}
        self._list_task = self._read_task = None
        self._pending: Optional[list[str]] = None
        self._chart = None
        outer = QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self._left())
        split.addWidget(self._right())
        split.setStretchFactor(1, 1)
        split.setSizes([250, 1150])  # the table needs the width: ~14 columns
        outer.addWidget(split)

    # --- layout ------------------------------------------------------------------------------
    def _left(self) -> QWidget:
        box = QWidget()
        col = QVBoxLayout(box)
        col.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        title = QLabel(self.tr("<b>Runs</b>: tick the ones to compare"))
        title.setWordWrap(True)  # the pane may be narrow: the table needs the width
        head.addWidget(title, 1)
        refresh = QPushButton(self.tr("Refresh"))
        refresh.setObjectName("board_refresh")
        refresh.clicked.connect(lambda _=False: self.refresh())
        head.addWidget(refresh)
        col.addLayout(head)
        self.tree = QTreeWidget()
        self.tree.setObjectName("board_runs")
        self.tree.setHeaderHidden(True)
        self.tree.itemChanged.connect(self._on_ticked)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.tree)
        self.queue_view = QueueView(prefs.runs_root())
        self.queue_view.sig_error.connect(lambda reason: show_error(self, reason))
        split.addWidget(self.queue_view)
        split.setSizes([480, 300])
        col.addWidget(split, 1)
        return box

    def _right(self) -> QWidget:
        box = QWidget()
        col = QVBoxLayout(box)
        col.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        for text, slot, name, tip in (
                (self.tr("Compare methods…"), self.compare_methods_dialog, "board_methods",
                 self.tr("Queue the same data and budget with each method you tick.")),
                (self.tr("Export CSV…"), lambda: self.export_dialog("csv"), "board_csv", ""),
                (self.tr("Export Markdown…"), lambda: self.export_dialog("markdown"),
                 "board_markdown", ""),
                (self.tr("Save chart…"), self.save_chart_dialog, "board_png",
                 self.tr("The chart as a PNG image."))):
            b = QPushButton(text)
            b.setObjectName(name)
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False, s=slot: s())
            bar.addWidget(b)
        bar.addStretch(1)
        bar.addWidget(QLabel(self.tr("Chart:")))
        self.metric_box = QComboBox()
        self.metric_box.setObjectName("board_metric")
        for key, text in zip(self.METRICS, (self.tr("train loss"), self.tr("eval loss"),
                                            self.tr("tokens/s"), self.tr("memory (MB)"))):
            self.metric_box.addItem(text, key)
        self.metric_box.currentIndexChanged.connect(lambda _i: self._draw())
        bar.addWidget(self.metric_box)
        col.addLayout(bar)
        self.summary = QLabel(self.tr("Tick runs on the left, or a whole sweep, to compare "
                                      "them."))
        self.summary.setObjectName("board_summary")
        self.summary.setWordWrap(True)
        col.addWidget(self.summary)
        split = QSplitter(Qt.Orientation.Vertical)
        self.table = QTableWidget()
        self.table.setObjectName("board_table")
        self.table.setSortingEnabled(True)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        split.addWidget(self.table)
        self._chart_box = QWidget()
        QVBoxLayout(self._chart_box).setContentsMargins(0, 0, 0, 0)
        tabs = QTabWidget()
        tabs.setObjectName("board_tabs")
        tabs.addTab(self._chart_box, self.tr("Curves"))
        self.answers = AnswersView(lambda: self.rows, self._colour_of)
        tabs.addTab(self.answers, self.tr("Answers"))
        split.addWidget(tabs)
        split.setSizes([250, 550])
        col.addWidget(split, 1)
        return box

    @property
    def chart(self) -> Any:
        if self._chart is None:
            import pyqtgraph as pg  # lazy: ~1 s to import, not before the window's first paint

            self._chart = pg.PlotWidget(background="w")
            self._chart.setObjectName("board_chart")
            self._chart.showGrid(x=True, y=True, alpha=0.25)
            self._chart.setLabel("bottom", self.tr("step"))
            # opaque, dark text: readable where it lies over a curve
            self._chart.addLegend(offset=(-10, 10), brush=(255, 255, 255, 220),
                                  pen=(160, 160, 160), labelTextColor=(30, 30, 30))
            self._chart_box.layout().addWidget(self._chart)
        return self._chart

    # --- runs to pick ------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if self.tree.topLevelItemCount() == 0:
            self.refresh()
        super().showEvent(event)

    def refresh(self) -> None:
        if self._list_task is not None:
            return
        root = prefs.runs_root()
        self.queue_view.set_root(root)
        self._list_task = run_task(compare.comparable_runs, root, on_result=self._fill_tree,
                                   on_error=self._list_failed, parent=self)

    def _list_failed(self, reason: str, _details: str) -> None:
        self._list_task = None
        self.summary.setText(reason)

    def _fill_tree(self, groups: list[tuple[str, list[str]]]) -> None:
        self._list_task = None
        ticked = set(self.ticked())
        self.tree.blockSignals(True)
        self.tree.clear()
        for group, paths in groups:
            parent = self.tree.invisibleRootItem()
            if group:
                parent = QTreeWidgetItem([Path(group).name + "/"])
                parent.setFlags(parent.flags() | Qt.ItemFlag.ItemIsAutoTristate
                                | Qt.ItemFlag.ItemIsUserCheckable)
                parent.setCheckState(0, Qt.CheckState.Unchecked)
                parent.setToolTip(0, group)
                self.tree.addTopLevelItem(parent)
            for p in paths:
                item = QTreeWidgetItem([Path(p).name])
                item.setData(0, PATH_ROLE, p)
                item.setToolTip(0, p)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(0, Qt.CheckState.Checked if p in ticked
                                   else Qt.CheckState.Unchecked)
                parent.addChild(item)
        self.tree.expandAll()
        self.tree.blockSignals(False)
        if ticked:
            self.compare(self.ticked())

    def ticked(self) -> list[str]:
        out = []

        def walk(item: QTreeWidgetItem) -> None:
            for i in range(item.childCount()):
                child = item.child(i)
                path = child.data(0, PATH_ROLE)
                if path and child.checkState(0) == Qt.CheckState.Checked:
                    out.append(str(path))
                walk(child)
        walk(self.tree.invisibleRootItem())
        return out

    def tick(self, paths: list[str]) -> None:
        """Tick these runs (and only these) and compare them."""
        wanted = {str(p) for p in paths}
        self.tree.blockSignals(True)
        it = [self.tree.invisibleRootItem()]
        while it:
            item = it.pop()
            for i in range(item.childCount()):
                child = item.child(i)
                path = child.data(0, PATH_ROLE)
                if path:
                    child.setCheckState(0, Qt.CheckState.Checked if str(path) in wanted
                                        else Qt.CheckState.Unchecked)
                it.append(child)
        self.tree.blockSignals(False)
        self.compare(self.ticked())

    def _on_ticked(self, item: QTreeWidgetItem, _column: int) -> None:
        self.compare(self.ticked())

    # --- the table and the chart -------------------------------------------------------------
    def compare(self, paths: list[str]) -> None:
        """Read the runs off the GUI thread; ticks made meanwhile go in the next read."""
        if self._read_task is not None:
            self._pending = paths
            return
        if not paths:
            self._show({"rows": [], "curves": {}})
            return
        self._read_task = run_task(read_board, paths, on_result=self._show,
                                   on_error=self._read_failed, parent=self)

    def _read_failed(self, reason: str, _details: str) -> None:
        self._read_task = None
        self.summary.setText(reason)
        self._next()

    def _next(self) -> None:
        if self._pending is not None:
            paths, self._pending = self._pending, None
            self.compare(paths)

    def _show(self, data: dict) -> None:
        self._read_task = None
        self.rows, self.curves = data["rows"], data["curves"]
        self._fill_table()
        self._draw()
        self.summary.setText(self._summary_text())
        self._next()

    def _summary_text(self) -> str:
        done = [r for r in self.rows if r.get("eval_loss") is not None]
        if not done:
            return self.tr("{n} runs").format(n=len(self.rows))
        best = min(done, key=lambda r: r["eval_loss"])
        cheapest = min((r for r in self.rows if r.get("peak_mem_mb")),
                       key=lambda r: r["peak_mem_mb"], default=best)
        if all(r.get("status") == "finished" for r in self.rows):
            return self.tr("{n} runs, all finished. Lowest eval loss: <b>{best}</b> "
                           "({loss:.4f}); least memory: <b>{cheap}</b> ({mb:.0f} MB). Click a "
                           "column to sort.").format(
                n=len(self.rows), best=best["run"], loss=best["eval_loss"],
                cheap=cheapest["run"], mb=cheapest.get("peak_mem_mb") or 0)
        return self.tr("{n} runs. Lowest eval loss: <b>{best}</b> ({loss:.4f}); least memory: "
                       "<b>{cheap}</b> ({mb:.0f} MB). Click a column to sort.").format(
            n=len(self.rows), best=best["run"], loss=best["eval_loss"], cheap=cheapest["run"],
            mb=cheapest.get("peak_mem_mb") or 0)

    def _fill_table(self) -> None:
        keys = compare.columns_of(self.rows)
        # Columns that say nothing here make room (the table must fit the default window):
        # "compare methods" names each run by its method; "all finished" is in the summary.
        if self.rows and all(r.get("run") == r.get("method") for r in self.rows):
            keys.remove("method")
        if self.rows and all(r.get("status") == "finished" for r in self.rows):
            keys.remove("status")
        self.table.setSortingEnabled(False)
        self.table.clear()
        self.table.setColumnCount(len(keys))
        self.table.setRowCount(len(self.rows))
        self.table.setHorizontalHeaderLabels([_header(compare.title(k)) for k in keys])
        for c, key in enumerate(keys):
            self.table.horizontalHeaderItem(c).setData(PATH_ROLE, key)
        for r, row in enumerate(self.rows):
            for c, key in enumerate(keys):
                value = row.get(key)
                item = _Cell(compare.cell(key, value))
                item.setData(SORT_ROLE, value)
                item.setData(PATH_ROLE, row["_path"])
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if key == "run":
                    item.setForeground(_colour(self._colour_of(row["_path"])))
                    item.setToolTip(row["_path"])
                if key == "status" and row.get("_reason"):
                    item.setToolTip(row["_reason"])
                    if value == "failed":
                        item.setForeground(_colour("#b03a2e"))
                self.table.setItem(r, c, item)
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()

    def column_keys(self) -> list[str]:
        return [self.table.horizontalHeaderItem(c).data(PATH_ROLE)
                for c in range(self.table.columnCount())]

    def rows_in_view_order(self) -> list[dict]:
        """The rows as the table shows them now (after the user's sort)."""
        by_path = {r["_path"]: r for r in self.rows}
        return [by_path[self.table.item(i, 0).data(PATH_ROLE)]
                for i in range(self.table.rowCount())]

    def sort_by(self, key: str, descending: bool = False) -> None:
        order = Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder
        self.table.sortItems(self.column_keys().index(key), order)

    def _colour_of(self, path: str) -> str:
        paths = [r["_path"] for r in self.rows]
        return PALETTE[paths.index(path) % len(PALETTE)] if path in paths else PALETTE[0]

    def _draw(self) -> None:
        if not self.rows and self._chart is None:
            return
        import pyqtgraph as pg

        chart = self.chart
        chart.clear()
        chart.getPlotItem().legend.clear()
        key = self.metric_box.currentData()
        chart.setLabel("left", self.metric_box.currentText())
        for i, row in enumerate(self.rows):
            xs, ys = self.curves.get(row["_path"], {}).get(key, ([], []))
            pts = [(x, y) for x, y in zip(xs, ys) if y is not None and math.isfinite(y)]
            if not pts:
                continue
            pen = pg.mkPen(self._colour_of(row["_path"]), width=_line_width(i, len(self.rows)))
            symbol = "o" if len(pts) < 30 else None
            chart.plot([p[0] for p in pts], [p[1] for p in pts], pen=pen, name=row["run"],
                       symbol=symbol, symbolSize=5, symbolBrush=self._colour_of(row["_path"]),
                       symbolPen=None)

    # --- the tour: the board with the run(s) the tour just trained, and their answers --------
    def tour_prepare(self, tour: Any) -> None:
        run = getattr(getattr(tour, "session", None), "run_dir", None)
        self._tour_runs = [str(run)] if run is not None and Path(run).is_dir() else []
        self._tour_question = getattr(tour, "question", "")
        self._tour_asked = False
        if self._tour_runs:
            self.compare(self._tour_runs)  # by path: the tour's folder may not be the runs root

    def tour_ready(self) -> bool:
        """Table and curves for the tour's runs, then each one's answer to the tour's question
        (on the Answers tab)."""
        runs_ = getattr(self, "_tour_runs", [])
        if not runs_:
            return True
        if self._read_task is not None or [r["_path"] for r in self.rows] != runs_:
            return False
        if not self._tour_asked and self._tour_question:
            self._tour_asked = True
            self._show_ticked(runs_)
            self.answers.prompt.setText(self._tour_question)
            self.answers.ask()
            self.findChild(QTabWidget, "board_tabs").setCurrentWidget(self.answers)
        return not self.answers.busy

    def _show_ticked(self, paths: list[str]) -> None:
        """Tick these runs in the tree where it lists them, without reading them again."""
        self.tree.blockSignals(True)
        for item in self.tree.findItems("*", Qt.MatchFlag.MatchWildcard
                                        | Qt.MatchFlag.MatchRecursive):
            if item.data(0, PATH_ROLE) in paths:
                item.setCheckState(0, Qt.CheckState.Checked)
        self.tree.blockSignals(False)

    # --- export ------------------------------------------------------------------------------
    def export(self, path: str | Path, fmt: str) -> None:
        rows = self.rows_in_view_order()
        text = compare.to_csv(rows) if fmt == "csv" else compare.to_markdown(rows)
        Path(path).write_text(text, encoding="utf-8")

    def export_dialog(self, fmt: str) -> None:
        if not self.rows:
            return
        suffix = ".csv" if fmt == "csv" else ".md"
        path, _ = QFileDialog.getSaveFileName(self, self.tr("Export the table"),
                                              str(prefs.runs_root() / f"comparison{suffix}"))
        if path:
            try:
                self.export(path, fmt)
            except OSError as e:
                show_error(self, self.tr("Could not write {path}: {why}").format(
                    path=path, why=e.strerror or e))

    def save_chart(self, path: str | Path) -> bool:
        return self.chart.grab().save(str(path))

    def save_chart_dialog(self) -> None:
        if not self.rows:
            return
        path, _ = QFileDialog.getSaveFileName(self, self.tr("Save the chart"),
                                              str(prefs.runs_root() / "comparison.png"))
        if path and not self.save_chart(path):
            show_error(self, self.tr("Could not write {path}").format(path=path))

    # --- compare methods ---------------------------------------------------------------------
    def compare_methods_dialog(self) -> None:
        from studio.core.errors import UserError
        from studio.ui.experiments.dialogs import CompareMethodsDialog

        try:
            base = self.session.draft.config() if self.session else None
        except UserError as e:
            show_error(self, self.tr("Choose a model and a dataset first: {reason}").format(
                reason=e.one_line()))
            return
        if base is None:
            return
        dialog = CompareMethodsDialog(base, prefs.runs_root(), self)
        dialog.accepted.connect(lambda: self._after_queued(dialog.group))
        dialog.open()
        self.dialog = dialog

    def _after_queued(self, group: str) -> None:
        self.queue_view.refresh()
        self.refresh()


def _line_width(i: int, n: int) -> float:
    """Earlier runs draw wider and underneath: where two runs' curves coincide (LoRA and QLoRA
    often do) the one below still shows as a coloured edge."""
    return 1.5 + 2.5 * (n - 1 - i) / (n - 1) if n > 1 else 2.0


def _header(title: str, width: int = 7) -> str:
    """A column title longer than `width` on two lines, cut at the separator nearest its
    middle ("train\\nloss", "learning_\\nrate", "eval:corpus\\nperplexity"), so the table's
    ~14 columns fit the board at the window's default size."""
    cuts = [i for i, ch in enumerate(title) if ch in " _:"]
    if len(title) <= width or not cuts:
        return title
    cut = min(cuts, key=lambda i: abs(i - len(title) / 2))
    keep = title[:cut] if title[cut] == " " else title[:cut + 1]
    return keep + "\n" + title[cut + 1:]


def _colour(hex_colour: str):
    from PySide6.QtGui import QBrush, QColor

    return QBrush(QColor(hex_colour))
