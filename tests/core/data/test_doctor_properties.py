"""Properties of the whole dataset doctor (inspect_dataset), load_samples, tokenizing and the
row index, over hostile files (tests/hostile_data.py): every file type holding rows of every
shape mixed with broken rows, huge and odd Unicode strings, BOMs, CRLF, GBK and UTF-16.

The accounting the doctor promises (studio.core.data.doctor._Scan):
  total_rows == good_rows + bad_rows, where bad_rows == len(problems): every record is either
  a good row or exactly one problem (a record that cannot be read, a row that breaks its
  shape's rules, a media row, or with a tokenizer a row the chat template refuses).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hostile_data import hostile_files
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from studio.core.data.doctor import (
    FORMATS,
    IGNORE_INDEX,
    KTO_REFUSAL,
    PREFERENCE_REFUSAL,
    inspect_dataset,
    load_samples,
    tokenize_dataset,
    tokenize_sample,
)
from studio.core.data.row_index import build_row_index
from studio.core.data.tokenize import nothing_to_learn
from studio.core.data.view import PREVIEW_MAX_TOKENS, measure_lengths, summarize_row, token_view
from studio.core.errors import DataError

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 60))
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                      HealthCheck.too_slow,
                                                      HealthCheck.data_too_large])


def one_line(text: str) -> bool:
    return bool(text.strip()) and len(text.splitlines()) == 1


def doctor(path, **kw):
    """inspect_dataset's report, or None after checking its DataError is one clear line."""
    try:
        return inspect_dataset(path, **kw)
    except DataError as e:  # any other exception fails the property
        assert one_line(str(e)), repr(str(e))
        return None


def check_accounting(report) -> None:
    rows = [p.row for p in report.problems]
    assert report.total_rows == report.good_rows + report.bad_rows
    assert rows == sorted(set(rows)), "each bad row once, in order"
    assert all(1 <= r <= report.total_rows for r in rows)
    for p in report.problems:
        assert one_line(p.reason) and one_line(str(p)), repr(p)
    assert set(report.media_rows) <= set(rows)
    preview = [s.row for s in report.preview]
    assert preview == sorted(set(preview)) and not set(preview) & set(rows)
    assert all(1 <= r <= report.total_rows for r in preview)
    assert report.rows_scanned_limit is None


def outcome_by_row(path, report) -> dict[int, object]:
    """What each record reads as through the row index: its Sample or the reason it is bad.
    Checks the index holds the same records, numbered the same, as the doctor's scan."""
    index = build_row_index(path)
    assert len(index) == report.total_rows
    out = {}
    for i in range(len(index)):
        raw = index.read(i)
        assert raw.row == i + 1
        # The data panel's table shows each row through summarize_row: the doctor's verdict.
        summary = summarize_row(raw, report.format)
        out[raw.row] = summary.sample or summary.problem
        assert bool(summary.sample) != bool(summary.problem)
    return out


# --- the doctor without a tokenizer ---------------------------------------------------------------

FORMAT = st.sampled_from(["auto", "auto", "auto", *FORMATS])


@settings(max_examples=EXAMPLES * 2, **SETTINGS)
@given(f=hostile_files(), fmt=FORMAT)
def test_the_doctor_reports_every_row_once_or_refuses_in_one_line(tmp_path, f, fmt):
    path = f.write(tmp_path)
    report = doctor(path, format=fmt)
    if report is None:
        try:  # the index may still read a file whose shape cannot be told; never crash
            build_row_index(path)
        except DataError as e:
            assert one_line(str(e))
        return
    check_accounting(report)
    # The row the doctor names is the record RowIndex.read(row - 1) returns.
    outcome = outcome_by_row(path, report)
    problems = {p.row: p.reason for p in report.problems}
    for row, got in outcome.items():
        if isinstance(got, str):
            assert problems.get(row) == got, (row, got, problems.get(row))
        else:
            assert row not in problems, (row, problems[row])
    preview = {s.row: s for s in report.preview}
    assert all(outcome[row] == s for row, s in preview.items())
    assert report.good_rows == sum(not isinstance(o, str) for o in outcome.values())


