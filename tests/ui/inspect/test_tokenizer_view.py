"""Tokenizer view: boundaries drawn on the text, ids on hover, counts, chat-template tokens."""

import pytest

from studio.core.probes.attention import resolve_target
from studio.ui.inspect.tokenizer_view import DEBOUNCE_MS, TEMPLATE, TokenizerView, tokens_html

TEXT = "The cat sat on the mat. 小猫坐在垫子上。"


@pytest.fixture
def view(qtbot, service):
    v = TokenizerView(service)
    qtbot.addWidget(v)
    v.resize(1100, 700)
    v.show()
    return v


def test_split_counts_and_template_on_the_starter_tokenizer(view, tiny_model_dir, qtbot,
                                                            tmp_path):
    view.set_target(resolve_target(tiny_model_dir))
    view.text.setPlainText(TEXT)
    qtbot.waitUntil(view.ready, timeout=30_000)  # typing re-splits after a pause
    split = view.result.split
    assert split.text == TEXT and split.words == 6 + 7  # 7 CJK characters
    assert f"{split.tokens} tokens for {len(TEXT)} characters" in view.counts.text()
    html = view.browser.toHtml()
    assert html.count('href="tok:') == split.tokens
    tip = view.browser.describe(1)
    assert f"id {split.pieces[1].token_id}" in tip
    t = view.result.template
    assert t.template_tokens > 0 and str(t.template_tokens) in view.template_label.text()
    assert "<|im_start|>" in view.template.toPlainText()
    view.show_ids.setChecked(True)
    assert str(split.pieces[0].token_id) in view.browser.toPlainText()
    path = tmp_path / "tokens.png"
    assert view.grab().save(str(path)) and path.stat().st_size > 10_000


def test_encoder_without_template(view, minilm_dir):
    view.set_target(resolve_target(minilm_dir))
    view.text.setPlainText("Tokenization is unbelievable")
    view.run()
    view.service.wait_idle(60)
    assert view.result.template is None and "no chat template" in view.template_label.text()
    assert "[CLS]" in view.browser.toPlainText()


def test_typing_resplits_after_a_pause(view, tiny_model_dir, qtbot):
    view.set_target(resolve_target(tiny_model_dir))
    view.text.setPlainText("hello")
    qtbot.waitUntil(lambda: view.ready() and view.result.split.text == "hello", timeout=30_000)
    view.text.setPlainText("hello world")
    # not yet: the pause timer runs (checked at once, not after a sleep a busy machine stretches)
    assert view._timer.isActive() and view._timer.interval() == DEBOUNCE_MS
    assert view.result.split.text == "hello"
    qtbot.waitUntil(lambda: view.result.split.text == "hello world", timeout=30_000)


def test_html_marks_template_tokens_and_escapes_text():
    from studio.core.probes.tokens import TokenPiece

    pieces = (TokenPiece(0, 5, "<b>", 0, 3, False, False),
              TokenPiece(1, 2, "<|im_start|>", 3, 3, True, True))
    html = tokens_html("<b>", pieces)
    assert "&lt;b&gt;" in html and TEMPLATE in html and "<b>" not in html.replace(
        "&lt;b&gt;", "")
