"""Chat engine: template prompt, streaming, stopping at the end of turn, cancel, log-probs, seeds,
base vs tuned on shared weights, and checkpoints rebuilt exactly."""

from __future__ import annotations

import threading

import pytest
import torch

from studio.core.chat.engine import (
    ChatEngine,
    Conversation,
    GenSettings,
    build_prompt_ids,
    end_of_turn_ids,
    template_end_token,
)
from studio.core.errors import UserError
from studio.core.model import load as model_mod

GREEDY = GenSettings(temperature=0.0, max_new_tokens=12)
ASK = [{"role": "user", "content": "What is 3 plus one?"}]


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    tok = model_mod.load_tokenizer(tiny_model_dir)
    return ChatEngine(model_mod.load_model(tiny_model_dir), tok)


def test_prompt_uses_the_models_template(engine):
    tok = engine.tokenizer
    ids = build_prompt_ids(tok, [{"role": "system", "content": "Be brief."}] + ASK)
    text = tok.decode(ids, skip_special_tokens=False)
    assert text == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
                    "What is 3 plus one?<|im_end|>\n<|im_start|>assistant\n")


def test_end_of_turn_comes_from_the_template_too(engine):
    from transformers import GenerationConfig

    tok = engine.tokenizer
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert template_end_token(tok) == im_end
    # A generation_config that forgot the end-of-turn token still stops there.
    ids = end_of_turn_ids(tok, GenerationConfig(eos_token_id=0))
    assert ids[0] == 0 and im_end in ids


def test_reply_streams_chunks_that_join_to_the_reply(engine):
    seen = []
    reply = engine.reply(ASK, GenSettings(temperature=0.0, max_new_tokens=20,
                                          min_new_tokens=20), on_chunk=seen.append)
    assert reply.tokens == 20 and reply.stop_reason == "length"
    assert len(seen) >= 5  # streamed piece by piece, not at the end
    assert "".join(c.text for c in seen) == reply.text
    assert sum(len(c.token_ids) for c in reply.chunks) == 20
    assert 0 < reply.first_token_s <= reply.seconds


def test_stops_at_end_of_turn_and_hides_it(tiny_model_dir):
    tok = model_mod.load_tokenizer(tiny_model_dir)
    model = model_mod.load_model(tiny_model_dir)
    with torch.no_grad():  # zero hidden state -> all logits 0 -> argmax is token 0, an EOS
        model.model.norm.weight.zero_()
    eng = ChatEngine(model, tok)
    assert 0 in eng.eos_ids
    reply = eng.reply(ASK, GenSettings(temperature=0.0, max_new_tokens=50, min_new_tokens=3))
    assert reply.stop_reason == "eos"
    assert reply.tokens == 4  # three forced tokens, then the end of turn
    assert "<|endoftext|>" not in reply.text and "<|im_end|>" not in reply.text


def test_cancel_stops_within_one_token(engine):
    cancel = threading.Event()
    seen = {"chunks": 0, "tokens": 0, "at_cancel": None}

    def on_chunk(chunk):
        seen["chunks"] += 1
        seen["tokens"] += len(chunk.token_ids)
        if seen["chunks"] == 3:
            cancel.set()
            seen["at_cancel"] = seen["tokens"]

    s = GenSettings(temperature=0.0, max_new_tokens=200, min_new_tokens=200)
    reply = engine.reply(ASK, s, on_chunk=on_chunk, cancel=cancel)
    assert reply.stop_reason == "cancelled"
    assert reply.tokens <= seen["at_cancel"] + 1


def test_cancel_from_another_thread(engine):
    cancel = threading.Event()
    started = threading.Event()
    out = {}
    s = GenSettings(temperature=0.0, max_new_tokens=5000, min_new_tokens=5000)
    t = threading.Thread(target=lambda: out.update(r=engine.reply(
        ASK, s, on_chunk=lambda c: started.set(), cancel=cancel)))
    t.start()
    assert started.wait(30)
    cancel.set()
    t.join(30)
    assert not t.is_alive()
    assert out["r"].stop_reason == "cancelled" and out["r"].tokens < 5000


