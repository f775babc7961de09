"""Embedding view: where words (or dataset samples) sit in the model's vector space.

Vectors come from the input embedding matrix or one layer's hidden states; PCA places them at
once, UMAP / t-SNE (optional packages) in the background with progress and cancel, the
analogy view along two word pairs (man -> woman, man -> king). Nearest tokens by cosine in the
original space, arithmetic (king - man + woman), and base-vs-tuned drift as arrows.

The scatter is one ScatterPlotItem with one brush object per colour group (pyqtgraph draws
shared brushes from one cached symbol; a brush per point is slow, architecture.md). 3D uses
pyqtgraph's GLViewWidget only where OpenGL works (not off-screen).
"""

from __future__ import annotations

import importlib.util
from typing import Any, Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import UserError
from studio.core.probes.attention import ProbeTarget, target_layers
from studio.core.probes.embed import parse_words
from studio.core.probes.projection import available_methods
from studio.services.probe_worker import NeighbourResult, PointsResult, ProbeService
from studio.ui.empty_hint import EmptyHint

GROUP_COLOURS = ("#1f5fa8", "#e67e22", "#27ae60", "#8e44ad", "#c0392b", "#00838f")
LOSS_BINS = 8
MAX_LABELS = 300  # text labels beyond this many points would hide the points


def opengl_problem() -> str:
    """Why 3D cannot be shown here ("" when it can)."""
    if QGuiApplication.platformName() in ("offscreen", "minimal", "vnc"):
        return QGuiApplication.translate("EmbeddingView", "3D needs a display with OpenGL; "
                                         "this window is drawn off-screen.")
    if importlib.util.find_spec("OpenGL") is None:
        return QGuiApplication.translate("EmbeddingView", "3D needs the PyOpenGL package "
                                         "(pip install 'llm-studio[projection]').")
    return ""


def group_brushes(groups: tuple[str, ...], values: Optional[np.ndarray]
                  ) -> tuple[list, list[tuple[str, Any]]]:
    """Per point a brush chosen from a few shared ones, and the legend [(name, brush)].
    values (e.g. loss) are cut into LOSS_BINS bins of a colour map."""
    if values is not None and len(values):
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        bins = np.clip(((values - lo) / ((hi - lo) or 1) * LOSS_BINS).astype(int), 0,
                       LOSS_BINS - 1)
        cmap = pg.colormap.get("viridis")
        shared = [pg.mkBrush(cmap.map((b + 0.5) / LOSS_BINS, mode="qcolor"))
                  for b in range(LOSS_BINS)]
        legend = [(f"loss {lo:.2f}", shared[0]), (f"loss {hi:.2f}", shared[-1])]
        return [shared[b] for b in bins], legend
    names = list(dict.fromkeys(groups)) if groups else [""]
    shared = {n: pg.mkBrush(GROUP_COLOURS[i % len(GROUP_COLOURS)]) for i, n in enumerate(names)}
    per_point = [shared[g] for g in groups] if groups else shared[""]
    return per_point, [(n, b) for n, b in shared.items() if n]


