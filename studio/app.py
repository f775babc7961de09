"""Composition root: the one module that knows core, services and ui, and wires them.

`run_app(argv)` opens the desktop app. torch, transformers and peft never load in the window's
process: the engine host (services/engine_host.py), started after the first paint, imports them
and runs every engine call (device detection, training, probes, chat, export).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from studio.paths import resource
from studio.services.engine_host import engine_host
from studio.services.gc_collector import GuiThreadCollector
from studio.services.session import Session
from studio.services.workers import Task, run_task
from studio.ui import fonts, i18n, prefs
from studio.ui.first_paint import after_first_paint
from studio.ui.main_window import MainWindow
from studio.ui.prewarm import expect_prewarm, prewarm_gui
from studio.ui.qt_types import make_qt_types
from studio.ui.welcome import WelcomePage

RESOURCES = resource()


def icon() -> QIcon:
    return QIcon(str(RESOURCES / "icons" / "studio.svg"))


def has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM") or sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def create_app(argv: Optional[list[str]] = None, lang: Optional[str] = None) -> QApplication:
    """The QApplication (reused if one exists, as under pytest-qt), named so QSettings finds
    the user's settings, with translations, icon and stylesheet."""
    app = QApplication.instance() or QApplication(["studio", *(argv or [])])
    app.setOrganizationName(prefs.ORGANIZATION)
    app.setApplicationName(prefs.APPLICATION)
    app.setApplicationDisplayName("Studio")
    app.setDesktopFileName("studio")
    app.setWindowIcon(icon())
    i18n.install(app, lang)
    if not hasattr(app, "cjk_font"):  # once per process
        app.cjk_font = fonts.install_cjk_font(app.font())
    # A thread that wants the GIL waits up to the switch interval for the one running Python
    # to let go: at 5 ms (the default) a repaint that calls into Python a hundred times while
    # a worker imports or tokenizes in pure Python waited up to 0.5 s. 1 ms bounds that wait.
    sys.setswitchinterval(0.001)
    app.aboutToQuit.connect(Task.wait_all)
    app.aboutToQuit.connect(engine_host().close)
    if not hasattr(app, "gc_collector"):  # once per process (tests reuse the app)
        app.gc_collector = GuiThreadCollector(app).start()
    qss = RESOURCES / "style.qss"
    if qss.is_file():
        app.setStyleSheet(qss.read_text(encoding="utf-8"))
    return app


def _build(module: str, name: str, *args):
    """A page built from its module, imported now: the first paint imports no page module
    but the welcome page's (the prewarm worker imports them after the paint)."""
    return lambda: getattr(importlib.import_module(module), name)(*args)


def _page(key: str) -> property:
    return property(lambda self: self.window.page(key),
                    doc=f"The {key} page (built on first use: MainWindow.add_lazy_page).")


# key, tab title (translated in the "App" context), module, class, takes the session
PAGES = (
    ("data", QT_TRANSLATE_NOOP("App", "Data"), "studio.ui.data.panel", "DataPanel", True),
    ("model", QT_TRANSLATE_NOOP("App", "Model and method"), "studio.ui.model.panel",
     "ModelPanel", True),
    ("train", QT_TRANSLATE_NOOP("App", "Train"), "studio.ui.train.panel", "TrainPanel", True),
    ("experiments", QT_TRANSLATE_NOOP("App", "Experiments"), "studio.ui.experiments.board",
     "ComparisonBoard", True),
    ("inspect", QT_TRANSLATE_NOOP("App", "Inspect"), "studio.ui.inspect.page", "InspectPage",
     True),
    ("chat", QT_TRANSLATE_NOOP("App", "Chat"), "studio.ui.chat.panel", "ChatPanel", False),
    ("export", QT_TRANSLATE_NOOP("App", "Export"), "studio.ui.export.dialog", "ExportForm",
     False),
)
PAGE_MODULES = tuple(module for *_, module, _name, _session in PAGES)
# What the pages import when first shown (charts: pyqtgraph): imported by the prewarm worker
# after pyqtgraph, not on the GUI thread as a page is built (the Train charts' import was a
# 0.14 s stall of the tour)
FIRST_SHOW_MODULES = ("studio.ui.train.plots", "studio.ui.train.completions_view",
                      "studio.ui.inspect.attention_view", "studio.ui.inspect.embedding_view",
                      "studio.ui.inspect.tokenizer_view", "studio.ui.inspect.changes_view",
                      "studio.ui.inspect.eval_view", "studio.core.export.modelfile",
                      "studio.core.model.load", "studio.core.export.folder")


