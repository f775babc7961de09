"""Reading files: every file type x shape is detected; broken files give DataError with where."""

import json

import pytest
from data_files import FILE_TYPES, SHAPES, write_rows

from studio.core.data.doctor import inspect_dataset, load_samples
from studio.core.data.load import read_rows
from studio.core.errors import DataError

# Parquet cannot hold a column whose values mix types; CSV/TSV cells hold turns as JSON text.
CASES = [(kind, shape) for kind in FILE_TYPES for shape in SHAPES]


@pytest.mark.parametrize("kind,shape", CASES)
def test_every_file_type_and_shape_is_detected(tmp_path, kind, shape):
    path = write_rows(tmp_path, kind, SHAPES[shape](4))
    report = inspect_dataset(path)
    assert report.file_type == kind
    assert report.detected_format == shape
    assert report.format == shape
    assert (report.total_rows, report.good_rows) == (4, 4), report.problems
    assert report.problems == []
    assert report.is_preference == (shape == "preference")


def test_txt_is_text_one_sample_per_paragraph(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("First paragraph,\nstill the first.\n\n\n  \nSecond one.\n\nThird.", "utf-8")
    samples, report = load_samples(path, stage="pretrain")
    assert (report.file_type, report.format, report.total_rows) == ("txt", "text", 3)
    assert [s.text for s in samples] == ["First paragraph,\nstill the first.", "Second one.",
                                         "Third."]
    assert [s.row for s in samples] == [1, 2, 3]


def test_json_object_holding_one_list_of_rows(tmp_path):
    path = tmp_path / "wrapped.json"
    path.write_text(json.dumps({"data": SHAPES["alpaca"](5), "version": 2}), "utf-8")
    report = inspect_dataset(path)
    assert (report.format, report.good_rows) == ("alpaca", 5)


def test_json_object_that_is_one_conversation_is_one_row(tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps(SHAPES["sharegpt"](1)[0]), "utf-8")
    report = inspect_dataset(path)
    assert (report.format, report.total_rows, report.good_rows) == ("sharegpt", 1, 1)


def test_json_object_with_several_lists_is_refused(tmp_path):
    path = tmp_path / "two.json"
    path.write_text(json.dumps({"train": SHAPES["alpaca"](2), "test": SHAPES["alpaca"](1)}))
    with pytest.raises(DataError, match=r"several lists \(train, test\)"):
        inspect_dataset(path)


def test_parquet_structs_with_null_keys(tmp_path):
    # pyarrow gives every struct all the keys seen in the column, null where a row lacks one.
    rows = [{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]},
            {"conversations": [{"role": "user", "content": "Hi"},
                               {"role": "assistant", "content": "Yo"}]}]
    path = write_rows(tmp_path, "parquet", rows)
    samples, report = load_samples(path)
    assert report.good_rows == 2
    assert samples[0].messages == samples[1].messages


def test_json_lines_under_a_json_name_and_an_array_under_jsonl(tmp_path):
    rows = SHAPES["alpaca"](3)
    a = write_rows(tmp_path, "jsonl", rows)
    b = a.rename(tmp_path / "lines.json")
    assert inspect_dataset(b).good_rows == 3
    c = write_rows(tmp_path, "json", rows)
    d = c.rename(tmp_path / "array.jsonl")
    assert inspect_dataset(d).good_rows == 3


def test_utf8_bom_and_utf16_are_read(tmp_path):
    text = json.dumps([{"instruction": "你好", "input": "", "output": "世界"}], ensure_ascii=False)
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    samples, _ = load_samples(bom)
    assert samples[0].messages[0].content == "你好"
    u16 = tmp_path / "u16.json"
    u16.write_bytes(text.encode("utf-16"))  # Python writes a BOM first
    assert load_samples(u16)[0][0].messages[1].content == "世界"


def test_csv_with_bom_crlf_and_quoted_newlines(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfinstruction,input,output\r\n"
                     b"\"Two\r\nlines\",,\"An answer, with a comma\"\r\n")
    samples, _ = load_samples(path)
    assert samples[0].messages[0].content == "Two\r\nlines"
    assert samples[0].messages[1].content == "An answer, with a comma"


