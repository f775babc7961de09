"""A run's completions.jsonl (stage grpo): its newest group, read without reading the file.
Standard library only: the Train page calls it at each grpo step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

FILE = "completions.jsonl"
TAIL_BYTES = 1 << 18  # a group of 256 completions of a few hundred characters fits


def last_group(run_dir: str | Path) -> Optional[dict]:
    """The newest complete line of RUN_DIR/completions.jsonl, or None (no file, no line)."""
    path = Path(run_dir) / FILE
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - TAIL_BYTES))
            tail = f.read()
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        try:
            record = json.loads(line.decode("utf-8", errors="replace"))
        except ValueError:
            continue  # a line being written, or cut by the tail's start
        if isinstance(record, dict) and isinstance(record.get("completions"), list):
            return record
    return None
