"""Preference rows: the shapes users bring (pairs and KTO rows, English and Chinese), the rows
the doctor names, and their tokens (both sides share the prompt, only the final reply learns)."""

import json

import pytest

from studio.core.data.doctor import inspect_dataset, load_samples
from studio.core.data.preference import final_reply_only, reply_start, tokenize_preference
from studio.core.data.tokenize import IGNORE_INDEX
from studio.core.errors import DataError

PAIR_SHAPES = {
    "sharegpt": {"conversations": [{"from": "human", "value": "你好，介绍一下长城。"}],
                 "chosen": {"from": "gpt", "value": "长城是中国古代的军事防御工程。"},
                 "rejected": {"from": "gpt", "value": "不知道。"}},
    "messages": {"messages": [{"role": "system", "content": "Be brief."},
                              {"role": "user", "content": "2+2?"}],
                 "chosen": [{"role": "assistant", "content": "4"}],
                 "rejected": [{"role": "assistant", "content": "5"}]},
    "alpaca": {"instruction": "翻译成英文", "input": "谢谢", "chosen": "Thank you",
               "rejected": "Goodbye"},
    "trl_prompt": {"prompt": [{"role": "user", "content": "Capital of France?"}],
                   "chosen": [{"role": "assistant", "content": "Paris."}],
                   "rejected": [{"role": "assistant", "content": "Rome."}]},
    "multi_turn": {"conversations": [{"from": "human", "value": "Hi"},
                                     {"from": "gpt", "value": "Hello! How can I help?"},
                                     {"from": "human", "value": "Name a colour."}],
                   "chosen": {"from": "gpt", "value": "Blue."},
                   "rejected": {"from": "gpt", "value": "Seven."}},
}

KTO_SHAPES = {
    "trl": {"prompt": "Capital of France?", "completion": "Paris.", "label": True},
    "trl_chat": {"prompt": [{"role": "user", "content": "Capital of France?"}],
                 "completion": [{"role": "assistant", "content": "Rome."}], "label": False},
    "messages": {"messages": [{"role": "user", "content": "你好"},
                              {"role": "assistant", "content": "你好！有什么可以帮你？"}],
                 "label": True},
    "llamafactory": {"conversations": [{"from": "human", "value": "1+1?"},
                                       {"from": "gpt", "value": "3"}], "kto_tag": False},
}


