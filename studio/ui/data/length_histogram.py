"""Token lengths of the rows as a histogram against max_length: bars past the limit in red, a
vertical line at max_length, and the sentence that matters ("N rows will be truncated")."""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from studio.ui.prewarm import gui_import_pending

BINS = 48
KEPT = "#5b8fc9"
CUT = "#e07a6b"


def _n(value: int) -> str:
    return f"{value:,}"


class LengthHistogram(QWidget):
    sig_row_clicked = Signal(int)  # a row number in the caption ("longest: row 17") was clicked

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.plot: Any = None  # built on first show or data: pyqtgraph takes ~0.5 s to import
        self.caption = QLabel()
        self.caption.setObjectName("length_caption")
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.caption.linkActivated.connect(self._link)
        self.stats = QLabel()
        self.stats.setObjectName("length_stats")
        self.stats.setWordWrap(True)
        self.stats.setTextFormat(Qt.TextFormat.RichText)
        self.stats.linkActivated.connect(self._link)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(self.caption)
        self._layout.addStretch(1)
        self._layout.addWidget(self.stats)
        self.sample: Any = None
        self.max_length = 512
        self.truncated = 0  # rows (whole file, estimated when sampled) longer than max_length
        self.show_message(self.tr("Token lengths appear here once a dataset and a model are "
                                  "chosen."))

    def _ensure_plot(self) -> bool:
        """Build the chart; False (and a retry soon) while pyqtgraph is being imported in a
        worker (engine_import.prewarm_gui): importing it here would wait for that."""
        if self.plot is not None:
            return True
        if gui_import_pending():
            QTimer.singleShot(100, self._retry)
            return False
        import pyqtgraph as pg  # lazy: not on the start-up path of the window

        self.plot = pg.PlotWidget()
        self.plot.setObjectName("length_plot")
        self.plot.setBackground("w")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setLabel("bottom", self.tr("tokens per row"))
        self.plot.setLabel("left", self.tr("rows"))
        self.plot.setMinimumHeight(150)
        self._kept = pg.BarGraphItem(x0=[], x1=[], height=[], brush=KEPT, pen=None)
        self._cut = pg.BarGraphItem(x0=[], x1=[], height=[], brush=CUT, pen=None)
        self.plot.addItem(self._kept)
        self.plot.addItem(self._cut)
        self._line = pg.InfiniteLine(angle=90, movable=False,
                                     pen=pg.mkPen("#b03a2e", width=2, style=Qt.PenStyle.DashLine),
                                     label="max_length", labelOpts={
                                         "position": 0.92, "color": "#b03a2e", "fill": "#ffffffcc"})
        self.plot.addItem(self._line)
        self._layout.removeItem(self._layout.itemAt(1))  # the stretch holding its place
        self._layout.insertWidget(1, self.plot, 1)
        return True

    def _retry(self) -> None:
        if self.sample is not None:
            self.set_sample(self.sample)
        elif self.isVisible():
            self._ensure_plot()

    def showEvent(self, event: Any) -> None:
        self._ensure_plot()
        super().showEvent(event)

    def show_message(self, text: str) -> None:
        self.sample = None
        self.truncated = 0
        if self.plot is not None:
            self._kept.setOpts(x0=[], x1=[], height=[])
            self._cut.setOpts(x0=[], x1=[], height=[])
        self.caption.setText(text)
        self.stats.setText("")

    def set_max_length(self, max_length: int) -> None:
        self.max_length = int(max_length)
        if self.sample is not None:
            self.set_sample(self.sample)

    def set_sample(self, sample: Any) -> None:
        """Draw a LengthSample (studio.core.data.view), partial or done."""
        self.sample = sample
        import numpy as np  # lazy: not on the start-up path (the lengths arrive as arrays)

        lengths = sample.lengths
        if lengths is None or not lengths.size:
            self.show_message(self.tr("Measuring token lengths…") if not sample.done else
                              self.tr("No row could be tokenized."))
            self.sample = sample
            return
        if not self._ensure_plot():
            return  # drawn by _retry
        limit = self.max_length
        # A few very long rows would squash every other bar into the first bins: the axis
        # ends a little past the 99th percentile (or max_length) and the last bar holds them.
        top = max(int(lengths.max()), limit) * 1.04
        if lengths.size >= 20:
            top = min(top, max(float(np.percentile(lengths, 99)) * 1.15, limit * 1.3))
        edges = np.linspace(0, top, BINS + 1)
        counts, _ = np.histogram(np.minimum(lengths, edges[-1] - 1e-6), bins=edges)
        # a bin is red when it starts past the limit (pre-training loses nothing there)
        over = edges[:-1] >= limit if sample.stage != "pretrain" else np.zeros(BINS, bool)
        self._kept.setOpts(x0=edges[:-1][~over], x1=edges[1:][~over], height=counts[~over],
                           brush=KEPT)
        self._cut.setOpts(x0=edges[:-1][over], x1=edges[1:][over], height=counts[over],
                          brush=CUT)
        self._line.setValue(limit)
        self._line.label.setFormat(f"max_length {limit}")
        self.plot.setXRange(0, top, padding=0.02)
        self.plot.setYRange(0, max(1, int(counts.max())) * 1.1, padding=0)
        self.truncated = sample.scale(sample.over(limit))
        self.caption.setText(self._caption(sample, limit))
        self.stats.setText(self._stats(sample))

    def _caption(self, s: Any, limit: int) -> str:
        n = self.truncated
        if s.stage == "pretrain":
            text = (self.tr("{n} rows are longer than {max} tokens: pre-training splits them "
                            "into windows of {max} (nothing is lost).")
                    if n else self.tr("No row is longer than {max} tokens."))
        elif n:
            text = self.tr("<b>{n} rows will be truncated</b> (longer than max_length, {max} "
                           "tokens): their ends are not learned.")
        else:
            text = self.tr("<b>No row will be truncated</b>: every row fits in {max} tokens.")
        text = text.format(n=_n(n), max=_n(limit))
        lost = s.scale(s.nothing_to_learn(limit)) if s.stage != "pretrain" else 0
        if lost:
            text += " " + self.tr("{n} rows keep nothing to learn (the reply starts after "
                                  "max_length).").format(n=_n(lost))
        if not s.exact:
            key = self.tr("Estimated from {m} of {total} rows so far.") if not s.done else \
                self.tr("Estimated from a random sample of {m} of {total} rows.")
            text += " <i>" + key.format(m=_n(s.measured), total=_n(s.total_rows)) + "</i>"
        return text

    def _stats(self, s: Any) -> str:
        import numpy as np  # lazy, see above

        lengths = s.lengths
        k = int(np.argmax(lengths))
        row = int(s.rows[k])
        return self.tr("Tokens per row: median {p50}, 95% below {p95}, longest {longest} "
                       "(<a href=\"row:{row}\">row {row}</a>).").format(
            p50=_n(int(np.percentile(lengths, 50))), p95=_n(int(np.percentile(lengths, 95))),
            longest=_n(int(lengths[k])), row=row)

    def _link(self, href: str) -> None:
        if href.startswith("row:"):
            self.sig_row_clicked.emit(int(href[4:]))
