"""Evaluation of a run per checkpoint (the Inspect page's "Evaluation" tab).

Left: the training loss (metrics.jsonl). Right: what eval.jsonl holds per checkpoint, one curve
per file: perplexity of the held-out corpus rising while the training loss falls is the
lecture's catastrophic forgetting; accuracy on a question file is what tuning taught. Below:
the records as a table. "Score a file…" / "Score held-out corpus" run `core.eval.run_eval`
over the base model and every checkpoint in a worker thread; reading the files runs there too.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import pyqtgraph as pg
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.services.engine_host import in_host
from studio.services.workers import run_task

COLOURS = ("#d33", "#4c8bf5", "#2a9d4b", "#f59f4c", "#8e44ad")


def read_run_evaluation(run_dir: Path) -> dict:
    """{"loss": [(step, loss)], "eval": [record, ...]} (worker thread: files may be large)."""
    from studio.core import runs
    from studio.core.eval.run_eval import read_records
    from studio.core.events import StepMetrics

    loss = [(r.step, r.loss) for r in runs.read_metrics(run_dir)
            if isinstance(r, StepMetrics) and math.isfinite(r.loss)]
    return {"loss": loss, "eval": read_records(run_dir)}


def score_and_read(run_dir: Path, data: str) -> dict:
    """Score in the engine host (it loads the models), then read the records here."""
    from studio.core.eval.run_eval import evaluate_run

    in_host(evaluate_run, run_dir, data)
    return read_run_evaluation(run_dir)


def curves(records: list[dict]) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """(data file, metric) -> [(step, value)] sorted by step; the latest record of a step wins."""
    out: dict[tuple[str, str], dict[int, float]] = {}
    for r in records:
        value = r.get("value")
        if isinstance(value, (int, float)) and math.isfinite(value):
            out.setdefault((r["data"], r["metric"]), {})[int(r["step"])] = float(value)
    return {k: sorted(v.items()) for k, v in out.items()}


class EvalView(QWidget):
    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.run_dir: Optional[Path] = None
        self.result: Optional[dict] = None
        self._task: Any = None
        self.score_corpus = QPushButton(self.tr("Score held-out corpus"))
        self.score_corpus.setToolTip(self.tr("Perplexity of general text the tuning data does "
                                             "not hold, before tuning and at every checkpoint: "
                                             "what the model forgot"))
        self.score_file = QPushButton(self.tr("Score a file…"))
        self.score_file.setToolTip(self.tr("Perplexity on a text or chat file, or accuracy on a "
                                           "question file (question / answer / choices)"))
        self.status = QLabel(self.tr("Choose a run above."))
        self.status.setObjectName("eval_status")
        self.status.setWordWrap(True)
        self.loss_plot = pg.PlotWidget(title=self.tr("training loss"))
        self.eval_plot = pg.PlotWidget(title=self.tr("evaluation per checkpoint"))
        for plot in (self.loss_plot, self.eval_plot):
            plot.setBackground("w")
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.setLabel("bottom", self.tr("step"))
            plot.getAxis("left").setWidth(56)  # room for values like 2085.8
        self.eval_plot.addLegend(offset=(-10, 10))
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels([self.tr("checkpoint"), self.tr("file"),
                                              self.tr("metric"), self.tr("value")])
        self.table.horizontalHeader().setStretchLastSection(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.score_corpus)
        buttons.addWidget(self.score_file)
        buttons.addWidget(self.status, 1)
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.eval_plot)
        col = QVBoxLayout(self)
        col.addLayout(buttons)
        col.addLayout(plots, 3)
        col.addWidget(self.table, 1)
        self.score_corpus.clicked.connect(lambda: self.score("corpus"))
        self.score_file.clicked.connect(self._pick_file)
        self._enable(False)

    def _enable(self, on: bool) -> None:
        self.score_corpus.setEnabled(on)
        self.score_file.setEnabled(on)

    def set_run(self, run_dir: Optional[Path]) -> None:
        self.run_dir = Path(run_dir) if run_dir else None
        self.result = None
        self._enable(self.run_dir is not None)
        if self.run_dir is None:
            self.status.setText(self.tr("Choose a run above."))
            return
        self._start(read_run_evaluation, self.run_dir)

    def score(self, data: str) -> None:
        if self.run_dir is None:
            return
        self.status.setText(self.tr("Scoring the base model and every checkpoint…"))
        self._enable(False)
        self._start(score_and_read, self.run_dir, data)

    def ready(self) -> bool:
        return self.result is not None and (self._task is None or not self._task.running)

    def _pick_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Choose a file to score"))
        if path:
            self.score(path)

    def _start(self, fn: Any, *args: Any) -> None:
        self._task = run_task(fn, *args, parent=self, on_result=self._show,
                              on_error=self._failed)

    def _failed(self, reason: str, details: str) -> None:
        self._enable(self.run_dir is not None)
        self.status.setText(reason)

    def _show(self, result: dict) -> None:
        self.result = result
        self._enable(True)
        self.loss_plot.clear()
        self.eval_plot.clear()
        if result["loss"]:
            xs, ys = zip(*result["loss"])
            self.loss_plot.plot(list(xs), list(ys), pen=pg.mkPen("#555", width=1.5))
        lines = curves(result["eval"])
        for i, ((data, metric), points) in enumerate(sorted(lines.items())):
            xs, ys = zip(*points)
            name = f"{Path(data).name if data != 'corpus' else 'held-out corpus'} ({metric})"
            colour = COLOURS[i % len(COLOURS)]
            self.eval_plot.plot(list(xs), list(ys), pen=pg.mkPen(colour, width=2),
                                symbol="o", symbolBrush=colour, name=name)
        self._fill_table(result["eval"])
        self.status.setText(self._summary(lines) if lines else self.tr(
            "No evaluation yet: score the held-out corpus or a file (or set eval_data in the "
            "run's config)."))

    def _summary(self, lines: dict) -> str:
        parts = []
        for (data, metric), points in sorted(lines.items()):
            if len(points) >= 2 and metric == "perplexity":
                first, last = points[0][1], points[-1][1]
                parts.append(self.tr("{name}: perplexity {a:.1f} → {b:.1f} ({pct:+.0%})").format(
                    name="held-out corpus" if data == "corpus" else Path(data).name,
                    a=first, b=last, pct=last / first - 1))
            elif len(points) >= 2:
                parts.append(self.tr("{name}: {metric} accuracy {a:.0%} → {b:.0%}").format(
                    name=Path(data).name, metric=metric, a=points[0][1], b=points[-1][1]))
        return "; ".join(parts)

    def _fill_table(self, records: list[dict]) -> None:
        self.table.setRowCount(len(records))
        for row, r in enumerate(records):
            value = r.get("value")
            shown = (f"{value:.2f}" if r.get("metric") == "perplexity" else f"{value:.1%}") \
                if isinstance(value, (int, float)) else "—"
            cells = (r.get("checkpoint", ""), "held-out corpus" if r.get("data") == "corpus"
                     else Path(str(r.get("data", ""))).name, r.get("metric", ""), shown)
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(str(text)))
        # a few dozen rows at most (one per checkpoint and file): the names shown whole
        # ("held-out …" was cut at the default width)
        self.table.resizeColumnsToContents()
