"""The fused output layer + cross-entropy (studio/core/train/linear_ce.py) alone: time and peak
memory of one forward + backward against the standard recipe (full logits, F.cross_entropy),
at a real vocabulary, for several chunk sizes. Ratios against the standard in the same process.

    python bench/fused_chunks.py [--vocab 151936] [--hidden 256] [--rows 2048]
        [--chunk-mb 64,128,256,512] [--dtype fp32|bf16] [--repeats 3] [--train-head]

Peak memory is the process's resident peak above its level before each call, read from
/proc/self/status (VmHWM, reset through /proc/self/clear_refs), so each case runs in its own
child process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _reset_hwm() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _case(args: argparse.Namespace, chunk_mb: int) -> dict:
    import torch
    import torch.nn.functional as F

    from studio.core.train.linear_ce import linear_ce_sum

    torch.manual_seed(0)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    h = torch.randn(args.rows, args.hidden, requires_grad=True)
    w = (torch.randn(args.vocab, args.hidden) * 0.02).requires_grad_(args.train_head)
    y = torch.randint(0, args.vocab, (args.rows,))
    rows = max(64, (chunk_mb << 20) // (4 * args.vocab))

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            if chunk_mb == 0:  # the standard recipe: full logits, float32 cross-entropy
                loss = F.cross_entropy((h @ w.T).float(), y, reduction="sum")
            else:
                loss = linear_ce_sum(h, w, y, rows)
        loss.backward()
        h.grad = w.grad = None
        return float(loss)

    step()  # warm-up
    times, peaks = [], []
    for _ in range(args.repeats):
        _reset_hwm()
        base = _hwm_mb()
        t0 = time.process_time()
        loss = step()
        times.append(time.process_time() - t0)
        peaks.append(_hwm_mb() - base)
    return {"chunk_mb": chunk_mb, "rows": rows, "cpu_s": min(times), "peak_mb": min(peaks),
            "loss": loss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab", type=int, default=151936)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--rows", type=int, default=2048)
    ap.add_argument("--chunk-mb", default="64,128,256,512")
    ap.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--train-head", action="store_true")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(_case(args, args.child)))
        return
    results = []
    for mb in [0] + [int(x) for x in args.chunk_mb.split(",")]:
        out = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--child", str(mb)],
                             capture_output=True, text=True, check=True, env=os.environ)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    std = results[0]
    print(f"vocab {args.vocab}, hidden {args.hidden}, {args.rows} rows, {args.dtype}, "
          f"head {'trains' if args.train_head else 'frozen'}")
    print("| path | rows/chunk | CPU s | vs standard | peak MB | vs standard | loss / standard |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        name = "standard (full logits)" if r["chunk_mb"] == 0 else f"fused, {r['chunk_mb']} MB"
        print(f"| {name} | {r['rows'] if r['chunk_mb'] else args.rows} | {r['cpu_s']:.3f} | "
              f"{std['cpu_s'] / r['cpu_s']:.2f}x | {r['peak_mb']:.0f} | "
              f"{r['peak_mb'] / max(std['peak_mb'], 1):.2f}x | {r['loss'] / std['loss']:.6f} |")


if __name__ == "__main__":
    main()
