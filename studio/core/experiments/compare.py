"""The comparison table: what each run cost and what it gave, read from its own files.

One row per run folder, from config.yaml (method and the keys that differ between the runs),
run.json (status), metrics.jsonl (trainable share, peak memory, time per step, tokens/s, final
train and eval loss) and, when the evaluation wrote one, evaluation.json (its numbers, e.g.
forgetting). The CLI prints it, the comparison board shows it; CSV and Markdown export it.
Standard library + PyYAML: the app reads it in a child process, no torch.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from studio.core import runs
from studio.core.events import EvalMetrics, RunEvent, StepMetrics

EVALUATION_FILE = "evaluation.json"  # {"metric": number, ...} or {"metrics": {...}}


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    fmt: Callable[[Any], str] = str


def _f(digits: int) -> Callable[[Any], str]:
    return lambda v: f"{v:.{digits}f}"


COLUMNS = (
    Column("run", "run"), Column("method", "method"), Column("status", "status"),
    Column("steps", "steps"),
    Column("trainable_pct", "trainable %", lambda v: f"{v:.3g}"),
    Column("peak_mem_mb", "peak MB", _f(0)),
    Column("s_per_step", "s/step", lambda v: f"{v:.3g}"),
    Column("tokens_per_s", "tokens/s", _f(0)),
    Column("train_loss", "train loss", _f(4)),
    Column("eval_loss", "eval loss", _f(4)),
    Column("perplexity", "perplexity", _f(2)),
    Column("forgetting", "forgetting %", lambda v: f"{v:+.1f}"),
)
ACCURACY_METRICS = ("exact", "choice")  # eval.jsonl metrics where higher is better (0..1)


def expand_paths(paths: list[str | Path]) -> list[Path]:
    """Run folders, with a sweep folder (one that holds runs) standing for its runs."""
    from studio.core import runs

    out: list[Path] = []
    for p in map(lambda x: Path(x).expanduser(), paths):
        if (p / "config.yaml").exists() or runs.holds_run(p):
            out.append(runs.open_run(p).path)  # names a pipe, an export's copy, ...
        elif p.is_dir() and any(c.is_dir() and runs.holds_run(c) for c in p.iterdir()):
            out += sorted(c for c in p.iterdir() if c.is_dir() and runs.holds_run(c))
        else:
            from studio.core.errors import UserError

            raise UserError(f"{p} is neither a run folder nor a folder of runs")
    return out


def table(paths: list[str | Path]) -> list[dict[str, Any]]:
    """One row (column key -> value; None when the run has no such figure) per run, plus the
    config keys whose values differ between the runs (a sweep's values)."""
    folders = expand_paths(paths)
    configs = [_config(p) for p in folders]
    varied = _varied_keys(configs)
    rows = []
    for path, cfg in zip(folders, configs):
        row = run_figures(path)
        row["method"] = cfg.get("method", "")
        row.update({k: cfg.get(k) for k in varied})
        rows.append(row)
    return rows


def columns_of(rows: list[dict[str, Any]]) -> list[str]:
    """Column keys in display order: the fixed ones, the varied config keys, evaluation."""
    fixed = [c.key for c in COLUMNS]
    extra: list[str] = []
    for r in rows:
        extra += [k for k in r if k not in fixed and k not in extra and not k.startswith("_")]
    config_keys = [k for k in extra if not k.startswith(("eval:", "answer: "))]
    return fixed[:2] + config_keys + fixed[2:] + [k for k in extra if k.startswith("eval:")] \
        + [k for k in extra if k.startswith("answer: ")]


def run_figures(path: Path) -> dict[str, Any]:
    records = runs.read_metrics(path)
    steps = _last_per_step([r for r in records if isinstance(r, StepMetrics)])
    evals = [r for r in records if isinstance(r, EvalMetrics)]
    started = [r for r in records if isinstance(r, RunEvent) and r.event in ("started", "resumed")
               and r.data and r.data.get("total_params")]
    counts = started[-1].data if started else {}
    row: dict[str, Any] = {
        "run": path.name, "_path": str(path),
        "status": runs.effective_status(path) if runs.read_status(path) else "unknown",
        "_reason": str(runs.read_status(path).get("reason", "")),
        "steps": steps[-1].step if steps else 0,
        "trainable_pct": 100.0 * counts["trainable_params"] / counts["total_params"]
        if counts else None,
        "peak_mem_mb": max((s.mem_mb for s in steps), default=None),
        "s_per_step": seconds_per_step(records),
        "tokens_per_s": tokens_per_second(steps),
        "train_loss": steps[-1].loss if steps else None,
        "eval_loss": evals[-1].eval_loss if evals else None,
        "perplexity": evals[-1].perplexity if evals else None,
    }
    row.update({f"eval:{k}": v for k, v in _evaluation(path).items()})
    row.update(_checkpoint_evals(path))
    return row


def _checkpoint_evals(path: Path) -> dict[str, Any]:
    """From eval.jsonl (eval_data scored before training and at checkpoints, or `eval RUN`):
    each (file, metric)'s last value as "eval:FILE METRIC", and "forgetting" from the first
    one scored on the base model too: perplexity rise in % (the held-out corpus got harder),
    or accuracy points lost. Positive: the run forgot."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in _eval_records(path):
        if isinstance(r.get("value"), (int, float)) and isinstance(r.get("step"), int):
            groups.setdefault((Path(str(r.get("data"))).name, str(r.get("metric"))), []).append(r)
    out: dict[str, Any] = {}
    for (data, metric), recs in groups.items():
        last = max(recs, key=lambda r: (r["step"], r.get("checkpoint") == "final"))
        out[f"eval:{data} {metric}"] = float(last["value"])
        base = next((r for r in recs if r.get("checkpoint") == "base"), None)
        if "forgetting" not in out and base is not None and last is not base:
            out["forgetting"] = 100.0 * (base["value"] - last["value"]) \
                if metric in ACCURACY_METRICS else 100.0 * (last["value"] / base["value"] - 1.0)
    return out


def _eval_records(path: Path) -> list[dict]:
    # eval.jsonl as core/eval/run_eval.py writes it, read here without its imports (a torn
    # last line, from a run killed while writing, is skipped)
    try:
        lines = (path / "eval.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _last_per_step(steps: list[StepMetrics]) -> list[StepMetrics]:
    # a step logged again after a resume from an earlier checkpoint: the later line counts
    by_step = {s.step: s for s in steps}
    return [by_step[k] for k in sorted(by_step)]


def seconds_per_step(records: list) -> Optional[float]:
    """Median wall time per optimizer step between consecutive step lines of one process
    (a resume or an eval in between does not count as training time)."""
    gaps, prev = [], None
    for r in records:
        if isinstance(r, StepMetrics):
            if prev is not None and r.step > prev.step:
                gaps.append((r.time - prev.time) / (r.step - prev.step))
            prev = r
        elif isinstance(r, (RunEvent, EvalMetrics)):
            prev = None
    return statistics.median(gaps) if gaps else None


def tokens_per_second(steps: list[StepMetrics]) -> Optional[float]:
    """All real tokens over the time their steps took (not a mean of per-step rates)."""
    timed = [s for s in steps if s.tokens_per_s and s.tokens_per_s > 0]
    seconds = sum(s.tokens / s.tokens_per_s for s in timed)
    return sum(s.tokens for s in timed) / seconds if seconds > 0 else None


def _config(path: Path) -> dict:
    """config.yaml with each value typed by its key (plain YAML reads 2e-05 as a string)."""
    import yaml

    from studio.core import config as config_mod
    from studio.core.errors import ConfigError

    try:
        data = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    try:
        return {k: v for k, v in config_mod.to_dict(config_mod.from_dict(data)).items()
                if k in data}
    except ConfigError:  # a config of another version: its values as written
        return data


def _varied_keys(configs: list[dict]) -> list[str]:
    ignore = {"output_dir", "overwrite", "method"}
    keys = sorted({k for c in configs for k in c} - ignore)
    return [k for k in keys if len({json.dumps(c.get(k)) for c in configs}) > 1] \
        if len(configs) > 1 else []


def _evaluation(path: Path) -> dict[str, float]:
    try:
        data = json.loads((path / EVALUATION_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    data = data.get("metrics", data) if isinstance(data, dict) else {}
    return {k: float(v) for k, v in data.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


# --- for the comparison board -------------------------------------------------------------

def comparable_runs(root: str | Path) -> list[tuple[str, list[str]]]:
    """[(group, [run folders])] under the runs folder: the loose runs as group "", then each
    folder of runs (a sweep, a methods comparison), newest first."""
    root = Path(root).expanduser()
    if not root.is_dir():
        return []
    loose, groups = [], []
    for p in sorted(root.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
        if not p.is_dir():
            continue
        if (p / "config.yaml").is_file():
            loose.append(str(p))
        else:
            inner = sorted(str(c) for c in p.iterdir() if (c / "config.yaml").is_file())
            if inner:
                groups.append((str(p), inner))
    return ([("", loose)] if loose else []) + groups


def board_data(emit: Callable[[str, Any], None], paths: list[str]) -> None:
    """The table rows and each run's curves (step, value) for the board; a child-process
    target (services/child_process.py): reading many metrics files holds the GIL."""
    rows = table(paths)
    curves = {}
    for row in rows:
        records = runs.read_metrics(row["_path"])
        steps = _last_per_step([r for r in records if isinstance(r, StepMetrics)])
        evals = [r for r in records if isinstance(r, EvalMetrics)]
        curves[row["_path"]] = {
            "loss": ([s.step for s in steps], [s.loss for s in steps]),
            "eval_loss": ([e.step for e in evals], [e.eval_loss for e in evals]),
            "tokens_per_s": ([s.step for s in steps], [s.tokens_per_s for s in steps]),
            "mem_mb": ([s.step for s in steps], [s.mem_mb for s in steps]),
        }
    emit("board", {"rows": rows, "curves": curves})


# --- output ---------------------------------------------------------------------------------

def sort_rows(rows: list[dict], key: str, descending: bool = False) -> list[dict]:
    """Sort by a column; runs without that figure go last either way."""
    have = [r for r in rows if r.get(key) is not None]
    missing = [r for r in rows if r.get(key) is None]
    return sorted(have, key=lambda r: _sort_key(r[key]), reverse=descending) + missing


def _sort_key(v: Any) -> tuple:
    return (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v))


def cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    col = next((c for c in COLUMNS if c.key == key), None)
    if col is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        return col.fmt(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("\n", " ")  # one line per row (answers may have several)


def title(key: str) -> str:
    col = next((c for c in COLUMNS if c.key == key), None)
    return col.title if col else key


def _grid(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    keys = columns_of(rows)
    return keys, [[cell(k, r.get(k)) for k in keys] for r in rows]


def to_text(rows: list[dict]) -> str:
    keys, body = _grid(rows)
    head = [title(k) for k in keys]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in body]
    return "\n".join(lines)


def to_markdown(rows: list[dict]) -> str:
    keys, body = _grid(rows)
    lines = ["| " + " | ".join(title(k) for k in keys) + " |",
             "|" + "|".join("---" for _ in keys) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in body]
    return "\n".join(lines) + "\n"


def to_csv(rows: list[dict]) -> str:
    """Full precision (a spreadsheet formats it), one header row of column keys."""
    keys = columns_of(rows)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(keys)
    for r in rows:
        w.writerow(["" if r.get(k) is None else r.get(k) for k in keys])
    return out.getvalue()


def to_json(rows: list[dict]) -> str:
    keys = columns_of(rows)
    return json.dumps([{k: r.get(k) for k in keys} for r in rows], ensure_ascii=False,
                      indent=1)
