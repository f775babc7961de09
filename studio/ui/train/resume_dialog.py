"""Resume a run with changed settings: the keys a resume may change (trainer.RESUMABLE_OVERRIDES)
as a generated form, the effective batch shown live, and the out-of-memory remedy in one click
(a smaller micro-batch, more accumulation, the same effective batch).

`load_resume_info` reads the run (config, status, metrics) in a worker thread; the dialog only
shows it. The values are checked with the engine's own rule (trainer.resume_config) before the
dialog closes, so a bad value is a line in the dialog, never a failed run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.core import runs
from studio.core.config import RunConfig
from studio.core.errors import UserError
from studio.core.events import RunEvent
from studio.core.train import trainer
from studio.ui.forms import ConfigForm

_ENDINGS = ("started", "resumed", "stopped", "finished", "failed")


@dataclass(frozen=True)
class ResumeInfo:
    run_dir: Path
    cfg: RunConfig
    status: str
    checkpoint: Optional[int]   # the step a resume continues from; None: starts at 0
    oom_step: Optional[int]     # the step that ran out of memory, when that ended the run
    records: list               # metrics.jsonl, so the curves continue without a second read


def oom_step(records: list) -> Optional[int]:
    """The step that ran out of memory, if the run's last start / end event says so."""
    for r in reversed(records):
        if isinstance(r, RunEvent) and r.event in _ENDINGS:
            if r.event == "failed" and (r.data or {}).get("kind") == "oom":
                return r.step + 1  # the event carries the last completed step
            return None
    return None


def load_resume_info(run_dir: str | Path) -> ResumeInfo:
    """Everything the dialog shows (runs in a worker thread: file reads, YAML)."""
    run = runs.open_run(run_dir)
    cfg = runs.load_config(run)
    records = runs.read_metrics(run.path)
    steps = runs.checkpoint_steps(run)
    return ResumeInfo(run.path, cfg, runs.effective_status(run.path),
                      steps[-1] if steps else None, oom_step(records), records)


class ResumeDialog(QDialog):
    """Shows `info`'s resumable settings; accepted only with values the engine takes.
    `overrides()` is then what changed (empty: a plain resume)."""

    def __init__(self, info: ResumeInfo, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setObjectName("resume_dialog")
        self.info = info
        self.setWindowTitle(self.tr("Resume with changes"))
        col = QVBoxLayout(self)
        col.addWidget(self._label(self._intro(), "resume_intro"))
        self.why = self._label("", "resume_why")
        self.why.setStyleSheet("color: #a15c00")
        self.why.hide()
        col.addWidget(self.why)
        self.form = ConfigForm(keys=trainer.RESUMABLE_OVERRIDES)
        self.form.set_values({k: getattr(info.cfg, k) for k in self.form.keys()})
        self.form.sig_changed.connect(lambda _k, _v: self._refresh())
        labels = self.form.findChildren(QLabel)  # one label column across the group boxes
        width = max((lb.sizeHint().width() for lb in labels), default=0)
        for lb in labels:
            lb.setMinimumWidth(width)
        col.addWidget(self.form)
        row = QHBoxLayout()
        self.effective = self._label("", "effective_batch")
        row.addWidget(self.effective, 1)
        self.halve_button = QPushButton(self.tr("Halve micro-batch, keep effective batch"))
        self.halve_button.setObjectName("halve_button")
        self.halve_button.setToolTip(self.tr(
            "Half the samples per micro-batch and twice the micro-batches per step: less memory, "
            "the same training."))
        self.halve_button.clicked.connect(lambda _=False: self.halve())
        row.addWidget(self.halve_button)
        col.addLayout(row)
        self.message = self._label("", "resume_message")
        self.message.setStyleSheet("color: #b03a2e")
        col.addWidget(self.message)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(self.tr("Resume"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        col.addWidget(self.buttons)
        if info.oom_step is not None:
            self._suggest_for_oom(info.oom_step)
        self._refresh()
        self.setMinimumWidth(600)
        self.resize(600, self.heightForWidth(600) if self.hasHeightForWidth()
                    else self.sizeHint().height())

    def _label(self, text: str, name: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName(name)
        label.setWordWrap(True)
        return label

    def _intro(self) -> str:
        name = self.info.run_dir.name
        if self.info.checkpoint is None:
            return self.tr("“{run}” has no checkpoint yet: it starts again from step 0 with "
                           "these settings.").format(run=name)
        return self.tr("“{run}” continues from its checkpoint at step {step} with these "
                       "settings.").format(run=name, step=self.info.checkpoint)

    def _suggest_for_oom(self, step: int) -> None:
        """Apply the remedy the engine names first, and say why in one line."""
        if self.halve():
            text = self.tr("It ran out of memory at step {step}: the micro-batch is halved "
                           "below, the effective batch kept.")
        elif self.form.values()["gradient_checkpointing"] != "on":
            self.form.set_values({"gradient_checkpointing": "on"})
            text = self.tr("It ran out of memory at step {step} with a micro-batch of 1: "
                           "gradient checkpointing is turned on below.")
        else:
            text = self.tr("It ran out of memory at step {step} with a micro-batch of 1 and "
                           "gradient checkpointing on: a new run with a shorter max length "
                           "needs less.")
        self.why.setText(text.format(step=step))
        self.why.show()

    # --- values ----------------------------------------------------------------------------
    def halve(self) -> bool:
        """batch_size / 2, grad_accum x 2 (the effective batch kept); False at batch_size 1."""
        v = self.form.values()
        smaller = trainer.smaller_micro_batch(v["batch_size"], v["grad_accum"])
        if smaller is None:
            return False
        self.form.set_values({"batch_size": smaller[0], "grad_accum": smaller[1]})
        self._refresh()
        return True

    def overrides(self) -> dict[str, Any]:
        """Only the keys whose value differs from the run's config."""
        return {k: v for k, v in self.form.values().items() if v != getattr(self.info.cfg, k)}

    def _refresh(self) -> None:
        v = self.form.values()
        b, a, need = v["batch_size"], v["grad_accum"], self.info.cfg.effective_batch
        a *= v.get("processes", 1)  # each process trains batch_size x grad_accum rows a step
        if b * a == need:
            text = self.tr("Effective batch: {b} × {a} = {n}").format(b=b, a=a, n=b * a)
        else:
            text = self.tr("Effective batch: {b} × {a} = {n} (must stay {need})").format(
                b=b, a=a, n=b * a, need=need)
        self.effective.setText(text)
        self.effective.setStyleSheet("" if b * a == need else "color: #b03a2e")
        self.halve_button.setEnabled(b > 1)
        self.message.setText("")

    def accept(self) -> None:
        try:
            trainer.resume_config(self.info.cfg, self.overrides())
        except UserError as e:
            self.message.setText(self.tr("Cannot resume: {reason}").format(reason=e.one_line()))
            return
        super().accept()
