"""Live training curves: loss (raw + smoothed), eval loss, learning rate, gradient norm,
tokens/s and memory, all on the step axis; for stage dpo / kto also the chosen and rejected
rewards with their margin, and the preference accuracy with KTO's KL (a third row of charts
that appears with the first preference step).

Records go into growable numpy buffers as they arrive (cheap); a QTimer redraws the curves whose
buffers changed at ~10 Hz, never once per record. pyqtgraph draws the live curves with peak
downsampling, clip-to-view and no finite check: a 100k-point curve then redraws in ~3 ms
(architecture.md). Past runs overlaid are decimated once to the charts' pixel columns (decimate.py)
and painted from one cached image per chart (overlay_layer.py): they do not change.
"""

from __future__ import annotations

import html
from typing import Any, Iterable, Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.events import EvalMetrics, Record, StepMetrics
from studio.ui.empty_hint import EmptyHint
from studio.ui.train.curves import SERIES_KEYS, RunCurves, Series, ema  # noqa: F401  (re-exported)
from studio.ui.train.decimate import peak_decimate
from studio.ui.train.overlay_layer import OverlayLayer

REDRAW_MS = 100

# chart key -> title; the order is the grid's, two per row
CHARTS = {
    "loss": QT_TRANSLATE_NOOP("PlotsView", "Training loss"),
    "eval": QT_TRANSLATE_NOOP("PlotsView", "Eval loss"),
    "lr": QT_TRANSLATE_NOOP("PlotsView", "Learning rate"),
    "grad_norm": QT_TRANSLATE_NOOP("PlotsView", "Gradient norm"),
    "tokens_per_s": QT_TRANSLATE_NOOP("PlotsView", "Tokens / s"),
    "memory": QT_TRANSLATE_NOOP("PlotsView", "Memory (MB)"),
    "rewards": QT_TRANSLATE_NOOP("PlotsView", "Rewards"),
    "preference": QT_TRANSLATE_NOOP("PlotsView", "Accuracy / KL / clipping"),
    "completion": QT_TRANSLATE_NOOP("PlotsView", "Completion length (tokens)"),
}
PREFERENCE_CHARTS = ("rewards", "preference")  # laid out once a run reports them
GRPO_CHARTS = ("completion",)                   # laid out once a grpo run reports it
# series key -> (chart, legend name, colour, width)
SERIES = {
    "loss": ("loss", QT_TRANSLATE_NOOP("PlotsView", "raw"), "#9db8d9", 1),
    "loss_smooth": ("loss", QT_TRANSLATE_NOOP("PlotsView", "smoothed"), "#1f5fa8", 2),
    "eval_loss": ("eval", QT_TRANSLATE_NOOP("PlotsView", "eval"), "#c0392b", 2),
    "lr": ("lr", QT_TRANSLATE_NOOP("PlotsView", "lr"), "#2e8b57", 2),
    "grad_norm": ("grad_norm", QT_TRANSLATE_NOOP("PlotsView", "norm"), "#8e44ad", 1),
    "tokens_per_s": ("tokens_per_s", QT_TRANSLATE_NOOP("PlotsView", "tokens/s"), "#d35400", 1),
    "mem_allocated": ("memory", QT_TRANSLATE_NOOP("PlotsView", "allocated"), "#16a085", 2),
    "mem_reserved": ("memory", QT_TRANSLATE_NOOP("PlotsView", "reserved"), "#7f8c8d", 1),
    "mem_peak": ("memory", QT_TRANSLATE_NOOP("PlotsView", "peak"), "#c0392b", 2),
    "mem_rss": ("memory", QT_TRANSLATE_NOOP("PlotsView", "process RSS"), "#2c3e50", 1),
    "rewards_chosen": ("rewards", QT_TRANSLATE_NOOP("PlotsView", "chosen"), "#27ae60", 2),
    "rewards_rejected": ("rewards", QT_TRANSLATE_NOOP("PlotsView", "rejected"), "#c0392b", 2),
    "reward_margin": ("rewards", QT_TRANSLATE_NOOP("PlotsView", "margin"), "#1f5fa8", 2),
    "reward_accuracy": ("preference", QT_TRANSLATE_NOOP("PlotsView", "accuracy"), "#8e44ad",
                        2),
    "kl": ("preference", QT_TRANSLATE_NOOP("PlotsView", "KL"), "#7f8c8d", 1),
    "reward": ("rewards", QT_TRANSLATE_NOOP("PlotsView", "total reward"), "#1f5fa8", 2),
    "reward_std": ("rewards", QT_TRANSLATE_NOOP("PlotsView", "spread"), "#9db8d9", 1),
    "clip_fraction": ("preference", QT_TRANSLATE_NOOP("PlotsView", "clip fraction"), "#d35400",
                      1),
    "completion_length": ("completion", QT_TRANSLATE_NOOP("PlotsView", "mean length"),
                          "#16a085", 2),
}
PART_COLOURS = ("#27ae60", "#c0392b", "#8e44ad", "#e67e22", "#00838f", "#6d4c41")
assert tuple(SERIES) == SERIES_KEYS  # the buffers (curves.py) and the legend agree
OVERLAY_COLOURS = ("#e67e22", "#27ae60", "#8e44ad", "#e84393", "#00838f", "#6d4c41")


