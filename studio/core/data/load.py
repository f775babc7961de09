"""Reading dataset files into a stream of records (one `RawRow` per sample in the file).

File types: .json (an array of rows, or an object holding one list of rows), .jsonl, .csv,
.tsv, .parquet, .txt. Records are numbered from 1 in file order; that number is the "row" every
message uses. A .txt file holds plain text: one sample per paragraph, paragraphs separated by
blank lines (a file without blank lines is one sample; pre-training splits long samples into
max_length windows, so nothing is lost).

Fatal problems (missing file, not UTF-8, malformed .json) raise DataError with the byte offset
or line/column. A .jsonl line that is not valid JSON, or a CSV record with the wrong number of
cells, is one bad row (RawRow.error), not a fatal error.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

from studio.core import files
from studio.core.data.formats import classify
from studio.core.data.types import FILE_TYPES, shown_name, type_name
from studio.core.errors import DataError

# Cells of these CSV/TSV columns hold JSON (a list of turns, say); other cells stay text.
JSON_CELL_KEYS = ("conversations", "messages", "history", "chosen", "rejected")

_WS = re.compile(r"[ \t\n\r]*")


@dataclass(slots=True)
class RawRow:
    row: int                  # 1-based record number
    line: Optional[int]       # line where the record starts (None for parquet)
    value: Any = None         # the parsed record: a dict for most files, a str for .txt
    error: str = ""           # why this record could not be read (then value is None)


def file_type_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FILE_TYPES:
        kinds = ", ".join(sorted({k.lstrip(".") for k in FILE_TYPES}))
        raise DataError(f"{Path(path).name}: unsupported file type '{suffix or '(none)'}'; "
                        f"use one of {kinds}")
    return FILE_TYPES[suffix]


def check_file(path: Path) -> str:
    """The file's type, once it is known to be a file that exists (else DataError)."""
    kind = file_type_of(path)
    if not path.exists():
        raise DataError(f"no such file: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a dataset file")
    files.regular_file(path, "dataset", DataError)  # a pipe would block, /dev/zero fill memory
    return kind


def read_rows(path: str | Path) -> tuple[str, Iterator[RawRow]]:
    """(file type, records). Checks the file up front; may raise DataError while iterating
    (a .json array broken half way through)."""
    path = Path(path)
    kind = check_file(path)
    if kind == "parquet":
        return kind, _parquet_rows(path)
    text = decode_text(_read_bytes(path), path.name)
    if not text.strip():
        raise DataError(f"{path.name} is empty: no rows to read")
    if kind in ("json", "jsonl"):
        return kind, _json_rows(text, path.name, prefer_lines=(kind == "jsonl"))
    if kind in ("csv", "tsv"):
        return kind, _csv_rows(text, path.name, "\t" if kind == "tsv" else ",")
    return kind, _txt_rows(text)


def _read_bytes(path: Path) -> bytes:
    return files.read_bytes(path, "dataset", error=DataError)


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 (a BOM is fine; so is UTF-16 with a BOM). Anything else: DataError naming where."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as e:
            raise DataError(f"{name} starts like UTF-16 text but byte offset {e.start} cannot be "
                            "decoded; save the file as UTF-8") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(f"{name} is not UTF-8 text: byte 0x{data[e.start]:02x} at byte offset "
                        f"{e.start} (line {line}) cannot be decoded; save the file as UTF-8 "
                        "(it may be GBK/GB18030 or Latin-1)") from None


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _json_error(name: str, text: str, pos: int, msg: str) -> DataError:
    line, col = _line_col(text, pos)
    return DataError(f"{name} is not valid JSON: {msg} at line {line}, column {col}")


# --- JSON and JSON lines ----------------------------------------------------------------------

def _json_rows(text: str, name: str, prefer_lines: bool) -> Iterator[RawRow]:
    """A .json array streams element by element; a .json file that turns out to hold one object
    per line is read as JSON lines (a common mix-up), and a .jsonl holding an array as JSON."""
    start = _WS.match(text).end()
    if is_json_array(text, start, prefer_lines):
        return _json_array_rows(text, name, start)
    if prefer_lines:
        return _jsonl_rows(text)
    decoder = json.JSONDecoder()
    try:
        value, end = decoder.raw_decode(text, start)
    except json.JSONDecodeError as e:
        raise _json_error(name, text, e.pos, e.msg) from None
    except (ValueError, RecursionError) as e:  # over-long integers, absurd nesting
        raise DataError(f"{name} is not usable JSON: {_short(e)}") from None
    if _WS.match(text, end).end() != len(text):
        return _jsonl_rows(text)  # more values follow: JSON lines under a .json name
    return _json_object_rows(value, name)


def is_json_array(text: str, start: int, prefer_lines: bool) -> bool:
    """Does the file hold one JSON array (from `start`, its first non-blank character)? In a
    .jsonl, a first line that holds a whole JSON value and more lines after it is a row of its
    own (a bad one, `[1, 2]`), not an array with junk after it. (A first line that is not
    valid JSON alone is taken to open an array that spans lines, pretty-printed.)"""
    if not text.startswith("[", start):
        return False
    if not prefer_lines:
        return True
    nl = text.find("\n", start)
    if nl < 0 or _WS.match(text, nl).end() == len(text):
        return True  # one line: the array, whatever it holds
    try:
        json.JSONDecoder().raw_decode(text[:nl], start)
    except (ValueError, RecursionError):
        return True
    return False


