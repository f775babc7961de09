"""Preference rows -> token ids: both sides of a pair (stage dpo) or one labelled reply (kto).

Each side is tokenized like an sft sample, through the model's own chat template, then only its
final reply keeps labels: earlier assistant turns of a multi-turn prompt are context, the same
for both sides. Prompt and reply are tokenized as separate pieces (tokenize.py), so both sides
share their prompt tokens exactly and the reply starts at the first label.

kto takes labelled rows, or pairs: a pair gives a good reply (the chosen one) and a bad one.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

from studio.core.data.tokenize import IGNORE_INDEX, nothing_to_learn, tokenize_stream
from studio.core.data.types import RowProblem, Sample, TokenizedPair, TokenizedSample


def final_reply_only(tok: TokenizedSample) -> TokenizedSample:
    """Labels on the last run of labelled tokens (the final reply) only."""
    labels = tok.labels
    end = next((i for i in range(len(labels) - 1, -1, -1) if labels[i] != IGNORE_INDEX), None)
    if end is None:
        return tok
    start = end
    while start > 0 and labels[start - 1] != IGNORE_INDEX:
        start -= 1
    return TokenizedSample(tok.row, tok.input_ids, [IGNORE_INDEX] * start + labels[start:],
                           tok.truncated)


def reply_start(tok: TokenizedSample) -> int:
    """Index of the first labelled token: where the reply starts (prompt = ids before it)."""
    return next((i for i, t in enumerate(tok.labels) if t != IGNORE_INDEX), len(tok.labels))


def tokenize_preference(samples: list[Sample], tokenizer: Any, max_length: int, *, stage: str,
                        chat_template: Optional[str] = None,
                        ) -> tuple[list[TokenizedPair], list[RowProblem]]:
    """dpo: one TokenizedPair a pair; kto: one a reply (two a pair). Sides longer than
    max_length are truncated; a row with a side left with nothing to learn is dropped and
    reported, never trained on silently."""
    out: list[TokenizedPair] = []
    problems: list[RowProblem] = []
    stream = tokenize_stream(_sides(samples), tokenizer, chat_template=chat_template,
                             max_length=max_length)
    for sample, tok in stream:
        side = [tok]
        if sample.is_pair:
            side.append(next(stream)[1])
        reason = next((t for t in side if isinstance(t, str)), "") or \
            next((r for t in side if (r := nothing_to_learn(final_reply_only(t), max_length))),
                 "")
        if reason:
            problems.append(RowProblem(sample.row, reason))
            continue
        cut = [_cut(final_reply_only(t), max_length) for t in side]
        if stage == "dpo":
            out.append(TokenizedPair(sample.row, cut[0], cut[1]))
        elif sample.is_pair:  # kto from a pair: a good reply and a bad one
            out += [TokenizedPair(sample.row, cut[0], label=True),
                    TokenizedPair(sample.row, cut[1], label=False)]
        else:
            out.append(TokenizedPair(sample.row, cut[0], label=bool(sample.label)))
    return out, problems


def _sides(samples: list[Sample]) -> Iterator[Sample]:
    for sample in samples:
        yield sample
        if sample.is_pair:
            yield sample.rejected_side()


def _cut(tok: TokenizedSample, max_length: int) -> TokenizedSample:
    cut = tok.truncated or len(tok.input_ids) > max_length
    return TokenizedSample(tok.row, tok.input_ids[:max_length], tok.labels[:max_length], cut)
