"""`python main.py queue add|list|run|cancel|move|pause|unpause|retry|clear`: the run queue.

The queue lives in ROOT/queue/ next to the runs (--root, default `runs`, the app's default runs
folder); `queue run` takes its runs one after another (`--parallel N`: N at once) until none
is waiting.
"""

from __future__ import annotations

import argparse
import json

DEFAULT_ROOT = "runs"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("queue", help="queue runs; run them one after another",
                       description="A queue of runs kept on disk next to the runs (ROOT/queue/). "
                                   "`queue run` trains them one after another; killed, it "
                                   "resumes the interrupted run when started again.")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True,
                             parser_class=type(p))
    add = _verb(verbs, "add", "queue a run from a YAML config")
    add.add_argument("config", help="YAML file with the run's keys")
    add.add_argument("--set", dest="overrides", action="append", default=[],
                     metavar="KEY=VALUE", help="override one config key (repeatable)")
    add.add_argument("--name", default="", help="a name for the list (default: the folder)")
    lst = _verb(verbs, "list", "the entries, their state and progress")
    lst.add_argument("--json", action="store_true", help="one JSON object per entry")
    run = _verb(verbs, "run", "train the waiting runs one after another (or N at once)")
    run.add_argument("--wait", action="store_true",
                     help="keep waiting for new entries when the queue is empty (Ctrl+C ends)")
    run.add_argument("--detach", action="store_true",
                     help="start the runner in the background and return at once")
    add_parallel(run)
    for name, text in (("cancel", "cancel entries (a running one stops with a checkpoint)"),
                       ("retry", "queue failed or cancelled entries again (they resume)")):
        v = _verb(verbs, name, text)
        v.add_argument("ids", nargs="+", metavar="ID")
    mv = _verb(verbs, "move", "move an entry to another place in the queue")
    mv.add_argument("id", metavar="ID")
    mv.add_argument("position", type=int, help="1 = first")
    _verb(verbs, "pause", "start no further run (the one in progress finishes)")
    _verb(verbs, "unpause", "let the runner start runs again")
    _verb(verbs, "clear", "forget finished, failed and cancelled entries (folders stay)")


def _verb(verbs, name: str, text: str) -> argparse.ArgumentParser:
    v = verbs.add_parser(name, help=text, description=text)
    v.add_argument("--root", default=DEFAULT_ROOT,
                   help=f"the runs folder whose queue to use (default: {DEFAULT_ROOT})")
    v.set_defaults(func=globals()[f"_{name}"])
    return v


def add_parallel(p: argparse.ArgumentParser) -> None:
    from studio.cli.args import number

    p.add_argument("--parallel", type=number(int, 1, 64), default=1, metavar="N",
                   help="train N runs at once, the CPU cores split between them (CPU runs, or "
                        "small runs that fit on one GPU together) [1]")


def _queue(args):
    from studio.core.experiments.queue import Queue

    return Queue(args.root)


def _add(args) -> int:
    from studio.core import config as config_mod

    cfg = config_mod.load(args.config, args.overrides)
    e = _queue(args).add(cfg, name=args.name)
    print(f"queued {e.id}: {e.name} -> {e.run_dir}")
    return 0


def _list(args) -> int:
    from studio.core.experiments.queue import describe

    q = _queue(args)
    state = q.read()
    rows = [describe(e) for e in state.entries]
    if args.json:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return 0
    pid = q.runner_pid()
    print(f"queue {q.dir}: {len(state.waiting())} waiting"
          + ("; paused" if state.paused else "")
          + (f"; runner pid {pid}" if pid else "; no runner"))
    for r in rows:
        progress = f"{r['step']}/{r['total_steps']}" if r["total_steps"] else "-"
        print(f"{r['id']:>5}  {r['state']:<9}  {progress:>9}  {r['method']:<13}  {r['name']}"
              + (f"  ({r['reason']})" if r["reason"] else ""))
    return 0


def _run(args) -> int:
    from studio.core.experiments import runner

    if args.detach:
        pid = runner.start_background_runner(args.root, args.parallel)
        print(f"runner started in the background (pid {pid})" if pid
              else "a runner is already running this queue")
        return 0
    failed = _run_in_foreground(_queue(args), wait=args.wait, parallel=args.parallel)
    return 1 if failed else 0


def _run_in_foreground(queue, wait: bool = False, only=None, parallel: int = 1) -> int:
    """The runner in this process; the first Ctrl+C / SIGTERM stops the run in progress with a
    checkpoint (it waits in the queue for the next runner), a second one aborts."""
    import signal
    import sys
    import threading

    from studio.core.experiments.runner import run_queue

    stop = threading.Event()

    def on_signal(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping the run in progress (a checkpoint is saved); it resumes when the "
              "queue runs again", file=sys.stderr, flush=True)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return run_queue(queue, stop=stop, wait=wait, only=only, parallel=parallel,
                         log=lambda line: print(line, flush=True))
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _cancel(args) -> int:
    q = _queue(args)
    for entry_id in args.ids:
        e = q.cancel(entry_id)
        print(f"cancelled {e.id}: {e.name}")
    return 0


def _retry(args) -> int:
    q = _queue(args)
    for entry_id in args.ids:
        e = q.retry(entry_id)
        print(f"queued again {e.id}: {e.name}")
    return 0


def _move(args) -> int:
    _queue(args).move(args.id, args.position)
    return 0


def _pause(args) -> int:
    _queue(args).set_paused(True)
    print("paused: the run in progress finishes, no other starts")
    return 0


def _unpause(args) -> int:
    _queue(args).set_paused(False)
    print("unpaused")
    return 0


def _clear(args) -> int:
    print(f"forgot {_queue(args).remove_done()} entries")
    return 0
