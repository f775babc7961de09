"""The parameter map: every weight-holding module of the model as a block, coloured by what the
chosen method does with it (trains it, freezes it, stores it in 4-bit, or adds weights to it).

One row per decoder layer (attention q/k/v/o, MLP gate/up/down, norms), an input row (the
embeddings, plus the virtual tokens of prompt / P-tuning / prefix tuning) and an output row (the
final norm and the head). A block's width grows with the square root of its parameter count,
on one scale for the whole map, so an MLP projection looks bigger than a norm without the
embedding swallowing the picture. Adapters (LoRA A/B, DoRA magnitudes, IA3 vectors) are drawn as
a band on the module they modify. The canvas paints everything in one paintEvent from a list of
rectangles computed on resize; tooltips are looked up in the same list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

from PySide6.QtCore import QEvent, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QLabel, QScrollArea, QSizePolicy, QToolTip, QVBoxLayout, QWidget

from studio.ui.empty_hint import EmptyHint

COLOURS = {"trainable": QColor("#2e9d5a"), "frozen": QColor("#c5ccd6"),
           "quantized": QColor("#9b7fd0"), "added": QColor("#f0932b")}
TEXT_ON = {"trainable": QColor("white"), "frozen": QColor("#3d4753"),
           "quantized": QColor("white"), "added": QColor("#3d2a00")}
LABEL_W = 78       # row titles on the left
GAP = 3            # between blocks
GROUP_GAP = 12     # between attention, MLP and norms
ROW_H_MAX, ROW_H_MIN, ROW_GAP = 64, 13, 6
MIN_BLOCK_W = 10
SHORT = {"q_proj": "q", "k_proj": "k", "v_proj": "v", "o_proj": "o", "gate_proj": "gate",
         "up_proj": "up", "down_proj": "down", "embed_tokens": "embed", "lm_head": "head",
         "input_layernorm": "norm", "post_attention_layernorm": "norm", "norm": "norm",
         "wte": "embed", "wpe": "pos", "c_attn": "qkv", "c_proj": "proj", "c_fc": "fc"}


def human(n: float) -> str:
    """1234 -> '1.2 K', 7_600_000_000 -> '7.6 B'."""
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)}"


def totals(blocks: list) -> dict[str, int]:
    """Parameter counts by state. trainable includes added weights (they train); frozen and
    quantized are disjoint (a 4-bit weight is frozen); params = trainable + frozen."""
    params = sum(b.params for b in blocks)
    trainable = sum(b.trainable for b in blocks)
    quantized = sum(b.params - b.trainable for b in blocks if b.quantized)
    added = sum(b.params for b in blocks if b.added)
    return {"params": params, "trainable": trainable, "frozen": params - trainable,
            "quantized": quantized, "added": added}


@dataclass
class _Item:
    block: Any
    adapters: list = field(default_factory=list)
    rect: QRectF = field(default_factory=QRectF)

    @property
    def state(self) -> str:
        b = self.block
        if b.added:
            return "added"
        if b.trainable:
            return "trainable"
        return "quantized" if b.quantized else "frozen"

    @property
    def weight(self) -> float:
        return math.sqrt(max(self.block.params, 1))


def _short(name: str) -> str:
    leaf = name.split(".")[-1]
    return SHORT.get(leaf, leaf)


def _group(b: Any) -> int:
    order = {"virtual_tokens": 0, "embedding": 1, "attention": 2, "mlp": 3, "norm": 4,
             "other": 5, "adapter": 5, "head": 6}
    return order.get(b.kind, 5)


class _MapCanvas(QWidget):
    def __init__(self, owner: "ParamMapView"):
        super().__init__()
        self.owner = owner
        self.rows: list[tuple[str, list[_Item]]] = []
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_rows(self, rows: list[tuple[str, list[_Item]]]) -> None:
        self.rows = rows
        self.setMinimumHeight(len(rows) * (ROW_H_MIN + ROW_GAP) + ROW_GAP)
        self._layout()
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(600, max(200, len(self.rows) * (ROW_H_MAX // 2 + ROW_GAP)))

    def resizeEvent(self, event: Any) -> None:
        self._layout()
        super().resizeEvent(event)

    def _layout(self) -> None:
        if not self.rows:
            return
        width = max(200.0, self.width() - LABEL_W - 8)
        row_h = max(ROW_H_MIN, min(ROW_H_MAX, (self.height() - ROW_GAP) / len(self.rows)
                                   - ROW_GAP))
        # one scale for all rows: the widest row (in sqrt-params) fills the width
        def need(items: list[_Item], k: float) -> float:
            gaps = sum(GROUP_GAP if i and _group(items[i - 1].block) != _group(it.block)
                       else GAP for i, it in enumerate(items))
            return sum(max(MIN_BLOCK_W, it.weight * k) for it in items) + gaps
        k = min(width / max(sum(it.weight for it in items), 1.0) for _, items in self.rows
                if items)
        for _ in range(6):  # shrink until min widths and gaps fit too
            widest = max(need(items, k) for _, items in self.rows if items)
            if widest <= width:
                break
            k *= width / widest * 0.98
        y = ROW_GAP
        for _, items in self.rows:
            x = LABEL_W
            for i, it in enumerate(items):
                if i:
                    x += GROUP_GAP if _group(items[i - 1].block) != _group(it.block) else GAP
                w = max(MIN_BLOCK_W, it.weight * k)
                it.rect = QRectF(x, y, w, row_h)
                x += w
            y += row_h + ROW_GAP
        self._row_h = row_h

    def paintEvent(self, event: Any) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("white"))
        font = QFont(self.font())
        font.setPointSizeF(max(6.5, min(9.0, getattr(self, "_row_h", 20) * 0.42)))
        p.setFont(font)
        metrics = QFontMetrics(font)
        for title, items in self.rows:
            if not items:
                continue
            r0 = items[0].rect
            p.setPen(QColor("#44586e"))
            p.drawText(QRectF(2, r0.top(), LABEL_W - 8, r0.height()),
                       int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                       metrics.elidedText(title, Qt.TextElideMode.ElideRight, LABEL_W - 8))
            for it in items:
                self._paint_item(p, it, metrics)
        p.end()

    def _paint_item(self, p: QPainter, it: _Item, metrics: QFontMetrics) -> None:
        r, state = it.rect, it.state
        p.setPen(QPen(COLOURS[state].darker(125), 1))
        p.setBrush(COLOURS[state])
        p.drawRoundedRect(r, 3, 3)
        b = it.block
        if 0 < b.trainable < b.params and not b.added:  # partly trainable: fill the share
            part = QRectF(r.left(), r.top(), r.width() * b.trainable / b.params, r.height())
            p.fillRect(part, COLOURS["trainable"])
        band = QRectF()
        if it.adapters:  # LoRA / IA3 weights sit on this module: an orange band on top
            band = QRectF(r.left() + 1, r.top() + 1, r.width() - 2, max(4.0, r.height() * 0.34))
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(COLOURS["added"])
            p.drawRoundedRect(band, 2, 2)
        label = _short(b.name) + (" ↔" if b.tied_to else "")
        text_rect = r.adjusted(2, band.height(), -2, 0)
        if metrics.horizontalAdvance(label) <= text_rect.width() and text_rect.height() >= \
                metrics.height() * 0.8:
            p.setPen(TEXT_ON[state])
            p.drawText(text_rect, int(Qt.AlignmentFlag.AlignCenter), label)

    def item_at(self, x: float, y: float) -> Optional[_Item]:
        for _, items in self.rows:
            for it in items:
                if it.rect.contains(x, y):
                    return it
        return None

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.ToolTip:
            it = self.item_at(e.position().x(), e.position().y()) if hasattr(e, "position") \
                else self.item_at(e.pos().x(), e.pos().y())
            if it is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(e.globalPos(), self.owner.tooltip(it), self)
            return True
        return super().event(e)


class ParamMapView(QWidget):
    """Caption ("1.2% of 1.1 B parameters train"), legend with counts, and the block map."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.caption = QLabel()
        self.caption.setObjectName("map_caption")
        self.caption.setWordWrap(True)
        self.legend = QLabel()
        self.legend.setObjectName("map_legend")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.canvas = _MapCanvas(self)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.canvas)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.legend)
        layout.addWidget(scroll, 1)
        self.hint = QLabel(self.tr("Each block is one weight matrix; its width grows with its "
                                   "size. An orange band is an adapter the method adds to it. "
                                   "Point at a block for its name and counts."))
        self.hint.setObjectName("map_hint")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color:#6b7785;")
        layout.addWidget(self.hint)
        self.blocks: list = []
        self.counts: dict[str, int] = totals([])
        self.empty = EmptyHint(scroll, self.tr(
            "Choose a model above (a folder, a hub id, or Create a starter model…): every "
            "weight matrix appears here, coloured by what the method trains."))
        self.show_message(self.tr("Choose a model to see which of its weights the method "
                                  "trains."))

    def show_message(self, text: str) -> None:
        self.caption.setText(text)
        self.legend.setText("")

    def clear(self, text: str) -> None:
        self.blocks = []
        self.counts = totals([])
        self.canvas.set_rows([])
        self.empty.show()
        self.show_message(text)

    def set_blocks(self, blocks: list) -> None:
        self.blocks = list(blocks)
        self.counts = totals(self.blocks)
        self.empty.setVisible(not self.blocks)
        self.canvas.set_rows(self._rows(self.blocks))
        c = self.counts
        share = c["trainable"] / c["params"] if c["params"] else 0.0
        pct = f"{share * 100:.2f}%" if share < 0.1 else f"{share * 100:.1f}%"
        self.caption.setText(self.tr("{share} of {total} parameters train ({trainable} of "
                                     "{exact}).").format(
            share=pct, total=human(c["params"]), trainable=f"{c['trainable']:,}",
            exact=f"{c['params']:,}"))
        self.legend.setText(self._legend(c))

    def _legend(self, c: dict[str, int]) -> str:
        entries = [("trainable", self.tr("trainable"), c["trainable"] - c["added"]),
                   ("frozen", self.tr("frozen"), c["frozen"] - c["quantized"]),
                   ("quantized", self.tr("frozen, 4-bit"), c["quantized"]),
                   ("added", self.tr("added by the method (trainable)"), c["added"])]
        parts = [f"<span style='color:{COLOURS[k].name()};font-size:14pt'>■</span> "
                 f"{text}: {human(n)}" for k, text, n in entries if n or k == "frozen"]
        return "&nbsp;&nbsp; ".join(parts)

    def _rows(self, blocks: list) -> list[tuple[str, list[_Item]]]:
        base = {b.name: _Item(b) for b in blocks if not (b.kind == "adapter" and b.attached_to)}
        for b in blocks:
            if b.kind == "adapter" and b.attached_to:
                target = base.get(b.attached_to)
                if target is None:  # an adapter on a module without weights of its own
                    base[b.name] = _Item(b)
                else:
                    target.adapters.append(b)
        layers = sorted({it.block.layer for it in base.values() if it.block.layer is not None})
        top = [it for it in base.values() if it.block.layer is None and
               it.block.kind in ("embedding", "virtual_tokens")]
        bottom = [it for it in base.values() if it.block.layer is None and it not in top]
        rows = [(self.tr("input"), sorted(top, key=lambda it: _group(it.block)))]
        for n in layers:
            items = [it for it in base.values() if it.block.layer == n]
            rows.append((self.tr("layer {n}").format(n=n),
                         sorted(items, key=lambda it: _group(it.block))))
        rows.append((self.tr("output"), sorted(bottom, key=lambda it: _group(it.block))))
        return [r for r in rows if r[1]]

    def tooltip(self, it: _Item) -> str:
        b = it.block
        state = {"trainable": self.tr("trains"), "frozen": self.tr("frozen"),
                 "quantized": self.tr("frozen, stored in 4-bit"),
                 "added": self.tr("added by the method, trains")}[it.state]
        shape = " × ".join(str(d) for d in b.shape)
        lines = [b.name, f"{b.kind} · {shape}" if shape else b.kind,
                 self.tr("{n} parameters: {state}").format(n=f"{b.params:,}", state=state)]
        if 0 < b.trainable < b.params:
            lines.append(self.tr("{n} of them train").format(n=f"{b.trainable:,}"))
        if b.tied_to:
            lines.append(self.tr("shares its weight with {name}").format(name=b.tied_to))
        if b.attached_to and b.kind == "virtual_tokens":
            lines.append(self.tr("feeds {name}").format(name=b.attached_to))
        for a in it.adapters:
            lines.append("+ " + self.tr("{name} ({shape}): {n} trainable").format(
                name=a.name.split(".")[-1], shape=" × ".join(str(d) for d in a.shape),
                n=f"{a.trainable:,}"))
        return "\n".join(lines)