@settings(max_examples=EXAMPLES, **SETTINGS)
@given(f=hostile_files(huge=False), max_rows=st.integers(1, 6))
def test_max_rows_reads_a_prefix(tmp_path, f, max_rows):
    path = f.write(tmp_path)
    full = doctor(path)
    if full is None:
        return
    part = doctor(path, max_rows=max_rows)
    assert part is not None  # the head decides the shape: a prefix reads as the whole file does
    assert part.total_rows == min(max_rows, full.total_rows)
    assert part.rows_scanned_limit == (max_rows if full.total_rows > max_rows else None)
    assert part.problems == [p for p in full.problems if p.row <= max_rows]
    assert part.total_rows == part.good_rows + part.bad_rows


@settings(max_examples=EXAMPLES, **SETTINGS)
@given(f=hostile_files(kinds=("json",), huge=False))
def test_a_json_array_and_json_lines_of_the_same_rows_agree(tmp_path, f):
    """The same records as a .json file and as a .jsonl file: the same verdict on each row."""
    path = f.write(tmp_path)
    report = doctor(path)
    if report is None:
        return
    index = build_row_index(path)
    # A record that cannot be read has no value to write again (JSON lines under a .json name)
    assume(not any(index.read(i).error for i in range(len(index))))
    lines = tmp_path / "same.jsonl"
    lines.write_text("".join(json.dumps(index.read(i).value) + "\n" for i in range(len(index))),
                     "utf-8")
    again = doctor(lines, format=report.format)
    assert again is not None
    assert [(p.row, p.reason) for p in again.problems] == \
        [(p.row, p.reason) for p in report.problems]
    assert again.good_rows == report.good_rows


# --- load_samples -------------------------------------------------------------------------------

@settings(max_examples=EXAMPLES, **SETTINGS)
@given(f=hostile_files(), stage=st.sampled_from(["sft", "pretrain"]), fmt=FORMAT)
def test_load_samples_keeps_exactly_the_good_rows(tmp_path, f, stage, fmt):
    path = f.write(tmp_path)
    report = doctor(path, format=fmt)
    for skip in (True, False):
        try:
            samples, got = load_samples(path, fmt, stage=stage, skip_bad_rows=skip)
        except DataError as e:
            msg = str(e)
            assert one_line(msg), repr(msg)
            if report is None:
                continue
            if report.format == "preference":
                assert msg == PREFERENCE_REFUSAL.format(name=path.name, stage=stage)
            elif report.format == "kto":
                assert msg == KTO_REFUSAL.format(name=path.name, stage=stage)
            elif report.format == "text" and stage == "sft":
                assert "stage: pretrain" in msg
            elif report.format == "prompt":  # prompts (format prompt) train with stage grpo
                assert "stage: grpo" in msg
            elif report.good_rows == 0:
                assert msg.startswith(f"no row of {path.name}") or "image/audio/video" in msg
            else:
                assert not skip, f"skip_bad_rows refused a file with good rows: {msg}"
                assert report.problems and str(report.problems[0]) in msg, msg
            continue
        assert report is not None, "load_samples read a file the doctor refuses"
        assert report.format not in ("preference", "kto", "prompt")
        assert not (report.format == "text" and stage == "sft")
        assert skip or not report.problems
        assert got.problems == report.problems and got.good_rows == report.good_rows
        bad = {p.row for p in report.problems}
        assert len(samples) == report.good_rows
        assert [s.row for s in samples] == [r for r in range(1, report.total_rows + 1)
                                            if r not in bad]


# --- with the tiny model's tokenizer -------------------------------------------------------------

# Chat templates besides the model's own (None): one that refuses what is not strict
# user/assistant alternation (Mistral style), one that trims every message and writes no end
# marker (EOS must be appended), one that rewrites earlier turns (Qwen3 style).
STRICT = ("{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
          "{{ raise_exception('Conversation roles must alternate user/assistant') }}{% endif %}"
          "{{ '[INST] ' + m['content'] + ' [/INST]' if m['role'] == 'user' else m['content'] + "
          "eos_token }}{% endfor %}")
