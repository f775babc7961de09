#!/usr/bin/env python3
"""GGUF export per type: time, file size (and its ratio to f16), and what llama.cpp's checks
found, on a LoRA run of the starter model (built and trained here, a few steps).

Prints a Markdown table: type, who writes it (the studio / llama.cpp's quantizer), export
seconds (merge + write + verification), file MB, size / f16, top-1 agreement with the studio's
model and the greedy-continuation figure.

    python bench/gguf_export.py [--size tiny|small] [--types f16,bf16,q8_0,q4_k_m] [--steps 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from studio.paths import resource  # noqa: E402 (after the path)

SAMPLE = resource("samples", "demo_zh_en.jsonl")


def _run(work: Path, size: str, steps: int) -> Path:
    from studio.core import config
    from studio.core.model.starter import new_model
    from studio.core.train import trainer

    model = new_model(work / f"starter-{size}", size=size, arch="llama", seed=0)
    cfg = config.from_dict(dict(model=str(model), dataset=str(SAMPLE), method="lora",
                                output_dir=str(work / "run"), max_steps=steps, eval_split=0,
                                learning_rate=5e-3, max_length=256), check_required=True)
    return trainer.train(cfg).run_dir


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="tiny", choices=("tiny", "small"))
    ap.add_argument("--types", default="f16,bf16,q8_0,q4_k_m")
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    from studio.core.export.folder import export
    from studio.core.export.gguf import GGUF_TYPES

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run = _run(work, args.size, args.steps)
        rows, f16_mb = [], None
        for name in args.types.split(","):
            t0 = time.perf_counter()
            r = export(run, work / f"out-{name}", fmt="gguf", gguf_type=name)
            seconds = time.perf_counter() - t0
            mb = (work / f"out-{name}" / f"model-{name}.gguf").stat().st_size / 2**20
            f16_mb = mb if name == "f16" else f16_mb
            figures = {c.name.split(" ")[0]: c.figure for c in r.checks}
            rows.append((name, GGUF_TYPES[name].maker, seconds, mb, figures))
        print(f"GGUF export of the {args.size} starter after {args.steps} LoRA steps\n")
        print("| type | written by | export s | file MB | size / f16 | top-1 agreement | "
              "greedy 32 tokens |")
        print("|---|---|---|---|---|---|---|")
        for name, maker, seconds, mb, figures in rows:
            ratio = f"{mb / f16_mb:.2f}x" if f16_mb else "-"
            print(f"| {name} | {maker} | {seconds:.1f} | {mb:.2f} | {ratio} | "
                  f"{figures.get('top-1', '-')} | {figures.get('greedy', '-')} |")
        print("\n" + json.dumps({"rows": [r[:4] for r in rows]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
