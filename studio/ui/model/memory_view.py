"""The memory estimate of the planned run: one stacked bar (weights, gradients, optimizer state,
activations, logits, overhead) against the device's memory, the verdict, and what to change
when it does not fit. The numbers come from studio.core.model.memory.estimate_memory."""

from __future__ import annotations

import html
from typing import Any, Optional

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

PARTS = (("weights_mb", "#5b8fc9"), ("gradients_mb", "#e07a6b"), ("optimizer_mb", "#f0b429"),
         ("activations_mb", "#2e9d5a"), ("logits_mb", "#8e6fc1"), ("overhead_mb", "#a3acb9"))


def mb_text(mb: float) -> str:
    return f"{mb / 1024:,.1f} GB" if mb >= 1024 else f"{mb:,.0f} MB"


class _Bar(QWidget):
    """The stacked bar with the device's size marked (painted in one go)."""

    def __init__(self, owner: "MemoryView"):
        super().__init__()
        self.owner = owner
        self.setMinimumHeight(58)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(300, 58)

    def paintEvent(self, event: Any) -> None:
        est = self.owner.estimate
        if est is None:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        device = est.device_total_mb or 0.0
        scale_mb = max(est.total_mb, device) * 1.04 or 1.0
        w = self.width() - 4
        top, h = 16.0, 24.0
        x = 2.0
        for key, colour in PARTS:
            part = float(getattr(est, key, 0.0) or 0.0)
            width = part / scale_mb * w
            if width <= 0:
                continue
            p.fillRect(QRectF(x, top, width, h), QColor(colour))
            x += width
        p.setPen(QPen(QColor("#6b7785"), 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(QRectF(2, top, est.total_mb / scale_mb * w, h))
        if device:
            dx = 2 + device / scale_mb * w
            colour = QColor("#1e8449") if est.fits else QColor("#b03a2e")
            p.setPen(QPen(colour, 2, Qt.PenStyle.DashLine))
            p.drawLine(int(dx), 4, int(dx), int(top + h + 10))
            label = self.owner.device_label()
            metrics = QFontMetrics(self.font())
            tw = metrics.horizontalAdvance(label)
            p.setPen(colour)
            # beside the marker, never across it: right of it when there is room
            x = dx + 5 if dx + 5 + tw <= w else max(2.0, dx - tw - 5)
            p.drawText(QRectF(x, 0, tw + 2, 14), int(Qt.AlignmentFlag.AlignLeft), label)
        p.end()


class MemoryView(QWidget):
    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.estimate: Any = None
        self.device: Any = None
        self.verdict = QLabel()
        self.verdict.setObjectName("memory_verdict")
        self.verdict.setWordWrap(True)
        self.verdict.setTextFormat(Qt.TextFormat.RichText)
        self.bar = _Bar(self)
        self.parts = QLabel()
        self.parts.setObjectName("memory_parts")
        self.parts.setTextFormat(Qt.TextFormat.RichText)
        self.parts.setWordWrap(True)
        self.suggestions = QLabel()
        self.suggestions.setObjectName("memory_suggestions")
        self.suggestions.setWordWrap(True)
        self.suggestions.setTextFormat(Qt.TextFormat.RichText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.verdict)
        layout.addWidget(self.bar)
        layout.addWidget(self.parts)
        layout.addWidget(self.suggestions)
        layout.addStretch(1)
        self.show_message(self.tr("The estimate appears once a model is chosen."))

    def show_message(self, text: str) -> None:
        self.estimate = None
        self.verdict.setText(text)
        self.parts.setText("")
        self.suggestions.setText("")
        self.bar.update()

    def set_device(self, info: Any) -> None:
        self.device = info
        self.bar.update()

    def device_label(self) -> str:
        est = self.estimate
        size = mb_text(est.device_total_mb or 0.0)
        if est.device_kind == "cuda":
            return self.tr("GPU {size}").format(size=size)
        return self.tr("RAM {size}").format(size=size)

    def set_estimate(self, est: Any) -> None:
        self.estimate = est
        where = (getattr(self.device, "name", "") or
                 (self.tr("the GPU") if est.device_kind == "cuda" else self.tr("this computer")))
        if est.fits is None:
            text = self.tr("<b>About {total}</b> at the peak of training; the device's memory "
                           "is unknown.").format(total=mb_text(est.total_mb))
        elif est.fits:
            text = self.tr("<b style='color:#1e8449'>Fits</b>: about {total} of {device} on "
                           "{where}.").format(total=mb_text(est.total_mb),
                                              device=mb_text(est.device_total_mb), where=where)
        else:
            text = self.tr("<b style='color:#b03a2e'>Does not fit</b>: about {total}, but "
                           "{where} has {device}.").format(
                total=mb_text(est.total_mb), device=mb_text(est.device_total_mb), where=where)
        extra = [self.tr("precision {p}").format(p=est.precision)]
        if est.checkpointing:
            extra.append(self.tr("with gradient checkpointing"))
        self.verdict.setText(text + " <span style='color:#6b7785'>(" + ", ".join(extra) +
                             ")</span>")
        names = {"weights_mb": self.tr("weights"), "gradients_mb": self.tr("gradients"),
                 "optimizer_mb": self.tr("optimizer state"),
                 "activations_mb": self.tr("activations"), "logits_mb": self.tr("logits"),
                 "overhead_mb": self.tr("overhead")}
        rows = [f"<tr><td><span style='color:{colour};font-size:13pt'>■</span> {names[key]}"
                f"</td><td align='right'>&nbsp;&nbsp;{mb_text(getattr(est, key, 0.0) or 0.0)}"
                f"</td></tr>" for key, colour in PARTS]
        self.parts.setText("<table>" + "".join(rows) + "</table>")
        if est.suggestions:
            items = "".join(f"<li>{html.escape(str(s))}</li>" for s in est.suggestions)
            self.suggestions.setText(self.tr("<b>To make it fit:</b>") + f"<ul>{items}</ul>")
        else:
            self.suggestions.setText("")
        self.bar.update()
