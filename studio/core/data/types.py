"""Plain data types of the dataset pipeline (see studio.core.data.doctor for the functions).

Standard library only, so the UI can read a DatasetReport without importing torch. The
`lengths` array of a report is a numpy array, built by the code that fills it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

ROLES = ("system", "user", "assistant", "tool")
FORMATS = ("alpaca", "sharegpt", "messages", "text", "preference", "kto", "prompt")
# The dataset file types the engine reads (suffix -> reader in load.py). The drop handler and
# every file dialog read this too, so whatever the loader reads can be dropped or picked.
FILE_TYPES = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv",
              ".tsv": "tsv", ".parquet": "parquet", ".txt": "txt"}


def is_dataset_file(path: Any) -> bool:
    return Path(path).suffix.lower() in FILE_TYPES


def file_patterns() -> str:
    """'*.json *.jsonl ...': the name filter of a file dialog."""
    return " ".join(f"*{suffix}" for suffix in FILE_TYPES)


@dataclass(frozen=True, slots=True)
class Message:
    role: str      # one of ROLES
    content: str
    # An assistant turn that calls tools: `content` is the call as JSON text, an object
    # {"name", "arguments"} or a list of them (sharegpt function_call, OpenAI tool_calls).
    tool_call: bool = False
    # The model's reasoning before this (assistant) reply: thinking / reasoning parts or a
    # reasoning_content field. Rendered the way the chat template supports (tokenize.py).
    reasoning: str = ""
    # A per-message training weight (axolotl weight 0/1, ms-swift loss, train / training):
    # False = an assistant reply kept as context, not learned. None = the default (learned).
    train: Optional[bool] = None


@dataclass(frozen=True, slots=True)
class Sample:
    """One good row, normalised. Chat shapes fill `messages` (+ `tools`, a JSON string holding
    a list of tool schemas); the text shape fills `text`. A preference pair is the prompt and
    the chosen reply in `messages` plus the `rejected` reply's text; a KTO row is a
    conversation whose last reply is labelled good (`label` True) or bad."""

    row: int                                  # 1-based record number in the file
    messages: tuple[Message, ...] = ()
    tools: Optional[str] = None
    text: Optional[str] = None
    rejected: Optional[str] = None
    label: Optional[bool] = None

    @property
    def is_pair(self) -> bool:
        return self.rejected is not None

    def rejected_side(self) -> "Sample":
        """The same prompt answered with the rejected reply (a pair's other side)."""
        reply = Message("assistant", self.rejected or "")
        return Sample(self.row, (*self.messages[:-1], reply), self.tools)

    @property
    def is_text(self) -> bool:
        return self.text is not None


@dataclass(frozen=True, slots=True)
class RowProblem:
    row: int                       # 1-based record number in the file
    reason: str                    # one line, for a person
    line: Optional[int] = None     # line in the file where the record starts, when known

    def __str__(self) -> str:
        where = f"row {self.row}" + (f" (line {self.line})" if self.line and self.line != self.row
                                     else "")
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class TokenizedSample:
    row: int
    input_ids: list[int]
    labels: list[int]              # -100 where no loss is taken
    truncated: bool = False

    @property
    def trained_tokens(self) -> int:
        return sum(1 for t in self.labels if t != -100)

    @property
    def length(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True, slots=True)
class TokenizedPair:
    """A preference row as token ids. stage dpo: both sides of a pair; stage kto: one reply and
    whether it is good. Each side is the whole conversation; labels mark its final reply only
    (the prompt tokens of both sides are the same)."""

    row: int
    chosen: TokenizedSample                  # dpo: the chosen side; kto: the reply
    rejected: Optional[TokenizedSample] = None
    label: bool = True                       # kto: is the reply a good one?

    @property
    def sides(self) -> tuple[TokenizedSample, ...]:
        return (self.chosen,) if self.rejected is None else (self.chosen, self.rejected)

    @property
    def length(self) -> int:
        """Tokens of one forward pass over every side (what batching groups by)."""
        return sum(len(t.input_ids) for t in self.sides)

    @property
    def truncated(self) -> bool:
        return any(t.truncated for t in self.sides)


@dataclass(frozen=True)
class LengthStats:
    """Token lengths of the good rows (whole rendered sample, before truncation)."""

    count: int
    min: int
    mean: float
    p50: float
    p95: float
    max: int


@dataclass(frozen=True)
class DatasetReport:
    """What the dataset doctor found. `problems` holds every bad row (media rows included)."""

    path: str
    file_type: str                         # json | jsonl | csv | tsv | parquet | txt
    format: str                            # the shape used to read the rows
    detected_format: str                   # what auto-detection found ("" when nothing fit)
    total_rows: int
    good_rows: int
    problems: list[RowProblem] = field(default_factory=list)
    unknown_fields: list[str] = field(default_factory=list)
    media_rows: list[int] = field(default_factory=list)
    is_preference: bool = False
    preview: tuple[Sample, ...] = ()       # the first few good samples, for a preview table
    # Filled when a tokenizer was given:
    stage: str = "sft"                     # how lengths were counted (text rows: pretrain)
    max_length: Optional[int] = None
    length_stats: Optional[LengthStats] = None
    over_max_length: int = 0               # good rows longer than max_length (sft: truncated;
    #                                        pretrain: split into max_length windows)
    lengths: Any = field(default=None, compare=False, repr=False)  # numpy int array, one per row
    all_masked_rows: list[int] = field(default_factory=list)  # rows with nothing left to learn
    rows_scanned_limit: Optional[int] = None  # max_rows, when the scan stopped early
    columns: str = ""                      # the column mapping rows were read with ("": none)

    @property
    def bad_rows(self) -> int:
        return len(self.problems)

    @property
    def usable(self) -> bool:
        """Something here can be trained on (bad rows may remain; they are reported)."""
        return self.good_rows > 0


def type_name(value: Any) -> str:
    """How a JSON value's type reads in a message: "a number", "a list", "null", ..."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def shown_name(name: Any, quoted: bool = False, limit: int = 60) -> str:
    """A field or column name from the user's file, fit for a one-line message: names with a
    newline or other unprintable characters are shown escaped and quoted (`quoted`: always
    quoted), long ones cut."""
    text = str(name)
    if not text.isprintable() or not text.strip():
        text = repr(text)
    elif quoted:
        text = f"'{text}'"
    return text if len(text) <= limit else text[:limit - 3] + "..."
