"""prewarm_gui: the pages' modules are imported before pyqtgraph, so a page opened right after
the first paint does not wait for the chart library's import (~0.5 s) to get its module."""

import os
import subprocess
import sys
from pathlib import Path

from studio.app import PAGE_MODULES

ROOT = Path(__file__).resolve().parents[2]


def test_page_modules_come_before_numpy_and_pyqtgraph():
    # a fresh interpreter: this one imported pyqtgraph long ago
    code = ("import sys; from studio.ui.prewarm import prewarm_gui; "
            f"prewarm_gui({PAGE_MODULES!r}); "
            "names = list(sys.modules); "
            "print(' '.join(str(names.index(m)) for m in "
            f"({PAGE_MODULES[0]!r}, {PAGE_MODULES[-1]!r}, 'numpy', 'pyqtgraph')))")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    first_page, last_page, numpy, pyqtgraph = map(int, out.stdout.split())
    assert first_page < last_page < numpy < pyqtgraph

