"""The dataset doctor's long jobs, run in a child process (see child_process.py for why).
No Qt: the child imports this module and the light core modules it calls."""

from __future__ import annotations

from typing import Any, Callable

Emit = Callable[[str, Any], None]


def check_file(emit: Emit, path: str, fmt: str, index: Any = None, columns: str = "") -> None:
    """emit("index", (RowIndex, shape the first rows have)) unless `index` is given;
    emit("fields", (Proposal, applied)): the fields with sample values and a proposed column
    mapping, `applied` when the rows are read through it because no known shape fits; then
    emit("report", DatasetReport) once every row is checked."""
    from studio.core.data.doctor import inspect_dataset
    from studio.core.data.propose import propose
    from studio.core.data.row_index import build_row_index

    fresh = index is None
    if fresh:
        index = build_row_index(path)
    shape = head_shape(index)
    if fresh:
        emit("index", (index, shape))
    proposal = propose([r.value for r in _head(index) if not r.error])
    # A file no known shape fits is read through the proposal, for the user to check it
    applied = not columns and fmt == "auto" and shape == "" and bool(proposal.columns)
    emit("fields", (proposal, applied))
    emit("report", inspect_dataset(path, fmt, columns=proposal.columns if applied else columns))


def head_shape(index: Any) -> Any:
    """The shape auto-detection finds (the doctor looks at the same first rows): a format
    name, a column mapping (data.columns.Columns) for a layout common in the wild, or ""."""
    from studio.core.data.propose import detect_shape

    if index.file_type == "txt":
        return "text"
    return detect_shape([r.value for r in _head(index) if not r.error])[1]


def _head(index: Any) -> list:
    from studio.core.data.formats import DETECT_ROWS

    return [index.read(i) for i in range(min(len(index), DETECT_ROWS))]
