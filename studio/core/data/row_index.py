"""Random access to the records of a dataset file: row i is read when it is asked for.

The data panel's table shows a 200,000-row file without holding 200,000 parsed rows: one pass
records where each record starts (a byte offset), then `RowIndex.read(i)` seeks there and parses
that record alone. Row numbers, values and error texts are the ones studio.core.data.load gives
(the same parsing code reads each record), so a problem the doctor reports for "row 17" is the
record `read(16)` returns.

How records are found, per file type:
  .jsonl (or a .json holding JSON lines)  the start of each non-blank line
  .json array                             the start of each array element (a raw_decode walk)
  .csv / .tsv / .txt                      the line each record starts on (from data_load)
  .parquet                                row groups (their row counts are in the metadata)
Files that fit none of these cheaply (UTF-16 text, a JSON object wrapping the rows) keep their
records in memory; they are rare and small.
"""

from __future__ import annotations

import codecs
import functools
import json
import re
import threading
from array import array
from pathlib import Path
from typing import Any, Callable, Optional

from studio.core.data import load as data_load
from studio.core.data.load import RawRow, decode_text
from studio.core.errors import Cancelled, DataError, first_line

Cancel = Optional[Callable[[], bool]]  # returns True when the caller no longer wants the index


class RowIndex:
    """`len(index)` records; `read(i)` (0-based) -> RawRow numbered i + 1, like data_load."""

    def __init__(self, path: Path, file_type: str, count: int):
        self.path = path
        self.file_type = file_type
        self.count = count
        self._lock = threading.Lock()  # read() is called from the GUI thread and workers

    def __len__(self) -> int:
        return self.count

    def read(self, i: int) -> RawRow:
        if not 0 <= i < self.count:
            raise IndexError(f"row {i + 1} is outside 1..{self.count}")
        with self._lock:
            return self._read(i)

    def _read(self, i: int) -> RawRow:
        raise NotImplementedError

    # An index is built in the doctor's child process and sent back pickled; locks do not travel.
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


class _ByteIndex(RowIndex):
    """Records are byte ranges of the file: starts[i] .. starts[i + 1]."""

    def __init__(self, path: Path, file_type: str, starts: array, lines: array,
                 parse: Callable[[str, int, Optional[int]], RawRow]):
        super().__init__(path, file_type, len(starts) - 1)
        self._starts = starts    # int64 byte offsets, one per record + the end of the last
        self._lines = lines      # line number each record starts on (0: unknown)
        self._parse = parse      # (record text, row number, line) -> RawRow

    def _read(self, i: int) -> RawRow:
        start, end = self._starts[i], self._starts[i + 1]
        with open(self.path, "rb") as f:
            f.seek(start)
            raw = f.read(end - start)
        line = self._lines[i] or None
        try:
            return self._parse(raw.decode("utf-8", errors="replace"), i + 1, line)
        except DataError as e:  # a CSV record the csv module refuses: one bad row here
            return RawRow(i + 1, line, error=e.one_line())


class _ParquetIndex(RowIndex):
    def __init__(self, path: Path, pf: Any):
        groups = [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)]
        super().__init__(path, "parquet", sum(groups))
        self._pf = pf
        self._group_starts = [sum(groups[:g]) for g in range(len(groups) + 1)]
        self._cached: tuple[int, Any] = (-1, None)  # the last row group read, as a table

    def _read(self, i: int) -> RawRow:
        import bisect

        g = bisect.bisect_right(self._group_starts, i) - 1
        if self._cached[0] != g:  # a table is columnar and compact: keep one group around
            self._cached = (g, self._pf.read_row_group(g))
        k = i - self._group_starts[g]
        return RawRow(i + 1, None, self._cached[1].slice(k, 1).to_pylist()[0])

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_pf"], state["_cached"] = None, (-1, None)  # an open file does not pickle
        return state

    def __setstate__(self, state: dict) -> None:
        import pyarrow.parquet as pq

        super().__setstate__(state)
        self._pf = pq.ParquetFile(self.path)


