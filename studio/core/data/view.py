"""What the data panel shows, computed without Qt: one row's summary, a sample's tokens split
into trained / masked / cut-off spans, and token lengths measured over (a sample of) the rows.

Rows come from a RowIndex (studio.core.data.row_index), so nothing here loads a whole file. Token
lengths cost ~2 ms a row through a chat template (Jinja), so a large file is measured on a
random sample whose counts are scaled to the whole; `LengthSample.exact` says which.
"""

from __future__ import annotations

import random
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from studio.core.data.formats import BadRow, normalise
from studio.core.data.preference import final_reply_only
from studio.core.data.tokenize import IGNORE_INDEX, tokenize_sample
from studio.core.data.types import RowProblem, Sample
from studio.core.errors import DataError

LENGTH_SAMPLE_ROWS = 3000   # rows measured at most; more rows are estimated from these
PREVIEW_MAX_TOKENS = 6000   # a longer sample shows its first tokens only


# --- one row -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RowSummary:
    row: int                       # 1-based, as in every message
    problem: str                   # "" for a good row
    turns: int = 0                 # messages in the conversation (0 for text / bad rows)
    prompt: str = ""               # first user message (or the text of a text row)
    reply: str = ""                # first assistant reply
    sample: Optional[Sample] = None


def summarize_row(raw: Any, fmt: Any) -> RowSummary:
    """A RawRow read in `fmt` (a format name or a column mapping) -> what the table shows
    (the doctor's reason for a bad row)."""
    if raw.error:
        return RowSummary(raw.row, raw.error)
    if not fmt:
        return RowSummary(raw.row, "the shape of the rows is not known: map the fields")
    try:
        sample = normalise(raw.value, raw.row, fmt)
    except BadRow as e:
        return RowSummary(raw.row, str(e))
    if sample.is_text:
        return RowSummary(raw.row, "", 0, sample.text or "", "", sample)
    user = next((m.content for m in sample.messages if m.role == "user"), "")
    reply = next((m.content for m in sample.messages if m.role == "assistant"), "")
    return RowSummary(raw.row, "", len(sample.messages), user, reply, sample)


# --- one sample's tokens ----------------------------------------------------------------------

@dataclass(frozen=True)
class TokenView:
    """A sample as the model sees it: consecutive tokens of one kind decoded together.
    kind: "train" (loss is taken), "mask" (no loss: prompt, template), "cut" (past max_length,
    dropped by truncation; never for pre-training, which puts them in the next window)."""

    row: int
    spans: tuple[tuple[str, str], ...]   # (text, kind)
    tokens: int                          # whole sample, before truncation
    trained: int                         # trained tokens that survive truncation
    cut: int                             # tokens past max_length
    shown_tokens: int                    # tokens decoded into spans (<= PREVIEW_MAX_TOKENS)
    rejected: Optional["TokenView"] = None  # a preference pair's other side


def token_view(sample: Sample, tokenizer: Any, max_length: Optional[int], *, stage: str = "sft",
               train_on_prompt: bool = False, lock: Optional[threading.Lock] = None,
               final_reply: bool = False) -> TokenView:
    """Tokenize `sample` as training would and split it into spans by kind. DataError when the
    chat template refuses the sample. A preference row marks its final reply only (what the
    preference stages compare); a pair's view carries its rejected side's in `rejected`."""
    stage = "pretrain" if sample.is_text else "sft" if stage in ("dpo", "kto") else stage
    preference = final_reply or sample.is_pair or sample.label is not None
    with lock or nullcontext():  # a fast tokenizer must not be used by two threads at once
        tok = tokenize_sample(sample, tokenizer, None, stage=stage,
                              train_on_prompt=train_on_prompt and not preference)
        if preference:  # only the final reply is compared (earlier turns are context)
            tok = final_reply_only(tok)
        ids, labels = tok.input_ids, tok.labels
        # pre-training splits a long sample into max_length windows: nothing is cut off
        limit = max_length if max_length is not None and stage != "pretrain" else len(ids)
        kinds = ["cut" if i >= limit else ("train" if lab != IGNORE_INDEX else "mask")
                 for i, lab in enumerate(labels)]
        shown = min(len(ids), PREVIEW_MAX_TOKENS)
        spans = _decode_spans(ids[:shown], kinds[:shown], tokenizer)
    trained = sum(1 for k in kinds if k == "train")
    other = token_view(sample.rejected_side(), tokenizer, max_length, stage=stage, lock=lock,
                       final_reply=True) if sample.is_pair else None
    return TokenView(sample.row, tuple(spans), len(ids), trained, max(0, len(ids) - limit),
                     shown, other)


