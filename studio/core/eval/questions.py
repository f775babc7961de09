"""Question files: exact-match and multiple-choice accuracy.

The format (docs/contract.md, "Evaluation files"), one record per row of a .json / .jsonl /
.csv file:
  exact match:      {"question": "...", "answer": "..."}
  multiple choice:  {"question": "...", "choices": ["...", "..."], "answer": 1}
                    (answer: the 0-based index, a letter A/B/C..., or the choice's text)
Exact match asks the model the question through its chat template, decodes greedily and
compares the reply with the answer after normalising case, spaces and final punctuation.
Multiple choice scores every choice as the assistant's reply (the sum of its token losses, the
end-of-turn token included) and picks the most likely one; nothing is generated.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from studio.core.errors import DataError

QUESTION_KEYS = ("question", "answer")
_PUNCT = string.punctuation + "。，！？；：、“”‘’（）"


@dataclass(frozen=True)
class Question:
    row: int
    question: str
    answer: str                   # exact: the expected reply; choice: the correct choice's text
    choices: tuple[str, ...] = ()
    correct: int = -1             # choice: index of the correct choice


@dataclass(frozen=True)
class Accuracy:
    metric: str                   # exact | choice
    accuracy: float
    correct: int
    total: int
    examples: list = field(default_factory=list)  # (question, expected, got) of the first rows


def question_kind(value: Any) -> Optional[str]:
    """'choice' or 'exact' for a question row, else None (the dataset doctor asks this)."""
    if not isinstance(value, dict) or not all(k in value for k in QUESTION_KEYS):
        return None
    return "choice" if "choices" in value else "exact"


def read_questions(path: str | Path) -> tuple[str, list[Question]]:
    """(kind, questions) of a question file; DataError names the first bad row."""
    from studio.core.data.load import read_rows

    _, rows = read_rows(path)
    name = Path(path).name
    kinds, out = set(), []
    for raw in rows:
        if raw.error:
            raise DataError(f"{name}: row {raw.row}: {raw.error}")
        kind = question_kind(raw.value)
        if kind is None:
            raise DataError(f"{name}: row {raw.row} is not a question row: it needs "
                            "\"question\" and \"answer\" (and \"choices\" for multiple choice)")
        kinds.add(kind)
        out.append(_question(raw.value, raw.row, kind, name))
    if not out:
        raise DataError(f"{name}: no question rows")
    if len(kinds) > 1:
        raise DataError(f"{name}: mixes multiple-choice rows (with \"choices\") and exact-match "
                        "rows; put them in two files")
    return kinds.pop(), out


def _question(value: dict, row: int, kind: str, name: str) -> Question:
    q, a = value["question"], value["answer"]
    if not isinstance(q, str) or not q.strip():
        raise DataError(f"{name}: row {row}: \"question\" must be non-empty text")
    if kind == "exact":
        if isinstance(a, (int, float)) and not isinstance(a, bool):
            a = str(a)
        if not isinstance(a, str) or not a.strip():
            raise DataError(f"{name}: row {row}: \"answer\" must be non-empty text")
        return Question(row, q, a)
    choices = value["choices"]
    if (not isinstance(choices, list) or len(choices) < 2
            or not all(isinstance(c, str) and c.strip() for c in choices)):
        raise DataError(f"{name}: row {row}: \"choices\" must be a list of at least two texts")
    idx = _choice_index(a, choices)
    if idx is None:
        raise DataError(f"{name}: row {row}: answer {a!r} is not an index, a letter or one of "
                        "the choices")
    return Question(row, q, choices[idx], tuple(choices), idx)


def _choice_index(answer: Any, choices: list[str]) -> Optional[int]:
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int):
        return answer if 0 <= answer < len(choices) else None
    if not isinstance(answer, str):
        return None
    if answer in choices:
        return choices.index(answer)
    a = answer.strip().upper()
    if len(a) == 1 and "A" <= a < chr(ord("A") + len(choices)):
        return ord(a) - ord("A")
    return None


def normalise(text: str) -> str:
    """Case, surrounding punctuation and runs of spaces do not count."""
    return re.sub(r"\s+", " ", text.strip().strip(_PUNCT).strip()).casefold()


def exact_match(model: Any, tokenizer: Any, questions: list[Question],
                max_new_tokens: int = 64, shown: int = 5) -> Accuracy:
    from studio.core.chat.engine import ChatEngine, GenSettings

    engine = ChatEngine(model, tokenizer)
    greedy = GenSettings(temperature=0.0, max_new_tokens=max_new_tokens)
    correct, examples = 0, []
    for q in questions:
        got = engine.reply([{"role": "user", "content": q.question}], greedy).text
        ok = normalise(got) == normalise(q.answer)
        correct += ok
        if len(examples) < shown:
            examples.append((q.question, q.answer, got))
    return Accuracy("exact", correct / len(questions), correct, len(questions), examples)


def multiple_choice(model: Any, tokenizer: Any, questions: list[Question],
                    shown: int = 5) -> Accuracy:
    from studio.core.data.tokenize import tokenize_sample
    from studio.core.data.types import Message, Sample
    from studio.core.eval.perplexity import mean_loss

    correct, examples = 0, []
    for q in questions:
        scores = []
        for choice in q.choices:
            sample = Sample(q.row, (Message("user", q.question), Message("assistant", choice)))
            tok = tokenize_sample(sample, tokenizer, None)
            loss, n = mean_loss(model, tokenizer, [(tok.input_ids, tok.labels)])
            scores.append(loss * n)  # the choice's total loss: lower is more likely
        pick = min(range(len(scores)), key=scores.__getitem__)
        correct += pick == q.correct
        if len(examples) < shown:
            examples.append((q.question, q.answer, q.choices[pick]))
    return Accuracy("choice", correct / len(questions), correct, len(questions), examples)
