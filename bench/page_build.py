#!/usr/bin/env python3
"""What a page's first show costs the GUI thread: CPU seconds, and how often Qt called back into
Python meanwhile (a Python override of a Qt virtual: sizeHint, boundingRect, itemChange, ...).

Why the callbacks: each one needs the GIL back. While a worker runs Python (a model load, the
training loop) the GUI thread waits up to the switch interval (1 ms in the app) for it at every
callback, so on a busy machine a build's stall grows with its callbacks, not only its CPU time:
the Train page's first show makes ~3,900 (most from pyqtgraph's charts: boundingRect,
itemChange). Each run is a fresh process (offscreen, its own settings file) that imports the
page modules first, as the app's prewarm worker does after the first paint; the figures cover
the show and the first twenty event-loop turns (layouts, paints, the charts built per turn).

    python bench/page_build.py [--page train] [--repeats 3] [--no-style] [--root TREE]

--no-style drops the app's style sheet (studio/resources/style.qss) to show what it costs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import collections, json, sys, time
sys.path.insert(0, sys.argv[1])
import studio.app
from studio.app import PAGE_MODULES, Studio, create_app
from studio.ui.prewarm import prewarm_gui
later = getattr(studio.app, "FIRST_SHOW_MODULES", ())  # absent in older trees (--root)
app = create_app([])
if sys.argv[3] == "no-style":
    app.setStyleSheet("")
prewarm_gui(PAGE_MODULES, *((later,) if later else ()))
studio = Studio()
studio.window.resize(1400, 900)
studio.window.show()
for _ in range(20):
    app.processEvents()
VIRTUALS = {"sizeHint", "minimumSizeHint", "boundingRect", "paint", "shape", "itemChange",
            "resizeEvent", "showEvent", "paintEvent", "event", "eventFilter", "changeEvent",
            "setGeometry", "textFromValue", "valueFromText", "validate", "hasHeightForWidth",
            "heightForWidth", "timerEvent", "viewportEvent"}
calls = collections.Counter()
def profile(frame, event, arg):
    if event == "call" and frame.f_code.co_name in VIRTUALS:
        calls[frame.f_code.co_name] += 1
count = sys.argv[4] == "count"  # the profile hook slows the build: CPU from runs without it
cpu = time.process_time()
if count:
    sys.setprofile(profile)
studio.window.show_page(sys.argv[2])
for _ in range(20):  # the first turns: layouts, the first paint, the charts built per turn
    app.processEvents()
sys.setprofile(None)
print(json.dumps({"cpu_s": time.process_time() - cpu, "callbacks": sum(calls.values()),
                  "top": calls.most_common(5)}))
"""


def run_once(root: Path, page: str, style: bool, count: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1",
               "STUDIO_SETTINGS": str(Path(tmp) / "settings.ini")}
        out = subprocess.run([sys.executable, "-c", CHILD, str(root), page,
                              "style" if style else "no-style", "count" if count else "time"],
                             env=env, capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--page", default="train")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-style", action="store_true")
    ap.add_argument("--root", type=Path, default=ROOT,
                    help="the tree to measure (e.g. another commit's `git archive`)")
    args = ap.parse_args()
    cpu = statistics.median(run_once(args.root, args.page, not args.no_style)["cpu_s"]
                            for _ in range(args.repeats))
    counted = run_once(args.root, args.page, not args.no_style, count=True)
    print(f"page {args.page} ({'no style sheet' if args.no_style else 'style sheet'}): "
          f"first show {cpu:.3f} s CPU (median of {args.repeats}), "
          f"{counted['callbacks']} Qt -> Python callbacks; most: {counted['top']}")


if __name__ == "__main__":
    main()
