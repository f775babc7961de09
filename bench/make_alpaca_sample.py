#!/usr/bin/env python3
"""Write resources/samples/alpaca_shaped.json: alpaca-format rows whose lengths follow the
public alpaca demo data, with text taken from the project's own corpus (resources/corpus/).

The benchmarks need data in the shape users bring (instruction / input / output, answers from
a few words to ~2,800 characters) and the repository must stand alone; the Alpaca text itself
is CC BY-NC, so it is not copied. Lengths are drawn from the character-length quantiles of
LLaMA-Factory's alpaca_en_demo.json (measured once, below); the text is consecutive corpus
sentences, Chinese and English mixed as the corpus is. Deterministic.

    python bench/make_alpaca_sample.py [--rows 400] [--out resources/samples/alpaca_shaped.json]
"""

from __future__ import annotations

import argparse
import bisect
import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# character-length quantiles (0, 10, 25, 50, 75, 90, 99, 100 %) of alpaca_en_demo.json
QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)
INSTRUCTION = (16, 38, 45, 56, 70, 87, 134, 459)
OUTPUT = (1, 42, 107, 465, 1216, 1727, 2414, 2837)
INPUT_SHARE = 0.4   # rows with a non-empty input
INPUT = (10, 20, 29, 45, 68, 120, 346, 747)


def sentences() -> list[str]:
    text = "\n".join(p.read_text(encoding="utf-8")
                     for p in sorted((ROOT / "resources" / "corpus").glob("*.txt")))
    parts = re.split(r"(?<=[.!?。！？])\s*", text.replace("\n", " "))
    return [s.strip() for s in parts if len(s.strip()) > 3]


def draw(rng: random.Random, values: tuple) -> int:
    """A length from the piecewise-linear quantile function."""
    u = rng.random()
    i = max(1, bisect.bisect_left(QUANTILES, u))
    lo, hi = QUANTILES[i - 1], QUANTILES[i]
    return int(values[i - 1] + (values[i] - values[i - 1]) * (u - lo) / (hi - lo))


def text_of(rng: random.Random, pool: list[str], chars: int) -> str:
    start = rng.randrange(len(pool))
    out = ""
    while len(out) < chars:
        out += (" " if out else "") + pool[start % len(pool)]
        start += 1
    return out[:max(1, chars)]


def rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    pool = sentences()
    return [{"instruction": text_of(rng, pool, draw(rng, INSTRUCTION)),
             "input": text_of(rng, pool, draw(rng, INPUT)) if rng.random() < INPUT_SHARE else "",
             "output": text_of(rng, pool, draw(rng, OUTPUT))} for _ in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=400)
    ap.add_argument("--out", default=str(ROOT / "resources" / "samples" / "alpaca_shaped.json"))
    args = ap.parse_args()
    Path(args.out).write_text(json.dumps(rows(args.rows), ensure_ascii=False, indent=0) + "\n",
                              encoding="utf-8")
    print(f"wrote {args.rows} rows to {args.out}")


if __name__ == "__main__":
    main()
