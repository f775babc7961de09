"""Evaluating a model or a run on a file, and eval.jsonl in the run folder.

One record per (checkpoint, file, metric), appended to `RUN_DIR/eval.jsonl`:
  {"step": 0, "checkpoint": "base", "data": "...", "metric": "perplexity", "value": 41.2,
   "loss": 3.72, "tokens": 1744, "time": 1733130000.0}
step 0 / "base" is the model before tuning; "step-N" a checkpoint; "final" the finished
adapter / model. For perplexity a lower value is better, for exact / choice (accuracy) higher.

DATA may be the word `corpus`: the pretrained starter's held-out corpus split (general text the
fine-tuning data does not hold), so its perplexity per checkpoint is the forgetting curve.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Optional

from studio.core import runs
from studio.core.errors import UserError

METRICS = ("auto", "perplexity", "exact", "choice")
EVAL_FILE = "eval.jsonl"
CORPUS = "corpus"  # the bundled corpus's held-out split


def eval_file(run_dir: str | Path) -> Path:
    return Path(run_dir) / EVAL_FILE


def pick_metric(data: str | Path, metric: str = "auto") -> str:
    """The metric a file gets: question files exact / choice, anything else perplexity."""
    if metric not in METRICS:
        raise UserError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if str(data) == CORPUS:
        if metric not in ("auto", "perplexity"):
            raise UserError("the held-out corpus is plain text: only perplexity applies")
        return "perplexity"
    kind = question_kind_of(Path(data))
    if metric == "auto":
        return kind or "perplexity"
    if metric in ("exact", "choice") and kind != metric:
        what = {"exact": "\"question\" and \"answer\"",
                "choice": "\"question\", \"choices\" and \"answer\""}[metric]
        raise UserError(f"{Path(data).name} is not a {metric} file: its rows need {what} "
                        "(docs/contract.md, Evaluation files)")
    return metric


def check_eval_data(data: str, metric: str) -> None:
    """UserError now, before a run starts, for an eval_data file that is missing or does not
    fit the metric."""
    if data != CORPUS and not Path(data).expanduser().is_file():
        raise UserError(f"eval_data file not found: {data}")
    pick_metric(data, metric)


def question_kind_of(path: str | Path) -> Optional[str]:
    """'exact' / 'choice' when the file's first readable row is a question row, else None."""
    from studio.core.data.load import read_rows
    from studio.core.eval.questions import question_kind

    _, rows = read_rows(path)
    first = next((r for r in rows if not r.error), None)
    return question_kind(first.value) if first is not None else None


def data_path(data: str | Path, tokenizer: Any, workdir: Path) -> Path:
    """The file to score: DATA itself, or the held-out corpus written into `workdir`."""
    if str(data) != CORPUS:
        path = Path(data).expanduser()
        if not path.is_file():
            raise UserError(f"evaluation file not found: {path}")
        return path
    from studio.core.model import pretrained

    workdir.mkdir(parents=True, exist_ok=True)
    return pretrained.write_held_out(workdir / pretrained.HELD_OUT_FILE, tokenizer)


def evaluate(model: Any, tokenizer: Any, path: Path, metric: str,
             max_length: int = 512) -> dict:
    """{"metric", "value", ...} for one model on one file (metric already picked)."""
    from studio.core.eval import perplexity, questions

    if metric == "perplexity":
        p = perplexity.perplexity(model, tokenizer, path, max_length=max_length)
        return {"metric": metric, "value": p.perplexity, "loss": p.loss, "tokens": p.tokens,
                "scored_on": p.scored_on}
    kind, qs = questions.read_questions(path)
    acc = (questions.exact_match if kind == "exact" else questions.multiple_choice)(
        model, tokenizer, qs)
    return {"metric": metric, "value": acc.accuracy, "correct": acc.correct,
            "total": acc.total, "examples": [list(e) for e in acc.examples]}


def append_record(run_dir: Path, record: dict) -> None:
    with open(eval_file(run_dir), "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_records(run_dir: str | Path) -> list[dict]:
    """eval.jsonl's records (a torn last line, from a run killed while writing, is skipped)."""
    path = eval_file(run_dir)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def record(step: int, checkpoint: str, data: str | Path, result: dict) -> dict:
    return {"step": step, "checkpoint": checkpoint, "data": str(data), **result,
            "time": round(time.time(), 3)}


def evaluate_run(run_dir: str | Path, data: str | Path, metric: str = "auto", *,
                 max_length: int = 512, device: Optional[str] = None,
                 progress: Optional[Callable[[dict], None]] = None) -> list[dict]:
    """Score the base model, every complete checkpoint and the final adapter / model of a run
    on `data`; append each record to eval.jsonl and return them."""
    from studio.core.model import load as model_mod
    from studio.core.model.run_model import final_step, load_run_model, pick_device

    run = runs.open_run(run_dir)
    cfg = runs.load_config(run)
    base_path = model_mod.resolve_model(cfg.model, trust_remote_code=cfg.trust_remote_code,
                                        allow_pickle=cfg.allow_pickle)
    tokenizer = model_mod.load_tokenizer(base_path, trust_remote_code=cfg.trust_remote_code)
    metric = pick_metric(data, metric)
    path = data_path(data, tokenizer, run.path)
    out: list[dict] = []

    def score(model: Any, tok: Any, step: int, name: str) -> None:
        rec = record(step, name, data, evaluate(model, tok, path, metric, max_length))
        append_record(run.path, rec)
        out.append(rec)
        if progress:
            progress(rec)

    base = model_mod.load_model(base_path, device=pick_device(device),
                                trust_remote_code=cfg.trust_remote_code)
    score(base, tokenizer, 0, "base")
    del base
    for step in runs.checkpoint_steps(run):
        rm = load_run_model(run.path, step, device=device)
        score(rm.model, rm.tokenizer, step, f"step-{step}")
    done = final_step(run)
    if done is not None and done not in runs.checkpoint_steps(run):
        rm = load_run_model(run.path, None, device=device)
        score(rm.model, rm.tokenizer, done, "final")
    return out