class Studio:
    """The app's parts, wired: the session, the window and its pages. Only the Welcome page
    is built before the first paint; `studio.data`, `studio.train`, ... build their page the
    first time they are read or their tab is shown."""

    data = _page("data")
    model = _page("model")
    train = _page("train")
    experiments = _page("experiments")
    inspect = _page("inspect")
    chat = _page("chat")
    export = _page("export")

    def __init__(self) -> None:
        self.session = Session()
        self.window = MainWindow(self.session)
        self.window.setWindowIcon(icon())
        self.welcome = WelcomePage(icon().pixmap(128, 128))
        self.window.add_page("welcome", QCoreApplication.translate("App", "Welcome"),
                             self.welcome)
        for key, title, module, name, takes_session in PAGES:
            args = (self.session,) if takes_session else ()
            self.window.add_lazy_page(key, QCoreApplication.translate("App", title),
                                      _build(module, name, *args))
        # Other pages join here, e.g. window.add_page("data", title, DataPanel(session, window));
        # add_page puts them in workflow order. The tour visits every page present.
        self.tour = None
        self._wire()

    def _wire(self) -> None:
        w = self.window
        # before _on_dataset's draft update, so a dropped file is opened once (and re-read when
        # the same file is dropped again)
        w.sig_file_dropped.connect(lambda path: self.data.open_file(path))
        w.sig_file_dropped.connect(self._on_dataset)
        w.sig_follow_requested.connect(self._on_follow)
        w.sig_runs_root_changed.connect(self._refresh_runs_list)
        w.sig_tour_requested.connect(self.start_tour)
        self.welcome.sig_tour.connect(self.start_tour)
        self.welcome.sig_open_dataset.connect(w.open_dataset_dialog)
        self.welcome.sig_follow_run.connect(w.follow_dialog)
        self.welcome.sig_go_train.connect(lambda: w.show_page("train"))
        self.welcome.sig_open_run.connect(self._on_follow)
        self.welcome.sig_resume_run.connect(self._on_resume)
        self.welcome.sig_chat_run.connect(self._on_chat)
        self.welcome.sig_export_run.connect(self._on_export)
        w.status.sig_environment.connect(self.welcome.set_environment)
        self.session.sig_finished.connect(lambda _s, _r: self.list_recent_runs())
        w.sig_runs_root_changed.connect(lambda _p: self.list_recent_runs())

    def _refresh_runs_list(self, _path: str) -> None:
        train = self.window.built_page("train")  # a Train page built later lists the new root
        if train is not None:
            train.runs_list.refresh()

    def _on_dataset(self, path: str) -> None:
        # The data page, when present, inspects the file; the run uses it either way.
        self.session.draft.update(dataset=path)
        if self.window.page("data") is None:
            self.window.show_page("train")
            self.window.status.showMessage(
                QCoreApplication.translate("App", "Dataset: {path}").format(path=path), 8000)
        else:
            self.window.show_page("data")

    def open_path(self, path: str) -> None:
        """A file or folder the desktop asked the app to open (studio --open PATH)."""
        from studio.core import runs
        from studio.core.data.types import is_dataset_file

        if runs.holds_run(path):
            self._on_follow(str(Path(path).resolve()))
        elif Path(path).is_file() and is_dataset_file(path):
            self.window.sig_file_dropped.emit(str(Path(path).resolve()))
        else:
            self.window.status.showMessage(QCoreApplication.translate(
                "App", "Cannot open {path}: not a dataset file or a run folder").format(
                    path=path), 15000)

    def _on_resume(self, path: str) -> None:
        self.window.show_page("train")
        self.train.resume(path)

    def _on_chat(self, path: str) -> None:
        self.window.show_page("chat")
        self.chat.load_run(path)

    def _on_export(self, path: str) -> None:
        self.window.show_page("export")
        self.export.set_run(path)

    def _on_follow(self, path: str) -> None:
        self.window.show_page("train")
        self.train.follow(path)

    def show(self) -> None:
        self.window.restore_geometry()
        self.window.show()
        after_first_paint(self.window, self._after_first_paint)

    def _after_first_paint(self) -> None:
        # Workers started before the paint would hold the GIL while it waits for it.
        # The prewarm imports pyqtgraph, which reads every Qt type: they are created first, here
        # on the GUI thread, a slice per event-loop turn (created in the worker, they crashed
        # the app: ui/qt_types.py).
        expect_prewarm()
        make_qt_types(self.window, self._start_prewarm)
        # The engine host imports the engine while the user reads the first page (spawning it
        # from a worker: starting a process takes the calling thread a few tens of ms).
        self._host_task = run_task(engine_host().start, parent=self.window)
        # Detect the device (in the host), sample memory, list the recent runs.
        self.window.status.start()
        self.window.status.check_environment(str(prefs.runs_root()))
        self.list_recent_runs()

    def _start_prewarm(self) -> None:
        # The other pages' modules, numpy, pyqtgraph and what the pages import when shown,
        # imported while the user reads the first page; a page is built when its tab is first
        # shown (charts: one per event-loop turn, plots.py).
        self._prewarm = run_task(prewarm_gui, PAGE_MODULES, FIRST_SHOW_MODULES, parent=self.window)

    def list_recent_runs(self) -> None:
        from studio.core import runs  # stdlib + yaml only; listing reads files: in a worker

        self._runs_task = run_task(runs.list_runs, prefs.runs_root(),
                                   on_result=self.welcome.set_runs, parent=self.window)

    def start_tour(self, steps: int = 60, screenshots: Optional[Path] = None,
                   workdir: Optional[Path] = None, quit_when_done: bool = False,
                   stalls: Optional[Path] = None) -> None:
        from studio.ui.tour import Tour

        if self.tour is not None and self.tour.running:
            return
        self.tour = Tour(self, steps=steps, screenshots=screenshots, workdir=workdir,
                         quit_when_done=quit_when_done, stalls=stalls)
        self.tour.start()


def run_app(argv: list[str], open_paths: Optional[list[str]] = None) -> int:
    if not has_display():
        print("error: no display found (run it on a desktop, or set QT_QPA_PLATFORM=offscreen "
              "for a headless run)", file=sys.stderr)
        return 2
    app = create_app(argv)
    studio = Studio()
    studio.show()
    for path in open_paths or []:
        QTimer.singleShot(0, lambda p=path: studio.open_path(p))
    return app.exec()