class _MemoryIndex(RowIndex):
    def __init__(self, path: Path, file_type: str, rows: list[RawRow]):
        super().__init__(path, file_type, len(rows))
        self._rows = rows

    def _read(self, i: int) -> RawRow:
        return self._rows[i]


# --- building ---------------------------------------------------------------------------------

def build_row_index(path: str | Path, cancel: Cancel = None) -> RowIndex:
    """One pass over the file. Raises DataError for a file data_load refuses as a whole (missing,
    not UTF-8, broken .json), with data_load's message; Cancelled when `cancel()` turns true."""
    path = Path(path)
    kind = data_load.check_file(path)
    if kind == "parquet":
        return _parquet_index(path)
    data = data_load._read_bytes(path)
    text = decode_text(data, path.name)
    if not text.strip():
        raise DataError(f"{path.name} is empty: no rows to read")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _memory_index(path, kind, cancel)  # UTF-16: byte offsets of UTF-8 do not apply
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    if kind in ("json", "jsonl"):
        return _json_index(path, kind, data, text, bom, cancel)
    return _line_record_index(path, kind, data, bom, cancel)


def _check(cancel: Cancel, n: int) -> None:
    if cancel is not None and n % 4096 == 0 and cancel():
        raise Cancelled()


def _memory_index(path: Path, kind: str, cancel: Cancel) -> RowIndex:
    _, rows = data_load.read_rows(path)
    kept = []
    for n, r in enumerate(rows):
        _check(cancel, n)
        kept.append(r)
    return _MemoryIndex(path, kind, kept)


def _parquet_index(path: Path) -> RowIndex:
    import pyarrow.parquet as pq  # only parquet files need it

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types; all mean "unreadable"
        raise DataError(f"{path.name} is not a readable Parquet file: "
                        f"{first_line(e)}") from None
    return _ParquetIndex(path, pf)


# The csv module reads lines the way a file opened with newline="" does: "\r\n", a lone "\r"
# and "\n" each end one (old Mac files, a stray CR in a cell); its line numbers count them so.
_ANY_NEWLINE = re.compile(rb"\r\n?|\n")


def _line_starts(data: bytes, bom: int, any_newline: bool = False) -> array:
    """Byte offset of every line (split on b'\\n', as data_load splits JSON lines and text; on
    any newline for CSV, as the csv module does); index 0 = line 1."""
    starts = array("q", [bom])
    if any_newline:
        starts.extend(m.end() for m in _ANY_NEWLINE.finditer(data, bom))
        return starts
    find, pos = data.find, bom
    while True:
        nl = find(b"\n", pos)
        if nl < 0:
            return starts
        pos = nl + 1
        starts.append(pos)


def _json_index(path: Path, kind: str, data: bytes, text: str, bom: int,
                cancel: Cancel) -> RowIndex:
    first = data_load._WS.match(text).end()
    if data_load.is_json_array(text, first, prefer_lines=kind == "jsonl"):
        return _array_index(path, kind, data, text, bom, first, cancel)
    if kind == "json":
        # data_load reads a .json as one object unless more values follow it (JSON lines)
        decoder = json.JSONDecoder()
        try:
            _, end = decoder.raw_decode(text, first)
        except (ValueError, RecursionError):
            end = len(text)  # broken: data_load raises the message below
        if data_load._WS.match(text, end).end() == len(text):
            return _memory_index(path, kind, cancel)
    return _jsonl_index(path, kind, data, bom, cancel)


def _jsonl_index(path: Path, kind: str, data: bytes, bom: int, cancel: Cancel) -> RowIndex:
    lines = _line_starts(data, bom)
    lines.append(len(data))
    starts, numbers = array("q"), array("q")
    for number in range(1, len(lines)):
        _check(cancel, number)
        s = lines[number - 1]
        # A line starting with a visible ASCII byte is not blank (the usual '{'); others get
        # the full test on the decoded line, since data_load strips Unicode spaces (U+3000) too.
        if s < len(data) and 0x20 < data[s] < 0x80 or \
                data[s:lines[number]].decode("utf-8", errors="replace").strip():
            starts.append(s)
            numbers.append(number)
    starts.append(len(data))
    return _ByteIndex(path, kind, starts, numbers, _parse_jsonl)


