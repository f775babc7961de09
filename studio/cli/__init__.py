"""The command line. Talks to studio.core directly; never imports Qt.

Each sub-command lives in its own module with `register(subparsers)`, which adds its parser and
sets `func(args) -> int`. Heavy imports happen inside `func`, so `--help` stays instant.
Exit codes (contract.md): 0 success, 2 bad input (one line on stderr), 1 anything else.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import traceback

from studio.core.errors import UserError

# Module names under studio/cli/, in the order --help lists them.
COMMANDS = ["new_model", "train", "resume", "check_data", "inspect", "demo", "chat", "export",
            "queue", "sweep", "compare", "eval"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python main.py",
                     description="Studio: fine-tune large language models on your own machine. "
                                 "Without a command, opens the desktop app.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"studio.cli.{name}").register(sub)
    parser.add_argument("--version", action="version", version="studio 0.1.0")
    desk = parser.add_mutually_exclusive_group()
    desk.add_argument("--install-desktop", action="store_true",
                      help="add the app to this computer's menu, with its icon and 'Open with' "
                           "for dataset files and run folders (Linux: freedesktop; Windows: "
                           "Start menu; macOS: ~/Applications/Studio.app)")
    desk.add_argument("--uninstall-desktop", action="store_true",
                      help="remove what --install-desktop added")
    return parser


def desktop_integration(install: bool) -> int:
    from studio.core import desktop

    done = desktop.install() if install else desktop.uninstall()
    for path in done:
        print(f"{'wrote' if install else 'removed'} {path}")
    if not done:
        print("nothing to remove: the desktop integration was not installed")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.install_desktop or args.uninstall_desktop:
        if getattr(args, "func", None):
            parser.error("--install-desktop / --uninstall-desktop take no command")
        try:
            return desktop_integration(install=args.install_desktop)
        except (OSError, subprocess.SubprocessError) as e:
            print(f"error: the desktop integration failed: {e}", file=sys.stderr)
            return 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from studio.cli.console import library_noise_to_stdout

    try:
        with library_noise_to_stdout():
            return int(args.func(args) or 0)
    except UserError as e:
        print(f"error: {e.one_line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: full details, then one line a person can read
        traceback.print_exc()
        print(f"error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
              file=sys.stderr)
        return 1
