"""`python main.py eval RUN_DIR|MODEL --data FILE|corpus [--metric ...]`: perplexity or accuracy
of a model, or of a run's base model, checkpoints and final weights (written to eval.jsonl)."""

from __future__ import annotations

import argparse
from pathlib import Path

from studio.core.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    from studio.core.eval.run_eval import METRICS  # light: no torch at import

    p = sub.add_parser(
        "eval", help="perplexity or accuracy of a model or a run, per checkpoint",
        description="Score a model folder, or a run (its base model, every checkpoint and the "
                    "final weights, each appended to RUN_DIR/eval.jsonl), on a file: "
                    "perplexity on any text or chat file, exact-match or multiple-choice "
                    "accuracy on a question file (docs/contract.md, Evaluation files).")
    p.add_argument("target", metavar="RUN_DIR|MODEL", help="a run directory or a model folder")
    p.add_argument("--data", required=True, metavar="FILE",
                   help="the file to score; `corpus`: the bundled corpus's held-out text "
                        "(perplexity before and after tuning shows what the model forgot)")
    p.add_argument("--metric", choices=METRICS, default="auto",
                   help="auto: accuracy for question files, else perplexity")
    p.add_argument("--max-length", type=int, default=512, metavar="N",
                   help="tokens per scored window [512]")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from studio.core import runs

    target = Path(args.target).expanduser()
    if not target.exists():
        raise UserError(f"no such run or model folder: {target}")
    if args.max_length < 2:
        raise UserError(f"--max-length must be at least 2; got {args.max_length}")
    from transformers.utils import logging as hf_logging  # heavy: torch, transformers

    hf_logging.disable_progress_bar()  # one line per model scored says what happens
    if runs.holds_run(target):
        return _run_dir(target, args)
    return _model(target, args)


def _run_dir(target: Path, args: argparse.Namespace) -> int:
    from studio.core.eval import run_eval

    print(f"{'checkpoint':<12} {'step':>6}  result")
    run_eval.evaluate_run(target, args.data, args.metric, max_length=args.max_length,
                          device=args.device, progress=lambda r: print(_line(r), flush=True))
    print(f"written to {run_eval.eval_file(target)}")
    return 0


def _model(target: Path, args: argparse.Namespace) -> int:
    from studio.core.eval import run_eval
    from studio.core.model import load as model_mod
    from studio.core.model.run_model import pick_device

    path = model_mod.resolve_model(target)
    tokenizer = model_mod.load_tokenizer(path)
    metric = run_eval.pick_metric(args.data, args.metric)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        data = run_eval.data_path(args.data, tokenizer, Path(tmp))
        model = model_mod.load_model(path, device=pick_device(args.device))
        result = run_eval.evaluate(model, tokenizer, data, metric, args.max_length)
    print(_line({"checkpoint": path.name, "step": "", **result}))
    return 0


def _line(r: dict) -> str:
    if r["metric"] == "perplexity":
        what = f"perplexity {r['value']:.2f} (loss {r['loss']:.3f}, {r['tokens']} tokens)"
    else:
        what = f"{r['metric']} accuracy {r['value']:.1%} ({r['correct']}/{r['total']})"
    return f"{r['checkpoint']:<12} {r['step']:>6}  {what}"
