"""Datasets: load, detect the shape, validate row by row, tokenize with loss masks, split.

The public face of the dataset pipeline (the trainer, the CLI doctor and the data panel import
from here):

    inspect_dataset(path, format="auto", *, columns="", tokenizer=None, ...) -> DatasetReport
    load_samples(path, format="auto", *, columns="", stage="sft", ...) -> (samples, report)
    propose_for_file(path) -> Proposal   a column mapping for a file of unknown shape
    tokenize_sample(sample, tokenizer, max_length, *, stage="sft", train_on_prompt=False)
    tokenize_dataset(samples, tokenizer, max_length, ...) -> (tokenized, problems)
    split_train_eval(items, eval_split, seed) -> (train, eval)

Reading files lives in data_load, shapes in data_formats, tokenizing in data_tokenize, the plain
types in data_types. Rows stream through: only the report (and, for load_samples, the Samples)
are kept, so a 200,000-row file is scanned without building per-row objects it does not need.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence, TypeVar

from studio.core.data.columns import Columns, parse_columns
from studio.core.data.formats import (
    DETECT_ROWS,
    PROMPT_SHAPES,
    BadRow,
    MediaRow,
    normalise,
    unknown_fields,
)
from studio.core.data.load import FILE_TYPES, RawRow, file_type_of, read_rows
from studio.core.data.propose import Proposal, detect_shape, propose
from studio.core.data.tokenize import (
    IGNORE_INDEX,
    nothing_to_learn,
    tokenize_dataset,
    tokenize_sample,
    tokenize_stream,
)
from studio.core.data.types import (
    FORMATS,
    DatasetReport,
    LengthStats,
    Message,
    RowProblem,
    Sample,
    TokenizedSample,
    shown_name,
)
from studio.core.errors import DataError

__all__ = [
    "DatasetReport", "LengthStats", "Message", "RowProblem", "Sample", "TokenizedSample",
    "FORMATS", "FILE_TYPES", "IGNORE_INDEX", "DataError",
    "inspect_dataset", "load_samples", "tokenize_sample", "tokenize_dataset", "tokenize_stream",
    "split_train_eval",
    "file_type_of", "broken_rows_message", "PREFERENCE_REFUSAL", "KTO_REFUSAL", "Columns",
    "parse_columns", "Proposal", "propose_for_file",
]

STAGES = ("sft", "pretrain", "dpo", "kto", "grpo")
PREVIEW_ROWS = 10
PROGRESS_ROWS = 1000
MAX_UNKNOWN_FIELDS = 50  # a hostile file can have a new key per row; the names stop here
PREFERENCE_REFUSAL = ("{name} holds chosen/rejected pairs (preference data): train it with "
                      "stage: dpo (or kto), not {stage}")
KTO_REFUSAL = ("{name} holds replies labelled good / bad (KTO data): train it with stage: kto, "
               "not {stage}")
PREFERENCE_FORMATS = {"dpo": ("preference",), "kto": ("kto", "preference")}

T = TypeVar("T")


class _Scan:
    """One pass over a file: detects the shape (or reads it through a column mapping), then
    yields good Samples while it counts the rows, collects the problems and the unknown field
    names."""

    def __init__(self, path: str | Path, format: str, max_rows: Optional[int],
                 progress: Optional[Callable[[int], None]] = None, columns: Any = "",
                 stage: str = "sft"):
        if format not in ("auto", *FORMATS):
            raise DataError(f"unknown dataset format '{format}'; use auto or one of "
                            f"{', '.join(FORMATS)}")
        self.path = Path(path)
        self.file_type, rows = read_rows(self.path)
        head = list(itertools.islice(rows, DETECT_ROWS))
        if not head:
            raise DataError(f"{self.path.name} holds no rows")
        readable = [r.value for r in head if not r.error]
        self.detected, detected_shape = ("text", "text") if self.file_type == "txt" else \
            detect_shape(readable)
        if self.file_type == "txt" and format not in ("auto", "text"):
            raise DataError(f"{self.path.name} is a plain text file: its format is text, not "
                            f"{format}")
        # the shape rows are read with: a format name, or a Columns mapping
        self.shape: Any = detected_shape if format == "auto" else format
        if stage == "grpo" and self.shape in PROMPT_SHAPES:  # prompts, answers optional
            self.shape = "prompt"
            if self.detected in PROMPT_SHAPES:  # what auto-detection finds for stage grpo
                self.detected = "prompt"
        mapping = parse_columns(columns)
        if mapping:
            self._check_mapping(mapping, format, head)
            self.shape = mapping
        self.format = self.shape if isinstance(self.shape, str) else self.shape.format
        self.columns = "" if isinstance(self.shape, str) else str(self.shape)
        if not self.format:
            raise DataError(self._undetected(head))
        self.rows: Iterator[RawRow] = itertools.chain(head, rows)
        self.max_rows = max_rows
        self.progress = progress
        self.limited = False
        self.total = self.good = 0
        self.problems: list[RowProblem] = []
        self.media: list[int] = []
        self.unknown: dict[str, None] = {}  # an ordered set
        self.preview: list[Sample] = []

    def _check_mapping(self, mapping: Columns, format: str, head: list[RawRow]) -> None:
        if self.file_type == "txt":
            raise DataError(f"{self.path.name} is a plain text file: it has no fields for "
                            "columns to map")
        if format not in ("auto", mapping.format):
            raise DataError(f"columns {mapping} reads rows as {mapping.format}, but format is "
                            f"set to {format}; set format to auto")
        missing = mapping.missing_everywhere((r.row, r.value) for r in head if not r.error)
        if missing:
            raise DataError(missing)

    def _undetected(self, head: list[RawRow]) -> str:
        bad = next((r for r in head if r.error), None)
        if all(r.error for r in head):
            return f"no row of {self.path.name} could be read: row {bad.row}: {bad.error}"
        keys = list(dict.fromkeys(k for r in head if isinstance(r.value, dict) for k in r.value))
        found = f"found fields: {', '.join(map(shown_name, keys[:8]))}" if keys else \
            "rows are not objects"
        guess = propose([r.value for r in head if not r.error]).columns
        if guess:
            return (f"cannot tell the shape of {self.path.name} ({found}); the fields look like "
                    f"columns {guess}: check it with `check-data {self.path.name} --columns "
                    f"{guess}`, then set columns to it")
        return (f"cannot tell the shape of {self.path.name} ({found}); expected alpaca "
                "(instruction/input/output), sharegpt (conversations), messages, text, or "
                "preference (chosen/rejected); set format to say which, or columns to map the "
                "fields (prompt=...,response=...)")

    def samples(self) -> Iterator[Sample]:
        for raw in self.rows:
            if self.max_rows is not None and self.total >= self.max_rows:
                self.limited = True
                return
            self.total += 1
            if self.progress is not None and self.total % PROGRESS_ROWS == 0:
                self.progress(self.total)
            if raw.error:
                self.problems.append(RowProblem(raw.row, raw.error, raw.line))
                continue
            if len(self.unknown) < MAX_UNKNOWN_FIELDS:
                for key in (self.shape.unknown_fields(raw.value) if self.columns
                            else unknown_fields(raw.value, self.format)):
                    self.unknown.setdefault(str(key))
            try:
                sample = normalise(raw.value, raw.row, self.shape)
            except BadRow as e:
                if isinstance(e, MediaRow):
                    self.media.append(raw.row)
                self.problems.append(RowProblem(raw.row, str(e), raw.line))
                continue
            self.good += 1
            if len(self.preview) < PREVIEW_ROWS:
                self.preview.append(sample)
            yield sample

    def reject(self, sample: Sample, reason: str) -> None:
        """A good row that fails later (the model's chat template refuses it)."""
        self.good -= 1
        self.problems.append(RowProblem(sample.row, reason))
        self.preview = [s for s in self.preview if s.row != sample.row]

    def report(self, **extra: Any) -> DatasetReport:
        return DatasetReport(
            path=str(self.path), file_type=self.file_type, format=self.format,
            detected_format=self.detected, total_rows=self.total, good_rows=self.good,
            problems=sorted(self.problems, key=lambda p: p.row),
            unknown_fields=list(self.unknown), media_rows=self.media,
            is_preference=self.format in ("preference", "kto"), preview=tuple(self.preview),
            columns=self.columns,
            rows_scanned_limit=self.max_rows if self.limited else None, **extra)


def inspect_dataset(path: str | Path, format: str = "auto", *, columns: Any = "",
                    tokenizer: Any = None,
                    max_length: Optional[int] = None, max_rows: Optional[int] = None,
                    stage: str = "sft", chat_template: Optional[str] = None,
                    progress: Optional[Callable[[int], None]] = None) -> DatasetReport:
    """The dataset doctor: shape, row counts, every bad row, and with a tokenizer the token
    lengths of the good rows (as the model's chat template renders them) against max_length.

    progress(rows_read) is called every PROGRESS_ROWS rows; to cancel, let it raise. Speed on
    2 CPU cores: ~50,000 rows/s without a tokenizer; with one, the chat template and the
    tokenizer cost ~1-3 ms a row. `columns` maps the file's fields to roles (data.columns:
    "prompt=q,response=a" or a mapping)."""
    _check_stage(stage)
    scan = _Scan(path, format, max_rows, progress, columns, stage)
    if stage == "grpo":  # prompts only: a file of pairs or plain text is refused by name
        _check_stage_fits(scan.format, stage, Path(path).name)
    if tokenizer is None:
        for _ in scan.samples():
            pass
        return scan.report()
    import numpy as np  # only the length statistics need it

    stage = "pretrain" if scan.format == "text" else "sft" if stage in PREFERENCE_FORMATS \
        else stage
    # grpo: the prompt (and any reference answer) as the chat template renders it
    tokenize_as = "sft" if stage == "grpo" else stage
    lengths: list[int] = []
    all_masked: list[int] = []
    for sample, tok in _longer_sides(tokenize_stream(
            _both_sides(scan.samples()), tokenizer, stage=tokenize_as, chat_template=chat_template,
            max_length=max_length)):
        if isinstance(tok, str):
            scan.reject(sample, tok)
            continue
        lengths.append(len(tok.input_ids))
        if stage == "sft" and nothing_to_learn(tok, max_length):
            all_masked.append(sample.row)
    arr = np.asarray(lengths, dtype=np.int64)
    over = int((arr > max_length).sum()) if max_length is not None else 0
    return scan.report(max_length=max_length, length_stats=_length_stats(arr), lengths=arr,
                       over_max_length=over, all_masked_rows=all_masked, stage=stage)


def _both_sides(samples: Iterator[Sample]) -> Iterator[Sample]:
    """Each sample, and right after a preference pair its rejected side."""
    for sample in samples:
        yield sample
        if sample.is_pair:
            yield sample.rejected_side()


def _longer_sides(stream: Iterator[tuple[Sample, Any]]) -> Iterator[tuple[Sample, Any]]:
    """Pairs come as two tokenized sides: keep the longer one (what batching has to hold), or
    the reason either side fails."""
    for sample, tok in stream:
        if sample.is_pair:
            _, other = next(stream)
            if isinstance(other, str) or (not isinstance(tok, str)
                                          and len(other.input_ids) > len(tok.input_ids)):
                tok = other
        yield sample, tok


def _length_stats(arr: Any) -> Optional[LengthStats]:
    import numpy as np

    if not arr.size:
        return None
    return LengthStats(count=int(arr.size), min=int(arr.min()), mean=float(arr.mean()),
                       p50=float(np.percentile(arr, 50)), p95=float(np.percentile(arr, 95)),
                       max=int(arr.max()))


def load_samples(path: str | Path, format: str = "auto", *, columns: Any = "",
                 stage: str = "sft", skip_bad_rows: bool = False,
                 max_rows: Optional[int] = None) -> tuple[list[Sample], DatasetReport]:
    """The good rows as Samples, and the report. Bad rows refuse the file (naming them) unless
    skip_bad_rows. sft needs conversations; pretrain takes text rows and chat rows (rendered
    by the chat template when tokenized)."""
    _check_stage(stage)
    scan = _Scan(path, format, max_rows, columns=columns, stage=stage)
    name = Path(path).name
    _check_stage_fits(scan.format, stage, name)
    if stage == "sft" and scan.format == "text":
        raise DataError(f"{name} holds plain text (format text): there are no assistant replies "
                        "to learn with stage sft; set stage: pretrain to learn all its tokens")
    samples = list(scan.samples())
    report = scan.report()
    if not samples:
        raise DataError(_no_good_rows_message(report, name))
    if report.problems and not skip_bad_rows:
        raise DataError(broken_rows_message(report))
    return samples, report


def propose_for_file(path: str | Path) -> Proposal:
    """A column mapping for the file's fields (empty when nothing fits), from its first rows."""
    _, rows = read_rows(path)
    return propose([r.value for r in itertools.islice(rows, DETECT_ROWS) if not r.error])


def broken_rows_message(report: DatasetReport, shown: int = 3) -> str:
    """'rows 3, 17, 52 (and 4 more) are broken: row 3: empty assistant reply; set ...'"""
    probs = report.problems
    rows = ", ".join(str(p.row) for p in probs[:shown])
    more = f" (and {len(probs) - shown} more)" if len(probs) > shown else ""
    verb = "is" if len(probs) == 1 else "are"
    head = f"row{'s' if len(probs) > 1 else ''} {rows}{more} {verb} broken: {probs[0]}"
    return (f"{head}{_format_hint(report)}; set skip_bad_rows: true to train on the "
            f"{report.good_rows} good rows")


def _no_good_rows_message(report: DatasetReport, name: str) -> str:
    if report.media_rows and len(report.media_rows) == report.total_rows:
        return (f"every row of {name} has image/audio/video input; this studio trains text "
                "models")
    first = f": {report.problems[0]}" if report.problems else ""
    return f"no row of {name} can be trained on{first}{_format_hint(report)}"


def _format_hint(report: DatasetReport) -> str:
    if report.detected_format and report.detected_format != report.format:
        return (f" (format is set to {report.format} but the rows look like "
                f"{report.detected_format})")
    return ""


def _check_stage_fits(fmt: str, stage: str, name: str) -> None:
    """Pairs train with dpo / kto, labelled replies with kto, conversations with the others."""
    if stage in PREFERENCE_FORMATS:
        if fmt not in PREFERENCE_FORMATS[stage]:
            what = "chosen/rejected pairs" if stage == "dpo" else \
                "replies labelled good / bad (or chosen/rejected pairs)"
            raise DataError(f"stage {stage} needs {what}; {name} holds {fmt} rows")
    elif stage == "grpo" and fmt != "prompt":
        raise DataError(f"stage grpo needs prompts (an instruction or a conversation ending "
                        f"with a user turn, answers optional); {name} holds {fmt} rows")
    elif fmt == "preference":
        raise DataError(PREFERENCE_REFUSAL.format(name=name, stage=stage))
    elif fmt == "kto":
        raise DataError(KTO_REFUSAL.format(name=name, stage=stage))
    elif fmt == "prompt" and stage != "grpo":
        raise DataError(f"{name} is read as prompts (format prompt): they train with stage: "
                        f"grpo, not {stage}")


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise DataError(f"unknown stage '{stage}'; use one of {', '.join(STAGES)}")


def split_train_eval(items: Sequence[T], eval_split: float, seed: int) -> tuple[list[T], list[T]]:
    """Deterministic split: the same items, share and seed always give the same halves; each
    half keeps the file order. At least one item stays in train."""
    if not 0.0 <= eval_split < 1.0:
        raise DataError(f"eval_split must be at least 0 and below 1; got {eval_split}")
    items = list(items)
    n_eval = 0 if eval_split == 0 or len(items) < 2 else \
        min(len(items) - 1, max(1, round(len(items) * eval_split)))
    picked = set(random.Random(seed).sample(range(len(items)), n_eval))
    train = [x for i, x in enumerate(items) if i not in picked]
    held = [x for i, x in enumerate(items) if i in picked]
    return train, held
