"""What a method changed, per layer and checkpoint (the Inspect page's "Changes" tab).

LoRA-family runs: each adapted layer's update B·A has r singular values; the bars show each
layer's effective rank against r, the lines each layer's singular values (divided by its
largest), so a rank-16 update that uses only a few directions is seen at once. Full / freeze
runs: the bars show how far each weight matrix moved, relative to its norm.

The numbers are computed in a worker thread (core.probes.spectrum reads safetensors and takes
small SVDs); this widget only draws.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.services.engine_host import in_host
from studio.services.workers import run_task

FINAL = -1  # combo data of the final weights


def short_layer(name: str) -> str:
    """model.layers.3.self_attn.q_proj -> 3.q_proj"""
    parts = name.split(".")
    nums = [p for p in parts if p.isdigit()]
    return f"{nums[-1]}.{parts[-1]}" if nums else parts[-1]


class ChangesView(QWidget):
    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.run_dir: Optional[Path] = None
        self.result: Any = None
        self._task: Any = None
        self.checkpoint = QComboBox()
        self.checkpoint.setObjectName("changes_checkpoint")
        self.refresh_button = QPushButton(self.tr("Show"))
        self.summary = QLabel(self.tr("Choose a run (a trained adapter or model) above."))
        self.summary.setObjectName("changes_summary")
        self.summary.setWordWrap(True)
        self.bars = pg.PlotWidget()
        self.lines = pg.PlotWidget()
        for plot in (self.bars, self.lines):
            plot.setBackground("w")
            plot.showGrid(x=False, y=True, alpha=0.3)
        self.lines.setLabel("bottom", self.tr("direction (singular value index)"))
        self.lines.setLabel("left", self.tr("singular value / largest"))
        top = QHBoxLayout()
        top.addWidget(QLabel(self.tr("Checkpoint:")))
        top.addWidget(self.checkpoint)
        top.addWidget(self.refresh_button)
        top.addStretch(1)
        plots = QHBoxLayout()
        plots.addWidget(self.bars, 3)
        plots.addWidget(self.lines, 2)
        col = QVBoxLayout(self)
        col.addLayout(top)
        col.addWidget(self.summary)
        col.addLayout(plots, 1)
        self.refresh_button.clicked.connect(self.run)
        self.checkpoint.activated.connect(lambda _i: self.run())

    def set_run(self, run_dir: Optional[Path]) -> None:
        self.run_dir = Path(run_dir) if run_dir else None
        self.result = None
        self.checkpoint.clear()
        if self.run_dir is None:
            self.summary.setText(self.tr("Choose a run (a trained adapter or model) above."))
            return
        self.run()

    def run(self) -> None:
        if self.run_dir is None:
            return
        from studio.core.probes.spectrum import run_changes

        data = self.checkpoint.currentData()
        step = None if data in (None, FINAL) else int(data)
        self.summary.setText(self.tr("Computing…"))
        self._task = run_task(in_host, run_changes, self.run_dir, step, parent=self,
                              on_result=self._show, on_error=self._failed)

    def ready(self) -> bool:
        return self.result is not None and (self._task is None or not self._task.running)

    def _failed(self, reason: str, details: str) -> None:
        self.summary.setText(reason)

    def _show(self, result: Any) -> None:
        self.result = result
        self._fill_checkpoints(result)
        self.summary.setText(result.summary())
        self.bars.clear()
        self.lines.clear()
        self.lines.setVisible(result.kind == "spectrum")  # full / freeze: no spectrum to draw
        if result.kind == "spectrum":
            self._draw_spectrum(result)
        else:
            self._draw_norms(result)

    def _fill_checkpoints(self, result: Any) -> None:
        current = FINAL if result.step is None else result.step
        self.checkpoint.blockSignals(True)
        self.checkpoint.clear()
        self.checkpoint.addItem(self.tr("final"), FINAL)
        for s in result.steps:
            self.checkpoint.addItem(self.tr("step {n}").format(n=s), s)
        self.checkpoint.setCurrentIndex(max(0, self.checkpoint.findData(current)))
        self.checkpoint.blockSignals(False)

    def _axis(self, plot: Any, names: list[str]) -> None:
        step = max(1, -(-len(names) // 7))  # at most 7 labels: more would overlap
        plot.getAxis("bottom").setTicks([[(i, short_layer(n)) for i, n in enumerate(names)
                                          if i % step == 0]])

    def _draw_spectrum(self, result: Any) -> None:
        names = [s.layer for s in result.spectra]
        effs = [s.effective_rank for s in result.spectra]
        self.bars.addItem(pg.BarGraphItem(x=list(range(len(effs))), height=effs, width=0.8,
                                          brush="#4c8bf5"))
        self.bars.addItem(pg.InfiniteLine(pos=result.rank, angle=0,
                                          pen=pg.mkPen("#d33", style=Qt.PenStyle.DashLine)))
        self.bars.setLabel("left", self.tr("effective rank (dashed: r = {r})").format(
            r=result.rank))
        self._axis(self.bars, names)
        for s in result.spectra:
            top = s.singular_values[0] if s.singular_values and s.singular_values[0] else 1.0
            self.lines.plot(list(range(1, len(s.singular_values) + 1)),
                            [v / top for v in s.singular_values],
                            pen=pg.mkPen((76, 139, 245, 90)))

    def _draw_norms(self, result: Any) -> None:
        names = [c.layer for c in result.changes]
        rel = [100 * c.relative for c in result.changes]
        self.bars.addItem(pg.BarGraphItem(x=list(range(len(rel))), height=rel, width=0.8,
                                          brush="#f59f4c"))
        self.bars.setLabel("left", self.tr("weight change, % of its norm"))
        self._axis(self.bars, names)