class ScatterCanvas(pg.PlotWidget):
    """2D points: one ScatterPlotItem, optional labels, optional drift arrows from base."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent, name="embedding_scatter")
        self.setObjectName("embedding_scatter")
        self.setBackground("w")
        # no grid: blended grid lines over the whole plot cost as much to paint as 50k points
        self.points = pg.ScatterPlotItem(size=9, pen=None, hoverable=True)
        self.base_points = pg.ScatterPlotItem(size=7, pen=pg.mkPen("#999"), brush=None)
        self.arrows = pg.PlotCurveItem(pen=pg.mkPen(120, 120, 120, 160, width=1))
        self.addItem(self.arrows)
        self.addItem(self.base_points)
        self.addItem(self.points)
        self.labels: list[pg.TextItem] = []
        self.legend = self.addLegend(offset=(10, 10))
        for side in ("bottom", "left"):  # coordinates have no unit: no "x0.001" prefixes
            self.getAxis(side).enableAutoSIPrefix(False)
        self.hint = EmptyHint(self, self.tr(
            "Pick what to map above (tokens, words or your sentences) and press the button: "
            "each point is one embedding, close points mean similar things to the model."))

    def show_points(self, coords: np.ndarray, labels: tuple[str, ...] = (),
                    groups: tuple[str, ...] = (), values: Optional[np.ndarray] = None,
                    base: Optional[np.ndarray] = None) -> None:
        self.hint.hide()
        brush, legend = group_brushes(groups, values)
        # small symbols for many points: the repaint cost grows with the pixels drawn
        size = 9 if len(coords) <= 2000 else 5
        self.points.setData(pos=coords[:, :2], brush=brush, size=size,
                            data=np.arange(len(coords)))
        for item in self.labels:
            self.removeItem(item)
        self.labels = []
        if labels and len(coords) <= MAX_LABELS:
            for (x, y), text in zip(coords[:, :2], labels):
                item = pg.TextItem(text, color="#222", anchor=(0, 1))
                item.setPos(float(x), float(y))
                self.addItem(item)
                self.labels.append(item)
        if base is not None:  # arrows: base -> tuned, as line pairs in one curve item
            pairs = np.empty((2 * len(coords), 2), dtype=np.float32)
            pairs[0::2], pairs[1::2] = base[:, :2], coords[:, :2]
            self.arrows.setData(pairs[:, 0], pairs[:, 1], connect="pairs")
            self.base_points.setData(pos=base[:, :2])
        else:
            self.arrows.setData([], [])
            self.base_points.setData([])
        self.legend.clear()
        for name, b in legend:
            self.legend.addItem(pg.ScatterPlotItem(brush=b, pen=None, size=9), name)
        self.autoRange(padding=0.12)  # room for the labels right of the points


class EmbeddingView(QWidget):
    def __init__(self, service: ProbeService, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.service = service
        self.target: Optional[ProbeTarget] = None
        self.result: Optional[PointsResult] = None
        self.neighbour_result: Optional[NeighbourResult] = None
        self.gl_view: Any = None
        self._build()
        service.sig_result.connect(self._on_result)
        service.sig_error.connect(self._on_error)
        service.sig_progress.connect(self._on_progress)

    # --- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.src_words = QRadioButton(self.tr("Words"))
        self.src_samples = QRadioButton(self.tr("Dataset samples"))
        self.src_words.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.src_words)
        group.addButton(self.src_samples)
        self.words = QLineEdit("king, queen, man, woman, prince, princess, apple, banana")
        self.words.setObjectName("embedding_words")
        self.words.setToolTip(self.tr("Words separated by commas; a word split into several "
                                      "tokens gets the mean of their vectors"))
        self.dataset = QLineEdit()
        self.dataset.setPlaceholderText(self.tr("dataset file (json, jsonl, csv, parquet, txt)"))
        self.browse = QPushButton(self.tr("Browse…"))
        self.rows = QSpinBox()
        self.rows.setRange(10, 5000)
        self.rows.setValue(300)
        self.colour_by = QComboBox()
        self.colour_by.addItem(self.tr("colour by split"), "split")
        self.colour_by.addItem(self.tr("colour by loss"), "loss")
        self.layer = QComboBox()
        self.method = QComboBox()
        avail = available_methods()
        for key, name in (("pca", self.tr("PCA")), ("umap", self.tr("UMAP")),
                          ("tsne", self.tr("t-SNE")), ("axis", self.tr("Analogy axes"))):
            self.method.addItem(name, key)
            if key in avail and not avail[key]:
                i = self.method.count() - 1
                self.method.model().item(i).setEnabled(False)
                self.method.setItemData(i, self.tr("Not installed: pip install "
                                                   "'llm-studio[projection]'"),
                                        Qt.ItemDataRole.ToolTipRole)
        self.dims = QComboBox()
        self.dims.addItem(self.tr("2D"), 2)
        self.dims.addItem(self.tr("3D"), 3)
        problem = opengl_problem()
        if problem:
            self.dims.model().item(1).setEnabled(False)
            self.dims.setItemData(1, problem, Qt.ItemDataRole.ToolTipRole)
        self.axis_x = (QLineEdit("man"), QLineEdit("woman"))
        self.axis_y = (QLineEdit("man"), QLineEdit("king"))
        self.compare = QCheckBox(self.tr("Drift from base"))
        self.compare.setEnabled(False)
        self.compare.setToolTip(self.tr("Also place each word as the base model sees it, with "
                                        "an arrow to where the tuned model puts it"))
        self.run_button = QPushButton(self.tr("Show"))
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.setVisible(False)
        self.status = QLabel(self.tr("Choose a model and some words."))
        self.status.setObjectName("embedding_status")
        self.status.setWordWrap(True)
        self.note_3d = QLabel(problem)
        self.note_3d.setStyleSheet("color: #777")

        r1 = QHBoxLayout()
        r1.addWidget(self.src_words)
        r1.addWidget(self.words, 3)
        r1.addWidget(self.src_samples)
        r1.addWidget(self.dataset, 2)
        r1.addWidget(self.browse)
        r1.addWidget(self.rows)
        r1.addWidget(self.colour_by)
        r2 = QHBoxLayout()
        r2.addWidget(QLabel(self.tr("Vectors from")))
        r2.addWidget(self.layer)
        r2.addWidget(self.method)
        r2.addWidget(self.dims)
        self.axis_box = QWidget()
        ab = QHBoxLayout(self.axis_box)
        ab.setContentsMargins(0, 0, 0, 0)
        ab.addWidget(QLabel(self.tr("x:")))
        ab.addWidget(self.axis_x[0])
        ab.addWidget(QLabel("→"))
        ab.addWidget(self.axis_x[1])
        ab.addWidget(QLabel(self.tr("y:")))
        ab.addWidget(self.axis_y[0])
        ab.addWidget(QLabel("→"))
        ab.addWidget(self.axis_y[1])
        r2.addWidget(self.axis_box)
        r2.addWidget(self.compare)
        r2.addStretch(1)
        r2.addWidget(self.run_button)
        r3 = QHBoxLayout()
        r3.addWidget(self.status, 1)
        r3.addWidget(self.note_3d)
        r3.addWidget(self.progress)
        r3.addWidget(self.cancel_button)

        self.canvas = ScatterCanvas()
        self.query = QLineEdit("king - man + woman")
        self.query.setObjectName("embedding_query")
        self.query.setToolTip(self.tr("A word, or words joined by + and - "
                                      "(spaces around a minus)"))
        self.find_button = QPushButton(self.tr("Nearest tokens"))
        self.neighbours = QListWidget()
        self.neighbours.setObjectName("embedding_neighbours")
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.addWidget(QLabel(self.tr("Nearest tokens (cosine, input embeddings)")))
        sl.addWidget(self.query)
        sl.addWidget(self.find_button)
        sl.addWidget(self.neighbours, 1)
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(self.canvas)
        self.split.addWidget(side)
        self.split.setSizes([750, 250])
        lay = QVBoxLayout(self)
        lay.addLayout(r1)
        lay.addLayout(r2)
        lay.addLayout(r3)
        lay.addWidget(self.split, 1)

        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(lambda: self.service.cancel("embeddings"))
        self.find_button.clicked.connect(self.find_neighbours)
        self.query.returnPressed.connect(self.find_neighbours)
        self.words.returnPressed.connect(self.run)
        self.browse.clicked.connect(self._browse)
        self.method.currentIndexChanged.connect(self._on_method)
        self.colour_by.currentIndexChanged.connect(lambda _i: self._draw())
        self.canvas.points.sigClicked.connect(self._on_point_clicked)
        self._on_method()

    # --- requests ----------------------------------------------------------------------------
    def set_target(self, target: Optional[ProbeTarget]) -> None:
        self.target = target
        self.compare.setEnabled(bool(target and target.can_compare))
        if not self.compare.isEnabled():
            self.compare.setChecked(False)
        self.layer.clear()
        self.layer.addItem(self.tr("input embeddings"), None)
        if target is None:
            return
        if not target.model.is_dir():  # a hub id: reading its config may download; ask later
            self.layer.addItem(self.tr("last layer"), -1)
            return
        try:
            layers, _ = target_layers(target)
        except UserError as e:
            self.status.setText(e.one_line())
            return
        for k in range(layers + 1):
            name = self.tr("layer {k} (embedding output)") if k == 0 else (
                self.tr("layer {k} (last)") if k == layers else self.tr("layer {k}"))
            self.layer.addItem(name.format(k=k), k)

    def _on_method(self) -> None:
        self.axis_box.setVisible(self.method.currentData() == "axis")

    def run(self) -> None:
        if self.target is None:
            self.status.setText(self.tr("Choose a model first."))
            return
        method, dims = self.method.currentData(), self.dims.currentData()
        layer = self.layer.currentData()
        try:
            if self.src_samples.isChecked():
                if not self.dataset.text().strip():
                    raise UserError(self.tr("Choose a dataset file first."))
                if method == "axis":
                    raise UserError(self.tr("Analogy axes need words, not samples."))
                # samples have no single token: "input embeddings" = the embedding layer's
                # output (hidden_states[0]) averaged over each sample's tokens
                self.service.samples(self.target, self.dataset.text().strip(),
                                     0 if layer is None else layer, method, dims,
                                     self.rows.value())
            else:
                axes = None
                if method == "axis":
                    axes = (self._pair(self.axis_x), self._pair(self.axis_y, optional=True))
                self.service.words(self.target, parse_words(self.words.text()), layer,
                                   "pca" if method == "axis" else method, dims,
                                   self.compare.isChecked(), axes)
        except UserError as e:
            self.status.setText(e.one_line())
            return
        self._busy(True, method in ("umap", "tsne") or self.src_samples.isChecked())
        self.status.setText(self.tr("Computing…"))

    def _pair(self, edits: tuple[QLineEdit, QLineEdit],
              optional: bool = False) -> Optional[tuple[str, str]]:
        a, b = edits[0].text().strip(), edits[1].text().strip()
        if not a and not b and optional:
            return None
        if not a or not b:
            raise UserError(self.tr("An axis needs two words."))
        return a, b

    def find_neighbours(self) -> None:
        if self.target is None:
            self.status.setText(self.tr("Choose a model first."))
            return
        if self.query.text().strip():
            self.neighbours.clear()
            self.neighbours.addItem(self.tr("searching…"))
            self.service.neighbours(self.target, self.query.text())

    def ready(self) -> bool:
        return self.result is not None and self.service.pending == 0

    def _busy(self, busy: bool, show_progress: bool = False) -> None:
        self.progress.setVisible(busy and show_progress)
        self.cancel_button.setVisible(busy and show_progress)
        self.progress.setValue(0)
        self.run_button.setEnabled(not busy)

    # --- results -----------------------------------------------------------------------------
    def _on_progress(self, kind: str, fraction: float, message: str) -> None:
        if kind == "embeddings":
            self.progress.setValue(int(fraction * 100))
            if message:
                self.status.setText(self.tr("Computing… {what}").format(what=message))

    def _on_error(self, kind: str, reason: str, details: str) -> None:
        if kind == "embeddings":
            self._busy(False)
            self.status.setText(reason)
        elif kind == "neighbours":
            self.neighbours.clear()
            self.neighbours.addItem(reason)

    def _on_result(self, kind: str, result: Any) -> None:
        if kind == "neighbours":
            self.neighbour_result = result
            self.neighbours.clear()
            for n in result.neighbours:
                self.neighbours.addItem(f"{n.token}    {n.cosine:.3f}")
            return
        if kind != "embeddings":
            return
        self._busy(False)
        self.result = result
        self._draw()
        n = len(result.labels)
        text = self.tr("{n} points, {method}").format(n=n, method=result.method.upper())
        if result.explained is not None:
            text += self.tr(" (explains {p:.0%} of the variance)").format(
                p=float(result.explained[:2].sum()))
        if result.base_coords is not None:
            moved = np.linalg.norm(result.vectors - result.base_vectors, axis=1)
            text += self.tr("; mean drift from base {d:.3g}").format(d=float(moved.mean()))
        if result.note:
            text += f"; {result.note}"
        self.status.setText(text)

    def _draw(self) -> None:
        r = self.result
        if r is None:
            return
        by_loss = self.colour_by.currentData() == "loss" and r.values is not None
        if r.coords.shape[1] == 3 and not opengl_problem():
            self._draw_3d(r)
            return
        if self.gl_view is not None:
            self.gl_view.setVisible(False)
        self.canvas.setVisible(True)
        self.canvas.show_points(r.coords, r.labels if not r.groups else (),
                                groups=r.groups, values=r.values if by_loss else None,
                                base=r.base_coords)
        self.canvas.setLabel("bottom", r.axis_names[0])
        self.canvas.setLabel("left", r.axis_names[1])

    def _draw_3d(self, r: PointsResult) -> None:
        import pyqtgraph.opengl as gl  # lazy: needs PyOpenGL and a real display

        if self.gl_view is None:
            self.gl_view = gl.GLViewWidget()
            self.gl_view.setObjectName("embedding_3d")
            self.gl_view.setBackgroundColor("w")
            self.gl_view.setCameraPosition(distance=40)
            self.split.insertWidget(0, self.gl_view)
            grid = gl.GLGridItem(color=(0, 0, 0, 40))
            grid.setSize(20, 20)
            self.gl_view.addItem(grid)
            self.gl_scatter = gl.GLScatterPlotItem()
            self.gl_scatter.setGLOptions("translucent")  # white background: no additive glow
            self.gl_view.addItem(self.gl_scatter)
            self.gl_labels: list = []
        self.canvas.setVisible(False)
        self.gl_view.setVisible(True)
        pos = r.coords - r.coords.mean(axis=0)
        pos = pos / (np.abs(pos).max() or 1) * 10   # fit the +-10 cube the camera looks at
        names = list(dict.fromkeys(r.groups)) if r.groups else [""]
        colours = np.array([pg.mkColor(GROUP_COLOURS[i % len(GROUP_COLOURS)]).getRgbF()
                            for i in range(len(names))])
        idx = [names.index(g) for g in r.groups] if r.groups else [0] * len(pos)
        self.gl_scatter.setData(pos=pos, size=8, color=colours[idx])
        for item in self.gl_labels:
            self.gl_view.removeItem(item)
        self.gl_labels = []
        if not r.groups and len(pos) <= MAX_LABELS:
            for p, text in zip(pos, r.labels):
                item = gl.GLTextItem(pos=p, text=text, color=(20, 20, 20, 255))
                self.gl_view.addItem(item)
                self.gl_labels.append(item)

    def _on_point_clicked(self, item: Any, points: Any, ev: Any = None) -> None:
        if self.result is None or not len(points) or self.result.groups:
            return
        i = int(points[0].data())
        self.query.setText(self.result.labels[i])
        self.find_neighbours()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Choose a dataset"))
        if path:
            self.dataset.setText(path)
            self.src_samples.setChecked(True)
