"""RowIndex reads any record on its own, and agrees with data_load's full read row by row."""

import codecs
import json
from pathlib import Path

import pytest
from data_files import alpaca_rows, sharegpt_rows, write_rows

from studio.core.data.load import read_rows
from studio.core.data.row_index import Cancelled, build_row_index
from studio.core.errors import DataError

SHARED = Path(__file__).resolve().parents[4] / "shared" / "datasets"


def _same_as_full_read(path: Path) -> int:
    index = build_row_index(path)
    _, rows = read_rows(path)
    full = list(rows)
    assert len(index) == len(full)
    for i, want in enumerate(full):
        got = index.read(i)
        assert (got.row, got.value, got.error) == (want.row, want.value, want.error), i
        if want.line is not None:
            assert got.line == want.line
    return len(full)


@pytest.mark.parametrize("kind", ["json", "jsonl", "csv", "tsv", "parquet"])
def test_every_file_type_matches_the_full_read(tmp_path, kind):
    rows = alpaca_rows(5) + sharegpt_rows(3)
    rows[2]["output"] = "多行\n中文 “引号” and emoji 🙂, commas, \"quotes\""
    assert _same_as_full_read(write_rows(tmp_path, kind, rows)) == 8


def test_txt_paragraphs(tmp_path):
    path = write_rows(tmp_path, "txt", ["first para\nsecond line", "二段", "third\n\n\n"])
    assert _same_as_full_read(path) == 3
    assert build_row_index(path).read(1).value == "二段"


def test_jsonl_with_bad_lines_blank_lines_bom_and_crlf(tmp_path):
    path = tmp_path / "x.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in alpaca_rows(3)]
    body = "\r\n".join([lines[0], "", "\u3000", "{broken", lines[1], "   ", lines[2]]) + "\r\n"
    path.write_bytes(codecs.BOM_UTF8 + body.encode("utf-8"))
    assert _same_as_full_read(path) == 4
    bad = build_row_index(path).read(1)
    assert bad.row == 2 and bad.line == 4 and "not valid JSON" in bad.error


def test_compact_json_array_on_one_line(tmp_path):
    path = tmp_path / "one_line.json"
    path.write_text(json.dumps(alpaca_rows(50), ensure_ascii=False), encoding="utf-8")
    assert _same_as_full_read(path) == 50


def test_json_lines_under_a_json_name_and_wrapped_object(tmp_path):
    lines = tmp_path / "lines.json"
    lines.write_text("".join(json.dumps(r) + "\n" for r in alpaca_rows(4)), encoding="utf-8")
    assert _same_as_full_read(lines) == 4
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"data": alpaca_rows(3)}), encoding="utf-8")
    assert _same_as_full_read(wrapped) == 3


def test_utf16_file_is_read_in_memory(tmp_path):
    path = tmp_path / "u16.jsonl"
    path.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n"
                             for r in alpaca_rows(3)).encode("utf-16"))
    assert _same_as_full_read(path) == 3


@pytest.mark.parametrize("name", ["alpaca_zh_demo.json", "glaive_toolcall_en_demo.json",
                                  "c4_demo.jsonl"])
def test_shared_sample_files(name):
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    assert _same_as_full_read(path) > 100


def test_broken_files_give_data_loads_message(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('[{"instruction": "a", "output": "b"}, {"instruction": ]', encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON.*line 1"):
        build_row_index(broken)
    gbk = tmp_path / "gbk.jsonl"
    gbk.write_bytes('{"text": "中文"}\n'.encode("gbk"))
    with pytest.raises(DataError, match="not UTF-8"):
        build_row_index(gbk)
    with pytest.raises(DataError, match="unsupported file type"):
        build_row_index(tmp_path / "x.docx")


def test_cancel_stops_the_scan(tmp_path):
    path = write_rows(tmp_path, "jsonl", alpaca_rows(10000))
    with pytest.raises(Cancelled):
        build_row_index(path, cancel=lambda: True)


def test_read_outside_the_file_is_an_index_error(tmp_path):
    index = build_row_index(write_rows(tmp_path, "jsonl", alpaca_rows(2)))
    with pytest.raises(IndexError):
        index.read(2)


@pytest.mark.parametrize("kind", ["json", "jsonl", "csv", "tsv", "parquet", "txt"])
def test_an_index_read_back_from_a_pickle_reads_the_same_rows(tmp_path, kind):
    # The doctor builds the index in a child process and sends it back pickled.
    import pickle

    if kind == "txt":
        path = tmp_path / "notes.txt"
        path.write_text("first paragraph\n\nsecond one\n", encoding="utf-8")
    else:
        path = write_rows(tmp_path, kind, alpaca_rows(6))
    index = build_row_index(path)
    copy = pickle.loads(pickle.dumps(index))
    assert len(copy) == len(index)
    for i in range(len(index)):
        assert copy.read(i) == index.read(i)
