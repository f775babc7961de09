"""One side of the chat: a transcript that grows as tokens stream in.

Text is appended at the end of the document through a QTextCursor (no widget per token, no
re-layout of what is already there). With probabilities on, each piece of text gets a background
colour from the model's probability of it (green: sure, red: unlikely) and is an anchor
`tok:N`; hovering it shows the top alternatives at that position as a tooltip.
"""

from __future__ import annotations

import html
import math
from typing import Any, Optional

from PySide6.QtCore import QUrl
from PySide6.QtGui import QColor, QCursor, QFont, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QTextBrowser, QToolTip, QWidget

LOGPROB_FLOOR = -5.0  # log p at and below which a token is shown fully red (p < 0.7%)


def probability_colour(logprob: float) -> QColor:
    """Green (log p = 0, sure) through yellow (p ~ 8%) to red (p < 0.7%), by log-probability:
    a scale linear in p would paint nearly every token of a real reply red. Pale, so the text
    stays readable."""
    share = min(1.0, max(0.0, 1.0 - logprob / LOGPROB_FLOOR))
    return QColor.fromHsv(int(120 * share), 70, 255)


class ChatTranscript(QTextBrowser):
    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setOpenLinks(False)          # anchors are for hovering, never navigation
        self.setOpenExternalLinks(False)
        self.setMouseTracking(True)
        self.chunks: list[Any] = []       # core.chat.Chunk per anchor tok:N
        self.highlighted.connect(self._on_hover)
        self.in_reply = False

    # --- writing -------------------------------------------------------------------------------
    def _insert(self, text: str, fmt: QTextCharFormat) -> None:
        # A cursor of our own at the end: the user's selection and scroll position stay put,
        # except that a view already at the bottom follows the new text.
        bar = self.verticalScrollBar()
        follow = bar.value() >= bar.maximum() - 4
        c = QTextCursor(self.document())
        c.movePosition(QTextCursor.MoveOperation.End)
        c.insertText(text, fmt)
        if follow:
            bar.setValue(bar.maximum())

    def _label_format(self, colour: str) -> QTextCharFormat:
        f = QTextCharFormat()
        f.setFontWeight(QFont.Weight.Bold)
        f.setForeground(QColor(colour))
        return f

    def add_user(self, who: str, text: str) -> None:
        self._new_block()
        self._insert(f"{who}: ", self._label_format("#1f5fa8"))
        self._insert(text, QTextCharFormat())

    def begin_reply(self, who: str) -> None:
        self._new_block()
        self._insert(f"{who}: ", self._label_format("#2e7d32"))
        self.in_reply = True

    def append_chunks(self, chunks: list, with_probabilities: bool) -> None:
        """Add streamed text; one insert per chunk (a chunk is one token or one character)."""
        plain = QTextCharFormat()
        for chunk in chunks:
            if with_probabilities and chunk.logprob is not None:
                self._insert(chunk.text, self._prob_format(chunk))
            else:
                self._insert(chunk.text, plain)

    def _prob_format(self, chunk: Any) -> QTextCharFormat:
        f = QTextCharFormat()
        f.setBackground(probability_colour(chunk.logprob))
        f.setAnchor(True)
        f.setAnchorHref(f"tok:{len(self.chunks)}")
        f.setForeground(QColor("#000000"))
        self.chunks.append(chunk)
        return f

    def end_reply(self, note: str) -> None:
        f = QTextCharFormat()
        f.setForeground(QColor("#777777"))
        f.setFontPointSize(max(6.0, self.font().pointSizeF() - 1))
        self._insert(f"\n{note}", f)
        self.in_reply = False

    def _new_block(self) -> None:
        if not self.document().isEmpty():
            self._insert("\n\n", QTextCharFormat())

    def clear_all(self) -> None:
        self.clear()
        self.chunks.clear()
        self.in_reply = False

    # --- hovering ------------------------------------------------------------------------------
    def tooltip_for(self, href: str) -> str:
        """The tooltip text for anchor `tok:N`: the token's probability and the alternatives."""
        if not href.startswith("tok:"):
            return ""
        try:
            chunk = self.chunks[int(href[4:])]
        except (ValueError, IndexError):
            return ""
        esc = lambda t: html.escape(repr(t), quote=False)  # noqa: E731 (one-line helper)
        rows = [f"<b>{esc(chunk.text)}</b> p = {math.exp(chunk.logprob):.3f} "
                f"(log p {chunk.logprob:.2f})"]
        for text, lp in chunk.alternatives or ():
            rows.append(f"{esc(text)} &nbsp; {math.exp(lp):.3f}")
        return "<br>".join(rows)

    def _on_hover(self, url: QUrl) -> None:
        text = self.tooltip_for(url.toString())
        if text:
            QToolTip.showText(QCursor.pos(), text, self)
        else:
            QToolTip.hideText()