def _t(text: str) -> str:
    return QCoreApplication.translate("PlotsView", text)


class PlotsView(QWidget):
    """The six charts of a run, with log-scale and smoothing controls and past-run overlays."""

    sig_overlays_changed = Signal()

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.live = RunCurves()
        self._overlays: dict[str, tuple[RunCurves, dict[str, pg.PlotDataItem], str]] = {}
        self._dirty = False
        self._smoothing = 0.9
        self._total = 0  # the live run's planned last step; 0: the step axis follows the data
        self._x_end = 0  # where the step axes end (_apply_x_range); 0: they follow the data
        self._drawn: dict[str, tuple[int, int]] = {}  # series -> (length, version) drawn
        self._version = 0
        self._px: dict[str, float] = {}  # chart -> steps per pixel the overlays are decimated to
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._controls())
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        layout.addWidget(self.graphics, 1)
        # The charts are built one per event-loop turn (each PlotItem is ~10-80 ms of the GUI
        # thread; all eight at once froze the window for 0.3-0.7 s), or all at once as soon as
        # anything reads `plots`, `curves` or `_layers`.
        self._plots: dict[str, pg.PlotItem] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._layer_items: dict[str, OverlayLayer] = {}  # past runs, over the live curves
        self._unbuilt = list(CHARTS)
        # The key to each chart's lines is in its title (a legend box would hide the newest
        # points, top right); it lists the series that have data, and the overlaid runs.
        self._titles: dict[str, str] = {}
        self.preference_shown = False
        self.hint = EmptyHint(self.graphics, self.tr(
            "No run on the charts yet. Press Start (or take the first run on the Welcome "
            "page), or pick a past run in the list: loss, learning rate and memory draw here "
            "live."), width=520)
        self.grpo_shown = False
        self._part_curves: dict[str, pg.PlotDataItem] = {}  # grpo: one curve per reward
        self._part_colours: dict[str, str] = {}
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self.redraw)
        # No repaint of the chart area until every chart is built: each turn's new chart laid
        # out and painted the grid again (500-770 Qt -> Python callbacks per turn against
        # 150-250, bench/page_build.py; each waits for the GIL while a run loads or trains)
        self.graphics.setUpdatesEnabled(False)
        self._build_next()

    def _build_chart(self, key: str) -> None:
        i = list(CHARTS).index(key)
        title = CHARTS[key]
        if key in PREFERENCE_CHARTS + GRPO_CHARTS:  # out of the grid until a run reports them
            plot = pg.PlotItem(title=_t(title))
        else:
            plot = self.graphics.addPlot(row=i // 2, col=i % 2, title=_t(title))
        # No grid: pyqtgraph's grid lines cost ~50 ms per repaint of the six charts
        # (raster, offscreen), the whole budget of a responsive event loop.
        plot.setLabel("bottom", self.tr("step"))
        self._plots[key] = plot
        plot.vb.sigXRangeChanged.connect(lambda *_, k=key: self._check_decimation(k))
        plot.vb.sigResized.connect(lambda *_, k=key: self._check_decimation(k))
        for series, (chart, _, color, width) in SERIES.items():
            if chart == key:
                self._curves[series] = self._curve(plot, color, width)
        self._layer_items[key] = OverlayLayer()
        plot.vb.addItem(self._layer_items[key])
        self._set_x_range(plot)  # a run may have started before this chart was built

    def _build_next(self) -> None:
        if self._unbuilt:
            self._build_chart(self._unbuilt.pop(0))
        if self._unbuilt:
            QTimer.singleShot(0, self, self._build_next)  # dropped if the view is deleted first
        else:
            self._all_built()

    def _complete(self) -> None:
        while self._unbuilt:
            self._build_chart(self._unbuilt.pop(0))
        self._all_built()

    def _all_built(self) -> None:
        self.graphics.setUpdatesEnabled(True)
        if not self._timer.isActive():
            self._timer.start()

    @property
    def plots(self) -> dict[str, pg.PlotItem]:
        """chart key -> its PlotItem (every chart built first)."""
        self._complete()
        return self._plots

    @property
    def curves(self) -> dict[str, pg.PlotDataItem]:
        """series key -> its live curve (every chart built first)."""
        self._complete()
        return self._curves

    @property
    def _layers(self) -> dict[str, OverlayLayer]:
        self._complete()
        return self._layer_items

    def _controls(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.log_box = QCheckBox(self.tr("Log scale (loss)"))
        self.log_box.setObjectName("log_scale")
        self.log_box.toggled.connect(self.set_log_loss)
        row.addWidget(self.log_box)
        row.addSpacing(12)
        row.addWidget(QLabel(self.tr("Smoothing")))
        self.smooth_box = QDoubleSpinBox()
        self.smooth_box.setRange(0.0, 0.99)
        self.smooth_box.setSingleStep(0.05)
        self.smooth_box.setValue(self._smoothing)
        self.smooth_box.setToolTip(self.tr("Weight of the moving average drawn over the raw loss "
                                      "(0 = no smoothing)."))
        self.smooth_box.valueChanged.connect(self.set_smoothing)
        row.addWidget(self.smooth_box)
        row.addStretch(1)
        self.status = QLabel("")
        self.status.setObjectName("plots_status")
        # room for a long run's count: squeezed by the row, it showed only its first digit
        self.status.setMinimumWidth(self.status.fontMetrics().horizontalAdvance(
            self.tr("{n} steps").format(n="000,000,000")))
        row.addWidget(self.status)
        self.clear_overlays_button = QPushButton(self.tr("Clear overlays"))
        self.clear_overlays_button.clicked.connect(self.clear_overlays)
        self.clear_overlays_button.setEnabled(False)
        row.addWidget(self.clear_overlays_button)
        return row

    @staticmethod
    def _curve(plot: pg.PlotItem, color: str, width: int) -> pg.PlotDataItem:
        # ~2 min/max pairs per pixel column, not pyqtgraph's default 5: the same picture
        # (0.5% of pixels differ at 100k steps), the live view's repaint 32 -> 18 ms
        curve = plot.plot([], [], pen=pg.mkPen(color, width=width),
                          autoDownsampleFactor=2.0)
        curve.setDownsampling(auto=True, method="peak")
        curve.setClipToView(True)
        curve.setSkipFiniteCheck(True)
        return curve

    def _overlay_curve(self, chart: str, color: str) -> pg.PlotDataItem:
        """A past run's curve: decimated to the chart's pixel columns once (_overlay_data), not
        clipped to the view (a pan changes no data), painted and bounded by the chart's layer."""
        # 1 px: a dashed pen any wider draws ~100x slower in Qt (1.7 s per 10k points)
        item = pg.PlotDataItem([], [], pen=pg.mkPen(color, width=1, style=Qt.PenStyle.DashLine))
        self.plots[chart].addItem(item, ignoreBounds=True)
        item.setDownsampling(ds=1, auto=False)
        item.setClipToView(False)
        # No dynamic range limit: with it, every change of the chart's y range rebuilt every
        # overlay's path (a live loss falling below past runs moves it at each tick)
        item.setDynamicRangeLimit(None)
        self._layers[chart].add(item)
        return item

    # --- feeding -----------------------------------------------------------------------------
    def add_step(self, m: StepMetrics, mem: Any = None) -> None:
        if self.live.last_step() >= m.step:
            self._version += 1  # a resume redoes steps: same lengths, other values
        self.live.add_step(m, mem, self._smoothing)
        if m.total_steps != self._total:
            self._total = m.total_steps
            self._apply_x_range()
        self._dirty = True

    def _apply_x_range(self) -> None:
        """Once the run's length is known, fix the step axis at [0, last step] (or the longest
        overlaid run): the curves grow across it like a progress bar, and the six step axes
        are not laid out again at every step (the costly part of a redraw)."""
        ends = [self._total] + [int(c.series["loss"].x[-1]) for c, *_ in self._overlays.values()
                                if len(c.series["loss"])]
        self._x_end = max(ends) if self._total else 0
        # Only the charts built so far: a run that starts while they are still being built one
        # per event-loop turn must not build the rest at once (0.3 s in the tour); the others
        # take the range as they are built.
        for plot in self._plots.values():
            self._set_x_range(plot)

    def _set_x_range(self, plot: pg.PlotItem) -> None:
        if self._x_end:
            plot.setXRange(0, self._x_end * 1.02, padding=0)
        else:
            plot.enableAutoRange(x=True)

    def add_eval(self, e: EvalMetrics) -> None:
        self.live.add_eval(e)
        self._dirty = True

    def add_records(self, records: Iterable[Record]) -> None:
        for r in records:
            if isinstance(r, StepMetrics):
                self.add_step(r)
            elif isinstance(r, EvalMetrics):
                self.add_eval(r)

    def clear(self) -> None:
        # Touches only built charts (`_plots`, not `plots`): the extra charts and reward parts
        # are shown by redraw, which builds every chart first.
        self.live.clear()
        if self.preference_shown:  # the next run may be sft: its grid has no third row
            for chart in PREFERENCE_CHARTS:
                self.graphics.ci.removeItem(self._plots[chart])
            self.preference_shown = False
        if self.grpo_shown:
            for chart in GRPO_CHARTS:
                self.graphics.ci.removeItem(self._plots[chart])
            self.grpo_shown = False
        for curve in self._part_curves.values():
            self._plots["rewards"].removeItem(curve)
        self._part_curves.clear()
        self._part_colours.clear()
        self._total = 0
        self._apply_x_range()
        self._changed_all()

    def points(self, series: str) -> int:
        """How many points a live series holds (tests, status)."""
        return len(self.live.series[series])

    def last_step(self) -> int:
        loss = self.live.series["loss"]
        return int(loss.x[-1]) if len(loss) else 0

    # --- options -----------------------------------------------------------------------------
    def set_log_loss(self, on: bool) -> None:
        self.plots["loss"].setLogMode(y=on)
        self.plots["eval"].setLogMode(y=on)
        if self.log_box.isChecked() != on:
            self.log_box.setChecked(on)

    def set_smoothing(self, weight: float) -> None:
        self._smoothing = float(weight)
        self.live.resmooth(self._smoothing)
        for curves, *_ in self._overlays.values():
            curves.resmooth(self._smoothing)
        self._changed_all()

    # --- past runs -----------------------------------------------------------------------------
    @property
    def smoothing(self) -> float:
        return self._smoothing

    def add_overlay(self, name: str, records: Iterable[Record] | RunCurves) -> None:
        """Draw a past run's smoothed loss, eval loss, lr, norm, tokens/s and peak memory
        dashed over the live charts. Pass RunCurves built in a worker for a long run."""
        self.remove_overlay(name)
        curves = records if isinstance(records, RunCurves) else \
            RunCurves.from_records(records, self._smoothing)
        if curves.smoothed_with != self._smoothing:  # the user moved the slider meanwhile
            curves.resmooth(self._smoothing)
        color = OVERLAY_COLOURS[len(self._overlays) % len(OVERLAY_COLOURS)]
        items = {}
        for key in ("loss_smooth", "eval_loss", "lr", "grad_norm", "tokens_per_s", "mem_peak"):
            items[key] = self._overlay_curve(SERIES[key][0], color)
        self._overlays[name] = (curves, items, color)
        self._apply_x_range()
        self.clear_overlays_button.setEnabled(True)
        self._dirty = True
        self.sig_overlays_changed.emit()

    def remove_overlay(self, name: str) -> None:
        entry = self._overlays.pop(name, None)
        if entry is None:
            return
        self._drawn.pop(f"overlay:{name}", None)
        for key, item in entry[1].items():
            self._layers[SERIES[key][0]].remove(item)
            self.plots[SERIES[key][0]].removeItem(item)
        self.clear_overlays_button.setEnabled(bool(self._overlays))
        self._dirty = True
        self.sig_overlays_changed.emit()

    def overlays(self) -> list[str]:
        return list(self._overlays)

    def clear_overlays(self) -> None:
        for name in list(self._overlays):
            self.remove_overlay(name)

    # --- drawing -------------------------------------------------------------------------------
    def _changed_all(self) -> None:
        """Values changed without a change of length (smoothing, clear, a resume)."""
        self._version += 1
        self._dirty = True

    def redraw(self) -> None:
        """Push changed buffers to the curves (the timer calls this at ~10 Hz)."""
        if not self._dirty:
            return
        self._dirty = False
        self.hint.setVisible(not self.points("loss") and not self._overlays)
        for key, curve in self.curves.items():
            s = self.live.series[key]
            if self._drawn.get(key) == (len(s), self._version):
                continue  # unchanged since the last redraw (e.g. GPU series on a CPU run)
            self._drawn[key] = (len(s), self._version)
            curve.setData(s.x, s.y)
            if key == "lr" and len(s):
                self._fit_flat(SERIES[key][0], s.y)
        for name, (curves, items, _) in self._overlays.items():
            if self._drawn.get(f"overlay:{name}") == (0, self._version):
                continue  # a past run does not change
            self._drawn[f"overlay:{name}"] = (0, self._version)
            for key, item in items.items():
                item.setData(*self._overlay_data(curves, key))
        if not self.preference_shown and any(len(self.live.series[k]) for k in SERIES
                                             if SERIES[k][0] in PREFERENCE_CHARTS):
            self._show_preference_charts()
        if not self.grpo_shown and len(self.live.series["completion_length"]):
            row = len(CHARTS) // 2
            self.graphics.ci.addItem(self.plots["completion"], row=row, col=0)
            self.grpo_shown = True
        self._draw_reward_parts()
        self._update_titles()
        n = self.points("loss")
        self.status.setText(self.tr("{n} steps").format(n=f"{n:,}") if n else "")

    def _draw_reward_parts(self) -> None:
        """grpo: each reward's mean on the rewards chart, a curve per name as names appear."""
        for name, series in self.live.reward_parts.items():
            curve = self._part_curves.get(name)
            if curve is None:
                colour = PART_COLOURS[len(self._part_curves) % len(PART_COLOURS)]
                curve = self._curve(self.plots["rewards"], colour, 1)
                self._part_curves[name], self._part_colours[name] = curve, colour
            curve.setData(series.x, series.y)

    def _show_preference_charts(self) -> None:
        row = len(CHARTS) // 2 - 1
        for col, chart in enumerate(PREFERENCE_CHARTS):
            self.graphics.ci.addItem(self.plots[chart], row=row, col=col)
        self.preference_shown = True

    def _fit_flat(self, chart: str, y: np.ndarray) -> None:
        """pyqtgraph pads a flat series by +-0.5, so a constant learning rate of 1e-4 read "0";
        give it +-10% of its value instead (and auto-range back once it moves)."""
        lo, hi = float(y.min()), float(y.max())
        vb = self.plots[chart].vb
        if lo == hi and lo != 0.0:
            vb.setYRange(lo * 0.9, hi * 1.1, padding=0)
        elif not vb.autoRangeEnabled()[1]:
            vb.enableAutoRange(axis="y")

    def _pixel_steps(self, chart: str, x: Optional[np.ndarray] = None) -> float:
        """Steps per pixel column of a chart (0 before it is laid out); with x, the steps of a
        run about to be drawn, once the chart's auto-range has made room for them."""
        vb = self._plots[chart].vb  # built: only built charts signal (see _build_chart)
        (x0, x1), width = vb.viewRange()[0], vb.width()
        if x is not None and len(x) and vb.autoRangeEnabled()[0]:
            x0, x1 = min(x0, x[0]), max(x1, x[-1])
        return (x1 - x0) / width if width > 0 and x1 > x0 else 0.0

    def _overlay_data(self, curves: RunCurves, key: str) -> tuple[np.ndarray, np.ndarray]:
        chart, s = SERIES[key][0], curves.series[key]
        if chart not in self._px:
            self._px[chart] = self._pixel_steps(chart, s.x)
        # Two columns per pixel: with columns one pixel wide, a chart a few percent narrower
        # than when they were made (a zoom, a new title) leaves every n-th pixel column empty
        return peak_decimate(s.x, s.y, self._px[chart] / 2)

    def _check_decimation(self, chart: str) -> None:
        """Decimate a chart's overlays again when its steps per pixel changed a lot (a zoom, a
        resize, a longer run): zoomed in, columns wider than a pixel would look coarse; zoomed
        out, more points than columns cost time. Small pans and zooms keep the decimation."""
        px, old = self._pixel_steps(chart), self._px.get(chart)
        if old is None or not px or (old and old / 1.5 <= px <= old * 2):
            return
        self._px[chart] = px
        for curves, items, _ in self._overlays.values():
            for key, item in items.items():
                if SERIES[key][0] == chart:
                    item.setData(*self._overlay_data(curves, key))

    def _update_titles(self) -> None:
        for chart, title in CHARTS.items():
            parts = [f'<span style="color:#34495e">{html.escape(_t(title))}</span>']
            live = [(name, color) for key, (c, name, color, _) in SERIES.items()
                    if c == chart and len(self.live.series[key])]
            if chart == "rewards":  # grpo: each reward by its own name
                live += [(name, self._part_colours[name]) for name in self._part_curves]
            past = [(name, color) for name, (_, items, color) in self._overlays.items()
                    if any(SERIES[k][0] == chart for k in items)]
            if len(live) > 1 or past:  # a lone live line needs no key
                parts += [f'<span style="color:{color}">&#9473; {html.escape(_t(name))}</span>'
                          for name, color in live]
            parts += [f'<span style="color:{color}">&#9476; {html.escape(name)}</span>'
                      for name, color in past]
            text = "&nbsp;&nbsp;".join(parts)
            if self._titles.get(chart) != text:  # a new title re-lays the chart out
                self._titles[chart] = text
                self.plots[chart].setTitle(text, size="9pt")
