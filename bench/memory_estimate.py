#!/usr/bin/env python3
"""The studio's pre-run memory estimate against the measured peak, on the CPU.

For the tiny and small starter models, LoRA and full fine-tuning, at a couple of batch x
max_length settings, each run in its own process: studio.core.model.memory.estimate_memory for the
config (what the Model page shows before Start), then the studio's trainer for a few steps on
rows long enough that every sample is max_length tokens (the estimate counts batch x max_length
tokens; packing puts exactly that many in a row). Measured:

  peak RSS     the process's peak resident memory (ru_maxrss), the whole process
  baseline     RSS after torch / transformers / peft and the trainer are imported, before the
               run: what the estimate's fixed 400 MB "Python, torch, transformers" stands for
  delta        peak - baseline: what the run itself added

Ratios: estimate / peak RSS (the whole figure the user reads) and (estimate - its fixed 400 MB)
/ delta (the run's own part). Target: within 15% (0.87 .. 1.15).

    python bench/memory_estimate.py [--steps 3] [--sizes tiny,small] [--methods lora,full]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
SETTINGS = ((4, 256), (8, 512))   # (batch_size, max_length)
FIXED_MB = 400.0                   # memory.py's CPU overhead constant


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def child(a: argparse.Namespace) -> dict:
    import peft  # noqa: F401, I001
    import torch  # noqa: F401  (the baseline includes the engine's imports)
    import transformers  # noqa: F401

    from studio.core import config
    from studio.core.model import memory
    from studio.core.train import trainer
    from studio.core.events import NullReporter

    with tempfile.TemporaryDirectory() as out:
        cfg = config.from_dict({
            "model": a.model, "dataset": a.data, "format": "alpaca", "output_dir": f"{out}/run",
            "method": a.method, "batch_size": a.batch, "max_length": a.max_length,
            "max_steps": a.steps, "eval_split": 0.0, "save_steps": 10 * a.steps,
            "device": "cpu", "seed": 0})
        est = memory.estimate_memory(cfg, a.model, None, device_kind="cpu")
        baseline = _rss_mb()
        t0 = time.perf_counter()
        result = trainer.train(cfg, NullReporter())
        seconds = time.perf_counter() - t0
    return {"status": result.status, "estimate_mb": est.total_mb, "baseline_mb": baseline,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "seconds": seconds, "parts": {k: getattr(est, k) for k in (
                "weights_mb", "gradients_mb", "optimizer_mb", "activations_mb", "logits_mb",
                "overhead_mb")}}


def run_one(model: Path, data: Path, method: str, batch: int, max_length: int,
            steps: int) -> dict:
    cmd = [sys.executable, __file__, "--child", "--model", str(model), "--data", str(data),
           "--method", method, "--batch", str(batch), "--max-length", str(max_length),
           "--steps", str(steps)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        sys.exit(f"{method} {batch}x{max_length} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--sizes", type=lambda s: s.split(","), default=["tiny", "small"])
    ap.add_argument("--methods", type=lambda s: s.split(","), default=["lora", "full"])
    ap.add_argument("--verbose", action="store_true", help="print the estimate's parts")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--max-length", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a)))
        return 0

    from gpu import write_rows  # the GPU bench's long synthetic rows (no torch needed)

    from studio.core.model.starter import new_model

    print("memory estimate vs measured peak RSS on the CPU (fp32), each run its own process, "
          f"{a.steps} steps, every sample max_length tokens, packing on\n")
    print("| model | method | batch x max_length | estimate MB | peak RSS MB | estimate / peak "
          "| baseline MB | delta MB | (estimate - 400) / delta |")
    print("|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        rows = max(b for b, _ in SETTINGS) * a.steps + 8
        data = write_rows(Path(tmp) / "rows.jsonl", rows, 8 * max(n for _, n in SETTINGS))
        for size in a.sizes:
            model = new_model(Path(tmp) / size, size=size, arch="llama", seed=0)
            for method in a.methods:
                for batch, length in SETTINGS:
                    r = run_one(model, data, method, batch, length, a.steps)
                    delta = r["peak_mb"] - r["baseline_mb"]
                    ratio = r["estimate_mb"] / r["peak_mb"]
                    own = (r["estimate_mb"] - FIXED_MB) / delta if delta > 0 else float("nan")
                    worst = max(worst, abs(ratio - 1))
                    print(f"| {size} | {method} | {batch} x {length} | {r['estimate_mb']:.0f} | "
                          f"{r['peak_mb']:.0f} | {ratio:.2f} | {r['baseline_mb']:.0f} | "
                          f"{delta:.0f} | {own:.2f} |", flush=True)
                    if a.verbose:
                        print("|  | parts | " + ", ".join(
                            f"{k[:-3]} {v:.0f}" for k, v in r["parts"].items()) + " |")
    print(f"\nworst estimate / peak RSS: off by {100 * worst:.0f}% (target: within 15%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
