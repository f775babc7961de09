"""Two ways to fill the queue from the app: a sweep over the Train page's settings, and
"compare methods" (the same data and budget with each ticked method). Both queue the runs and
start the background runner; the comparison board then shows them side by side.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core.config import METHODS, RunConfig
from studio.core.errors import UserError
from studio.core.experiments import sweep
from studio.core.experiments.queue import Queue


def queue_and_run(root: Path, planned: list[sweep.SweepRun], group: str) -> int:
    """Queue the planned runs and make sure a runner takes them. -> how many were queued."""
    from studio.core.experiments.runner import start_background_runner

    entries = Queue(root).add_many([(r.config, r.name) for r in planned], sweep=group)
    start_background_runner(root)
    return len(entries)


class _QueueDialog(QDialog):
    """A form, a line for problems, OK = queue the runs (the dialog stays open on a problem)."""

    def __init__(self, base: RunConfig, root: Path, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.base, self.root = base, Path(root)
        self.queued = 0
        self.group = ""
        self.layout_ = QVBoxLayout(self)
        self.problem = QLabel("")
        self.problem.setObjectName("dialog_problem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #b03a2e")

    def _finish_layout(self) -> None:
        self.layout_.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText(self.tr("Queue and run"))
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        self.layout_.addWidget(buttons)

    def plan(self) -> list[sweep.SweepRun]:
        raise NotImplementedError

    def submit(self) -> bool:
        try:
            planned = self.plan()
            self.queued = queue_and_run(self.root, planned, self.group)
        except (UserError, OSError) as e:
            self.problem.setText(e.one_line() if isinstance(e, UserError) else str(e))
            return False
        self.accept()
        return True


class SweepDialog(_QueueDialog):
    """Keys and values to try over the current settings; every combination (or N at random)."""

    def __init__(self, base: RunConfig, root: Path, parent: Optional[QWidget] = None):
        super().__init__(base, root, parent)
        self.setWindowTitle(self.tr("Sweep"))
        self.layout_.addWidget(QLabel(self.tr(
            "One key per line with the values to try, e.g. <tt>learning_rate=1e-4,2e-4</tt>. "
            "Every combination becomes a run in its own folder under<br><tt>{dir}</tt>, named "
            "by its values; the runs wait in the queue and train one after another.").format(
                dir=base.output_dir)))
        self.grid = QPlainTextEdit()
        self.grid.setObjectName("sweep_grid")
        self.grid.setPlaceholderText("learning_rate=1e-4,2e-4,5e-4\nlora_r=8,16")
        self.layout_.addWidget(self.grid)
        form = QGridLayout()
        form.addWidget(QLabel(self.tr("Only this many, drawn at random (0 = all):")), 0, 0)
        self.random_n = QSpinBox()
        self.random_n.setObjectName("sweep_random")
        self.random_n.setRange(0, 1000)
        form.addWidget(self.random_n, 0, 1)
        self.layout_.addLayout(form)
        self._finish_layout()
        self.resize(560, 360)

    def plan(self) -> list[sweep.SweepRun]:
        specs = [ln.strip() for ln in self.grid.toPlainText().splitlines() if ln.strip()]
        self.group = self.base.output_dir
        return sweep.expand(self.base, sweep.parse_grid(specs), self.random_n.value())


class CompareMethodsDialog(_QueueDialog):
    """The same model, data and budget with each ticked method (each at its recommended
    learning rate), in one folder of runs the board compares."""

    DEFAULT = ("full", "lora", "prompt_tuning", "qlora")

    def __init__(self, base: RunConfig, root: Path, parent: Optional[QWidget] = None):
        super().__init__(base, root, parent)
        self.setWindowTitle(self.tr("Compare methods"))
        steps = base.max_steps or self.tr("{e} epochs").format(e=base.epochs)
        self.layout_.addWidget(QLabel(self.tr(
            "Train <b>{model}</b> on <b>{data}</b> for {steps} steps with each method you "
            "tick, one after another; the board then shows what each cost and gave.").format(
                model=Path(base.model).name or base.model, data=Path(base.dataset).name,
                steps=steps)))
        grid = QGridLayout()
        self.boxes: dict[str, QCheckBox] = {}
        for i, m in enumerate(METHODS):
            box = QCheckBox(m)
            box.setObjectName(f"method_{m}")
            box.setChecked(m in self.DEFAULT)
            grid.addWidget(box, i // 4, i % 4)
            self.boxes[m] = box
        self.layout_.addLayout(grid)
        self._finish_layout()

    def plan(self) -> list[sweep.SweepRun]:
        ticked = [m for m, b in self.boxes.items() if b.isChecked()]
        folder = self.root / f"methods-{time.strftime('%Y%m%d-%H%M%S')}"
        self.group = str(folder)
        return sweep.method_runs(self.base, ticked, folder)