TRIMS = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] | trim }}\n{% endfor %}"
         "{% if add_generation_prompt %}assistant: {% endif %}")
REWRITES = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' }}"
            "{% if m['role'] == 'assistant' and loop.last %}{{ '<think>\\n\\n</think>\\n\\n' }}"
            "{% endif %}{{ m['content'] + '<|im_end|>\\n' }}{% endfor %}"
            "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
TEMPLATES = st.sampled_from([None, None, STRICT, TRIMS, REWRITES])


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from studio.core.model.load import load_tokenizer

    return load_tokenizer(tiny_model_dir)


@settings(max_examples=EXAMPLES, **SETTINGS)
@given(f=hostile_files(max_rows=6, huge=False), max_length=st.integers(1, 80),
       stage=st.sampled_from(["sft", "pretrain"]), template=TEMPLATES)
def test_token_lengths_cover_exactly_the_good_rows(tmp_path, tokenizer, f, max_length, stage,
                                                   template):
    path = f.write(tmp_path)
    plain = doctor(path)
    report = doctor(path, tokenizer=tokenizer, max_length=max_length, stage=stage,
                    chat_template=template)
    assert (plain is None) == (report is None)
    if report is None:
        return
    check_accounting(report)
    assert report.stage == ("pretrain" if report.format == "text" else stage)
    assert report.total_rows == plain.total_rows
    # The template can only refuse more rows: every row bad without it is bad with it.
    before = {(p.row, p.reason) for p in plain.problems}
    assert before <= {(p.row, p.reason) for p in report.problems}
    refused = {(p.row, p.reason) for p in report.problems} - before
    assert report.good_rows == plain.good_rows - len(refused)
    check_lengths(report, max_length)
    samples = [o for o in outcome_by_row(path, plain).values() if not isinstance(o, str)]
    check_one_at_a_time(report, samples, refused, tokenizer, template)
    check_tokenize_dataset(report, samples, refused, tokenizer, template)
    if template is None:  # the data panel measures with the model's own template
        check_panel(path, report, refused, tokenizer)


def good_rows_of(report) -> list[int]:
    bad = {p.row for p in report.problems}
    return [r for r in range(1, report.total_rows + 1) if r not in bad]


def check_lengths(report, max_length: int) -> None:
    """One length per good row; the stats, the over-long count and the rows with nothing to
    learn agree with them."""
    lengths = report.lengths
    assert len(lengths) == report.good_rows
    if report.good_rows:
        s = report.length_stats
        assert s.count == report.good_rows and s.min == lengths.min() and s.max == lengths.max()
    else:
        assert report.length_stats is None
    assert report.over_max_length == int((lengths > max_length).sum()) <= len(lengths)
    assert report.all_masked_rows == sorted(set(report.all_masked_rows))
    assert set(report.all_masked_rows) <= set(good_rows_of(report))
    if report.stage == "pretrain":
        assert report.all_masked_rows == []


def check_one_at_a_time(report, samples, refused, tokenizer, template) -> None:
    """The doctor tokenizes in batches; one sample at a time gives the same lengths, refusals
    and rows with nothing to learn."""
    kept = []
    for sample in samples:
        try:
            tok = tokenize_sample(sample, tokenizer, None, stage=report.stage,
                                  chat_template=template)
            if sample.is_pair:  # a pair is measured by its longer side (what a batch holds)
                other = tokenize_sample(sample.rejected_side(), tokenizer, None,
                                        stage=report.stage, chat_template=template)
                tok = other if len(other.input_ids) > len(tok.input_ids) else tok
        except DataError as e:
            assert (sample.row, e.one_line()) in refused
            continue
        kept.append(sample.row)
        assert len(tok.input_ids) == len(tok.labels) == report.lengths[len(kept) - 1]
        masked = bool(nothing_to_learn(tok, report.max_length)) and report.stage == "sft"
        assert masked == (sample.row in report.all_masked_rows)
    assert kept == good_rows_of(report)


