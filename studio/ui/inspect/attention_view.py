"""Attention view: every layer x head as one mosaic image, one head (or the mean / max over
heads) as a heatmap with token labels, per-layer entropy, lines from one token to the tokens
it attends to, and base-vs-tuned differences in diverging colours.

All computing happens in the ProbeService's worker; this widget only draws the arrays it gets.
Decoders show the causal triangle (nothing above the diagonal), encoders full squares.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.probes.attention import MAX_TOKENS, ProbeTarget, attention_mosaic, head_summary
from studio.services.probe_worker import AttentionResult, ProbeService
from studio.ui.empty_hint import EmptyHint

ATTENTION_MAP = pg.colormap.get("inferno")
DIFF_MAP = pg.colormap.get("CET-D1")  # blue - white - red: less / same / more attention
MOSAIC_TILE = 64
LINES_ALL = 48    # up to this many tokens, the token-lines view lists them all


def _image_plot(name: str) -> tuple[pg.PlotWidget, pg.ImageItem]:
    w = pg.PlotWidget(name=name)
    w.setObjectName(name)
    w.setBackground("w")
    img = pg.ImageItem(axisOrder="row-major")
    w.addItem(img)
    w.invertY(True)               # row 0 (first token / layer 0) at the top, like a matrix
    w.setAspectLocked(True)
    w.hideButtons()
    w.getPlotItem().setMenuEnabled(False)
    return w, img


def _colour(img: pg.ImageItem, data: np.ndarray, diverging: bool) -> None:
    if diverging:
        m = float(np.nanmax(np.abs(data))) if np.isfinite(data).any() else 1.0
        img.setImage(data, levels=(-(m or 1.0), m or 1.0))
        img.setColorMap(DIFF_MAP)
    else:
        top = float(np.nanmax(data)) if np.isfinite(data).any() else 1.0
        img.setImage(data, levels=(0.0, top or 1.0))
        img.setColorMap(ATTENTION_MAP)


def _ticks(labels: list[str], room_px: float, px_per_label: float) -> list:
    """Label every k-th token so the labels do not overlap."""
    n = len(labels)
    k = max(1, int(np.ceil(n / max(room_px / px_per_label, 1))))
    return [[(i + 0.5, labels[i]) for i in range(0, n, k)]]


def _over_heads(layer_att: np.ndarray, mode: str, signed: bool) -> np.ndarray:
    """(heads, T, T) -> (T, T): mean, or max (for a signed difference: the entry of largest
    magnitude, sign kept)."""
    if not signed or mode == "mean":
        return head_summary(layer_att[None], mode)[0]
    pick = np.abs(layer_att).argmax(axis=0)[None]
    return np.take_along_axis(layer_att, pick, axis=0)[0]


class TokenLines(QWidget):
    """Lines from one token (left) to the tokens it attends to (right), thicker and darker
    for more weight; or, reversed, from the tokens that attend to it."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setObjectName("token_lines")
        self.setMinimumHeight(160)
        self.tokens: list[str] = []
        self.weights = np.zeros(0)
        self.index = 0
        self.direction = "from"

    def set_data(self, tokens: list[str], weights: np.ndarray, index: int,
                 direction: str) -> None:
        self.tokens, self.weights, self.index, self.direction = tokens, weights, index, direction
        self.update()

    def shown(self) -> list[int]:
        """Which tokens the right column lists: all, or the most-weighted ones in order."""
        n = len(self.tokens)
        if n <= LINES_ALL:
            return list(range(n))
        return sorted(np.argsort(-self.weights)[:LINES_ALL // 2].tolist())

    def paintEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("white"))
        if not self.tokens:
            p.setPen(QColor("#888"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                       self.tr("Click a row of the heatmap to pick a token"))
            return
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        right = self.shown()
        font = QFont(self.font())
        font.setPointSizeF(max(6.0, min(10.0, (self.height() - 20) / max(len(right), 1) * 0.6)))
        p.setFont(font)
        h = self.height() - 20
        step = h / max(len(right), 1)
        x0, x1 = self.width() * 0.28, self.width() * 0.72
        y_left = 10 + h / 2
        top = float(self.weights.max()) or 1.0
        for row, j in enumerate(right):
            y = 10 + step * (row + 0.5)
            w = float(self.weights[j]) / top
            pen = QPen(QColor(31, 95, 168, int(25 + 230 * w)))
            pen.setWidthF(0.5 + 5 * w)
            p.setPen(pen)
            a, b = (QPointF(x0, y_left), QPointF(x1, y)) if self.direction == "from" \
                else (QPointF(x1, y), QPointF(x0, y_left))
            p.drawLine(a, b)
            p.setPen(QColor("#000") if w > 0.2 else QColor("#777"))
            p.drawText(QRectF(x1 + 6, y - step / 2, self.width() - x1 - 6, step),
                       Qt.AlignmentFlag.AlignVCenter, f"{self.tokens[j]}  {self.weights[j]:.2f}")
        p.setPen(QColor("#c0392b"))
        p.drawText(QRectF(0, y_left - 12, x0 - 6, 24),
                   Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                   self.tokens[self.index])
        p.end()


class AttentionView(QWidget):
    sig_head = Signal(int, int)  # layer, head shown in the heatmap

    def __init__(self, service: ProbeService, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.service = service
        self.target: Optional[ProbeTarget] = None
        self.result: Optional[AttentionResult] = None
        self.layer, self.head = 0, 0
        self.token = 0
        self._build()
        service.sig_result.connect(self._on_result)
        service.sig_error.connect(self._on_error)

    # --- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.text = QPlainTextEdit()
        self.text.setObjectName("attention_text")
        self.text.setPlaceholderText(self.tr("Type a sentence to see where each token looks"))
        self.text.setMaximumHeight(64)
        self.run_button = QPushButton(self.tr("Show attention"))
        self.compare = QCheckBox(self.tr("Compare with base"))
        self.compare.setEnabled(False)
        self.compare.setToolTip(self.tr("Run the same text through the base model too and "
                                        "show what tuning changed"))
        self.heads_mode = QComboBox()
        self.heads_mode.addItem(self.tr("One head"), "head")
        self.heads_mode.addItem(self.tr("Mean over heads"), "mean")
        self.heads_mode.addItem(self.tr("Max over heads"), "max")
        self.map_mode = QComboBox()
        self.map_mode.addItem(self.tr("Tuned"), "tuned")
        self.map_mode.addItem(self.tr("Base"), "base")
        self.map_mode.addItem(self.tr("Difference (tuned - base)"), "diff")
        self.map_mode.setEnabled(False)
        self.layer_spin, self.head_spin = QSpinBox(), QSpinBox()
        self.direction = QComboBox()
        self.direction.addItem(self.tr("attends to"), "from")
        self.direction.addItem(self.tr("is attended by"), "to")
        self.token_spin = QSpinBox()
        top = QHBoxLayout()
        top.addWidget(self.text, 1)
        col = QVBoxLayout()
        col.addWidget(self.run_button)
        col.addWidget(self.compare)
        top.addLayout(col)
        opts = QHBoxLayout()
        for label, w in ((self.tr("Layer"), self.layer_spin), (self.tr("Head"), self.head_spin),
                         ("", self.heads_mode), (self.tr("Map"), self.map_mode)):
            if label:
                opts.addWidget(QLabel(label))
            opts.addWidget(w)
        opts.addStretch(1)
        self.status = QLabel(self.tr("Choose a model and type a text."))
        self.status.setObjectName("attention_status")
        self.status.setWordWrap(True)

        self.mosaic, self.mosaic_img = _image_plot("attention_mosaic")
        self.mosaic.setToolTip(self.tr("Every layer (rows) and head (columns); each tile scaled "
                                       "to its own maximum. Click a tile to open that head."))
        self.select_rect = QGraphicsRectItem()
        self.select_rect.setPen(pg.mkPen("#00c853", width=3))
        self.mosaic.addItem(self.select_rect)
        self.mosaic.scene().sigMouseClicked.connect(self._on_mosaic_click)
        self.heatmap, self.heat_img = _image_plot("attention_heatmap")
        self.heatmap.scene().sigMouseClicked.connect(self._on_heat_click)
        self.heatmap.getPlotItem().vb.sigResized.connect(self._label_tokens)
        self.entropy = pg.PlotWidget(name="attention_entropy")
        self.entropy.setObjectName("attention_entropy")
        self.entropy.setBackground("w")
        self.entropy.setLabel("bottom", self.tr("layer"))
        self.entropy.setLabel("left", self.tr("entropy (bits)"))
        self.lines = TokenLines()
        lines_box = QWidget()
        lb = QVBoxLayout(lines_box)
        row = QHBoxLayout()
        row.addWidget(QLabel(self.tr("Token")))
        row.addWidget(self.token_spin)
        row.addWidget(self.direction)
        row.addStretch(1)
        lb.addLayout(row)
        lb.addWidget(self.lines, 1)
        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.addTab(self.entropy, self.tr("Entropy per layer"))
        self.bottom_tabs.addTab(lines_box, self.tr("Token lines"))
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.heatmap)
        right.addWidget(self.bottom_tabs)
        right.setSizes([500, 250])
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.mosaic)
        split.addWidget(right)
        split.setSizes([450, 550])
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(opts)
        lay.addWidget(self.status)
        lay.addWidget(split, 1)
        self.hints = [EmptyHint(self.mosaic, self.tr(
                          "Type a sentence above and press Show attention: every layer and "
                          "head of the model appears here; click one to open it.")),
                      EmptyHint(self.heatmap, self.tr(
                          "The chosen head: row = the token that looks, column = the token "
                          "it looks at; brighter = more attention.")),
                      EmptyHint(self.entropy, self.tr(
                          "How spread out each layer's attention is, once a text is shown."))]

        self.run_button.clicked.connect(self.run)
        self.heads_mode.currentIndexChanged.connect(self._redraw)
        self.map_mode.currentIndexChanged.connect(self._redraw)
        self.layer_spin.valueChanged.connect(lambda v: self.show_head(v, self.head))
        self.head_spin.valueChanged.connect(lambda v: self.show_head(self.layer, v))
        self.token_spin.valueChanged.connect(self.show_token)
        self.direction.currentIndexChanged.connect(lambda _i: self.show_token(self.token))

    # --- requests ----------------------------------------------------------------------------
    def set_target(self, target: Optional[ProbeTarget]) -> None:
        self.target = target
        self.compare.setEnabled(bool(target and target.can_compare))
        if not self.compare.isEnabled():
            self.compare.setChecked(False)

    def run(self) -> None:
        if self.target is None:
            self.status.setText(self.tr("Choose a model first."))
            return
        text = self.text.toPlainText()
        if not text.strip():
            self.status.setText(self.tr("Type some text first."))
            return
        self.status.setText(self.tr("Computing attention with {model}…").format(
            model=self.target.label))
        self.service.attention(self.target, text, compare=self.compare.isChecked())

    def ready(self) -> bool:
        """A result is on screen and nothing is waiting (tests, the tour)."""
        return self.result is not None and self.service.pending == 0

    def _on_result(self, kind: str, result: Any) -> None:
        if kind != "attention":
            return
        self.result = result
        for hint in self.hints:
            hint.hide()
        layers, heads, t = result.maps.shape
        for spin, n in ((self.layer_spin, layers), (self.head_spin, heads),
                        (self.token_spin, t)):
            spin.blockSignals(True)
            spin.setRange(0, n - 1)
            spin.blockSignals(False)
        self.layer, self.head = min(self.layer, layers - 1), min(self.head, heads - 1)
        self.token = min(self.token, t - 1)
        self.map_mode.setEnabled(result.base is not None)
        if result.base is None:
            self.map_mode.setCurrentIndex(0)
        kind_text = self.tr("causal: each token sees only earlier ones") if result.maps.is_causal \
            else self.tr("bidirectional: each token sees every token")
        msg = self.tr("{model}: {layers} layers x {heads} heads, {t} tokens ({kind}).").format(
            model=result.maps.model, layers=layers, heads=heads, t=t, kind=kind_text)
        if result.maps.truncated:
            msg += " " + self.tr("The text was cut to its first {n} tokens.").format(n=MAX_TOKENS)
        self.status.setText(msg)
        self._draw_mosaic()
        self._draw_entropy()
        self._redraw()

    def _on_error(self, kind: str, reason: str, details: str) -> None:
        if kind == "attention":
            self.status.setText(self.tr("Could not capture attention: {reason}").format(
                reason=reason))

    # --- drawing -----------------------------------------------------------------------------
    def _maps(self) -> tuple[np.ndarray, bool]:
        """(layers, heads, T, T) to show and whether it is a signed difference."""
        r = self.result
        mode = self.map_mode.currentData() if r.base is not None else "tuned"
        if mode == "diff":
            return r.diff, True
        if mode == "base":
            return r.base.attention, False
        return r.maps.attention, False

    def _draw_mosaic(self) -> None:
        att, diverging = self._maps()
        img, tile = attention_mosaic(att, MOSAIC_TILE, per_tile=not diverging)
        _colour(self.mosaic_img, img, diverging)
        self._tile = tile
        layers, heads = att.shape[:2]
        step = tile + 2
        ax = self.mosaic.getPlotItem()
        ax.getAxis("left").setTicks([[(i * step + tile / 2, f"L{i}") for i in range(layers)]])
        ax.getAxis("bottom").setTicks([[(j * step + tile / 2, f"H{j}") for j in range(heads)]])
        self.mosaic.setTitle(self.tr("All heads (layers x heads)"))
        self.mosaic.autoRange()
        self._place_selection()

    def _place_selection(self) -> None:
        step = self._tile + 2
        self.select_rect.setRect(QRectF(self.head * step - 1, self.layer * step - 1,
                                        self._tile + 2, self._tile + 2))
        self.select_rect.setVisible(self.heads_mode.currentData() == "head")

    def _draw_entropy(self) -> None:
        r = self.result
        self.entropy.clear()
        ent = r.entropy
        layers = np.arange(ent.shape[0])
        xs = np.repeat(layers, ent.shape[1]).astype(float)
        self.entropy.addItem(pg.ScatterPlotItem(xs, ent.ravel(), size=5,
                                                brush=pg.mkBrush(31, 95, 168, 90), pen=None))
        self.entropy.plot(layers, ent.mean(axis=1), pen=pg.mkPen("#1f5fa8", width=2),
                          symbol="o", name=self.tr("mean"))
        if r.base is not None:
            from studio.core.probes.attention import attention_entropy

            self.entropy.plot(layers, attention_entropy(r.base.attention).mean(axis=1),
                              pen=pg.mkPen("#888", width=2, style=Qt.PenStyle.DashLine))

    def _redraw(self) -> None:
        if self.result is None:
            return
        att, diverging = self._maps()
        mode = self.heads_mode.currentData()
        if mode == "head":
            m = att[self.layer, self.head]
            title = self.tr("Layer {layer}, head {head}").format(layer=self.layer,
                                                                 head=self.head)
        else:
            m = _over_heads(att[self.layer], mode, diverging)
            title = (self.tr("Layer {layer}, mean over heads") if mode == "mean" else
                     self.tr("Layer {layer}, max over heads")).format(layer=self.layer)
        _colour(self.heat_img, m, diverging)
        self._label_tokens()
        self.heatmap.setTitle(title)
        self.heatmap.autoRange()
        if hasattr(self, "_tile"):
            self._draw_mosaic_if_mode_changed(diverging)
        self.show_token(self.token)

    def _label_tokens(self) -> None:
        """Token labels on both axes, as many as fit. The map is square (aspect locked): both
        axes get the plot's shorter side, not the widget's width (labels under a map narrower
        than its plot overlapped); again whenever the plot is resized."""
        if self.result is None:
            return
        labels = list(self.result.maps.tokens)
        ax = self.heatmap.getPlotItem()
        side = min(ax.vb.width(), ax.vb.height())
        ax.getAxis("left").setTicks(_ticks(labels, side, 14))
        ax.getAxis("bottom").setTicks(_ticks(labels, side, 45))

    def _draw_mosaic_if_mode_changed(self, diverging: bool) -> None:
        key = (self.map_mode.currentData(), id(self.result))
        if getattr(self, "_mosaic_key", None) != key:
            self._mosaic_key = key
            self._draw_mosaic()
        else:
            self._place_selection()

    def show_head(self, layer: int, head: int) -> None:
        """Open one head in the heatmap (from the spins or a click on the mosaic)."""
        self.layer, self.head = layer, head
        for spin, v in ((self.layer_spin, layer), (self.head_spin, head)):
            spin.blockSignals(True)
            spin.setValue(v)
            spin.blockSignals(False)
        if self.heads_mode.currentData() != "head":
            self.heads_mode.setCurrentIndex(0)  # redraws
        else:
            self._redraw()
        self.sig_head.emit(layer, head)

    def show_token(self, index: int) -> None:
        if self.result is None:
            return
        self.token = index
        att, diverging = self._maps()
        mode = self.heads_mode.currentData()
        m = att[self.layer, self.head] if mode == "head" else \
            _over_heads(att[self.layer], mode, diverging)
        w = m[index] if self.direction.currentData() == "from" else m[:, index]
        self.lines.set_data(list(self.result.maps.tokens), np.abs(w), index,
                            self.direction.currentData())

    def _on_mosaic_click(self, ev: Any) -> None:
        if self.result is None or not hasattr(self, "_tile"):
            return
        pos = self.mosaic.getPlotItem().vb.mapSceneToView(ev.scenePos())
        step = self._tile + 2
        layer, head = int(pos.y() // step), int(pos.x() // step)
        layers, heads, _ = self.result.maps.shape
        inside = pos.x() % step < self._tile and pos.y() % step < self._tile
        if 0 <= layer < layers and 0 <= head < heads and inside and pos.x() >= 0 \
                and pos.y() >= 0:
            self.show_head(layer, head)

    def _on_heat_click(self, ev: Any) -> None:
        if self.result is None:
            return
        pos = self.heatmap.getPlotItem().vb.mapSceneToView(ev.scenePos())
        row = int(pos.y())
        if 0 <= row < self.result.maps.shape[2] and pos.y() >= 0:
            self.token_spin.setValue(row)  # -> show_token
            self.bottom_tabs.setCurrentIndex(1)
