"""The main window: workflow tabs, menus, drag-and-drop routing and the status bar.

Pages join with `add_page(key, title, widget)`, or `add_lazy_page(key, title, build)` whose
widget is made the first time its tab is shown or `page(key)` asks for it (the first paint
builds only the page it shows); they take their place in the workflow order (PAGE_ORDER)
whenever they are added, so a page written later lands where it belongs. Pages not added are
simply absent. A dataset file dropped anywhere on the window (or opened from the
File menu) is announced as `sig_file_dropped(path)`; the data panel listens to it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QProcess, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core import runs
from studio.core.data.types import FILE_TYPES, file_patterns, is_dataset_file
from studio.services.session import Session
from studio.ui import i18n, prefs
from studio.ui.errors import show_error
from studio.ui.status_bar import StatusBar

PAGE_ORDER = ("welcome", "data", "model", "train", "experiments", "inspect", "chat", "export")


def _rank(key: str) -> int:
    return PAGE_ORDER.index(key) if key in PAGE_ORDER else len(PAGE_ORDER)


class MainWindow(QMainWindow):
    sig_file_dropped = Signal(str)       # a dataset file to open
    sig_follow_requested = Signal(str)   # a run folder to follow live
    sig_tour_requested = Signal()
    sig_runs_root_changed = Signal(str)
    sig_page_built = Signal(str)         # a lazy page's key, just after its widget was made

    def __init__(self, session: Optional[Session] = None, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.session = session
        self.setWindowTitle(self.tr("Studio: fine-tune language models"))
        self.setAcceptDrops(True)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("pages")
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self._pages: dict[str, QWidget] = {}      # key -> the page's widget, once built
        self._holders: dict[str, QWidget] = {}    # key -> the tab's widget (page or holder)
        self._builders: dict[str, Callable[[], QWidget]] = {}  # pages not built yet
        self.tabs.currentChanged.connect(self._on_tab_shown)
        self.status = StatusBar(self)
        self.setStatusBar(self.status)
        self._close_when_stopped = False
        self.last_message: Optional[QMessageBox] = None
        self._build_menus()
        if session is not None:
            session.sig_state.connect(self._on_session_state)
            session.sig_step.connect(self._on_step)

    # --- pages -------------------------------------------------------------------------------
    def add_page(self, key: str, title: str, widget: QWidget) -> None:
        """Add (or replace) the page `key`, placed by PAGE_ORDER (unknown keys go last)."""
        widget.setObjectName(widget.objectName() or f"page_{key}")
        self._builders.pop(key, None)  # replaces a lazy page of that key too
        self._pages[key] = widget
        self._insert_tab(key, title, widget)

    def add_lazy_page(self, key: str, title: str, build: Callable[[], QWidget]) -> None:
        """Add the page `key` whose widget `build()` makes the first time its tab is shown or
        `page(key)` asks for it: the first paint does not wait for pages nobody looked at."""
        self._pages.pop(key, None)
        self._builders[key] = build
        holder = QWidget()
        holder.setObjectName(f"holder_{key}")
        QVBoxLayout(holder).setContentsMargins(0, 0, 0, 0)
        self._insert_tab(key, title, holder)

    def _insert_tab(self, key: str, title: str, holder: QWidget) -> None:
        if key in self._holders:
            self.tabs.removeTab(self.tabs.indexOf(self._holders[key]))
        rank = _rank(key)
        index = sum(1 for k in self._holders if k != key and _rank(k) <= rank)
        self._holders[key] = holder
        self.tabs.insertTab(index, holder, title)
        self._rebuild_view_menu()

    def _build_page(self, key: str) -> QWidget:
        build = self._builders.pop(key)
        widget = build()
        widget.setObjectName(widget.objectName() or f"page_{key}")
        self._pages[key] = widget
        self._holders[key].layout().addWidget(widget)
        widget.show()  # in this frame (a layout shows a new child of a shown holder later)
        self.sig_page_built.emit(key)
        return widget

    def _on_tab_shown(self, index: int) -> None:
        key = self._key_of(self.tabs.widget(index))
        if key in self._builders:
            self._build_page(key)

    def show_page(self, key: str) -> QWidget:
        w = self.page(key)
        self.tabs.setCurrentWidget(self._holders[key])
        return w

    def page(self, key: str) -> Optional[QWidget]:
        """The page's widget (built now if it was not yet); None when there is no such page."""
        if key in self._builders:
            return self._build_page(key)
        return self._pages.get(key)

    def built_page(self, key: str) -> Optional[QWidget]:
        """The page's widget if it was built, without building it."""
        return self._pages.get(key)

    def page_keys(self) -> list[str]:
        """Keys in the order the tabs show them."""
        return [self._key_of(self.tabs.widget(i)) for i in range(self.tabs.count())]

    def current_page(self) -> str:
        return self._key_of(self.tabs.currentWidget())

    def _key_of(self, holder: Optional[QWidget]) -> str:
        return next((k for k, v in self._holders.items() if v is holder), "")

    # --- menus -------------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu(self.tr("&File"))
        self._action(file_menu, self.tr("&Open dataset…"), self.open_dataset_dialog,
                     QKeySequence.StandardKey.Open)
        self._action(file_menu, self.tr("&Follow a run folder…"), self.follow_dialog,
                     "Ctrl+Shift+O")
        file_menu.addSeparator()
        self._action(file_menu, self.tr("&Quit"), self.close, QKeySequence.StandardKey.Quit)
        self.view_menu = self.menuBar().addMenu(self.tr("&View"))
        settings_menu = self.menuBar().addMenu(self.tr("&Settings"))
        lang_menu = settings_menu.addMenu(self.tr("&Language"))
        group = QActionGroup(self)
        saved = str(prefs.get("ui/language", "") or "")
        for code, name in [("", self.tr("Follow the system"))] + list(i18n.LANGUAGES.items()):
            a = QAction(name, self, checkable=True)
            a.setChecked(code == saved)
            a.triggered.connect(lambda _=False, c=code: self.choose_language(c))
            group.addAction(a)
            lang_menu.addAction(a)
        self._action(settings_menu, self.tr("&Runs folder…"), self.runs_root_dialog)
        help_menu = self.menuBar().addMenu(self.tr("&Help"))
        self._action(help_menu, self.tr("Take the &tour"), self.sig_tour_requested.emit)
        self._action(help_menu, self.tr("&About Studio"), self.about)

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        a.triggered.connect(lambda _=False: slot())
        menu.addAction(a)
        return a

    def _rebuild_view_menu(self) -> None:
        self.view_menu.clear()
        for i, key in enumerate(self.page_keys()):
            text = self.tabs.tabText(i)
            self._action(self.view_menu, text, lambda k=key: self.show_page(k),
                         f"Ctrl+{i + 1}" if i < 9 else None)

    # --- actions -----------------------------------------------------------------------------
    def open_dataset_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, self.tr("Open a dataset"), "",
            self.tr("Datasets") + f" ({file_patterns()})")
        if path:
            self.open_path(path)

    def follow_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, self.tr("Follow a run folder"),
                                                str(prefs.runs_root()))
        if path:
            self.sig_follow_requested.emit(path)

    def runs_root_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, self.tr("Folder holding your runs"),
                                                str(prefs.runs_root()))
        if path:
            prefs.set_runs_root(path)
            self.sig_runs_root_changed.emit(path)

    def choose_language(self, code: str) -> None:
        i18n.set_language(code)
        box = QMessageBox(QMessageBox.Icon.Information, self.tr("Language"),
                          self.tr("The new language applies when Studio starts again."),
                          QMessageBox.StandardButton.NoButton, self)
        restart = box.addButton(self.tr("Restart now"), QMessageBox.ButtonRole.AcceptRole)
        box.addButton(self.tr("Later"), QMessageBox.ButtonRole.RejectRole)
        restart.setEnabled(not (self.session and self.session.busy))
        restart.clicked.connect(self.restart)
        box.open()
        self.last_message = box

    def restart(self) -> None:
        # the stand-alone build's sys.executable is the app itself: it takes no script argument
        args = sys.argv[1:] if getattr(sys, "frozen", False) else sys.argv
        if QProcess.startDetached(sys.executable, args):
            self.close()

    def about(self) -> None:
        from importlib import metadata  # ~30 ms of imports: not before the first paint

        try:
            version = metadata.version("llm-studio")
        except metadata.PackageNotFoundError:  # run from a source folder, not installed
            version = ""
        box = QMessageBox(QMessageBox.Icon.NoIcon, self.tr("About Studio"), self.tr(
            "<b>Studio {version}</b><br>Fine-tune language models on your own computer: drop "
            "a dataset, pick a model and a method, watch the run live.").format(
                version=version), QMessageBox.StandardButton.Ok, self)
        box.setIconPixmap(self.windowIcon().pixmap(64, 64))
        box.open()
        self.last_message = box

    # --- drag and drop -----------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 (Qt name)
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_path(paths[0])

    def open_path(self, path: str) -> None:
        """Route a dropped / opened path: dataset file -> sig_file_dropped, run folder ->
        sig_follow_requested, anything else -> a message saying what Studio opens."""
        p = Path(path)
        if runs.holds_run(p):
            self.sig_follow_requested.emit(str(p))
        elif p.is_file() and is_dataset_file(p):
            prefs.add_recent("datasets", str(p))
            self.sig_file_dropped.emit(str(p))
        else:
            self.last_message = show_error(self, self.tr(
                "Studio opens datasets ({types}) and run folders; “{name}” is neither.").format(
                    types=", ".join(FILE_TYPES), name=p.name), title=self.tr("Cannot open this"))

    # --- run state and closing ---------------------------------------------------------------
    def _on_session_state(self, state: str) -> None:
        texts = {"idle": self.tr("Idle"), "starting": self.tr("Starting: loading the model…"),
                 "running": self.tr("Training"),
                 "stopping": self.tr("Stopping: saving a checkpoint…"),
                 "following": self.tr("Following a run")}
        self.status.set_run_state(texts.get(state, state))
        if state == "idle" and self._close_when_stopped:
            self.close()

    def _on_step(self, m, _mem) -> None:
        if self.session is not None and self.session.state in ("running", "following"):
            total = f"/{m.total_steps}" if m.total_steps else ""
            verb = self.tr("Training") if self.session.state == "running" \
                else self.tr("Following")
            self.status.set_run_state(f"{verb}: {self.tr('step')} {m.step}{total}")

    def confirm_close_during_run(self) -> bool:
        """Ask whether to stop the in-app run and close. Tests replace this."""
        box = QMessageBox(QMessageBox.Icon.Question, self.tr("Training is running"), self.tr(
            "This run trains inside this window, so closing the window ends it. Studio first "
            "saves a checkpoint; you can resume the run later from the Train page.\n\n"
            "To train with the window closed, start the run with “Start in background”."),
            QMessageBox.StandardButton.NoButton, self)
        stop = box.addButton(self.tr("Stop and close"), QMessageBox.ButtonRole.AcceptRole)
        box.addButton(self.tr("Keep training"), QMessageBox.ButtonRole.RejectRole)
        box.exec()
        return box.clickedButton() is stop

    def closeEvent(self, event: QCloseEvent) -> None:
        s = self.session
        if s is not None and s.busy:
            if self._close_when_stopped or self.confirm_close_during_run():
                self._close_when_stopped = True
                s.stop()  # the window closes once the run has checkpointed (state -> idle)
            event.ignore()
            return
        if s is not None:
            s.unfollow()  # a run launched in the background keeps going on its own
        prefs.put("window/geometry", self.saveGeometry())
        event.accept()

    def restore_geometry(self) -> None:
        geo = prefs.get("window/geometry")
        if geo is None or not self.restoreGeometry(geo):
            self.resize(1400, 900)

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if event.key() == Qt.Key.Key_F1:
            self.sig_tour_requested.emit()
        else:
            super().keyPressEvent(event)
