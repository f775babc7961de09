"""`python main.py check-data FILE [--model DIR] [--format F] [--columns MAP] [--max-length N]
[--json]`: the dataset doctor.

Prints what the file is (type, shape), how many rows are good, every problem by row number
(the first 20 on screen), fields it does not understand, rows with image/audio/video input, and
with --model the token lengths as that model's chat template renders the rows, against
max_length (a preference pair counts its longer side). A file of unknown shape is read through
a proposed column mapping, shown with its first rows (rendered by the chat template with
--model) for the user to confirm with --columns. Exit 0 when the file can be trained on (bad
rows are reported, and skipped only with skip_bad_rows); 2 when it cannot be read, has no good
rows, or needs a column mapping that is not set yet.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, NamedTuple

from studio.cli.args import number
from studio.cli.console import user_stderr
from studio.core.errors import UserError


class Proposed(NamedTuple):
    """A mapping the doctor proposed for a file it cannot place; `error` is its reason."""

    columns: Any     # data.columns.Columns
    reason: str      # what was recognised
    error: str       # the doctor's one line: training refuses the file with it


SHOWN_PROBLEMS = 20
PROPOSAL_PREVIEW_ROWS = 3  # rows shown with a proposed mapping, for the user to judge it


def register(sub: argparse._SubParsersAction) -> None:
    from studio.core.config import FORMATS  # standard library only: --help stays instant

    p = sub.add_parser(
        "check-data", help="dataset doctor: format, rows, errors by row, token lengths",
        description="Check a dataset file before training: its shape (alpaca, sharegpt, "
                    "messages, text, preference pairs, KTO rows), good and bad rows by number, "
                    "and with --model the token lengths under that model's chat template.")
    p.add_argument("file", metavar="FILE", help=".json, .jsonl, .csv, .tsv, .parquet or .txt")
    p.add_argument("--model", metavar="DIR", help="model folder whose tokenizer and chat "
                   "template count the tokens")
    p.add_argument("--format", choices=list(FORMATS), default="auto",
                   help="the shape of the rows (default: detect it)")
    p.add_argument("--columns", metavar="MAP", default="",
                   help="which field plays which role: prompt=q_text,response=a_text (config "
                        "key columns; see `train --help`)")
    p.add_argument("--stage", choices=["sft", "pretrain", "dpo", "kto", "grpo"], default="sft",
                   help="how tokens are counted: sft (dpo, kto) renders conversations, pretrain "
                        "learns all; grpo reads rows as prompts with optional reference answers")
    p.add_argument("--max-length", type=number(int, key="max_length"), metavar="N",
                   help="longest sample in tokens (default: the config default)")
    p.add_argument("--max-rows", type=number(int, -2**63, 2**63 - 1), metavar="N",
                   help="check only the first N rows")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        report, proposal, tokenizer = _inspect(args)
    except UserError as e:
        if not args.json:
            raise  # the dispatcher prints "error: <reason>" and exits 2
        _write(json.dumps({"ok": False, "error": e.one_line()}))
        print(f"error: {e.one_line()}", file=user_stderr())  # as without --json (contract.md)
        return 2
    verdict = _verdict(report, proposal)
    questions = _question_kind(args.file)  # an evaluation file need not be trainable
    if args.json:
        _write(json.dumps({**_as_dict(report, verdict),
                           "proposed_columns": str(proposal.columns) if proposal else None,
                           "evaluation": questions}))
    else:
        _write(_text(report, verdict, proposal, tokenizer) + _question_line(questions, args.file))
    if verdict:
        print(f"error: {verdict}", file=user_stderr())
        return 2
    return 0


def _inspect(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(report, the proposed mapping the rows were read with or None, tokenizer or None)."""
    from studio.core.data import doctor as data

    if args.max_length is not None and args.max_length < 1:
        raise UserError("--max-length must be a positive number of tokens")
    if args.max_rows is not None and args.max_rows < 1:
        raise UserError("--max-rows must be a positive number of rows")
    if args.max_length is not None and not args.model:
        raise UserError("--max-length needs --model: tokens are counted with that model's "
                        "tokenizer and chat template")
    tokenizer, max_length = None, None
    if args.model:
        from studio.core.config import defaults
        from studio.core.model.load import load_tokenizer, resolve_model  # heavy: transformers

        tokenizer = load_tokenizer(resolve_model(args.model, tokenizer_only=True))
        max_length = args.max_length or defaults()["max_length"]
    def inspect(columns: Any) -> Any:
        return data.inspect_dataset(args.file, args.format, columns=columns,
                                    tokenizer=tokenizer, max_length=max_length,
                                    max_rows=args.max_rows, stage=args.stage)

    columns = data.parse_columns(args.columns)  # a bad mapping: one line before any reading
    try:
        return inspect(columns), None, tokenizer
    except data.DataError as e:
        if columns or args.format != "auto":
            raise
        proposal = data.propose_for_file(args.file)
        if not proposal.columns:
            raise
        found = Proposed(proposal.columns, proposal.reason, e.one_line())
        return inspect(proposal.columns), found, tokenizer


