"""`python main.py sweep CONFIG --grid KEY=V1,V2 [--grid ...] [--random N] [--detach]`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from studio.cli.queue import add_parallel

    p = sub.add_parser("sweep", help="queue a grid (or random sample) of runs and run them",
                       description="Expand a grid of config values into queued runs, one folder "
                                   "each under the config's output_dir, named by its values; "
                                   "run them and print the comparison table.")
    p.add_argument("config", help="YAML file with the keys every run shares")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="a key and the values to try (repeatable: the runs are every "
                        "combination)")
    p.add_argument("--random", type=int, default=0, metavar="N",
                   help="run only N combinations drawn at random (a search with a budget)")
    p.add_argument("--seed", type=int, default=0, help="the draw of --random")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key for every run (repeatable)")
    p.add_argument("--root", default="runs",
                   help="the runs folder whose queue takes the runs (default: runs)")
    p.add_argument("--detach", action="store_true",
                   help="queue the runs, start the runner in the background, return at once")
    add_parallel(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from studio.cli.queue import _run_in_foreground
    from studio.core import config as config_mod
    from studio.core.errors import ConfigError
    from studio.core.experiments import compare, runner, sweep
    from studio.core.experiments.queue import Queue

    if args.random < 0:
        raise ConfigError("--random needs a positive number of runs")
    base = config_mod.load(args.config, args.overrides)
    runs_ = sweep.expand(base, sweep.parse_grid(args.grid), args.random, args.seed)
    queue = Queue(args.root)
    entries = queue.add_many([(r.config, r.name) for r in runs_], sweep=base.output_dir)
    for e in entries:
        print(f"queued {e.id}: {e.name}")
    if args.detach:
        pid = runner.start_background_runner(args.root, args.parallel)
        print(f"runner started in the background (pid {pid})" if pid
              else "the queue's runner will take them")
        return 0
    ids = {e.id for e in entries}
    if queue.runner_pid() is None:
        _run_in_foreground(queue, only=ids, parallel=args.parallel)
    else:
        runner.wait_for(queue, ids)  # another runner has the device: wait for it
    done = {e.id: e for e in queue.read().entries if e.id in ids}
    rows = compare.table([e.run_dir for e in done.values()])
    print(compare.to_text(rows))
    return 0 if all(e.state == "finished" for e in done.values()) else 1
