"""Helpers for the dataset tests: write rows as any supported file type, and sample rows of
every shape. Not a test module (no test_ prefix)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

FILE_TYPES = ("json", "jsonl", "csv", "tsv", "parquet")


def write_rows(tmp_path: Path, kind: str, rows: list, name: str = "data") -> Path:
    """Write `rows` (dicts) as a file of `kind`; CSV cells that are not text are JSON."""
    path = tmp_path / f"{name}.{kind}"
    if kind == "json":
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    elif kind == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                        encoding="utf-8")
    elif kind in ("csv", "tsv"):
        header = list(dict.fromkeys(k for r in rows for k in r))
        with open(path, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, delimiter="\t" if kind == "tsv" else ",")
            w.writerow(header)
            for r in rows:
                w.writerow([v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                            for v in (r.get(h, "") for h in header)])
    elif kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    elif kind == "txt":
        path.write_text("\n\n".join(rows) + "\n", encoding="utf-8")
    else:
        raise ValueError(kind)
    return path


def alpaca_rows(n: int = 3) -> list[dict]:
    return [{"instruction": f"Say the number {i}.", "input": "", "output": f"The number is {i}."}
            for i in range(n)]


def sharegpt_rows(n: int = 3) -> list[dict]:
    return [{"conversations": [{"from": "human", "value": f"Hello {i}"},
                               {"from": "gpt", "value": f"Hi there, {i}!"}]}
            for i in range(n)]


def messages_rows(n: int = 3) -> list[dict]:
    return [{"messages": [{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": f"What is {i} + 1?"},
                          {"role": "assistant", "content": f"{i + 1}"}]}
            for i in range(n)]


def text_rows(n: int = 3) -> list[dict]:
    return [{"text": f"Paragraph number {i} of plain text."} for i in range(n)]


def preference_rows(n: int = 3) -> list[dict]:
    return [{"conversations": [{"from": "human", "value": f"Question {i}?"}],
             "chosen": {"from": "gpt", "value": "A good answer."},
             "rejected": {"from": "gpt", "value": "A bad answer."}}
            for i in range(n)]


SHAPES = {"alpaca": alpaca_rows, "sharegpt": sharegpt_rows, "messages": messages_rows,
          "text": text_rows, "preference": preference_rows}
