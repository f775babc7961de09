"""data_view: row summaries, a sample's tokens split by kind, token lengths over rows."""

import json

import numpy as np
import pytest

from studio.core.data.row_index import build_row_index
from studio.core.data.tokenize import tokenize_sample
from studio.core.data.types import Message, Sample
from studio.core.data.view import LengthSample, measure_lengths, summarize_row, token_view


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from studio.core.model.load import load_tokenizer

    return load_tokenizer(tiny_model_dir)


def _chat(user: str, reply: str, row: int = 1) -> Sample:
    return Sample(row, (Message("user", user), Message("assistant", reply)))


def test_summaries_of_good_bad_and_text_rows(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join([
        json.dumps({"instruction": "q", "output": "a"}), "{oops",
        json.dumps({"instruction": "q2"}), json.dumps({"text": "plain"})]) + "\n")
    index = build_row_index(path)
    good, broken, missing = (summarize_row(index.read(i), "alpaca") for i in range(3))
    assert (good.problem, good.turns, good.prompt, good.reply) == ("", 2, "q", "a")
    assert broken.row == 2 and "not valid JSON" in broken.problem and broken.sample is None
    assert missing.problem and missing.sample is None
    text = summarize_row(index.read(3), "text")
    assert (text.prompt, text.turns, text.sample.is_text) == ("plain", 0, True)


def test_token_view_spans_rebuild_the_text_and_mark_the_reply(tokenizer):
    sample = _chat("你好，请介绍一下细胞理论。", "细胞理论认为所有生物都由细胞构成。")
    tok = tokenize_sample(sample, tokenizer, None)
    view = token_view(sample, tokenizer, None)
    whole = tokenizer.decode(tok.input_ids, skip_special_tokens=False)
    assert "".join(t for t, _ in view.spans) == whole  # no character broken at a boundary
    assert "\ufffd" not in whole
    trained = "".join(t for t, k in view.spans if k == "train")
    assert trained.startswith("细胞理论认为所有生物都由细胞构成。")
    assert view.tokens == len(tok.input_ids) and view.trained == tok.trained_tokens
    assert view.cut == 0


def test_token_view_marks_what_max_length_cuts(tokenizer):
    sample = _chat("Tell me a long story.", "Once upon a time " * 30)
    full = token_view(sample, tokenizer, None)
    view = token_view(sample, tokenizer, 40)
    assert view.cut == full.tokens - 40
    assert view.spans[-1][1] == "cut"
    assert view.trained < full.trained


def test_lengths_of_a_sample_scale_to_the_whole_file(tmp_path, tokenizer):
    path = tmp_path / "many.jsonl"
    with open(path, "w") as f:
        for i in range(200):
            f.write(json.dumps({"instruction": f"q{i}", "output": "word " * (1 + i % 20)}) + "\n")
    index = build_row_index(path)
    part = measure_lengths(index, "alpaca", tokenizer, limit=50, seed=1)
    assert part.done and not part.exact and part.measured == 50 and part.good == 50
    full = measure_lengths(index, "alpaca", tokenizer)
    assert full.exact and full.good == 200
    limit = int(np.median(full.lengths))
    # the sample's estimate is near the true count (rows are evenly mixed)
    assert abs(part.scale(part.over(limit)) - full.over(limit)) <= 40
    assert full.scale(full.over(limit)) == full.over(limit)
    # the reply starts after the prompt: with a tiny max_length nothing is left to learn
    assert full.nothing_to_learn(3) == 200 and full.nothing_to_learn(10_000) == 0


def test_progress_and_cancel(tmp_path, tokenizer):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps({"instruction": f"q{i}", "output": "a"}) + "\n"
                            for i in range(300)))
    index = build_row_index(path)
    seen: list[LengthSample] = []
    got = measure_lengths(index, "alpaca", tokenizer, progress=seen.append, every_s=0.0,
                          cancel=lambda: len(seen) >= 5)
    assert not got.done and len(seen) == 5
    assert [s.good for s in seen] == sorted(s.good for s in seen)


def test_pretraining_text_is_never_cut_off(tokenizer):
    sample = Sample(1, text="A long plain text for pre-training. " * 20)
    view = token_view(sample, tokenizer, 16)
    assert view.tokens > 16 and view.cut == 0
    assert {k for _, k in view.spans} == {"train"}  # every token is learned, window by window


def test_a_pair_shows_both_sides_with_only_the_final_reply_trained(tokenizer):
    sample = Sample(1, (Message("user", "Hi"), Message("assistant", "Hello there!"),
                        Message("user", "一个颜色？"), Message("assistant", "蓝色。")),
                    rejected="七。")
    view = token_view(sample, tokenizer, None, stage="dpo")
    chosen = "".join(t for t, k in view.spans if k == "train")
    rejected = "".join(t for t, k in view.rejected.spans if k == "train")
    assert chosen.startswith("蓝色。") and "Hello there!" not in chosen
    assert rejected.startswith("七。") and "Hello there!" not in rejected
    prompt = "".join(t for t, k in view.spans if k == "mask")
    assert "Hello there!" in prompt and view.rejected.rejected is None


def test_a_pair_is_measured_by_its_longer_side(tmp_path, tokenizer):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"instruction": "q", "chosen": "yes",
                                "rejected": "no " * 40}) + "\n")
    out = measure_lengths(build_row_index(path), "preference", tokenizer, stage="dpo")
    other = tokenize_sample(Sample(1, (Message("user", "q"), Message("assistant", "no " * 40))),
                            tokenizer, None)
    assert out.lengths.tolist() == [len(other.input_ids)]
