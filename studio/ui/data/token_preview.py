"""The preview of one row as HTML for a QTextBrowser: its tokens as training sees them
(trained highlighted, masked greyed, cut off struck through), its turns when no tokenizer is
chosen yet, or the reason it cannot be trained on."""

from __future__ import annotations

import html
import json
from typing import Any

from PySide6.QtCore import QCoreApplication

STYLE = {"train": "background:#c9ecd4;color:#0b5323;",
         "mask": "color:#8d949b;",
         "cut": "color:#b03a2e;background:#fbe3df;text-decoration:line-through;"}
ROLE_COLOURS = {"system": "#7d3c98", "user": "#1f5fa8", "assistant": "#1e8449",
                "tool": "#b9770e", "rejected": "#b03a2e", "label": "#8d949b"}
MAX_CHARS = 20000  # of a turn or a raw row: a huge cell must not stall the text layout


def _n(value: int) -> str:
    return f"{value:,}"


def tokens_html(view: Any) -> str:
    """A TokenView (studio.core.data.view) -> legend, counts and the coloured text."""
    legend = " ".join(
        f"<span style='{STYLE[k]}'>&nbsp;{html.escape(t)}&nbsp;</span>" for k, t in (
            ("train", QCoreApplication.translate("TokenPreview", "trained (loss)")),
            ("mask", QCoreApplication.translate("TokenPreview", "masked (no loss)")),
            ("cut", QCoreApplication.translate("TokenPreview", "cut off by max_length"))))
    head = QCoreApplication.translate("TokenPreview", "Row {row}: {tokens} tokens, {trained} "
                                      "trained").format(row=view.row, tokens=_n(view.tokens),
                                                        trained=_n(view.trained))
    if view.cut:
        head += QCoreApplication.translate("TokenPreview", ", {cut} past max_length").format(
            cut=_n(view.cut))
    body = "".join(f"<span style='{STYLE[kind]}'>{html.escape(text)}</span>"
                   for text, kind in view.spans)
    more = ""
    if view.shown_tokens < view.tokens:
        more = "<p><i>" + html.escape(QCoreApplication.translate(
            "TokenPreview", "… {n} more tokens not shown").format(
            n=_n(view.tokens - view.shown_tokens))) + "</i></p>"
    text = (f"<p><b>{html.escape(head)}</b></p><p>{legend}</p>"
            f"<div style='white-space:pre-wrap;font-family:monospace'>{body}</div>{more}")
    if view.rejected is None:
        return text
    side = QCoreApplication.translate("TokenPreview", "{side} reply").format
    chosen = html.escape(side(side=QCoreApplication.translate("TokenPreview", "Chosen")))
    rejected = html.escape(side(side=QCoreApplication.translate("TokenPreview", "Rejected")))
    return (f"<h4 style='color:#1e8449'>{chosen}</h4>{text}"
            f"<h4 style='color:#b03a2e'>{rejected}</h4>{tokens_html(view.rejected)}")


def messages_html(summary: Any) -> str:
    """A good row without a tokenizer: its turns, by role."""
    head = html.escape(QCoreApplication.translate("TokenPreview", "Row {row}").format(
        row=summary.row))
    hint = html.escape(QCoreApplication.translate(
        "TokenPreview", "Choose a model on the Model page to see the row through its chat "
                        "template, with the trained tokens marked."))
    parts = [f"<p><b>{head}</b> <span style='color:#8d949b'>{hint}</span></p>"]
    sample = summary.sample
    turns = [("text", sample.text or "")] if sample.is_text else \
        [(m.role, m.content) for m in sample.messages]
    if sample.is_pair:
        turns.append(("rejected", sample.rejected or ""))
    elif sample.label is not None:
        turns.append(("label", "good" if sample.label else "bad"))
    for role, content in turns:
        colour = ROLE_COLOURS.get(role, "#444")
        parts.append(f"<p><b style='color:{colour}'>{html.escape(role)}</b><br>"
                     f"<span style='white-space:pre-wrap'>{html.escape(content[:MAX_CHARS])}"
                     f"</span></p>")
    return "".join(parts)


def problem_html(row: int, problem: str, value: Any) -> str:
    """A row that cannot be trained on: the reason, then the row as read (when it parsed)."""
    head = html.escape(QCoreApplication.translate("TokenPreview", "Row {row}").format(row=row))
    body = html.escape(json.dumps(value, ensure_ascii=False, indent=1)[:MAX_CHARS]) \
        if value is not None else ""
    return (f"<p style='color:#b03a2e'><b>{head}</b>: {html.escape(problem)}</p>"
            f"<pre>{body}</pre>")


def message_html(text: str, colour: str = "#8d949b") -> str:
    return f"<p style='color:{colour}'>{html.escape(text)}</p>"
