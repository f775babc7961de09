#!/usr/bin/env python3
"""How fast the embedding view's scatter draws 50,000 points (offscreen, no display needed).

One ScatterPlotItem with one brush, with two shared group brushes (train / eval) and with
eight shared loss-bin brushes: the time to set the data (build) and to repaint the widget
(median of REPEATS grabs after the first). The issue's target: a repaint under 20 ms.

    python bench/plots_scatter.py [--points 50000] [--repeats 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def measure(points: int = 50_000, repeats: int = 10) -> list[tuple[str, float, float, float]]:
    """[(case, build ms, repaint wall ms, repaint CPU ms)] for the three brush cases. CPU time
    (this thread's) is what the drawing costs; wall time also counts waiting for a core."""
    import numpy as np
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from studio.ui.inspect.embedding_view import ScatterCanvas

    rng = np.random.default_rng(0)
    coords = rng.standard_normal((points, 2)).astype(np.float32)
    cases = {
        "one brush": dict(groups=(), values=None),
        "2 group brushes": dict(groups=tuple(rng.choice(["train", "eval"], points)),
                                values=None),
        "8 loss-bin brushes": dict(groups=(), values=rng.random(points).astype(np.float32)),
    }
    out = []
    for name, kw in cases.items():
        canvas = ScatterCanvas()
        canvas.resize(1000, 700)
        canvas.show()
        app.processEvents()
        t0 = time.perf_counter()
        canvas.show_points(coords, **kw)
        build = time.perf_counter() - t0
        canvas.grab()  # first paint fills pyqtgraph's symbol atlas
        wall, cpu = [], []
        for _ in range(repeats):
            canvas.getPlotItem().vb.translateBy(x=0.01)  # a small pan: the view really changes
            app.processEvents()
            t0, c0 = time.perf_counter(), time.thread_time()
            canvas.grab()
            wall.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
        out.append((name, build * 1000, statistics.median(wall) * 1000,
                    statistics.median(cpu) * 1000))
        canvas.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    print(f"{'scatter, ' + str(args.points) + ' points':<30}{'build ms':>10}"
          f"{'repaint ms':>12}{'(CPU ms)':>10}")
    for name, build, wall, cpu in measure(args.points, args.repeats):
        print(f"{name:<30}{build:>10.1f}{wall:>12.1f}{cpu:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
