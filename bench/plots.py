#!/usr/bin/env python3
"""How fast the Train page's charts (studio.ui.train.plots.PlotsView) redraw with long runs.

Offscreen, the real widget at 1400 x 900, fed through its own add_step / add_overlay:

  one curve      a bare 700 x 400 chart with one curve set up as PlotsView sets its curves
  empty          the widget with no data: what a repaint costs before any curve
  live 100k      one run of 100,000 steps (loss raw + smoothed, lr, grad norm, tokens/s,
                 memory: 7 curves of 100k points over the six charts), then REPEATS times:
                 one more step arrives, redraw() pushes the buffers to the curves (what the
                 10 Hz timer does), the widget is repainted (grab). Target: < 10 ms.
  repaint only   the same widget repainted with nothing new (the cost of drawing alone)
  loss chart     the live cycle, repainting only the loss chart's region (raw + smoothed)
  50 x 10k       50 past runs of 10,000 steps overlaid (6 dashed curves each: 300 curves):
                 repainted after a small pan of the loss chart (its overlays drawn anew, the
                 other charts' reused); repainted with nothing new; repainted after a pan of
                 all six charts (every overlay drawn anew: the worst case, e.g. a resize);
                 and the 10 Hz tick of a live run of 5,000 steps under them (new step +
                 redraw + repaint)

Each figure: the median wall time, and this thread's CPU time (on a loaded machine the wall time
also counts waiting for a core). The time to feed the records and push them once is printed too.

    python bench/plots.py [--points 100000] [--runs 50] [--run-points 10000] [--repeats 20]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _steps(n: int, seed: int = 0, total: int = 0):
    """n StepMetrics of a plausible run: a decaying noisy loss, cosine lr, noisy norm."""
    import numpy as np

    from studio.core.events import StepMetrics

    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n, 3))
    total = total or n
    for i in range(n):
        yield StepMetrics(step=i + 1, loss=2.0 + 3.0 * math.exp(-i / (n / 5)) + 0.2 * noise[i, 0],
                          lr=2e-4 * 0.5 * (1 + math.cos(math.pi * i / n)),
                          grad_norm=abs(1.0 + 0.3 * noise[i, 1]), tokens=4096,
                          tokens_per_s=3000.0 + 200 * noise[i, 2], mem_mb=900.0 + i * 1e-3,
                          total_steps=total)


def _timed(fn, repeats: int, budget_s: float = 30.0) -> tuple[float, float, int]:
    """(median wall ms, median thread-CPU ms, calls) of fn(): `repeats` calls, or fewer (at
    least one) when they would take longer than budget_s."""
    wall, cpu = [], []
    start = time.perf_counter()
    while len(wall) < repeats and (not wall or time.perf_counter() - start < budget_s):
        t0, c0 = time.perf_counter(), time.thread_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000, len(wall)


def _one_curve(app, points: int, repeats: int) -> tuple[str, float, float, float, int]:
    """One curve with the app's settings (PlotsView._curve: peak downsampling, clip to view,
    no finite check) in a bare 700 x 400 chart: new data pushed + repaint, minus nothing."""
    import numpy as np
    import pyqtgraph as pg

    from studio.ui.train.plots import PlotsView

    chart = pg.PlotWidget()
    chart.resize(700, 400)
    chart.show()
    app.processEvents()
    curve = PlotsView._curve(chart.getPlotItem(), "#9db8d9", 1)
    x = np.arange(1, points + repeats + 2, dtype=np.float64)
    y = 2.0 + np.random.default_rng(0).standard_normal(x.size)
    n = [points]
    curve.setData(x[:points], y[:points])
    chart.setXRange(0, x[-1], padding=0)
    chart.grab()

    def cycle():
        n[0] += 1
        curve.setData(x[:n[0]], y[:n[0]])
        chart.grab()

    row = (f"one curve alone, {points:,} points: new point + setData + repaint", 0.0,
           *_timed(cycle, repeats))
    chart.close()
    return row


def measure(points: int = 100_000, runs: int = 50, run_points: int = 10_000,
            repeats: int = 20) -> list[tuple[str, float, float, float, int]]:
    """[(case, setup s, wall ms, CPU ms, repaints timed)]"""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from studio.ui.train.plots import PlotsView

    out = [_one_curve(app, points, repeats)]
    view = PlotsView()
    view.resize(1400, 900)
    view.show()
    app.processEvents()
    view.grab()
    out.append(("empty view: repaint only (axes, titles, background)", 0.0,
                *_timed(view.grab, repeats)))
    t0 = time.perf_counter()
    n = points + 2 * repeats + 1
    extra = iter(_steps(n, total=n))
    for _ in range(points):
        view.add_step(next(extra))
    view.redraw()
    view.grab()  # first paint: layouts, fonts
    setup = time.perf_counter() - t0

    def live_cycle():
        view.add_step(next(extra))
        view.redraw()
        view.grab()

    out.append((f"live run, {points:,} steps: new step + redraw + repaint", setup,
                *_timed(live_cycle, repeats)))
    out.append((f"live run, {points:,} steps: repaint only", 0.0,
                *_timed(view.grab, repeats)))
    # the loss chart alone: its region of the view (raw + smoothed loss, 2 x 100k points)
    loss_rect = view.graphics.mapFromScene(
        view.plots["loss"].sceneBoundingRect()).boundingRect()

    def loss_cycle():
        view.add_step(next(extra))
        view.redraw()
        view.graphics.grab(loss_rect)

    out.append((f"loss chart alone, {points:,} steps: new step + redraw + repaint", 0.0,
                *_timed(loss_cycle, repeats)))
    view.close()

    view = PlotsView()
    view.resize(1400, 900)
    view.show()
    app.processEvents()
    t0 = time.perf_counter()
    for r in range(runs):
        view.add_overlay(f"run-{r}", _steps(run_points, seed=r))
    view.redraw()
    view.grab()
    setup = time.perf_counter() - t0
    vb = view.plots["loss"].vb

    def pan_and_paint():
        vb.translateBy(x=1.0)  # the view really changes: curves are clipped and drawn anew
        view.grab()

    out.append((f"{runs} overlaid runs x {run_points:,} steps: pan + repaint", setup,
                *_timed(pan_and_paint, repeats)))
    out.append((f"{runs} overlaid runs x {run_points:,} steps: repaint only", 0.0,
                *_timed(view.grab, repeats)))

    def pan_all_and_paint():
        for plot in view.plots.values():
            plot.vb.translateBy(x=1.0)
        view.grab()

    out.append((f"{runs} overlaid runs x {run_points:,} steps: pan of all six charts + repaint",
                0.0, *_timed(pan_all_and_paint, repeats)))
    live = iter(_steps(run_points, seed=runs, total=run_points))
    for _ in range(run_points // 2):
        view.add_step(next(live))
    view.redraw()
    view.grab()

    def tick():
        view.add_step(next(live))
        view.redraw()
        view.grab()

    out.append((f"{runs} overlaid runs + live run of {run_points // 2:,} steps: new step + "
                f"redraw + repaint", 0.0, *_timed(tick, repeats)))
    view.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--run-points", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    rows = measure(args.points, args.runs, args.run_points, args.repeats)
    print(f"Train page charts (PlotsView, 1400 x 900, offscreen), median of up to "
          f"{args.repeats} repaints (fewer when they exceed 30 s)\n")
    print("| case | feed + first draw s | wall ms | CPU ms | timed |")
    print("|---|---|---|---|---|")
    for name, setup, wall, cpu, n in rows:
        print(f"| {name} | {f'{setup:.1f}' if setup else ''} | {wall:.1f} | {cpu:.1f} | {n} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
