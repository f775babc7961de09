"""One transcript: streamed text appended in place, probability colours and tooltips."""

from __future__ import annotations

import math

from PySide6.QtGui import QTextCursor

from studio.core.chat.engine import Chunk
from studio.ui.chat.transcript import ChatTranscript, probability_colour


def test_colour_runs_from_green_to_red_by_log_probability():
    assert probability_colour(0.0).hue() == 120           # sure
    assert probability_colour(math.log(0.08)).hue() in range(55, 66)
    assert probability_colour(-5.0).hue() == 0            # p < 0.7%
    assert probability_colour(-80.0).hue() == 0


def test_streamed_chunks_append_with_anchors_and_tooltips(qtbot):
    view = ChatTranscript()
    qtbot.addWidget(view)
    view.add_user("You", "hi")
    view.begin_reply("Tuned")
    alts = (("Hello", -0.1), ("Hi", -2.5))
    view.append_chunks([Chunk("Hello", (5,), -0.1, alts), Chunk(" 世界", (6, 7), -3.0, alts)],
                       with_probabilities=True)
    view.append_chunks([Chunk("!", (8,))], with_probabilities=True)  # no log-prob: plain
    view.end_reply("3 tokens")
    assert view.toPlainText() == "You: hi\n\nTuned: Hello 世界!\n3 tokens"
    assert not view.in_reply and len(view.chunks) == 2
    start = view.toPlainText().index("Hello")
    c = QTextCursor(view.document())
    c.setPosition(start + 1)
    assert c.charFormat().anchorHref() == "tok:0"
    c.setPosition(start + 7)
    assert c.charFormat().anchorHref() == "tok:1"
    c.setPosition(view.toPlainText().index("!") + 1)
    assert not c.charFormat().isAnchor()
    tip = view.tooltip_for("tok:1")
    assert "p = 0.050" in tip and "'Hi'" in tip
    view.clear_all()
    assert view.toPlainText() == "" and view.chunks == []
