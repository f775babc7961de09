"""prewarm_gui: the pages' modules are imported before pyqtgraph, so a page opened right after
the first paint does not wait for the chart library's import (~0.5 s) to get its module; and
after it, showing a page imports nothing more on the GUI thread."""

import os
import subprocess
import sys
from pathlib import Path

from studio.app import PAGE_MODULES

ROOT = Path(__file__).resolve().parents[2]


def _fresh(code: str, tmp_path: Path) -> str:
    """Run `code` in a fresh interpreter (this one imported pyqtgraph long ago); its stdout."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT),
           "STUDIO_SETTINGS": str(tmp_path / "settings.ini")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_page_modules_come_before_numpy_and_pyqtgraph(tmp_path):
    code = ("import sys; from studio.ui.prewarm import prewarm_gui; "
            f"prewarm_gui({PAGE_MODULES!r}); "
            "names = list(sys.modules); "
            "print(' '.join(str(names.index(m)) for m in "
            f"({PAGE_MODULES[0]!r}, {PAGE_MODULES[-1]!r}, 'numpy', 'pyqtgraph')))")
    first_page, last_page, numpy, pyqtgraph = map(int, _fresh(code, tmp_path).split())
    assert first_page < last_page < numpy < pyqtgraph


SHOW_EVERY_PAGE = """
import sys
from studio.app import FIRST_SHOW_MODULES, PAGE_MODULES, PAGES, Studio, create_app
from studio.ui.prewarm import prewarm_gui
app = create_app([])
studio = Studio()
studio.window.show()
prewarm_gui(PAGE_MODULES, FIRST_SHOW_MODULES)  # as the app's worker does after the paint
before = set(sys.modules)
for key, *_ in PAGES:
    studio.window.show_page(key)
    for _ in range(20):
        app.processEvents()
studio.inspect.ensure_views()
print(" ".join(sorted(m for m in set(sys.modules) - before
                      if m.startswith(("studio", "pyqtgraph", "numpy")))))
"""


def test_after_the_prewarm_no_page_imports_on_the_gui_thread(tmp_path):
    assert _fresh(SHOW_EVERY_PAGE, tmp_path).split() == []