def check_tokenize_dataset(report, samples, refused, tokenizer, template) -> None:
    """Training's tokenizing drops exactly the rows the doctor refuses or finds with nothing
    to learn, and never yields a sample longer than max_length or without a label."""
    max_length, stage = report.max_length, report.stage
    out, problems = tokenize_dataset(samples, tokenizer, max_length, stage=stage,
                                     chat_template=template)
    dropped = {r for r, _ in refused} | set(report.all_masked_rows)
    assert sorted(p.row for p in problems) == sorted(dropped)
    for t in out:
        assert 1 <= len(t.input_ids) == len(t.labels) <= max_length
        assert any(x != IGNORE_INDEX for x in t.labels)
    if stage == "sft":
        good = good_rows_of(report)
        assert [t.row for t in out] == [r for r in good if r not in dropped]
        assert sum(t.truncated for t in out) == sum(
            1 for r, n in zip(good, report.lengths) if n > max_length and r not in dropped)


def check_panel(path, report, refused, tokenizer) -> None:
    """The data panel's measurement (every row of a small file) and token view agree with the
    doctor."""
    index = build_row_index(path)
    got = measure_lengths(index, report.format, tokenizer, stage=report.stage)
    assert got.exact and got.stage == report.stage
    assert got.bad == report.bad_rows and got.good == report.good_rows
    assert {(p.row, p.reason) for p in got.failed} == refused
    order = np.argsort(got.rows)
    assert got.rows[order].tolist() == good_rows_of(report)
    assert got.lengths[order].tolist() == report.lengths.tolist()
    if report.stage == "sft":
        assert got.nothing_to_learn(report.max_length) == len(report.all_masked_rows)
    for row, n in zip(good_rows_of(report)[:3], report.lengths):
        sample = summarize_row(index.read(row - 1), report.format).sample
        view = token_view(sample, tokenizer, report.max_length, stage=report.stage)
        if sample.is_pair:  # the doctor measures a pair by its longer side; the view's own
            # figures are the chosen side's, its other side hangs under `rejected`
            if view.rejected is not None:
                assert max(view.tokens, view.rejected.tokens) == n
            n = len(tokenize_sample(sample, tokenizer, None, stage=report.stage).input_ids)
        assert view.tokens == n and view.shown_tokens == min(n, PREVIEW_MAX_TOKENS)
        assert view.cut == (0 if report.stage == "pretrain" else max(0, n - report.max_length))


@pytest.mark.slow  # writes and reads a 50 MB file: ~3 s, ~0.5 GB of memory
def test_a_50_mb_single_row(tmp_path):
    path = tmp_path / "big.jsonl"
    big = "长文本 and words " * (50 * 2**20 // 20)
    path.write_text(json.dumps({"instruction": "Summarise.", "output": big}) + "\n" +
                    json.dumps({"instruction": "q", "output": ""}) + "\n", "utf-8")
    assert path.stat().st_size > 50 * 2**20
    report = inspect_dataset(path)
    assert (report.total_rows, report.good_rows) == (2, 1)
    assert [str(p) for p in report.problems] == ["row 2: empty assistant reply (field 'output')"]
    samples, _ = load_samples(path, skip_bad_rows=True)
    assert len(samples[0].messages[-1].content) == len(big)
    assert build_row_index(path).read(0).value["output"] == big


def test_lengths_are_a_numpy_array_even_without_good_rows(tmp_path, tokenizer):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"instruction": "q", "output": ""}\n', "utf-8")
    report = inspect_dataset(path, tokenizer=tokenizer, max_length=8)
    assert isinstance(report.lengths, np.ndarray) and report.lengths.size == 0
    assert report.length_stats is None and report.good_rows == 0




# --- minimal examples the properties found ----------------------------------------------------

@pytest.mark.parametrize("content", [
    b"text\nHello\ra\n",                    # a stray CR in an unquoted cell ends a CSV record
    b'text\r"Hello\nthere"\rnext\r',        # old Mac line ends (the index crashed: IndexError)
    b'text\r\n"a\r\nb"\r\n\r\nc\r\n',
])
def test_csv_records_ended_by_a_lone_cr_are_indexed_as_the_doctor_reads_them(tmp_path, content):
    path = tmp_path / "cr.csv"
    path.write_bytes(content)
    report = inspect_dataset(path)
    assert report.bad_rows == 0
    index = build_row_index(path)
    assert [index.read(i).value for i in range(len(index))] == \
        [{"text": s.text} for s in report.preview]


