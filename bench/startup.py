#!/usr/bin/env python3
"""Time from process start to the first paint of the studio's main window.

Each repeat is a fresh `python` process that does what `python main.py` does (create_app,
Studio(), show) under QT_QPA_PLATFORM=offscreen with its own empty settings file, and reports
the moment the first Paint event reaches the main window, the phases before it, and whether
torch / transformers / peft / bitsandbytes were imported by then (they must not be: the window
paints first, workers import the engine after). The clock starts in the parent just before the
child is spawned, so the interpreter's own start-up is counted. Target: 0.6 s (issue 11); the
pages built before the paint are listed (only the one shown: the others are built on first show).
The CPU seconds the process used until the paint are printed too: on a loaded machine the wall
time also counts waiting for a core, the CPU time does not.

    python bench/startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "peft", "bitsandbytes", "accelerate")

# The child: the app's start-up path with timestamps (wall clock, comparable across processes).
CHILD = r"""
import os, sys, time, json
marks = {"python_ready": time.time()}
sys.path.insert(0, sys.argv[1])
from PySide6.QtCore import QEvent, QObject, QTimer
from studio.app import Studio, create_app
marks["imported"] = time.time()
app = create_app([])
marks["app_created"] = time.time()
studio = Studio()
marks["window_built"] = time.time()

class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and "painted" not in marks:
            marks["painted"] = time.time()
            marks["cpu_at_paint"] = time.process_time()  # int: not shifted by the parent
            marks["heavy_at_paint"] = [m for m in %(heavy)r if m in sys.modules]
            marks["pages_at_paint"] = [k for k in studio.window.page_keys()
                                       if studio.window.built_page(k) is not None]
            QTimer.singleShot(0, done)  # after the rest of this frame (the pages) is drawn
        return False

def done():
    marks["frame_done"] = time.time()
    print(json.dumps(marks), flush=True)
    os._exit(0)  # no waiting for the device-detection worker (it imports torch)

watcher = FirstPaint()
studio.window.installEventFilter(watcher)
studio.show()
marks["shown"] = time.time()
QTimer.singleShot(30000, lambda: os._exit(3))  # never painted: fail, do not hang
app.exec()
""" % {"heavy": HEAVY}


def one_run() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
               "STUDIO_SETTINGS": str(Path(tmp) / "settings.ini")}
        t0 = time.time()
        r = subprocess.run([sys.executable, "-c", CHILD, str(ROOT)], capture_output=True,
                           text=True, env=env, cwd=tmp, timeout=60)
    if r.returncode != 0:
        sys.exit(f"the app did not paint (exit {r.returncode}):\n{r.stderr[-2000:]}")
    marks = json.loads(r.stdout.strip().splitlines()[-1])
    cpu = marks.pop("cpu_at_paint")
    out = {k: (v - t0 if isinstance(v, float) else v) for k, v in marks.items()}
    out["cpu_at_paint"] = cpu
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    runs = [one_run() for _ in range(args.repeats)]
    phases = [("python started", "python_ready"), ("Qt + studio imported", "imported"),
              ("QApplication created", "app_created"), ("window and pages built", "window_built"),
              ("show() returned", "shown"), ("first paint of the main window", "painted"),
              ("first frame drawn", "frame_done"),
              ("(CPU seconds the process used until the first paint)", "cpu_at_paint")]
    print(f"start-up of the studio window, {args.repeats} fresh processes (offscreen)\n")
    print("| seconds since process start | median | min | max |")
    print("|---|---|---|---|")
    for label, key in phases:
        values = [r[key] for r in runs]
        print(f"| {label} | {statistics.median(values):.3f} | {min(values):.3f} | "
              f"{max(values):.3f} |")
    heavy = sorted({m for r in runs for m in r["heavy_at_paint"]})
    print(f"\nimported before the first paint: {', '.join(heavy) if heavy else 'none of '}"
          f"{'' if heavy else ', '.join(HEAVY)}")
    pages = sorted({k for r in runs for k in r["pages_at_paint"]})
    print(f"pages built before the first paint: {', '.join(pages)}")
    return 1 if heavy else 0


if __name__ == "__main__":
    sys.exit(main())
