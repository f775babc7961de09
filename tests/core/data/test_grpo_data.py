"""Stage grpo's rows: a prompt in any chat shape, an optional reference answer; the doctor
reads them, names the bad ones, and refuses files of another kind."""

import json

import pytest

from studio.core.data.doctor import DataError, inspect_dataset, load_samples

ROWS = [
    {"prompt": "What colour is the sky?", "answer": "blue"},
    {"question": "2 + 2 = ?", "answer": 4},
    {"messages": [{"role": "user", "content": "Say hi."}]},
    {"messages": [{"role": "user", "content": "Name a fruit."},
                  {"role": "assistant", "content": "apple"}]},
    {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why?"}],
     "solution": "because"},
    {"prompt": ""},
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "human", "value": "again"}]},
    {"messages": [{"role": "assistant", "content": "an answer without a question"}]},
]


def write(tmp_path, rows, name="p.jsonl"):
    p = tmp_path / name
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return p


def test_prompts_and_reference_answers_in_every_shape(tmp_path):
    samples, report = load_samples(write(tmp_path, ROWS), stage="grpo", skip_bad_rows=True)
    assert report.format == "prompt" and report.good_rows == 5
    assert [p.row for p in report.problems] == [6, 7, 8]
    assert "empty prompt" in report.problems[0].reason
    assert "two user turns in a row" in report.problems[1].reason
    assert "only an assistant reply" in report.problems[2].reason
    last = [(s.messages[-1].role, s.messages[-1].content) for s in samples]
    assert last == [("assistant", "blue"), ("assistant", "4"), ("user", "Say hi."),
                    ("assistant", "apple"), ("assistant", "because")]
    assert samples[4].messages[0].role == "system"


def test_the_doctor_checks_grpo_rows_and_counts_their_tokens(tmp_path, tiny_model_dir):
    from studio.core.model.load import load_tokenizer

    path = write(tmp_path, ROWS)
    report = inspect_dataset(path, stage="grpo")
    assert report.format == "prompt" and report.detected_format == "prompt"
    assert report.bad_rows == 3
    with pytest.raises(DataError, match="row 6"):  # bad rows refuse training, by number
        load_samples(path, stage="grpo")
    counted = inspect_dataset(path, stage="grpo", tokenizer=load_tokenizer(tiny_model_dir),
                              max_length=64)
    assert counted.length_stats.count == 5 and counted.stage == "grpo"


def test_files_of_another_kind_are_refused_for_grpo_and_prompts_for_others(tmp_path):
    pairs = write(tmp_path, [{"prompt": "Hi", "chosen": "Hello!", "rejected": "no"}], "d.jsonl")
    with pytest.raises(DataError, match="stage grpo needs prompts"):
        load_samples(pairs, stage="grpo")
    with pytest.raises(DataError, match="stage grpo needs prompts"):
        inspect_dataset(pairs, stage="grpo")
    prompts = write(tmp_path, ROWS[:1])
    with pytest.raises(DataError, match="train with stage: grpo, not sft"):
        load_samples(prompts, "prompt", stage="sft")