def test_logprobs_are_the_models_own(engine):
    s = GenSettings(temperature=0.0, max_new_tokens=8, min_new_tokens=8, logprobs=True,
                    top_alternatives=3)
    reply = engine.reply(ASK, s)
    prompt = build_prompt_ids(engine.tokenizer, ASK)
    new = [t for c in reply.chunks for t in c.token_ids]
    with torch.no_grad():
        logits = engine.model(torch.tensor([prompt + new])).logits[0]  # (T, vocab)
    logp = torch.log_softmax(logits.float(), -1)
    pos = len(prompt) - 1
    for c in reply.chunks:
        expected = sum(float(logp[pos + i, t]) for i, t in enumerate(c.token_ids))
        assert c.logprob == pytest.approx(expected, abs=1e-4)
        assert len(c.alternatives) == 3
        values = [v for _, v in c.alternatives]
        assert values == sorted(values, reverse=True)
        # greedy: the chosen first token is the most likely alternative
        assert values[0] == pytest.approx(float(logp[pos, c.token_ids[0]]), abs=1e-4)
        pos += len(c.token_ids)


def test_seed_gives_the_same_reply_and_keeps_the_callers_rng(engine):
    s = GenSettings(temperature=1.0, max_new_tokens=15, min_new_tokens=15, seed=7)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = engine.reply(ASK, s).text
    assert torch.equal(torch.get_rng_state(), before)
    assert engine.reply(ASK, s).text == a


def test_conversation_history_goes_into_the_prompt(engine):
    conv = Conversation(system="Be brief.")
    conv.add("hi", "hello")
    msgs = conv.messages("and now?")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    text = engine.tokenizer.decode(build_prompt_ids(engine.tokenizer, msgs))
    assert "hello" in text and text.index("hi") < text.index("and now?")
    conv.reset()
    assert conv.messages("x") == [{"role": "system", "content": "Be brief."},
                                  {"role": "user", "content": "x"}]


def test_bad_inputs_are_one_line_errors(engine):
    with pytest.raises(UserError, match="end with a user message"):
        engine.reply([{"role": "assistant", "content": "hi"}])
    with pytest.raises(UserError, match="unknown chat role"):
        engine.reply([{"role": "robot", "content": "x"}, {"role": "user", "content": "y"}])
    with pytest.raises(UserError, match="top_p"):
        engine.reply(ASK, GenSettings(top_p=0))
    with pytest.raises(UserError, match="max_new_tokens"):
        engine.reply(ASK, GenSettings(max_new_tokens=0))


def test_model_without_template_gets_a_plain_prompt(tiny_model_dir):
    tok = model_mod.load_tokenizer(tiny_model_dir)
    tok.chat_template = None
    ids = build_prompt_ids(tok, ASK)
    assert tok.decode(ids).endswith("User: What is 3 plus one?\n\nAssistant:")
    eng = ChatEngine(model_mod.load_model(tiny_model_dir), tok)
    assert eng.note and eng.reply(ASK, GREEDY).tokens > 0


def test_streamed_pieces_are_whole_characters(engine):
    """Chinese characters span several byte-level tokens: no piece ends half-way through one,
    and the pieces join to exactly the decoded text."""
    from studio.core.chat.engine import _Streamer

    tok = engine.tokenizer
    text = "机器学习是让计算机从数据中学习规律的方法。Machine learning, 简单地说。"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > len(text) // 2  # many characters are split over tokens
    pieces = []
    s = _Streamer(tok, set(engine.eos_ids), pieces.append, None, 5)
    s.put(torch.tensor([[1, 2]]))  # generate() hands over the prompt first
    for i in ids:
        s.put(torch.tensor([i]))
    s.end()
    assert "".join(c.text for c in pieces) == text
    assert not any("\ufffd" in c.text for c in pieces)
    assert sum(len(c.token_ids) for c in pieces) == len(ids)
