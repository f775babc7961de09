"""`python main.py resume RUN_DIR`: continue a stopped or killed run from its last checkpoint."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("resume", help="continue a stopped or killed run from its last checkpoint",
                       description="Continue a run from its newest complete checkpoint: weights, "
                                   "optimizer, learning rate, RNG and data position are restored, "
                                   "so no sample is trained twice or skipped.")
    p.add_argument("run_dir", help="the run directory")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change how the rest runs: batch_size with grad_accum (same effective "
                        "batch, e.g. after out-of-memory), max_steps, save/eval/logging_steps")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from studio.cli.console import run_with_console
    from studio.core.config import parse_overrides
    from studio.core.train import trainer

    overrides = parse_overrides(args.overrides)
    return run_with_console(
        lambda rep, stop: trainer.resume(args.run_dir, rep, stop, overrides=overrides),
        quiet=args.quiet)