def _json_object_rows(value: Any, name: str) -> Iterator[RawRow]:
    """One JSON object: a row itself ({"conversations": [...]}), or a wrapper holding the rows
    in its one list ({"data": [...], "version": 2})."""
    if not isinstance(value, dict):
        raise DataError(f"{name} holds a single {type_name(value)}; expected a list of rows "
                        "(a JSON array of objects)")
    if classify(value) is not None:
        return iter([RawRow(1, 1, value)])
    lists = [k for k, v in value.items() if isinstance(v, list)]
    if len(lists) == 1:
        return (RawRow(i, None, v) for i, v in enumerate(value[lists[0]], 1))
    if lists:
        raise DataError(f"{name} is an object with several lists "
                        f"({', '.join(map(shown_name, lists[:4]))}); "
                        "expected one list of rows")
    return iter([RawRow(1, 1, value)])  # validation says what the row lacks


def _json_array_rows(text: str, name: str, pos: int) -> Iterator[RawRow]:
    # raw_decode element by element: rows stream out without building the whole list, and an
    # error position is still relative to the whole text (so line/column are right).
    decoder = json.JSONDecoder()
    pos = _WS.match(text, pos + 1).end()
    if text.startswith("]", pos):
        _expect_end(text, name, pos + 1)
        return
    row, line, counted = 0, 1, 0
    while True:
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise _json_error(name, text, e.pos, e.msg) from None
        except (ValueError, RecursionError) as e:
            line_no, _ = _line_col(text, pos)
            raise DataError(f"{name}: row {row + 1} (line {line_no}) is not usable JSON: "
                            f"{_short(e)}") from None
        row += 1
        yield RawRow(row, line, value)
        pos = _WS.match(text, end).end()
        if text.startswith(",", pos):
            pos = _WS.match(text, pos + 1).end()
        elif text.startswith("]", pos):
            _expect_end(text, name, pos + 1)
            return
        else:
            raise _json_error(name, text, pos, "expected ',' or ']' after a row")


def _expect_end(text: str, name: str, pos: int) -> None:
    end = _WS.match(text, pos).end()
    if end != len(text):
        raise _json_error(name, text, end, "extra text after the end of the JSON array")


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) split on '\\n' only: JSON strings may hold U+2028 and friends,
    which str.splitlines would split on."""
    start, number = 0, 1
    while start <= len(text):
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        yield number, text[start:end].rstrip("\r")
        start, number = end + 1, number + 1


def _jsonl_rows(text: str) -> Iterator[RawRow]:
    row = 0
    for number, line in _lines(text):
        if not line.strip():
            continue  # blank lines are not rows
        row += 1
        try:
            yield RawRow(row, number, json.loads(line))
        except json.JSONDecodeError as e:
            yield RawRow(row, number, error=f"not valid JSON: {e.msg} (column {e.colno})")
        except (ValueError, RecursionError) as e:
            yield RawRow(row, number, error=f"not usable JSON: {_short(e)}")


# --- CSV / TSV ----------------------------------------------------------------------------------

def _csv_rows(text: str, name: str, delimiter: str) -> Iterator[RawRow]:
    # Long texts in one cell are normal here; the csv module's default cap is 128 KiB per cell.
    csv.field_size_limit(2**31 - 1)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise DataError(f"{name}: the first line must name the columns (a header row)")
        header = [h.strip() or f"column {i}" for i, h in enumerate(header, 1)]
        dup = next((h for h in header if header.count(h) > 1), None)
        if dup:
            raise DataError(f"{name}: column {shown_name(dup, quoted=True)} appears twice in "
                            "the header")
        return _csv_records(reader, header, name)
    except csv.Error as e:
        raise DataError(f"{name}: cannot read the header: {e}") from None


def _csv_records(reader, header: list[str], name: str) -> Iterator[RawRow]:
    row = 0
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader, None)
        except csv.Error as e:
            raise DataError(f"{name}: CSV error near line {reader.line_num}: {e}") from None
        if cells is None:
            return
        if not any(c.strip() for c in cells):
            continue  # blank line
        row += 1
        if len(cells) != len(header):
            yield RawRow(row, line, error=f"has {len(cells)} cells but the header has "
                                          f"{len(header)} columns")
            continue
        yield RawRow(row, line, {h: _cell(h, c) for h, c in zip(header, cells)})


def _cell(column: str, cell: str) -> Any:
    """CSV cells are text; columns that hold turns carry them as JSON."""
    if column in JSON_CELL_KEYS and cell.lstrip()[:1] in ("[", "{"):
        try:
            return json.loads(cell)
        except (ValueError, RecursionError):
            return cell  # left as text: validation says the column has the wrong type
    return cell


# --- Parquet and plain text ---------------------------------------------------------------------

def _parquet_rows(path: Path) -> Iterator[RawRow]:
    import pyarrow.parquet as pq  # only parquet files need it (~0.2 s to import)

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises ArrowInvalid, OSError, ...: all mean "unreadable"
        raise DataError(f"{path.name} is not a readable Parquet file: {_short(e)}") from None

    def rows() -> Iterator[RawRow]:
        row = 0
        try:
            for batch in pf.iter_batches(batch_size=2048):
                for value in batch.to_pylist():
                    row += 1
                    yield RawRow(row, None, value)
        except Exception as e:  # a corrupt row group half way through
            raise DataError(f"{path.name}: cannot read Parquet rows after row {row}: "
                            f"{_short(e)}") from None

    return rows()


def _txt_rows(text: str) -> Iterator[RawRow]:
    row, start_line, para = 0, 0, []
    for number, line in _lines(text):
        if line.strip():
            if not para:
                start_line = number
            para.append(line.rstrip())
            continue
        if para:
            row += 1
            yield RawRow(row, start_line, "\n".join(para))
            para = []
    if para:
        yield RawRow(row + 1, start_line, "\n".join(para))


# --- small helpers -----------------------------------------------------------------------------

def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0][:200] if text else type(e).__name__)
