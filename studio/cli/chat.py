"""`python main.py chat`: talk to a model, an adapter or a run's checkpoint, streamed.

One-shot with --prompt (the reply goes to stdout as it is generated; numbers go to stderr), else
interactive: one line per message on stdin, /reset, /system TEXT, /quit. Ctrl+C stops the reply
being written (a second Ctrl+C quits). --compare answers with the base model too.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from studio.cli.args import SEED_RANGE, number
from studio.cli.console import user_stderr
from studio.core import files, runs
from studio.core.config import INT_LIMIT
from studio.core.device import DEVICES
from studio.core.errors import UserError

HELP = ("commands: /reset (forget the conversation), /system TEXT (set the system prompt), "
        "/quit")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="chat with a model, an adapter or a run (streamed)",
                       description="Chat with a model using its own chat template, streamed "
                                   "token by token. One-shot with --prompt, else interactive.")
    src = p.add_argument_group("what to load")
    src.add_argument("--model", metavar="DIR", help="base model folder (or hub id)")
    src.add_argument("--adapter", metavar="DIR", help="a PEFT adapter folder (an export or a "
                     "run's adapter/); its base is --model, else the one it names")
    src.add_argument("--run", metavar="RUN_DIR", help="a run directory: its final adapter / "
                     "model, or a checkpoint with --step")
    src.add_argument("--step", type=number(int, 0), metavar="N",
                     help="with --run: checkpoint step N")
    src.add_argument("--device", default="auto", choices=DEVICES)
    gen = p.add_argument_group("generation")
    gen.add_argument("--prompt", metavar="TEXT", help="ask once, print the reply, exit")
    gen.add_argument("--system", default="", metavar="TEXT", help="system prompt")
    gen.add_argument("--max-new-tokens", type=number(int, 1, INT_LIMIT), default=256, metavar="N")
    gen.add_argument("--temperature", type=number(float, 0, 100), default=0.7,
                     help="0 = greedy (deterministic) [0.7]")
    gen.add_argument("--top-p", type=number(float, 0, 1), default=0.9, help="[0.9]")
    gen.add_argument("--top-k", type=number(int, 0, INT_LIMIT), default=50, help="0 = off [50]")
    gen.add_argument("--repetition-penalty", type=number(float, 0, 100), default=1.0,
                     help="1 = off [1.0]")
    gen.add_argument("--seed", type=number(int, *SEED_RANGE),
                     help="fixed seed: the same reply every time")
    gen.add_argument("--compare", action="store_true",
                     help="also answer with the base model (adapter switched off)")
    p.set_defaults(func=run)


def _check_paths(args: argparse.Namespace) -> None:
    """Cheap checks first, so a typo costs no model load."""
    if args.step is not None and not args.run:
        raise UserError("--step needs --run RUN_DIR")
    if args.run and args.adapter:
        raise UserError("give --run or --adapter, not both")
    if not (args.model or args.adapter or args.run):
        raise UserError("nothing to chat with: give --model DIR, --adapter DIR or --run RUN_DIR")
    if args.run and not runs.holds_run(args.run):
        raise UserError(f"{args.run} is not a run directory (no config.yaml)")
    if args.adapter and not (Path(args.adapter) / "adapter_config.json").exists():
        raise UserError(f"{args.adapter} is not an adapter folder (no adapter_config.json)")
    for folder, name in ((args.run, "config.yaml"), (args.adapter, "adapter_config.json")):
        if folder:
            files.regular_file(Path(folder) / name, name)
    if args.model and not Path(args.model).expanduser().exists() and "/" not in args.model:
        raise UserError(f"model folder not found: {args.model}")


def run(args: argparse.Namespace) -> int:
    _check_paths(args)
    from transformers.utils import logging as hf_logging  # heavy imports follow

    from studio.core.chat.engine import Conversation, GenSettings
    from studio.core.model.run_model import load_chat_models

    hf_logging.disable_progress_bar()  # the reply is the output; no loading bars around it

    settings = GenSettings(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                           repetition_penalty=args.repetition_penalty,
                           max_new_tokens=args.max_new_tokens, seed=args.seed).check()
    models = load_chat_models(model=args.model, adapter=args.adapter, run=args.run,
                              step=args.step, with_base=args.compare, device=args.device)
    if args.compare and models.tuned is None:
        raise UserError("--compare needs something tuned: --adapter DIR or --run RUN_DIR")
    sides = ["base", "tuned"] if args.compare else \
        (["tuned"] if models.tuned is not None else ["base"])
    err = user_stderr()
    print(f"loaded {models.label}" + (f" ({models.note})" if models.note else ""), file=err)
    conv = Conversation(system=args.system)
    if args.prompt is not None:
        _answer(models, conv, args.prompt, settings, sides)
        return 0
    print(HELP, file=err)
    while True:
        if sys.stdin.isatty():
            print("you> ", end="", file=err, flush=True)
        line = sys.stdin.readline()
        if not line:
            return 0
        text = line.strip()
        if not text:
            continue
        if text in ("/quit", "/exit", "/q"):
            return 0
        if text == "/reset":
            conv.reset()
            print("(conversation cleared)", file=err)
            continue
        if text.startswith("/system"):
            conv.system = text[len("/system"):].strip()
            print(f"(system prompt: {conv.system or 'none'})", file=err)
            continue
        if text.startswith("/"):
            print(HELP, file=err)
            continue
        _answer(models, conv, text, settings, sides)


def _answer(models: Any, conv: Any, text: str, settings: Any, sides: list[str]) -> None:
    out, err = sys.stdout, user_stderr()
    messages = conv.messages(text)
    reply_text = ""
    for side in sides:
        if len(sides) > 1:
            print(f"[{side}] ", end="", flush=True)
        cancel = threading.Event()
        with _ctrl_c_cancels(cancel):
            reply = models.reply(side, messages, settings,
                                 on_chunk=lambda c: (out.write(c.text), out.flush()),
                                 cancel=cancel)
        print(flush=True)
        ending = {"eos": "end of turn", "length": f"token limit {settings.max_new_tokens}",
                  "cancelled": "stopped by Ctrl+C"}[reply.stop_reason]
        print(f"({side}: {reply.tokens} tokens, {reply.tokens_per_s:.1f} tok/s, first token "
              f"{reply.first_token_s * 1000:.0f} ms, {ending})", file=err, flush=True)
        if side == sides[-1]:
            reply_text = reply.text
    conv.add(text, reply_text)


@contextmanager
def _ctrl_c_cancels(cancel: threading.Event) -> Iterator[None]:
    """While a reply is written, Ctrl+C stops it (within one token); a second one quits."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_sig: int, _frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
