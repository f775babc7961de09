"""Tokenizer view: the text with its token boundaries drawn (alternating background colours),
each token's id and vocabulary entry on hover, counts per character and per word, and the
tokens a chat template adds around a one-turn conversation.

The split runs in the ProbeService's worker (only the tokenizer is loaded, so it is quick);
typing re-splits after a short pause.
"""

from __future__ import annotations

import html
from typing import Any, Optional

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QTextBrowser,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from studio.core.probes.attention import ProbeTarget
from studio.core.probes.tokens import TokenPiece
from studio.services.probe_worker import ProbeService, TokenResult

PALETTE = ("#d6e9ff", "#ffe3c2", "#d9f2d0", "#f1dcf7")  # alternating token backgrounds
SPECIAL = "#ffd54f"      # special tokens ([CLS], <|im_start|>, ...)
TEMPLATE = "#ff8a65"     # tokens the chat template adds
DEBOUNCE_MS = 300
MAX_SHOWN = 5000         # tokens drawn; the counts always cover the whole text


def tokens_html(text: str, pieces: tuple[TokenPiece, ...], show_ids: bool = False) -> str:
    """HTML with one coloured span per token, each a link "tok:i" (hover shows its details).
    Pieces that share their characters with the previous one (byte pieces of one character)
    show as a small "·" of their own."""
    out = ['<div style="white-space: pre-wrap; font-size: 13pt; line-height: 160%">']
    prev = None
    for p in pieces[:MAX_SHOWN]:
        if p.template:
            colour = TEMPLATE
        elif p.special:
            colour = SPECIAL
        else:
            colour = PALETTE[p.index % 2]
        if p.start == p.end:
            shown = p.token
        elif (p.start, p.end) == prev:
            shown = "·"
        else:
            shown = text[p.start:p.end]
        prev = (p.start, p.end)
        body = html.escape(shown).replace("\n", "↵")
        sub = f"<sub style='color:#555'>{p.token_id}</sub>" if show_ids else ""
        out.append(f'<a href="tok:{p.index}" style="text-decoration:none; color:#111">'
                   f'<span style="background-color:{colour}">{body}</span>{sub}</a>'
                   f'<span style="font-size:4pt"> </span>' + "<br>" * shown.count("\n"))
    if len(pieces) > MAX_SHOWN:
        out.append(f"<br>… {len(pieces) - MAX_SHOWN} more")
    out.append("</div>")
    return "".join(out)


class TokenBrowser(QTextBrowser):
    """Shows tokens; hovering one shows its index, id, vocabulary entry and characters."""

    def __init__(self, name: str, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setObjectName(name)
        self.setOpenLinks(False)
        self.pieces: tuple[TokenPiece, ...] = ()
        self.text = ""
        self.highlighted.connect(self._on_hover)

    def show_pieces(self, text: str, pieces: tuple[TokenPiece, ...], show_ids: bool) -> None:
        self.text, self.pieces = text, pieces
        self.setHtml(tokens_html(text, pieces, show_ids))

    def describe(self, index: int) -> str:
        p = self.pieces[index]
        kind = self.tr(" (chat template)") if p.template else (
            self.tr(" (special)") if p.special else "")
        chars = self.text[p.start:p.end]
        return self.tr("token {i}: id {id}, {token!r}{kind}\ncharacters {a}–{b}: {chars!r}") \
            .format(i=p.index, id=p.token_id, token=p.token, kind=kind, a=p.start, b=p.end,
                    chars=chars)

    def _on_hover(self, url: QUrl) -> None:
        link = url.toString()
        if link.startswith("tok:"):
            QToolTip.showText(QCursor.pos(), self.describe(int(link[4:])), self)
        else:
            QToolTip.hideText()


class TokenizerView(QWidget):
    def __init__(self, service: ProbeService, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.service = service
        self.target: Optional[ProbeTarget] = None
        self.result: Optional[TokenResult] = None
        self.text = QPlainTextEdit()
        self.text.setObjectName("tokens_text")
        self.text.setPlaceholderText(self.tr("Type or paste text: English and Chinese split "
                                             "very differently"))
        self.text.setMaximumHeight(90)
        self.show_ids = QCheckBox(self.tr("Show token ids"))
        self.counts = QLabel()
        self.counts.setObjectName("tokens_counts")
        self.counts.setWordWrap(True)
        self.browser = TokenBrowser("tokens_split")
        self.template_label = QLabel()
        self.template_label.setWordWrap(True)
        self.template = TokenBrowser("tokens_template")
        legend = QLabel(
            self.tr("Colours alternate per token; <span style='background:{s}'>&nbsp;special"
                    "&nbsp;</span> <span style='background:{t}'>&nbsp;added by the chat "
                    "template&nbsp;</span>. Hover a token for its id.").format(s=SPECIAL,
                                                                               t=TEMPLATE))
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self.template_label)
        bl.addWidget(self.template, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.browser)
        split.addWidget(bottom)
        split.setSizes([400, 250])
        row = QHBoxLayout()
        row.addWidget(self.counts, 1)
        row.addWidget(self.show_ids)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text)
        lay.addLayout(row)
        lay.addWidget(legend)
        lay.addWidget(split, 1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.run)
        self.text.textChanged.connect(self._timer.start)
        self.show_ids.toggled.connect(lambda _b: self._draw())
        service.sig_result.connect(self._on_result)
        service.sig_error.connect(self._on_error)

    def set_target(self, target: Optional[ProbeTarget]) -> None:
        self.target = target
        if self.text.toPlainText().strip():
            self.run()

    def run(self) -> None:
        if self.target is None:
            self.counts.setText(self.tr("Choose a model first."))
            return
        if not self.text.toPlainText().strip():
            return
        self.service.tokens(self.target, self.text.toPlainText())

    def ready(self) -> bool:
        return self.result is not None and self.service.pending == 0

    def _on_error(self, kind: str, reason: str, details: str) -> None:
        if kind == "tokens":
            self.counts.setText(reason)

    def _on_result(self, kind: str, result: Any) -> None:
        if kind != "tokens":
            return
        self.result = result
        self._draw()

    def _draw(self) -> None:
        r = self.result
        if r is None:
            return
        s = r.split
        self.counts.setText(self.tr(
            "{model}: {tokens} tokens for {chars} characters and {words} words: "
            "{per_char:.2f} tokens per character, {per_word:.2f} per word").format(
            model=r.model, tokens=s.tokens, chars=s.chars, words=s.words,
            per_char=s.tokens_per_char, per_word=s.tokens_per_word))
        self.browser.show_pieces(s.text, s.pieces, self.show_ids.isChecked())
        if r.template is None:
            self.template_label.setText(self.tr("This tokenizer has no chat template: only the "
                                                "special tokens above are added."))
            self.template.clear()
            return
        t = r.template
        self.template_label.setText(self.tr(
            "As a one-turn chat (your text as the user, “OK.” as the reply), the template adds "
            "{n} tokens around {m} tokens of content:").format(n=t.template_tokens,
                                                               m=t.content_tokens))
        self.template.show_pieces(t.rendered, t.pieces, self.show_ids.isChecked())