def test_a_lone_surrogate_from_a_json_escape_is_a_bad_row_not_a_crash(tmp_path, tokenizer):
    # The tokenizer raised TypeError on the text: a traceback in the doctor and in training.
    path = tmp_path / "s.jsonl"
    path.write_text('{"instruction": "Hi", "input": "Hello\\ud800", "output": "Yo"}\n'
                    '{"instruction": "Hi", "output": "\\ud83d\\ude00 a whole pair is fine"}\n',
                    "utf-8")
    report = inspect_dataset(path, tokenizer=tokenizer, max_length=64)
    assert report.good_rows == 1 and report.length_stats.count == 1
    assert [str(p) for p in report.problems] == [
        "row 1: holds '\\ud800', half of a UTF-16 surrogate pair (a broken \\u escape): not a "
        "character; fix or remove it"]
    samples, _ = load_samples(path, skip_bad_rows=True)
    assert samples[0].messages[-1].content.startswith("😀")


def test_a_jsonl_whose_first_line_is_a_list_reads_line_by_line(tmp_path):
    # It was read as one JSON array, then refused whole: "extra text after the end of the array"
    path = tmp_path / "l.jsonl"
    path.write_text('[]\n{"instruction": "q", "output": "a"}\n[1, 2]\n', "utf-8")
    report = inspect_dataset(path)
    assert (report.total_rows, report.good_rows) == (3, 1)
    assert [str(p) for p in report.problems] == [
        "row 1: the row is a list, expected an object with fields",
        "row 3: the row is a list, expected an object with fields"]
    assert build_row_index(path).read(1).value == {"instruction": "q", "output": "a"}
    pretty = tmp_path / "p.jsonl"  # a whole array (pretty-printed) in a .jsonl still reads
    pretty.write_text('[\n {"instruction": "q", "output": "a"}\n]\n', "utf-8")
    assert inspect_dataset(pretty).good_rows == 1


@pytest.mark.parametrize("content,kind,message", [
    (b'{"in\\nput": "a", "x\\u3000": 1}\n', "jsonl",
     "cannot tell the shape of f.jsonl (found fields: 'in\\nput', 'x\\u3000');"),
    (b'{"a\\nb": [1], "c": [2]}', "json", "f.json is an object with several lists ('a\\nb', c);"),
    (b'"a\nb",x,"a\nb"\n1,2,3\n', "csv", "f.csv: column 'a\\nb' appears twice in the header"),
])
def test_field_names_with_a_newline_keep_the_message_on_one_line(tmp_path, content, kind,
                                                                 message):
    path = tmp_path / f"f.{kind}"
    path.write_bytes(content)
    with pytest.raises(DataError) as e:
        inspect_dataset(path)
    assert str(e.value).startswith(message) and one_line(str(e.value))


def test_an_empty_csv_cell_where_turns_go_says_empty(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text('conversations,text\n"[{""from"": ""human"", ""value"": ""Hi""}, '
                    '{""from"": ""gpt"", ""value"": ""Yo""}]",\n,just text\n', "utf-8")
    report = inspect_dataset(path)
    assert [str(p) for p in report.problems] == ["row 2 (line 3): field 'conversations' is empty"]


@pytest.mark.slow  # ~0.5 GB for the file's text; the tokenizer sees only the first MiB
def test_a_50_mb_single_row_with_the_models_tokenizer_is_measured_as_truncated(tmp_path,
                                                                                tokenizer):
    path = tmp_path / "big.jsonl"
    big = "长文本 and words " * (50 * 2**20 // 20)
    path.write_text(json.dumps({"instruction": "Summarise.", "output": big}) + "\n" +
                    json.dumps({"instruction": "q", "output": "short"}) + "\n", "utf-8")
    report = inspect_dataset(path, tokenizer=tokenizer, max_length=512)
    assert (report.total_rows, report.good_rows, report.over_max_length) == (2, 2, 1)
    assert report.lengths[0] > 512 and report.lengths[1] < 512
