"""One process against several (`train --processes N`) on the same run: throughput ratio.

Same model (the tiny starter, or --model DIR), same data, same effective batch: one process
trains batch_size x grad_accum = E rows a step, N processes E / N each. Each configuration is
its own `python main.py train` (the N-process one through torchrun), alternating, --repeats
times; the figure is real tokens per second of the steps after the first (start-up and the
first step's allocations excluded), from the run's metrics.jsonl times. torchrun gives each
process one CPU thread (OMP_NUM_THREADS=1), so one process is also run with one thread: the
baseline is one process as a user starts it (torch's default threads), and the 1-thread run
shows how much of a difference is threads rather than processes. Prints one line per run and
the median ratios to the baseline.

  python bench/distributed.py                       # the CPU: 2 gloo processes
  python bench/distributed.py --processes 4 --model DIR --device cuda --max-length 1024
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from studio.paths import resource  # noqa: E402 (after the path insert)

DATA = resource("samples", "demo_zh_en.jsonl")


def _config(folder: Path, args, processes: int, name: str) -> Path:
    per_process = args.effective_batch // processes
    keys = {"model": args.model, "dataset": args.data, "output_dir": str(folder / name),
            "max_steps": args.steps, "batch_size": per_process, "grad_accum": 1,
            "max_length": args.max_length, "eval_split": 0, "save_steps": 10**6,
            "learning_rate": 1e-3, "device": args.device, "processes": processes,
            "distributed": args.strategy, "method": args.method}
    path = folder / f"{name}.yaml"
    path.write_text("".join(f"{k}: {v}\n" for k, v in keys.items()), encoding="utf-8")
    return path


def _tokens_per_s(run_dir: Path) -> float:
    steps = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [s for s in steps if s.get("type") == "step"]
    later = steps[1:]  # step 1 carries start-up effects
    return sum(s["tokens"] for s in later) / (later[-1]["time"] - steps[0]["time"])


def _run(cfg: Path, threads: str = "") -> tuple[float, float]:
    import os

    env = {**os.environ, **({"OMP_NUM_THREADS": threads} if threads else {})}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "main.py", "train", str(cfg), "--quiet"], cwd=ROOT,
                       capture_output=True, text=True, timeout=3600, env=env)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"run failed: {r.stderr.strip().splitlines()[-1:]}")
    import yaml

    out = Path(yaml.safe_load(cfg.read_text())["output_dir"])
    return _tokens_per_s(out), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--strategy", default="ddp", choices=("ddp", "fsdp"))
    ap.add_argument("--model", default="", help="a model folder (default: the tiny starter)")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--method", default="lora")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--effective-batch", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not args.model:
            from studio.core.model.starter import new_model

            args.model = str(new_model(folder / "model", size="tiny", seed=0))
        kinds = [("1 process", 1, ""), ("1 process, 1 thread", 1, "1"),
                 (f"{args.processes} processes ({args.strategy})", args.processes, "")]
        tps: dict = {k[0]: [] for k in kinds}
        for i in range(args.repeats):  # alternating: load from other work hits all alike
            for name, n, threads in kinds:
                value, wall = _run(_config(folder, args, n, f"p{n}t{threads}-{i}"), threads)
                tps[name].append(value)
                print(f"repeat {i + 1}: {name}: {value:,.0f} tokens/s, {wall:.1f} s wall "
                      "with start-up", flush=True)
    base = tps["1 process"]
    for name, values in tps.items():
        ratio = statistics.median(v / b for v, b in zip(values, base))
        print(f"median {name}: {statistics.median(values):,.0f} tokens/s, {ratio:.2f}x "
              "one process")


if __name__ == "__main__":
    main()
