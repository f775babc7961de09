"""Export a run: choose the weights (final or a checkpoint), the format and the folder; watch the
progress; read what the check on the way out found.

`ExportForm` is the whole thing as a widget (the Export page); `ExportDialog` wraps it in a
dialog (the chat page's "Export…" button). The export runs in an ExportJob's worker thread.
Refusals the engine would make (a full run has no adapter, a 4-bit base needs dequantizing,
virtual tokens cannot go into a GGUF) are shown before anything starts; what the export's own
checks found is shown as a checklist (ui/export/checklist_view.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from studio.core import runs
from studio.core.errors import UserError
from studio.core.export.gguf import GGUF_TYPES
from studio.services.export_worker import ExportJob, ExportRequest
from studio.services.workers import run_task
from studio.ui import prefs
from studio.ui.export.checklist_view import ChecklistView


def run_choices(root: Path) -> list[tuple[str, str]]:
    """(label, folder) of the runs under `root`, newest first (reads files: in a worker)."""
    return [(f"{s.run_dir.name} ({s.method}, {s.status})", str(s.run_dir))
            for s in runs.list_runs(root)]

class ExportForm(QWidget):
    sig_finished = Signal(object)   # ExportResult, or None after a failure

    def __init__(self, run_dir: Optional[str | Path] = None, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.job: Optional[ExportJob] = None
        self._waiting = False  # a job started and its result / error not yet shown
        self.result: Any = None
        self._cfg: Any = None
        self._suggested = ""
        self._run_path: Optional[str] = None
        form = QFormLayout()
        self.run_combo = QComboBox()
        self.run_combo.setObjectName("export_run")
        self.run_combo.setMinimumContentsLength(30)
        self.run_combo.currentIndexChanged.connect(self._on_run_changed)
        browse_run = QPushButton(self.tr("Browse…"))
        browse_run.clicked.connect(self._browse_run)
        form.addRow(self.tr("Run:"), self._row(self.run_combo, browse_run))
        self.step_combo = QComboBox()
        self.step_combo.setObjectName("export_step")
        form.addRow(self.tr("Weights:"), self.step_combo)
        self.formats = QButtonGroup(self)
        fmt_row = QHBoxLayout()
        for key, text, tip in (
                ("adapter", self.tr("Adapter"), self.tr("Small: the PEFT adapter, loaded on top "
                                                        "of the base model")),
                ("merged", self.tr("Merged model"), self.tr("Full weights with the adapter "
                                                            "merged in: loads on its own")),
                ("gguf", self.tr("GGUF"), self.tr("One file for llama.cpp, Ollama and LM "
                                                  "Studio, checked by llama.cpp itself"))):
            b = QRadioButton(text)
            b.setObjectName(f"export_{key}")
            b.setToolTip(tip)
            b.setProperty("fmt", key)
            self.formats.addButton(b)
            fmt_row.addWidget(b)
        self.formats.buttons()[0].setChecked(True)
        self.formats.buttonToggled.connect(lambda *_: (self._suggest_dest(), self._validate()))
        fmt_row.addStretch(1)
        form.addRow(self.tr("Format:"), fmt_row)
        self.gguf_type = QComboBox()
        self.gguf_type.setObjectName("export_gguf_type")
        for t in GGUF_TYPES.values():
            self.gguf_type.addItem(t.name, t.name)
            self.gguf_type.setItemData(self.gguf_type.count() - 1, t.help,
                                       Qt.ItemDataRole.ToolTipRole)
        self.gguf_type.currentIndexChanged.connect(lambda _: (self._suggest_dest(),
                                                              self._validate()))
        self.gguf_label = QLabel(self.tr("GGUF type:"))
        form.addRow(self.gguf_label, self.gguf_type)
        self.dequantize = QCheckBox(self.tr("Dequantize the 4-bit base to float, then merge "
                                            "(full size)"))
        self.dequantize.setObjectName("export_dequantize")
        self.dequantize.toggled.connect(lambda _: self._validate())
        form.addRow("", self.dequantize)
        self.dest = QLineEdit()
        self.dest.setObjectName("export_to")
        self.dest.textChanged.connect(lambda _: self._validate())
        browse_dest = QPushButton(self.tr("Choose…"))
        browse_dest.clicked.connect(self._browse_dest)
        form.addRow(self.tr("Export to:"), self._row(self.dest, browse_dest))
        self.overwrite = QCheckBox(self.tr("Replace a previous export in that folder"))
        self.overwrite.setObjectName("export_overwrite")
        form.addRow("", self.overwrite)
        col = QVBoxLayout(self)
        col.addLayout(form)
        self.reason = QLabel()
        self.reason.setObjectName("export_reason")
        self.reason.setWordWrap(True)
        self.reason.setStyleSheet("color: #a15c00")
        col.addWidget(self.reason)
        row = QHBoxLayout()
        self.export_button = QPushButton(self.tr("Export"))
        self.export_button.setObjectName("export_start")
        self.export_button.clicked.connect(lambda: self.start())
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.setObjectName("export_cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button = QPushButton(self.tr("Open folder"))
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self._open_folder)
        row.addWidget(self.export_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.open_button)
        row.addStretch(1)
        col.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setObjectName("export_progress")
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.message = QLabel()
        self.message.setObjectName("export_message")
        col.addWidget(self.progress)
        col.addWidget(self.message)
        self.checklist = ChecklistView()
        self.checklist.setObjectName("export_checklist")
        col.addWidget(self.checklist, 1)
        self.report = QPlainTextEdit()
        self.report.setObjectName("export_report")
        self.report.setReadOnly(True)
        self.report.setPlaceholderText(self.tr("What the check on the way out finds appears "
                                               "here: the logits of the reloaded export against "
                                               "the in-studio model, and whether generation "
                                               "stops at the end of the turn."))
        col.addWidget(self.report, 1)
        self.checklist.setVisible(False)
        self._listed = False
        self._tour_done = True
        if run_dir is not None:
            self.refresh_runs(run_dir)

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if not self._listed or not self.isWindow():  # the page: runs may have finished since
            self.refresh_runs()

    @staticmethod
    def _row(*widgets: QWidget) -> QHBoxLayout:
        row = QHBoxLayout()
        for i, w in enumerate(widgets):
            row.addWidget(w, 1 if i == 0 else 0)
        return row

    # --- choosing --------------------------------------------------------------------------------
    def refresh_runs(self, select: Optional[str | Path] = None) -> None:
        """List finished / stopped runs. The run asked for (or the current one) is there at
        once; the others are read in a worker (every run's config.yaml and run.json: most of
        a second on the GUI thread with a few dozen runs) and join the list when read."""
        self._listed = True
        current = str(select) if select else self.run_combo.currentData()
        if current:
            self._fill_runs([], current)
        # no parent: a form closed meanwhile must not take the running thread with it (its
        # bound slot is then disconnected)
        run_task(run_choices, prefs.runs_root(), on_result=self._fill_runs)

    def _fill_runs(self, items: list[tuple[str, str]], select: Optional[str] = None) -> None:
        before = self.run_combo.currentData()
        current = select or before
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        for label, path in items:
            self.run_combo.addItem(label, path)
        if current and self.run_combo.findData(str(current)) < 0:
            self.run_combo.addItem(Path(current).name, str(current))
        self.run_combo.blockSignals(False)
        i = self.run_combo.findData(str(current)) if current else 0
        self.run_combo.setCurrentIndex(max(i, 0))
        if self.run_combo.currentData() != before or select:
            self._on_run_changed(self.run_combo.currentIndex())

    def set_run(self, run_dir: str | Path, step: Optional[int] = None) -> None:
        self.refresh_runs(run_dir)
        i = self.step_combo.findData(step)
        if i >= 0:
            self.step_combo.setCurrentIndex(i)

    def _browse_run(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("Choose a run folder"),
                                                  str(prefs.runs_root()))
        if folder:
            self.refresh_runs(folder)

    def _browse_dest(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("Folder to export into"),
                                                  str(Path.home()))
        if folder:
            self.dest.setText(folder)

    def _on_run_changed(self, _index: int) -> None:
        path = self.run_combo.currentData()
        same_run = path is not None and path == self._run_path
        keep_step = self.step_combo.currentData() if same_run else None
        self._run_path = path
        self.step_combo.clear()
        self._cfg = None
        if not path:
            self._validate()
            return
        try:
            run = runs.open_run(path)
            self._cfg = runs.load_config(run)
        except UserError as e:
            self.reason.setText(e.one_line())
            self.export_button.setEnabled(False)
            return
        if run.adapter_dir.is_dir() or run.model_dir.is_dir():
            self.step_combo.addItem(self.tr("final"), None)
        for step in reversed(runs.checkpoint_steps(run)):
            self.step_combo.addItem(self.tr("checkpoint step {n}").format(n=step), step)
        if same_run:  # a refresh: keep what the user chose
            self.step_combo.setCurrentIndex(max(0, self.step_combo.findData(keep_step)))
            self._validate()
            return
        natural = "adapter" if self._cfg.is_peft else "merged"
        for b in self.formats.buttons():
            if b.property("fmt") == natural:
                b.setChecked(True)
        self._suggest_dest()
        self._validate()

    def _suggest_dest(self) -> None:
        """<runs folder>/exports/<run>-<format>, unless the user typed a folder of their own."""
        path = self.run_combo.currentData()
        if not path or self.dest.text().strip() not in ("", self._suggested):
            return
        kind = self.fmt() if self.fmt() != "gguf" else f"gguf-{self.gguf_type.currentData()}"
        self._suggested = str(Path(path).parent / "exports" / f"{Path(path).name}-{kind}")
        self.dest.setText(self._suggested)

    def fmt(self) -> str:
        b = self.formats.checkedButton()
        return str(b.property("fmt")) if b is not None else "adapter"

    def _validate(self) -> bool:
        """Show why the export cannot run (before anything starts); enable Export if it can."""
        from studio.core.export.folder import check_request  # light: torch is imported lazily there

        reason = ""
        qlora_merge = self._cfg is not None and self._cfg.method_spec.quantized_base and \
            self.fmt() == "merged"
        self.dequantize.setVisible(qlora_merge)
        self.gguf_type.setVisible(self.fmt() == "gguf")
        self.gguf_label.setVisible(self.fmt() == "gguf")
        if self._cfg is None:
            reason = self.tr("Pick a run to export.")
        elif self.step_combo.count() == 0:
            reason = self.tr("This run has no final weights and no checkpoint yet.")
        elif not self.dest.text().strip():
            reason = self.tr("Choose the folder to export into.")
        else:
            try:
                check_request(self._cfg, self.fmt(), self.dequantize.isChecked(),
                              self.gguf_type.currentData())
            except UserError as e:
                reason = e.one_line()
        self.reason.setText(reason)
        ok = not reason and not self._waiting
        self.export_button.setEnabled(ok)
        return ok

    # --- running ---------------------------------------------------------------------------------
    def request(self) -> ExportRequest:
        return ExportRequest(run_dir=self.run_combo.currentData(), to=self.dest.text().strip(),
                             fmt=self.fmt(), step=self.step_combo.currentData(),
                             overwrite=self.overwrite.isChecked(),
                             dequantize=self.dequantize.isChecked(),
                             gguf_type=self.gguf_type.currentData(),
                             sampling=prefs.chat_sampling())

    def start(self) -> bool:
        if not self._validate():
            return False
        self.result = None
        self.report.clear()
        self.checklist.show_checks(())
        self.checklist.setVisible(False)
        self.progress.setValue(0)
        self.open_button.setEnabled(False)
        self.job = ExportJob(self.request(), parent=self)
        self.job.sig_progress.connect(self._on_progress)
        self.job.sig_result.connect(self._on_result)
        self.job.sig_error.connect(self._on_error)
        self.job.sig_done.connect(self._validate)
        self._waiting = True
        self.job.start()
        self.export_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        return True

    def cancel(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.message.setText(self.tr("Cancelling at the next step…"))

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(round(fraction * 100)))
        self.message.setText(message)

    def _on_result(self, result: Any) -> None:
        self._waiting = False
        self.cancel_button.setEnabled(False)
        self.result = result
        self.progress.setValue(100)
        self.message.setText(self.tr("Exported to {path}").format(path=result.path))
        checks = result.checklist()
        self.report.setPlainText(result.summary(checks=not checks))
        self.checklist.show_checks(checks)
        self.checklist.setVisible(bool(checks))
        self.open_button.setEnabled(True)
        self.sig_finished.emit(result)

    def _on_error(self, reason: str, details: str) -> None:
        self._waiting = False
        self.cancel_button.setEnabled(False)
        self.progress.setValue(0)
        self.message.setText(self.tr("Cancelled: nothing was written.") if
                             reason.startswith("export cancelled") else
                             self.tr("The export failed; nothing was written."))
        self.report.setPlainText(reason + (f"\n\n{details}" if details else ""))
        self.sig_finished.emit(None)

    # --- the tour: export the run just trained as an adapter -------------------------------
    def tour_prepare(self, tour: Any) -> None:
        run = getattr(getattr(tour, "session", None), "run_dir", None)
        if run is None or not Path(run).is_dir():
            return
        self.set_run(run)
        self.overwrite.setChecked(True)
        self._tour_done = not self.start()
        if not self._tour_done:
            self.job.sig_done.connect(self._end_tour)

    def _end_tour(self) -> None:
        self._tour_done = True

    def tour_ready(self) -> bool:
        return self._tour_done

    def _open_folder(self) -> None:
        if self.result is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.result.path)))


class ExportDialog(QDialog):
    def __init__(self, run_dir: Optional[str | Path] = None, step: Optional[int] = None,
                 parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setWindowTitle(self.tr("Export a run"))
        self.form = ExportForm(run_dir)
        if run_dir is not None:
            self.form.set_run(run_dir, step)
        col = QVBoxLayout(self)
        col.addWidget(self.form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        col.addWidget(buttons)
        self.resize(720, 520)

    def reject(self) -> None:
        if self.form.job is not None and self.form.job.running:
            self.form.message.setText(self.tr("Wait for the export to finish, or cancel it "
                                              "first."))
            return
        super().reject()
