"""Token splits, counts and chat-template tokens."""

import pytest

from studio.core.errors import UserError
from studio.core.model.load import load_tokenizer
from studio.core.probes.tokens import count_words, piece_label, split_text, template_split


@pytest.fixture(scope="module")
def bert_tok(minilm_dir):
    return load_tokenizer(minilm_dir)


@pytest.fixture(scope="module")
def bpe_tok(tiny_model_dir):
    return load_tokenizer(tiny_model_dir)


def test_wordpiece_split_with_special_tokens(bert_tok):
    s = split_text(bert_tok, "Tokenization is unbelievable")
    names = [p.token for p in s.pieces]
    assert names[0] == "[CLS]" and names[-1] == "[SEP]"
    assert s.pieces[0].special and not s.pieces[1].special
    assert any(n.startswith("##") for n in names)  # sub-word pieces
    assert s.words == 3 and s.tokens == len(names) and s.tokens_per_word > 1
    assert piece_label(s.text, s.pieces[1]) == "Token"


def test_bpe_spans_cover_the_text_and_chinese_costs_more(bpe_tok):
    text = "The weather is nice today."
    s = split_text(bpe_tok, text)
    covered = "".join(s.text[p.start:p.end] for p in s.pieces)
    assert covered == text
    zh = split_text(bpe_tok, "今天天气很好，我们去公园散步吧。")
    assert zh.words == 14  # each CJK character counts as a word (punctuation does not)
    assert zh.tokens_per_char > s.tokens_per_char


def test_count_words_mixed_scripts():
    assert count_words("hello world 你好") == 4
    assert count_words("don't stop") == 3


def test_chat_template_tokens_are_marked(bpe_tok, bert_tok):
    ts = template_split(bpe_tok, "Hi there", "Hello!")
    marked = [p.token for p in ts.pieces if p.template]
    assert marked.count("<|im_start|>") == 2 and marked.count("<|im_end|>") == 2
    content = "".join(ts.rendered[p.start:p.end] for p in ts.pieces if not p.template)
    assert content == "Hi thereHello!"
    assert ts.template_tokens + ts.content_tokens == len(ts.pieces)
    assert template_split(bert_tok, "hi") is None  # an encoder has no chat template


def test_bad_text_is_refused(bpe_tok):
    with pytest.raises(UserError):
        split_text(bpe_tok, "  ")
    with pytest.raises(UserError, match="at most"):
        split_text(bpe_tok, "x" * 100_001)
