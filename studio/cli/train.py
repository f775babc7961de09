"""`python main.py train CONFIG.yaml [--set KEY=VALUE ...]`: a run, headless.

With --processes N (or `processes` in the config) the run is started as a process group through
torchrun (core/train/launch.py); --launch-script DIR writes the commands for a cluster instead.
"""

from __future__ import annotations

import argparse
import os

from studio.cli import args as arg_types
from studio.core import config as config_mod


def _keys_help() -> str:
    lines = ["config keys (flat YAML; --set KEY=VALUE overrides one):"]
    for f in config_mod.field_specs():
        choices = f.metadata.get("choices")
        default = "" if f.default in (None, "") else f" [default: {f.default}]"
        opts = f" {{{'|'.join(choices)}}}" if choices else ""
        lines.append(f"  {f.name}{opts}{default}\n      {f.metadata['help']}")
    return "\n".join(lines)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="run training headless from a YAML config",
                       description="Run training headless; writes the run directory "
                                   "(config.yaml, metrics.jsonl, checkpoints/, run.json).",
                       epilog=_keys_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="YAML file with the run's keys")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key (repeatable)")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    add_process_flags(p)
    p.add_argument("--launch-script", metavar="DIR",
                   help="write a folder to run this training on a cluster (config.yaml, a "
                        "torchrun command per node, a Slurm sbatch file) instead of training")
    p.set_defaults(func=run)


def add_process_flags(p: argparse.ArgumentParser) -> None:
    """Where the processes go (train and resume): torchrun's own terms."""
    p.add_argument("--processes", type=arg_types.number(int, 1, 1024), metavar="N",
                   help="training processes on this machine, one per GPU (CPU: gloo); sets "
                        "the config key processes to N x nnodes")
    p.add_argument("--nnodes", type=arg_types.number(int, 1, 4096), default=1, metavar="M",
                   help="machines taking part (default 1)")
    p.add_argument("--node-rank", type=arg_types.number(int, 0, 4095), default=0,
                   metavar="R", help="this machine's number, 0 .. M-1 (0 is the master)")
    p.add_argument("--master-addr", default="127.0.0.1", metavar="HOST",
                   help="address of the node with rank 0")
    p.add_argument("--master-port", type=arg_types.number(int, 1, 65535), metavar="PORT",
                   help="free TCP port on the master (default: any free port on one machine, "
                        "29500 on several)")


def launch_of(args: argparse.Namespace, processes: int):
    """The Launch the flags describe; `processes` is the config's total when no flag says."""
    from studio.core.train.launch import Launch

    per_node = args.processes or max(1, processes // args.nnodes)
    launch = Launch(per_node, args.nnodes, args.node_rank, args.master_addr, args.master_port)
    launch.check()
    return launch


def process_overrides(args: argparse.Namespace) -> list[str]:
    return [f"processes={args.processes * args.nnodes}"] if args.processes else []


def run(args: argparse.Namespace) -> int:
    from studio.cli.console import run_with_console
    from studio.core.train import distributed
    from studio.core.train import launch as launch_mod

    overrides = args.overrides + process_overrides(args)
    cfg = config_mod.load(args.config, overrides)
    if args.launch_script:
        launch = launch_of(args, cfg.processes)
        for path in launch_mod.write_launch_folder(args.launch_script, cfg, launch):
            print(path)
        return 0
    if cfg.processes > 1 and not distributed.in_torchrun():
        from studio.core.train.setup import check_output_dir

        distributed.check(cfg)  # refused here in a moment, not after N processes loaded torch
        check_output_dir(cfg)
        launch = launch_of(args, cfg.processes)
        argv = ["train", args.config, *(a for o in overrides for a in ("--set", o))]
        argv += ["--quiet"] if args.quiet else []
        return group_outcome(launch_mod.run_group(launch, argv, cfg))
    from studio.core.train import trainer  # heavy: torch, transformers

    main = os.environ.get("RANK", "0") == "0"  # the other processes of a group stay silent
    return run_with_console(lambda rep, stop: trainer.train(cfg, rep, stop),
                            quiet=args.quiet or not main, summary=main)


def group_outcome(outcome: tuple[int, str]) -> int:
    """A process group's end as the contract wants it: bad input is a UserError (exit 2),
    a failed run one `error:` line on stderr and exit 1."""
    from studio.cli.console import user_stderr
    from studio.core.errors import UserError

    code, line = outcome
    if code == 2:
        raise UserError(line)
    if code:
        print(f"error: {line}", file=user_stderr(), flush=True)
    return code