def _parse_jsonl(text: str, row: int, line: Optional[int]) -> RawRow:
    got = next(data_load._jsonl_rows(text))  # the same messages as a full read
    return RawRow(row, line, got.value, got.error)


def _array_index(path: Path, kind: str, data: bytes, text: str, bom: int, first: int,
                 cancel: Cancel) -> RowIndex:
    """Walk the array as data_load does (raw_decode element by element), noting where each
    element starts; a broken file is read once more by data_load to raise its own message."""
    decoder, ws = json.JSONDecoder(), data_load._WS
    chars: list[int] = []
    lines = array("q")
    pos = ws.match(text, first + 1).end()
    line, counted = 1, 0
    while not text.startswith("]", pos):
        _check(cancel, len(chars))
        line += text.count("\n", counted, pos)
        counted = pos
        chars.append(pos)
        lines.append(line)
        try:
            _, end = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):
            _raise_as_data_load(path)
        pos = ws.match(text, end).end()
        if text.startswith(",", pos):
            pos = ws.match(text, pos + 1).end()
        elif not text.startswith("]", pos):
            _raise_as_data_load(path)
    if ws.match(text, pos + 1).end() != len(text):
        _raise_as_data_load(path)  # text after the closing ']'
    starts = _char_to_byte(text, chars + [pos], bom)
    return _ByteIndex(path, kind, starts, lines, _parse_element)


def _raise_as_data_load(path: Path) -> None:
    for _ in data_load.read_rows(path)[1]:
        pass
    raise DataError(f"{path.name} is not valid JSON")  # data_load found nothing: say so anyway


def _char_to_byte(text: str, chars: list[int], bom: int) -> array:
    out = array("q")
    if text.isascii():
        out.extend(c + bom for c in chars)
        return out
    byte, prev = bom, 0
    for c in chars:
        byte += len(text[prev:c].encode("utf-8"))
        prev = c
        out.append(byte)
    return out


def _parse_element(text: str, row: int, line: Optional[int]) -> RawRow:
    # The range runs to the next element: the value, then ',' and white space.
    try:
        value, _ = json.JSONDecoder().raw_decode(text, data_load._WS.match(text).end())
    except (ValueError, RecursionError) as e:  # cannot happen for a file that indexed
        return RawRow(row, line, error=f"not usable JSON: {data_load._short(e)}")
    return RawRow(row, line, value)


def _line_record_index(path: Path, kind: str, data: bytes, bom: int, cancel: Cancel) -> RowIndex:
    """csv / tsv / txt: every record starts on a line of its own; data_load says which."""
    line_starts = _line_starts(data, bom, any_newline=kind != "txt")
    _, rows = data_load.read_rows(path)
    starts, numbers = array("q"), array("q")
    for n, raw in enumerate(rows):
        _check(cancel, n)
        starts.append(line_starts[raw.line - 1])
        numbers.append(raw.line)
    starts.append(len(data))
    if kind == "txt":
        return _ByteIndex(path, kind, starts, numbers, _parse_paragraph)
    header = data[bom:starts[0]].decode("utf-8") if len(starts) > 1 else ""
    delimiter = "\t" if kind == "tsv" else ","
    # a partial of a module function, not a closure: the index is built in a child process
    # and pickled back to the app
    parse = functools.partial(_parse_csv_record, header, path.name, delimiter)
    return _ByteIndex(path, kind, starts, numbers, parse)


def _parse_csv_record(header: str, name: str, delimiter: str, text: str, row: int,
                      line: Optional[int]) -> RawRow:
    got = next(data_load._csv_rows(header + text, name, delimiter), None)
    if got is None:
        return RawRow(row, line, error="empty record")
    return RawRow(row, line, got.value, got.error)


def _parse_paragraph(text: str, row: int, line: Optional[int]) -> RawRow:
    got = next(data_load._txt_rows(text))
    return RawRow(row, line, got.value)
