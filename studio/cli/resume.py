"""`python main.py resume RUN_DIR`: continue a stopped or killed run from its last checkpoint."""

from __future__ import annotations

import argparse
import os


def register(sub: argparse._SubParsersAction) -> None:
    from studio.cli.train import add_process_flags

    p = sub.add_parser("resume", help="continue a stopped or killed run from its last checkpoint",
                       description="Continue a run from its newest complete checkpoint: weights, "
                                   "optimizer, learning rate, RNG and data position are restored, "
                                   "so no sample is trained twice or skipped.")
    p.add_argument("run_dir", help="the run directory")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change how the rest runs: batch_size with grad_accum (same effective "
                        "batch, e.g. after out-of-memory), max_steps, save/eval/logging_steps, "
                        "processes")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    add_process_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from studio.cli.console import run_with_console
    from studio.cli.train import group_outcome, launch_of, process_overrides
    from studio.core import runs
    from studio.core.config import parse_overrides
    from studio.core.train import distributed
    from studio.core.train import launch as launch_mod

    pairs = args.overrides + process_overrides(args)
    overrides = parse_overrides(pairs)
    run_dir = runs.open_run(args.run_dir)
    cfg = runs.load_config(run_dir).replace(**overrides) if overrides else \
        runs.load_config(run_dir)
    if cfg.processes > 1 and not distributed.in_torchrun():
        argv = ["resume", args.run_dir, *(a for o in pairs for a in ("--set", o))]
        argv += ["--quiet"] if args.quiet else []
        return group_outcome(launch_mod.run_group(launch_of(args, cfg.processes), argv, cfg))
    from studio.core.train import trainer

    main = os.environ.get("RANK", "0") == "0"
    return run_with_console(
        lambda rep, stop: trainer.resume(args.run_dir, rep, stop, overrides=overrides),
        quiet=args.quiet or not main, summary=main)
