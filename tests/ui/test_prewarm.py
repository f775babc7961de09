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




QT_TYPES_ON_THE_GUI_THREAD = """
import os, sys, threading, time

class Record:  # who imports which Qt module
    seen = []
    def find_spec(self, name, path=None, target=None):
        if name.startswith("PySide6.Qt"):
            self.seen.append((name, threading.current_thread() is threading.main_thread()))
        return None
sys.meta_path.insert(0, Record())

from studio.ui import prewarm
from studio.ui.qt_types import QT_MODULES
prewarm_gui, lazy_at_start = prewarm.prewarm_gui, []
def recording_prewarm(*args):  # the prewarm worker: which Qt names are not types yet
    modules = [m for m in map(sys.modules.get, QT_MODULES) if m is not None]
    lazy_at_start.extend(n for m in modules for n in dir(m) if n not in vars(m))
    prewarm_gui(*args)
prewarm.prewarm_gui = recording_prewarm

from studio import app as studio_app
studio_app.prewarm_gui = recording_prewarm
make_qt_types, pending = studio_app.make_qt_types, []
def recording_make_qt_types(owner, then):  # a chart shown meanwhile must wait for the worker
    pending.append(prewarm.gui_import_pending())
    make_qt_types(owner, then)
studio_app.make_qt_types = recording_make_qt_types
app = studio_app.create_app([])
lazy_before = sum(n not in vars(m) for m in map(sys.modules.get, QT_MODULES[:3]) for n in dir(m))
studio = studio_app.Studio()
studio.show()  # its first paint starts the prewarm worker
deadline = time.time() + 120
while not prewarm._done.is_set() and time.time() < deadline:
    app.processEvents()
    time.sleep(0.01)
print(prewarm._done.is_set(), lazy_before > 100, len(lazy_at_start), pending)
print(*sorted({n for n, main in Record.seen if not main}) or ["-"], flush=True)
os._exit(0)  # the start-up workers still run: no teardown
"""


def test_qt_types_are_made_on_the_gui_thread_before_the_prewarm_reads_them(tmp_path):
    # PySide's lazy types, made by pyqtgraph's import in the prewarm worker while the GUI thread
    # drew, crashed ~1 start in 20 (ui/qt_types.py): the worker starts when all exist, and no
    # Qt module is first imported in a worker.
    out = _fresh(QT_TYPES_ON_THE_GUI_THREAD, tmp_path).splitlines()
    # done; lazy at first; none left; charts told to wait for the worker while types are made
    assert out[0].split(maxsplit=3) == ["True", "True", "0", "[True]"], out
    assert out[1] == "-", f"Qt modules imported in a worker: {out[1]}"


def test_a_qt_module_that_cannot_load_does_not_hold_the_prewarm_back(qtbot, monkeypatch):
    # a machine without an OpenGL library cannot import QtOpenGL: pyqtgraph does without it
    from PySide6.QtCore import QObject

    from studio.ui import qt_types

    monkeypatch.setattr(qt_types, "QT_MODULES", ("PySide6.QtNoSuchModule", "PySide6.QtCore"))
    done = []
    owner = QObject()
    qt_types.make_qt_types(owner, lambda: done.append(True))
    qtbot.waitUntil(lambda: done == [True], timeout=10_000)
