"""`python main.py train CONFIG.yaml [--set KEY=VALUE ...]`: a run, headless."""

from __future__ import annotations

import argparse

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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from studio.cli.console import run_with_console
    from studio.core.train import trainer  # heavy: torch, transformers

    cfg = config_mod.load(args.config, args.overrides)
    return run_with_console(lambda rep, stop: trainer.train(cfg, rep, stop), quiet=args.quiet)