def _decode_spans(ids: list[int], kinds: list[str], tokenizer: Any) -> list[tuple[str, str]]:
    """Decode prefixes at each change of kind and take the differences: decoding each run on
    its own would break characters whose bytes span two tokens (byte-level BPE, Chinese)."""
    def decode(n: int) -> str:
        return tokenizer.decode(ids[:n], skip_special_tokens=False,
                                clean_up_tokenization_spaces=False)

    spans: list[tuple[str, str]] = []
    prev_text, start = "", 0
    i = 1
    while start < len(ids):
        while i < len(ids) and kinds[i] == kinds[start]:
            i += 1
        end, text = i, decode(i)
        # a boundary inside a multi-byte character: move it on until the character is whole
        while text.endswith("\ufffd") and end < len(ids) and end - i < 4:
            end += 1
            text = decode(end)
        if not text.startswith(prev_text):  # a decoder that rewrites earlier text: fall back
            text = prev_text + tokenizer.decode(ids[start:end], skip_special_tokens=False)
        spans.append((text[len(prev_text):], kinds[start]))
        prev_text, start, i = text, end, end + 1
    return spans


# --- token lengths over the rows ----------------------------------------------------------------

@dataclass
class LengthSample:
    """Token lengths of the good rows measured so far (all of them, or a random sample)."""

    total_rows: int                       # records in the file
    stage: str = "sft"
    rows: Any = None                      # numpy int64: 1-based row numbers measured
    lengths: Any = None                   # numpy int64: tokens of each (before truncation)
    first_trained: Any = None             # numpy int64: index of the first trained token, -1
    measured: int = 0                     # rows read (good or not)
    bad: int = 0                          # of those, rows that cannot be trained on
    failed: list[RowProblem] = field(default_factory=list)  # the chat template refused them
    planned: int = 0                      # rows this pass will read
    done: bool = False

    @property
    def exact(self) -> bool:
        """Every row was measured: counts are exact, not estimates."""
        return self.done and self.measured == self.total_rows

    @property
    def good(self) -> int:
        return 0 if self.lengths is None else int(self.lengths.size)

    def over(self, max_length: int) -> int:
        """Measured rows longer than max_length."""
        return 0 if self.lengths is None else int((self.lengths > max_length).sum())

    def nothing_to_learn(self, max_length: int) -> int:
        """Measured rows whose first trained token is cut off (or that have none)."""
        if self.first_trained is None:
            return 0
        ft = self.first_trained
        return int(((ft < 0) | (ft >= max_length)).sum())

    def scale(self, count: int) -> int:
        """A count over the measured rows -> the same share of all rows in the file."""
        if self.exact or not self.measured:
            return count
        return int(round(count * self.total_rows / self.measured))


def measure_lengths(index: Any, fmt: Any, tokenizer: Any, *, stage: str = "sft",
                    train_on_prompt: bool = False, limit: int = LENGTH_SAMPLE_ROWS,
                    seed: int = 0, lock: Optional[threading.Lock] = None,
                    cancel: Optional[Callable[[], bool]] = None,
                    progress: Optional[Callable[[LengthSample], None]] = None,
                    every_s: float = 0.4) -> LengthSample:
    """Tokenize up to `limit` rows of `index` in random order (so a partial result is already
    a fair sample) and record their lengths. `progress` gets a snapshot every `every_s`
    seconds; `cancel()` true stops early (the result is then not `done`)."""
    import numpy as np  # only the arrays need it

    n = len(index)
    fmt_name = getattr(fmt, "format", fmt)  # a format name or a Columns mapping
    stage = "pretrain" if fmt_name == "text" else "sft" if stage in ("dpo", "kto") else stage
    order = random.Random(seed).sample(range(n), min(n, limit))
    out = LengthSample(total_rows=n, stage=stage, planned=len(order))
    rows: list[int] = []
    lengths: list[int] = []
    firsts: list[int] = []

    def snapshot(done: bool) -> LengthSample:
        out.rows = np.asarray(rows, dtype=np.int64)
        out.lengths = np.asarray(lengths, dtype=np.int64)
        out.first_trained = np.asarray(firsts, dtype=np.int64)
        out.done = done
        return LengthSample(**{k: getattr(out, k) for k in out.__dataclass_fields__})

    last = time.monotonic()
    for i in order:
        if cancel is not None and cancel():
            return snapshot(False)
        out.measured += 1
        summary = summarize_row(index.read(i), fmt)
        if summary.sample is None:
            out.bad += 1
            continue
        try:
            with lock or nullcontext():
                tok = tokenize_sample(summary.sample, tokenizer, None, stage=stage,
                                      train_on_prompt=train_on_prompt)
                if summary.sample.is_pair:  # a pair is as long as its longer side
                    other = tokenize_sample(summary.sample.rejected_side(), tokenizer, None,
                                            stage=stage, train_on_prompt=train_on_prompt)
                    tok = max(tok, other, key=lambda t: len(t.input_ids))
        except DataError as e:
            out.bad += 1
            out.failed.append(RowProblem(summary.row, e.one_line()))
            continue
        rows.append(summary.row)
        lengths.append(len(tok.input_ids))
        firsts.append(next((k for k, t in enumerate(tok.labels) if t != IGNORE_INDEX), -1))
        if progress is not None and time.monotonic() - last > every_s:
            last = time.monotonic()
            progress(snapshot(False))
    return snapshot(True)