def _verdict(report: Any, proposal: Any = None) -> str:
    """Why this file cannot be trained on ("" when it can)."""
    from pathlib import Path

    name = Path(report.path).name
    if proposal is not None:
        return proposal.error  # as training says it (it names the proposed columns)
    if report.good_rows == 0:
        if report.media_rows and len(report.media_rows) == report.total_rows:
            return f"every row of {name} has image/audio/video input; this studio trains text " \
                   "models"
        return f"no row of {name} can be trained on"
    return ""


# --- the readable report -------------------------------------------------------------------------

def _text(r: Any, verdict: str, proposal: Any = None, tokenizer: Any = None) -> str:
    fmt = r.format if r.format == r.detected_format else \
        f"{r.format} (set; the rows look like {r.detected_format or 'nothing known'})"
    if r.format == r.detected_format:
        fmt += " (detected)"
    if proposal is not None:
        fmt = f"{r.format}, read through the proposed columns (not set)"
    lines = [f"dataset   {r.path}", f"file      {r.file_type}", f"format    {fmt}",
             *_columns_lines(r, proposal),
             f"rows      {r.total_rows}" + (f" (stopped at --max-rows {r.rows_scanned_limit})"
                                            if r.rows_scanned_limit else ""),
             f"good rows {r.good_rows}", f"bad rows  {r.bad_rows}"]
    if r.problems:
        lines += ["", "problems by row:"]
        lines += [f"  {p}" for p in r.problems[:SHOWN_PROBLEMS]]
        if len(r.problems) > SHOWN_PROBLEMS:
            lines.append(f"  ... and {len(r.problems) - SHOWN_PROBLEMS} more")
    if r.unknown_fields:
        lines += ["", "fields it does not understand (ignored): " + ", ".join(r.unknown_fields)]
    if r.media_rows:
        lines += ["", f"rows with image/audio/video input (refused, this studio trains text "
                      f"models): {_row_list(r.media_rows)}"]
    shown = r.preview[:PROPOSAL_PREVIEW_ROWS if proposal is not None else 1]
    for sample in shown:
        lines += ["", f"{'first good row' if len(shown) == 1 else 'good row'} "
                      f"(row {sample.row}):"] + _preview(sample)
        if proposal is not None and tokenizer is not None:
            lines += ["  as the model's chat template renders it:",
                      *_rendered(sample, tokenizer)]
    if r.length_stats:
        lines += ["", *_lengths(r)]
    lines += ["", _summary(r, verdict)]
    return "\n".join(lines)


def _columns_lines(r: Any, proposal: Any) -> list[str]:
    if proposal is not None:
        return [f"columns   {proposal.columns}", f"          proposed: {proposal.reason}; "
                "check the rows below, then pass it with --columns"]
    return [f"columns   {r.columns}"] if r.columns else []


def _rendered(sample: Any, tokenizer: Any, max_lines: int = 12) -> list[str]:
    """The sample as training feeds it to the model: the chat template's text."""
    from studio.core.data.tokenize import tokenize_sample
    from studio.core.errors import DataError

    try:
        ids = tokenize_sample(sample, tokenizer, None).input_ids
    except DataError as e:
        return [f"    (the chat template refuses it: {e.one_line()})"]
    text = tokenizer.decode(ids, skip_special_tokens=False).splitlines()
    more = [f"    ... {len(text) - max_lines} more lines"] if len(text) > max_lines else []
    return [f"    | {line}" for line in text[:max_lines]] + more


def _row_list(rows: list[int], shown: int = 20) -> str:
    text = ", ".join(map(str, rows[:shown]))
    return text + (f" ... and {len(rows) - shown} more" if len(rows) > shown else "")


def _preview(sample: Any, width: int = 100) -> list[str]:
    def cut(text: str) -> str:
        text = " ".join(text.split())
        return text if len(text) <= width else text[:width - 3] + "..."

    if sample.text is not None:
        return [f"  text: {cut(sample.text)}"]
    lines = [f"  {m.role}: {cut(m.content)}" for m in sample.messages[:6]]
    if len(sample.messages) > 6:
        lines.append(f"  ... {len(sample.messages) - 6} more messages")
    if sample.is_pair:
        lines[-1] = lines[-1].replace("  assistant: ", "  chosen: ", 1)
        lines.append(f"  rejected: {cut(sample.rejected)}")
    elif sample.label is not None:
        lines.append(f"  label: {'good' if sample.label else 'bad'} reply")
    if sample.tools:
        lines.append(f"  tools: {cut(sample.tools)}")
    return lines


