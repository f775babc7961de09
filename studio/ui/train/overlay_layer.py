"""The past-run curves of one chart, painted from one cached image.

Past runs do not change, yet every 10 Hz tick of the live run repaints the whole chart, and
Qt would stroke every overlaid curve again: 50 runs x 6 dashed curves cost ~50 ms per repaint
even decimated to the pixel columns. The layer draws them once into an image kept until the
view moves, is resized, or an overlay's data changes, and blits that image on other repaints.

The curves stay ordinary pyqtgraph items in the chart (the log-scale switch still maps their
data); they are flagged as painting nothing and added with ignoreBounds: the layer gives the
chart's auto-range their joint bounds, computed once, instead of 50 x 6 items asked at each tick.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter, QTransform
from PySide6.QtWidgets import QGraphicsItem

_NO_CONTENTS = QGraphicsItem.GraphicsItemFlag.ItemHasNoContents


class OverlayLayer(pg.GraphicsObject):
    """Add it to a chart's ViewBox, then add() the overlay curves (added to the chart with
    ignoreBounds=True)."""

    def __init__(self) -> None:
        super().__init__()
        self._curves: list[pg.PlotCurveItem] = []
        self._image: Optional[QImage] = None
        self._key: Any = None
        self._xspan: Optional[tuple[float, float]] = None  # the curves' bounds, kept until
        self._yspan: Optional[tuple[Any, Any]] = None  # their data change: (x window, y span)
        self.renders = 0  # how many times the image was drawn anew (tests)

    def add(self, item: pg.PlotDataItem) -> None:
        curve = item.curve
        curve.setFlag(_NO_CONTENTS, self._exportOpts is False)
        curve.sigPlotChanged.connect(self.invalidate)
        self._curves.append(curve)
        self.invalidate()

    def remove(self, item: pg.PlotDataItem) -> None:
        if item.curve in self._curves:
            self._curves.remove(item.curve)
            item.curve.sigPlotChanged.disconnect(self.invalidate)
            item.curve.setFlag(_NO_CONTENTS, False)
            self.invalidate()

    def invalidate(self, *_: Any) -> None:
        self._key = None
        self._xspan = self._yspan = None
        self.informViewBoundsChanged()  # the chart's auto-range asks dataBounds() again
        self.update()

    def _visible(self) -> list[pg.PlotCurveItem]:
        return [c for c in self._curves
                if c.isVisible() and c.xData is not None and len(c.xData)]

    def dataBounds(self, ax: int, frac: float = 1.0,
                   orthoRange: Any = None) -> Optional[tuple[float, float]]:
        if frac != 1.0 or orthoRange is not None:  # "visible data only" from the chart's menu
            return _union(c.dataBounds(ax, frac, orthoRange) for c in self._visible())
        if ax == 0:
            if self._xspan is None:
                self._xspan = _union(_span(c.xData) for c in self._visible())
            return self._xspan
        window = self._x_window()
        if self._yspan is None or self._yspan[0] != window:
            self._yspan = (window, _union(_span(_within(c.xData, c.yData, window))
                                          for c in self._visible()))
        return self._yspan[1]

    def _x_window(self) -> Optional[tuple[float, float]]:
        """The chart's step range when it is fixed (zoomed, or set to the run's length)."""
        vb = self.getViewBox()
        if vb is None or vb.autoRangeEnabled()[0]:
            return None
        x0, x1 = vb.viewRange()[0]
        return (x0, x1)

    def viewRangeChanged(self) -> None:
        """The y auto-range fits the overlays' part in view, as clip-to-view makes it do for the
        live curves: zoomed in on a few hundred steps, their wiggles fill the chart's height."""
        if self._yspan is not None and self._yspan[0] != self._x_window():
            old = self._yspan[1]
            if self.dataBounds(1) != old:
                self.informViewBoundsChanged()

    def pixelPadding(self) -> float:
        return max((c.pixelPadding() for c in self._curves), default=0.0)

    def setExportMode(self, export: bool, opts: Any = None) -> None:
        """pyqtgraph's exporters draw each curve itself (vectors in an SVG): let them."""
        for curve in self._curves:
            curve.setFlag(_NO_CONTENTS, not export)
        super().setExportMode(export, opts)

    def viewTransformChanged(self) -> None:
        super().viewTransformChanged()
        self.prepareGeometryChange()  # the layer covers the visible part of the chart

    def boundingRect(self) -> QRectF:
        rect = self.viewRect()
        return QRectF() if rect is None else QRectF(rect)

    def paint(self, p: QPainter, *_: Any) -> None:
        if self._exportOpts is not False or not self._curves:
            return
        tr = p.transform()
        dev = tr.mapRect(self.boundingRect()).toAlignedRect()
        if dev.isEmpty():
            return
        dpr = p.device().devicePixelRatioF()
        key = (tr.m11(), tr.m12(), tr.m21(), tr.m22(), tr.dx(), tr.dy(), dev.getRect(), dpr)
        if key != self._key:
            self._render(tr, dev, dpr)
            self._key = key
        p.save()
        p.resetTransform()
        p.drawImage(dev.topLeft(), self._image)
        p.restore()

    def _render(self, tr: QTransform, dev: Any, dpr: float) -> None:
        image = QImage(dev.size() * dpr, QImage.Format.Format_ARGB32_Premultiplied)
        image.setDevicePixelRatio(dpr)
        image.fill(Qt.GlobalColor.transparent)
        to_image = tr * QTransform.fromTranslate(-dev.x(), -dev.y())
        q = QPainter(image)
        # A clip the size of the image halves Qt's cost of stroking these paths (measured,
        # Qt 6 raster engine: without one it takes a slower way for cosmetic pens).
        q.setClipRect(0, 0, dev.width(), dev.height())
        for curve in self._curves:
            if not curve.isVisible() or curve.xData is None or len(curve.xData) < 2:
                continue
            q.setTransform(curve.itemTransform(self)[0] * to_image)
            q.setRenderHint(QPainter.RenderHint.Antialiasing, bool(curve.opts["antialias"]))
            q.setPen(curve.opts["pen"])
            q.drawPath(curve.getPath())
        q.end()
        self._image = image
        self.renders += 1


def _span(values: np.ndarray) -> Optional[tuple[float, float]]:
    finite = values[np.isfinite(values)]
    return (float(finite.min()), float(finite.max())) if len(finite) else None


def _union(spans: Any) -> Optional[tuple[float, float]]:
    spans = [s for s in spans if s is not None and s[0] is not None and s[1] is not None]
    if not spans:
        return None
    return min(s[0] for s in spans), max(s[1] for s in spans)


def _within(x: np.ndarray, y: np.ndarray, window: Optional[tuple[float, float]]) -> np.ndarray:
    """y of the points in the x window, and one beyond each side (the line to the edge)."""
    if window is None:
        return y
    i0 = max(int(np.searchsorted(x, window[0])) - 1, 0)
    return y[i0:int(np.searchsorted(x, window[1], side="right")) + 1]
