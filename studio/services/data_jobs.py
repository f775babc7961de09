"""The dataset doctor's long jobs, run in a child process (see child_process.py for why).
No Qt: the child imports this module and the light core modules it calls."""

from __future__ import annotations

from typing import Any, Callable

Emit = Callable[[str, Any], None]


def check_file(emit: Emit, path: str, fmt: str, index: Any = None) -> None:
    """emit("index", (RowIndex, detected shape)) unless `index` is given, then
    emit("report", DatasetReport) once every row is checked."""
    from studio.core.data.doctor import inspect_dataset
    from studio.core.data.row_index import build_row_index

    if index is None:
        index = build_row_index(path)
        emit("index", (index, head_format(index)))
    emit("report", inspect_dataset(path, fmt))


def head_format(index: Any) -> str:
    """The shape auto-detection finds (the doctor looks at the same first rows)."""
    from studio.core.data.formats import DETECT_ROWS, detect_format

    if index.file_type == "txt":
        return "text"
    head = [index.read(i) for i in range(min(len(index), DETECT_ROWS))]
    return detect_format([r.value for r in head if not r.error])