def _lengths(r: Any) -> list[str]:
    s = r.length_stats
    lines = [f"token lengths ({s.count} good rows, {r.stage}): min {s.min}  mean {s.mean:.1f}  "
             f"p50 {s.p50:.0f}  p95 {s.p95:.0f}  max {s.max}  (max_length {r.max_length})"]
    lines += _histogram(r.lengths, r.max_length)
    if r.over_max_length:
        what = "will be split into max_length windows" if r.stage == "pretrain" else \
            "will be truncated"
        n = r.over_max_length
        lines.append(f"{n} {'row is' if n == 1 else 'rows are'} longer than max_length "
                     f"{r.max_length} and {what}")
    else:
        lines.append(f"every row fits in max_length {r.max_length}")
    if r.all_masked_rows:
        lines.append(f"rows with nothing left to learn at max_length {r.max_length} (the answer "
                     f"starts after it; dropped in training): {_row_list(r.all_masked_rows)}")
    return lines


def _histogram(lengths: Any, max_length: int, bins: int = 8, width: int = 40) -> list[str]:
    """Text bars from 0 to about the 95th percentile (at least max_length); a last line counts
    the long tail, so one huge row does not squash every bar into the first."""
    import numpy as np

    if lengths is None or not len(lengths):
        return []
    top = int(lengths.max())
    cap = min(top, max(max_length or 0, int(np.percentile(lengths, 95))))
    counts, edges = np.histogram(lengths, bins=max(1, min(bins, cap)), range=(0, max(cap, 1)))
    rows = [(f"{int(lo)}-{int(hi)}", int(c), lo, hi)
            for c, lo, hi in zip(counts, edges[:-1], edges[1:])]
    if top > cap:
        rows.append((f"{cap + 1}-{top}", int((lengths > cap).sum()), cap, top))
    peak = max(max(c for _, c, _, _ in rows), 1)
    out = []
    for label, c, lo, hi in rows:
        mark = "" if not max_length or hi <= max_length else \
            "  over max_length" if lo >= max_length else "  max_length inside"
        out.append(f"  {label:>13} {'#' * round(width * c / peak):<{width}} {c}{mark}")
    return out


def _question_kind(path: str) -> Any:
    """'exact' / 'choice' when the rows are an evaluation file (docs/contract.md)."""
    from studio.core.eval.run_eval import question_kind_of

    try:
        return question_kind_of(path)
    except UserError:
        return None


def _question_line(kind: Any, path: str) -> str:
    if kind is None:
        return ""
    what = {"exact": "exact-match questions (question / answer)",
            "choice": "multiple-choice questions (question / choices / answer)"}[kind]
    return (f"\nevaluation: {what}; score a model on them with python main.py eval MODEL "
            f"--data {path}")


def _summary(r: Any, verdict: str) -> str:
    if verdict:
        return f"not usable: {verdict}"
    text = f"usable: {r.good_rows} good rows"
    if r.format == "text":
        text += " of plain text (train it with stage: pretrain)"
    elif r.format == "preference":
        text += " of chosen/rejected pairs (train them with stage: dpo, or kto)"
    elif r.format == "kto":
        text += " of replies labelled good / bad (train them with stage: kto)"
    if r.bad_rows:
        text += (f"; {r.bad_rows} bad rows refuse training until fixed, or set skip_bad_rows: "
                 "true to train on the good rows")
    return text


def _as_dict(r: Any, verdict: str) -> dict:
    out = {
        "ok": not verdict, "error": verdict or None, "path": r.path, "file_type": r.file_type,
        "format": r.format, "detected_format": r.detected_format, "total_rows": r.total_rows,
        "good_rows": r.good_rows, "bad_rows": r.bad_rows,
        "problems": [{"row": p.row, "line": p.line, "reason": p.reason} for p in r.problems],
        "unknown_fields": r.unknown_fields, "media_rows": r.media_rows,
        "is_preference": r.is_preference, "rows_scanned_limit": r.rows_scanned_limit,
        "columns": r.columns or None,
    }
    if r.length_stats:
        s = r.length_stats
        out.update(stage=r.stage, max_length=r.max_length, over_max_length=r.over_max_length,
                   all_masked_rows=r.all_masked_rows,
                   lengths={"count": s.count, "min": s.min, "mean": s.mean, "p50": s.p50,
                            "p95": s.p95, "max": s.max})
    return out


def _write(text: str) -> None:
    """Print text the terminal may not be able to encode (a lone surrogate from a JSON escape,
    Chinese on an ASCII console) without crashing: such characters come out escaped."""
    enc = sys.stdout.encoding or "utf-8"
    sys.stdout.write(text.encode(enc, "backslashreplace").decode(enc, "replace") + "\n")
    sys.stdout.flush()