def test_non_utf8_file_names_byte_offset_and_line(tmp_path):
    path = tmp_path / "gbk.jsonl"
    good = json.dumps({"text": "ok"}).encode() + b"\n"
    path.write_bytes(good + json.dumps({"text": "中文"}, ensure_ascii=False).encode("gbk"))
    with pytest.raises(DataError) as e:
        inspect_dataset(path)
    msg = str(e.value)
    assert "not UTF-8" in msg and "line 2" in msg
    assert f"byte offset {len(good) + 10}" in msg  # 10 = len('{"text": "')


@pytest.mark.parametrize("text,where", [
    ('[{"instruction": "a", "output": "b"},\n {"instruction": "c" "output": "d"}]', "line 2"),
    ('[{"instruction": "a", "output": "b"},]', "line 1, column 38"),
    ('[{"instruction": "a", "output": "b"}] trailing', "line 1, column 39"),
    ('{"instruction": "a", "output": ', "line 1"),
])
def test_malformed_json_names_line_and_column(tmp_path, text, where):
    path = tmp_path / "bad.json"
    path.write_text(text, "utf-8")
    with pytest.raises(DataError, match=where):
        inspect_dataset(path)


def test_bad_jsonl_lines_are_bad_rows_not_fatal(tmp_path):
    path = tmp_path / "some_bad.jsonl"
    path.write_text('{"text": "one"}\n{"text": "two"\n\n{"text": "three"}\nnot json\n', "utf-8")
    report = inspect_dataset(path)
    assert (report.total_rows, report.good_rows) == (4, 2)
    assert [p.row for p in report.problems] == [2, 4]
    assert "not valid JSON" in report.problems[0].reason
    assert report.problems[1].line == 5  # row 4 sits on line 5 (a blank line is not a row)
    assert str(report.problems[1]).startswith("row 4 (line 5): ")


def test_csv_row_with_wrong_cell_count_is_a_bad_row(tmp_path):
    path = tmp_path / "cells.csv"
    path.write_text("instruction,input,output\na,,b\nc,d\ne,,f\n", "utf-8")
    report = inspect_dataset(path)
    assert [(p.row, p.reason) for p in report.problems] == \
        [(2, "has 2 cells but the header has 3 columns")]


@pytest.mark.parametrize("name,content,match", [
    ("missing.json", None, "no such file"),
    ("data.xlsx", b"PK", "unsupported file type '.xlsx'"),
    ("empty.jsonl", b"  \n\n", "empty"),
    ("empty.json", b"[]", "no rows"),
    ("scalar.json", b"42", "single a number"),
    ("broken.parquet", b"PAR1 not really", "not a readable Parquet"),
    ("noheader.csv", b",,\n", "header"),
    ("dup.csv", b"text,text\na,b\n", "appears twice"),
    ("deep.json", b"[" * 100000, "JSON"),
])
def test_unreadable_files_give_a_data_error(tmp_path, name, content, match):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        inspect_dataset(path)


def test_a_folder_is_refused(tmp_path):
    (tmp_path / "d.json").mkdir()
    with pytest.raises(DataError, match="folder"):
        read_rows(tmp_path / "d.json")


def test_unknown_shape_names_the_fields_it_found(tmp_path):
    path = write_rows(tmp_path, "jsonl", [{"foo": 1, "bar": 2}])
    with pytest.raises(DataError, match="found fields: foo, bar"):
        inspect_dataset(path)


def test_rows_stream_without_reading_to_the_end(tmp_path):
    # A .json array broken far down still yields its first rows: they are parsed one by one.
    path = tmp_path / "late.json"
    good = ",".join(json.dumps({"text": f"t{i}"}) for i in range(300))
    path.write_text(f"[{good}, {{oops}}]", "utf-8")
    _, rows = read_rows(path)
    assert [next(rows).row for _ in range(3)] == [1, 2, 3]
    with pytest.raises(DataError, match="line 1"):
        list(rows)