def _write(tmp_path, rows, name="p.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("shape", PAIR_SHAPES)
def test_pair_shapes_are_detected_and_keep_both_replies(tmp_path, shape):
    row = PAIR_SHAPES[shape]
    path = _write(tmp_path, [row, row])
    samples, report = load_samples(path, stage="dpo")
    assert report.format == "preference" and report.good_rows == 2 and report.is_preference
    s = samples[0]
    assert s.is_pair and s.messages[-1].role == "assistant" and s.messages[-2].role == "user"
    chosen = row["chosen"]["value"] if isinstance(row["chosen"], dict) else \
        row["chosen"][-1]["content"] if isinstance(row["chosen"], list) else row["chosen"]
    assert s.messages[-1].content == chosen and s.rejected not in (None, chosen)
    assert s.rejected_side().messages[:-1] == s.messages[:-1]


@pytest.mark.parametrize("shape", KTO_SHAPES)
def test_kto_rows_are_detected_with_their_label(tmp_path, shape):
    row = KTO_SHAPES[shape]
    samples, report = load_samples(_write(tmp_path, [row]), stage="kto")
    assert report.format == "kto" and report.good_rows == 1
    label = row.get("label", row.get("kto_tag"))
    assert samples[0].label is label and samples[0].messages[-1].role == "assistant"


def test_bad_pairs_are_named_by_row(tmp_path):
    good = PAIR_SHAPES["alpaca"]
    rows = [good, {**good, "rejected": good["chosen"]}, {"instruction": "x", "chosen": "a",
                                                         "rejected": None},
            {**good, "chosen": "  "}, {**good, "rejected": {"from": "gpt"}}]
    report = inspect_dataset(_write(tmp_path, rows))
    reasons = {p.row: p.reason for p in report.problems}
    assert report.format == "preference" and report.good_rows == 1
    assert reasons[2] == "the chosen and rejected replies are the same text: nothing to prefer"
    assert reasons[3] == "field 'rejected' is null"
    assert reasons[4] == "empty chosen reply"
    assert reasons[5] == "field 'rejected' is null"
    with pytest.raises(DataError, match="rows 2, 3, 4 \\(and 1 more\\) are broken"):
        load_samples(tmp_path / "p.jsonl", stage="dpo")


def test_kto_label_must_be_true_or_false(tmp_path):
    rows = [KTO_SHAPES["trl"], {**KTO_SHAPES["trl"], "label": "maybe"},
            {**KTO_SHAPES["trl"], "label": None}]
    report = inspect_dataset(_write(tmp_path, rows), "kto")
    reasons = {p.row: p.reason for p in report.problems}
    assert reasons == {2: "field 'label' is a string, expected true (a good reply) or false",
                       3: "field 'label' is null"}


def test_stages_and_shapes_must_fit(tmp_path):
    pairs = _write(tmp_path, [PAIR_SHAPES["alpaca"]], "pairs.jsonl")
    kto = _write(tmp_path, [KTO_SHAPES["trl"]], "kto.jsonl")
    chat = _write(tmp_path, [{"instruction": "q", "output": "a"}], "chat.jsonl")
    with pytest.raises(DataError, match="pairs.jsonl holds chosen/rejected pairs .*stage: dpo"):
        load_samples(pairs, stage="sft")
    with pytest.raises(DataError, match="kto.jsonl holds replies labelled good / bad"):
        load_samples(kto, stage="sft")
    with pytest.raises(DataError, match="stage dpo needs chosen/rejected pairs; kto.jsonl"):
        load_samples(kto, stage="dpo")
    with pytest.raises(DataError, match="stage kto needs replies labelled"):
        load_samples(chat, stage="kto")
    assert len(load_samples(pairs, stage="kto")[0]) == 1


def test_pair_tokens_share_the_prompt_and_learn_only_the_final_reply(tmp_path, tiny_model_dir):
    from studio.core.model.load import load_tokenizer

    tok = load_tokenizer(tiny_model_dir)
    samples, _ = load_samples(_write(tmp_path, [PAIR_SHAPES["multi_turn"]]), stage="dpo")
    pairs, dropped = tokenize_preference(samples, tok, 512, stage="dpo")
    assert not dropped and len(pairs) == 1
    c, r = pairs[0].chosen, pairs[0].rejected
    a = reply_start(c)
    assert a == reply_start(r) and c.input_ids[:a] == r.input_ids[:a]  # one shared prompt
    learned = tok.decode([t for t in c.labels if t != IGNORE_INDEX])
    assert learned.startswith("Blue.") and "Hello!" not in learned  # earlier turn: context
    assert tok.decode([t for t in r.labels if t != IGNORE_INDEX]).startswith("Seven.")
    assert pairs[0].length == len(c.input_ids) + len(r.input_ids)
    kto, _ = tokenize_preference(samples, tok, 512, stage="kto")  # a pair: one good, one bad
    assert [(k.label, k.rejected) for k in kto] == [(True, None), (False, None)]
    assert kto[1].chosen.input_ids == r.input_ids


def test_final_reply_only_keeps_the_last_labelled_run():
    from studio.core.data.types import TokenizedSample

    t = TokenizedSample(1, [1, 2, 3, 4, 5, 6], [-100, 2, -100, 4, 5, -100])
    assert final_reply_only(t).labels == [-100, -100, -100, 4, 5, -100]


def test_pairs_whose_reply_starts_past_max_length_are_dropped_and_named(tmp_path,
                                                                         tiny_model_dir):
    from studio.core.model.load import load_tokenizer

    long = {**PAIR_SHAPES["alpaca"], "instruction": "word " * 400}
    samples, _ = load_samples(_write(tmp_path, [PAIR_SHAPES["alpaca"], long]), stage="dpo")
    pairs, dropped = tokenize_preference(samples, load_tokenizer(tiny_model_dir), 64,
                                         stage="dpo")
    assert [p.row for p in pairs] == [1] and [d.row for d in dropped] == [2]
    assert "max_length (64)" in dropped[0].reason


def test_the_length_of_a_pair_is_its_longer_side(tmp_path, tiny_model_dir):
    from studio.core.model.load import load_tokenizer

    tok = load_tokenizer(tiny_model_dir)
    row = {**PAIR_SHAPES["alpaca"], "rejected": "no " * 50}
    report = inspect_dataset(_write(tmp_path, [row]), tokenizer=tok, max_length=512)
    samples, _ = load_samples(tmp_path / "p.jsonl", stage="dpo")
    pair = tokenize_preference(samples, tok, 512, stage="dpo")[0][0]
    assert report.length_stats.max == len(pair.rejected.input_ids) > len(pair.chosen.input_ids)
