"""What the chat talks to: a run (final weights or a checkpoint), a model or an adapter folder.

The run's loss curve is drawn under the picker with its checkpoints as red points: clicking one
loads that checkpoint. Listing runs and reading a run's metrics read files, so both run in
worker tasks; the widget only fills lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.core import runs
from studio.services.chat_worker import ChatSource
from studio.services.workers import run_task
from studio.ui import prefs


@dataclass(frozen=True)
class RunInfo:
    """What the picker shows of a run."""
    path: str
    has_final: bool
    steps: tuple[int, ...]
    loss: tuple[tuple[int, float], ...]     # (step, loss) of every logged step


def read_run_info(path: str) -> RunInfo:
    from studio.core.events import StepMetrics

    run = runs.RunDir(Path(path))
    loss = tuple((r.step, r.loss) for r in runs.read_metrics(path) if isinstance(r, StepMetrics))
    return RunInfo(path=path, has_final=run.adapter_dir.is_dir() or run.model_dir.is_dir(),
                   steps=tuple(runs.checkpoint_steps(run)), loss=loss)


def list_sources(root: str) -> list[tuple[str, str, str]]:
    """(kind, path, label) of the runs under `root` that have weights, newest first."""
    out = []
    for s in runs.list_runs(root):
        rd = runs.RunDir(s.run_dir)
        if rd.adapter_dir.is_dir() or rd.model_dir.is_dir() or runs.checkpoint_steps(rd):
            out.append(("run", str(s.run_dir), f"{s.run_dir.name} ({s.method}, {s.status})"))
    return out


def source_kind(folder: str | Path) -> Optional[str]:
    p = Path(folder)
    if runs.holds_run(p):
        return "run"
    if (p / "adapter_config.json").is_file():
        return "adapter"
    if (p / "config.json").is_file():
        return "model"
    from studio.core.model.hub import is_hub_id  # light: huggingface_hub only when fetching

    return "model" if is_hub_id(str(folder)) else None  # fetched (with progress) when loaded


class ChatSourcePicker(QWidget):
    sig_load = Signal(object)       # ChatSource: Load pressed or a checkpoint clicked
    sig_message = Signal(str)       # a note for the status line

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel(self.tr("Chat with:")))
        self.source_combo = QComboBox()
        self.source_combo.setObjectName("chat_source")
        self.source_combo.setMinimumContentsLength(32)
        self.source_combo.setToolTip(self.tr("A run (its adapter on its base model), a model "
                                             "folder or an adapter folder"))
        self.source_combo.currentIndexChanged.connect(self._on_source_changed)
        row.addWidget(self.source_combo, 2)
        self.step_combo = QComboBox()
        self.step_combo.setObjectName("chat_step")
        self.step_combo.setToolTip(self.tr("The run's final weights or one of its checkpoints "
                                           "(or click a checkpoint on the loss curve)"))
        row.addWidget(self.step_combo)
        for text, slot, name in ((self.tr("Browse…"), self._browse, "chat_browse"),
                                 (self.tr("Refresh"), self.refresh, "chat_refresh")):
            b = QPushButton(text)
            b.setObjectName(name)
            b.clicked.connect(lambda _=False, f=slot: f())
            row.addWidget(b)
        self.hub_edit = QLineEdit()
        self.hub_edit.setObjectName("chat_hub_id")
        self.hub_edit.setPlaceholderText(self.tr("or a hub id, e.g. Qwen/Qwen2.5-0.5B-Instruct"))
        self.hub_edit.returnPressed.connect(self._use_hub_id)
        row.addWidget(self.hub_edit, 1)
        self.load_button = QPushButton(self.tr("Load"))
        self.load_button.setObjectName("chat_load")
        self.load_button.clicked.connect(lambda: self.request_load())
        row.addWidget(self.load_button)
        col.addLayout(row)
        self.curve_box = QWidget()
        self.curve_box.setObjectName("chat_curve_box")
        QVBoxLayout(self.curve_box).setContentsMargins(0, 0, 0, 0)
        self.curve_box.setVisible(False)
        col.addWidget(self.curve_box)
        self.run_info: Optional[RunInfo] = None
        self._curve: Any = None
        self._tasks: list = []

    # --- the list ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """List the runs under the runs folder (in a worker: it reads their files)."""
        self._tasks = [t for t in self._tasks if t.running]
        self._tasks.append(run_task(list_sources, str(prefs.runs_root()),
                                    on_result=self._fill_sources, parent=self))

    def _fill_sources(self, items: list) -> None:
        current = self.source_combo.currentData()
        self.source_combo.blockSignals(True)
        self.source_combo.clear()
        for kind, path, label in items:
            self.source_combo.addItem(label, (kind, path))
        for path in prefs.recent("models")[:10]:
            kind = source_kind(path)
            if kind in ("model", "adapter") and self.source_combo.findData((kind, path)) < 0:
                self.source_combo.addItem(Path(path).name, (kind, path))
        if current and self.source_combo.findData(current) < 0:
            self.source_combo.addItem(Path(current[1]).name, current)
        self.source_combo.blockSignals(False)
        i = self.source_combo.findData(current) if current else 0
        self.source_combo.setCurrentIndex(max(i, 0))
        self._on_source_changed(self.source_combo.currentIndex())

    def add_source(self, folder: str | Path) -> bool:
        """Add a run / model / adapter folder (or a hub id) to the list and select it."""
        text = str(folder).strip()
        folder = str(Path(text).expanduser()) if Path(text).expanduser().exists() else text
        kind = source_kind(folder)  # a hub id stays as typed
        if kind is None:
            self.sig_message.emit(self.tr("{name} is not a run, model or adapter folder")
                                  .format(name=Path(folder).name))
            return False
        i = self.source_combo.findData((kind, folder))
        if i < 0:
            # a hub id whole (org/name); a folder by its name
            name = folder if not Path(folder).exists() else Path(folder).name
            self.source_combo.addItem(name, (kind, folder))
            i = self.source_combo.count() - 1
        if i != self.source_combo.currentIndex():
            self.source_combo.setCurrentIndex(i)  # fills the steps via currentIndexChanged
        return True

    def _use_hub_id(self) -> None:
        text = self.hub_edit.text().strip()
        if text and self.add_source(text):
            self.request_load()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, self.tr("Choose a run, model or adapter folder"), str(prefs.runs_root()))
        if folder:
            self.add_source(folder)

    def _on_source_changed(self, index: int) -> None:
        data = self.source_combo.itemData(index)
        if not data or self.run_info is None or self.run_info.path != data[1]:
            self.step_combo.clear()  # another source: its steps come with its run info
            self.run_info = None
            self.curve_box.setVisible(False)
        if not data:
            return
        kind, path = data
        if kind == "run":
            self._tasks.append(run_task(read_run_info, path, on_result=self._fill_steps,
                                        parent=self))
        else:
            self.step_combo.addItem(self.tr("(whole folder)"), None)

    def _fill_steps(self, info: RunInfo) -> None:
        data = self.source_combo.currentData()
        if not data or data[1] != info.path:
            return  # the user picked another source meanwhile
        same_run = self.run_info is not None and self.run_info.path == info.path
        keep = self.step_combo.currentData() if same_run else None
        self.run_info = info
        self.step_combo.clear()
        if info.has_final:
            self.step_combo.addItem(self.tr("final"), None)
        for step in reversed(info.steps):
            self.step_combo.addItem(self.tr("step {n}").format(n=step), step)
        if keep is not None:
            self.select_step(keep)  # a refresh keeps the checkpoint picked
        self._draw_curve(info)

    # --- the curve -----------------------------------------------------------------------------
    def _draw_curve(self, info: RunInfo) -> None:
        """The run's loss with its checkpoints as points to click."""
        if not info.loss:
            return
        import pyqtgraph as pg  # lazy: only once a run with a curve is picked

        if self._curve is None:
            plot = pg.PlotWidget()
            plot.setObjectName("chat_curve")
            plot.setBackground("w")
            plot.setFixedHeight(120)
            plot.setLabel("left", self.tr("loss"))
            plot.setLabel("bottom", self.tr("step (click a red checkpoint to chat with it)"))
            line = plot.plot(pen=pg.mkPen("#1f77b4", width=1.5))
            points = pg.ScatterPlotItem(size=11, brush=pg.mkBrush("#d62728"), pen=None)
            points.sigClicked.connect(self._on_point_clicked)
            plot.addItem(points)
            self._curve = (plot, line, points)
            self.curve_box.layout().addWidget(plot)
        plot, line, points = self._curve
        line.setData([s for s, _ in info.loss], [v for _, v in info.loss])
        at = dict(info.loss)
        points.setData([{"pos": (s, at[s]), "data": s} for s in info.steps if s in at])
        self.curve_box.setVisible(True)

    def checkpoint_points(self) -> list[tuple[float, float, int]]:
        """(x, y, step) of the clickable checkpoint points (tests, the tour)."""
        if self._curve is None:
            return []
        return [(p.pos().x(), p.pos().y(), int(p.data())) for p in self._curve[2].points()]

    def _on_point_clicked(self, _item: Any, points: Any, *_: Any) -> None:
        if len(points):
            self.click_checkpoint(int(points[0].data()))

    def click_checkpoint(self, step: int) -> None:
        if self.select_step(step):
            self.request_load()

    def select_step(self, step: Optional[int]) -> bool:
        i = self.step_combo.findData(step)
        if i >= 0:
            self.step_combo.setCurrentIndex(i)
        return i >= 0

    # --- the choice ----------------------------------------------------------------------------
    def current_source(self) -> Optional[ChatSource]:
        data = self.source_combo.currentData()
        if not data:
            return None
        kind, path = data
        if kind == "run":
            return ChatSource(run=path, step=self.step_combo.currentData())
        return ChatSource(**{kind: path})

    def request_load(self) -> None:
        src = self.current_source()
        if src is None:
            self.sig_message.emit(self.tr("Pick a run or a model first (Browse… adds a "
                                          "folder)."))
            return
        self.sig_load.emit(src)
