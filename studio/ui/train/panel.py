"""The Train page: the run's settings, Start / Stop / Resume / Resume with changes / Start in
background, progress with ETA, live curves, the run's events, and past runs (follow, resume,
overlay their curves). A run that ran out of memory offers the resume dialog with a smaller
micro-batch from its error box: two clicks from the failure to training again.

The settings form edits the Session's draft config, shared with the data and model pages.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core import config as config_mod
from studio.core import runs
from studio.core.config import GROUPS
from studio.core.errors import UserError
from studio.core.events import EvalMetrics, RunEvent, StepMetrics
from studio.services.session import Session
from studio.services.workers import run_task
from studio.ui import prefs
from studio.ui.errors import show_error
from studio.ui.forms import ConfigForm, group_title
from studio.ui.train.overlay_loader import OverlayLoader
from studio.ui.train.progress import Progress, StepBar, fmt_duration  # noqa: F401 (re-export)
from studio.ui.train.reward_trust import trust_reward_file
from studio.ui.train.runs_list import RunsList

if TYPE_CHECKING:
    from studio.ui.train.plots import PlotsView
    from studio.ui.train.resume_dialog import ResumeDialog, ResumeInfo

RESUMABLE = ("stopped", "failed")  # statuses "Resume with changes" is offered for


class TrainPanel(QWidget):
    def __init__(self, session: Session, parent: Optional[QWidget] = None,
                 groups: tuple[str, ...] = GROUPS):
        super().__init__(parent)
        self.session = session
        self.progress = Progress()
        self._keep_curves = False
        self._ended: Optional[tuple[Path, str]] = None  # the session's last run and its end
        self._oom = False  # the session's current run ended out of memory
        self.resume_dialog: Optional["ResumeDialog"] = None
        self.forms: dict[str, ConfigForm] = {}  # the settings forms built so far, by group
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self._left(groups))
        splitter.addWidget(self._right())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([430, 970])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)
        session.draft.sig_changed.connect(self._on_draft_changed)
        session.sig_state.connect(self._on_state)
        session.sig_started.connect(self._on_started)
        session.sig_step.connect(self._on_step)
        session.sig_eval.connect(self._on_eval)
        session.sig_event.connect(self._on_event)
        session.sig_finished.connect(self._on_finished)
        session.sig_error.connect(self._on_error)
        self.suggest_output_dir()
        self._on_state(session.state)

    # --- layout ------------------------------------------------------------------------------
    def _left(self, groups: tuple[str, ...]) -> QWidget:
        box = QWidget()
        col = QVBoxLayout(box)
        col.setContentsMargins(0, 0, 0, 0)
        tabs = QTabWidget()
        tabs.setObjectName("settings_tabs")
        # Each settings form is built when its tab is first shown: the five at once (Qt
        # polishing every editor against the style sheet) were most of the page's 0.15-0.5 s
        # build on the GUI thread.
        self._form_groups = groups
        for g in groups:
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            tabs.addTab(scroll, group_title(g))
        tabs.setCurrentIndex(groups.index("training") if "training" in groups else 0)
        self.settings_tabs = tabs
        tabs.currentChanged.connect(self._form_at)
        self._form_at(tabs.currentIndex())
        col.addWidget(tabs, 1)
        self.message = QLabel("")
        self.message.setObjectName("train_message")
        self.message.setWordWrap(True)
        col.addWidget(self.message)
        row = QHBoxLayout()
        self.start_button = self._button(self.tr("Start"), self.start, "start_button",
                                         self.tr("Train in this window, live."))
        self.stop_button = self._button(self.tr("Stop"), self.stop, "stop_button",
                                        self.tr("Save a checkpoint, then stop. Resume later."))
        self.resume_button = self._button(
            self.tr("Resume"), self.resume, "resume_button",
            self.tr("Continue the selected (or last) run from its latest checkpoint."))
        for b in (self.start_button, self.stop_button, self.resume_button):
            row.addWidget(b)
        col.addLayout(row)
        row = QHBoxLayout()
        self.resume_changes_button = self._button(
            self.tr("Resume with changes…"), self.resume_with_changes, "resume_changes_button",
            self.tr("Continue the selected (or last) stopped or failed run from its checkpoint "
                    "with other settings, e.g. a smaller micro-batch after running out of "
                    "memory."))
        self.detach_button = self._button(
            self.tr("Start in background"), self.start_detached, "detach_button",
            self.tr("Train in a separate process that keeps running when this window closes; "
                    "the curves follow it live."))
        self.sweep_button = self._button(
            self.tr("Sweep…"), self.sweep_dialog, "sweep_button",
            self.tr("Queue these settings with several values of some keys (a grid); the "
                    "runs train one after another, the Experiments page compares them."))
        row.addWidget(self.resume_changes_button)
        row.addWidget(self.detach_button)
        row.addWidget(self.sweep_button)
        col.addLayout(row)
        self.launch_button = self._button(
            self.tr("Export launch script…"), self.export_launch_script, "launch_button",
            self.tr("Write a folder that runs these settings on a cluster: config.yaml, a "
                    "torchrun command for each machine and a Slurm sbatch file."))
        col.addWidget(self.launch_button)
        self.progress_bar = StepBar()
        self.progress_bar.setObjectName("progress")
        col.addWidget(self.progress_bar)
        self.eta_label = QLabel("")
        self.eta_label.setObjectName("eta")
        self.eta_label.setWordWrap(True)  # a failure's reason is long: wrap, never widen the page
        col.addWidget(self.eta_label)
        return box

    def _right(self) -> QWidget:
        split = QSplitter(Qt.Orientation.Vertical)
        # The charts (pyqtgraph: ~1 s to import and build) are made when first needed, so
        # the window paints without them; see `plots`.
        self._plots = None
        self._plots_box = QWidget()
        QVBoxLayout(self._plots_box).setContentsMargins(0, 0, 0, 0)
        split.addWidget(self._plots_box)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        self.runs_list = RunsList()
        self.overlay_loader = OverlayLoader(lambda: self.plots.smoothing, self)
        self.overlay_loader.sig_curves.connect(self._overlay_ready)
        self.overlay_loader.sig_error.connect(self._on_error)
        self.runs_list.sig_overlay.connect(self._overlay)
        self.runs_list.sig_follow.connect(self.follow)
        self.runs_list.sig_resume.connect(self.resume)
        self.runs_list.tree.currentItemChanged.connect(lambda *_: self._update_resume_actions())
        bottom.addWidget(self.runs_list)
        self.log = QPlainTextEdit()
        self.log.setObjectName("run_log")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(500)
        self.log.setPlaceholderText(self.tr("The run's events appear here."))
        from studio.ui.train.completions_view import CompletionsView

        self.completions = CompletionsView()
        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.addTab(self.log, self.tr("Events"))
        self.bottom_tabs.addTab(self.completions, self.tr("Completions"))
        bottom.addWidget(self.bottom_tabs)
        bottom.setSizes([620, 350])
        split.addWidget(bottom)
        split.setSizes([640, 230])
        return split

    @property
    def plots(self) -> "PlotsView":
        if self._plots is None:
            from studio.ui.train.plots import PlotsView  # lazy: pyqtgraph, see _right

            self._plots = PlotsView()
            self._plots_box.layout().addWidget(self._plots)
        return self._plots

    def _button(self, text: str, slot, name: str, tip: str) -> QPushButton:
        b = QPushButton(text)
        b.setObjectName(name)
        b.setToolTip(tip)
        b.clicked.connect(lambda _=False: slot())
        return b

    def _form_at(self, index: int) -> None:
        if 0 <= index < len(self._form_groups):
            self.form(self._form_groups[index])

    def form(self, group: str) -> ConfigForm:
        """The settings form of `group`, built now if its tab was not shown yet."""
        if group not in self.forms:
            form = ConfigForm([group], titled=False)
            form.set_values(self.session.draft.values())  # the draft as it is now
            form.setEnabled(self.session.state == "idle")
            form.sig_changed.connect(self._on_form_changed)
            scroll = self.settings_tabs.widget(self._form_groups.index(group))
            scroll.setWidget(form)
            self.forms[group] = form
        return self.forms[group]

    # --- the draft config ----------------------------------------------------------------------
    def _on_form_changed(self, key: str, value: Any) -> None:
        try:
            self.session.draft.update({key: value})
        except UserError as e:
            self.message.setText(e.one_line())

    def _on_draft_changed(self, changes: dict) -> None:
        for form in self.forms.values():
            form.set_values(changes)
        self.message.setText("")

    def suggest_output_dir(self) -> None:
        """A fresh run folder under the runs root when the draft's one is the default or already
        holds a run, so Start never trips over an old run."""
        current = Path(str(self.session.draft.get("output_dir") or ""))
        default = config_mod.defaults()["output_dir"]
        if str(current) not in ("", default) and not runs.holds_run(current):
            return
        method = self.session.draft.get("method")
        name = f"{method}-{time.strftime('%Y%m%d-%H%M%S')}"
        self.session.draft.update(output_dir=str(prefs.runs_root() / name))

    # --- actions -------------------------------------------------------------------------------
    def _config(self):
        try:
            return self.session.draft.config()
        except UserError as e:
            self.message.setText(self.tr("Cannot start: {reason}").format(reason=e.one_line()))
            return None

    def start(self) -> bool:
        cfg = self._config()
        if cfg is None:
            return False
        cfg = trust_reward_file(self, cfg, self.session.draft)
        if cfg is None:
            self.message.setText(self.tr("Not started: the reward file was not allowed."))
            return False
        if cfg.processes > 1:  # a process group cannot run in this window's thread
            return self.start_detached()
        self._keep_curves = False
        try:
            self.session.start(cfg)
        except UserError as e:
            self.message.setText(e.one_line())
            return False
        return True

    def start_detached(self) -> bool:
        cfg = self._config()
        if cfg is None:
            return False
        cfg = trust_reward_file(self, cfg, self.session.draft)
        if cfg is None:
            self.message.setText(self.tr("Not started: the reward file was not allowed."))
            return False
        self._keep_curves = False
        try:
            self.session.start_detached(cfg)
        except (UserError, OSError) as e:
            show_error(self, str(e))
            return False
        if cfg.processes > 1:
            self._log(self.tr("Started {n} training processes ({strategy}) in the background; "
                              "this window follows process 0.").format(
                                  n=cfg.processes, strategy=cfg.distributed))
        self._log(self.tr("Started in the background; this window follows it. Closing the "
                          "window leaves it running."))
        return True

    def export_launch_script(self) -> None:
        from studio.ui.train.launch_dialog import LaunchScriptDialog

        cfg = self._config()
        if cfg is not None:
            LaunchScriptDialog(cfg, self).open()

    def sweep_dialog(self) -> None:
        from studio.ui.experiments.dialogs import SweepDialog

        cfg = self._config()
        if cfg is not None:
            self.sweep = SweepDialog(cfg, prefs.runs_root(), self)
            self.sweep.open()

    def stop(self) -> None:
        self.session.stop()

    def _resume_target(self, run_dir: Optional[str | Path] = None) -> Optional[Path]:
        target = run_dir or self.runs_list.selected_run() or self.session.run_dir
        if not target:
            self.message.setText(self.tr("Choose a run to resume in the list of past runs."))
            return None
        return Path(target)

    def resume(self, run_dir: Optional[str] = None) -> None:
        """Resume `run_dir` (default: the selected run, else the session's last one). Its past
        curves are loaded first, so the new steps continue them."""
        target = self._resume_target(run_dir)
        if target is not None:
            self._history_task = run_task(
                runs.read_metrics, target, on_error=self._on_error, parent=self,
                on_result=lambda records: self._resume_from(target, records, None))

    def _resume_from(self, target: Path, records: list, overrides: Optional[dict]) -> None:
        self.plots.clear()
        self.progress.reset()
        self.plots.add_records(records)
        self._keep_curves = True
        try:
            if _processes(target, overrides) > 1:  # a process group: in the background
                self.session.resume_detached(target, overrides=overrides or None)
            else:
                self.session.resume(target, overrides=overrides or None)
        except UserError as e:
            self.message.setText(e.one_line())

    def resume_with_changes(self, run_dir: Optional[str | Path] = None) -> None:
        """Open the resume dialog for `run_dir` (default as for resume) once the run is read
        (in a worker); its OK resumes with the changed keys as overrides."""
        from studio.ui.train.resume_dialog import load_resume_info  # lazy: only when used

        target = self._resume_target(run_dir)
        if target is not None:
            self._dialog_task = run_task(load_resume_info, target, on_result=self._open_dialog,
                                         on_error=self._on_error, parent=self)

    def _open_dialog(self, info: "ResumeInfo") -> None:
        from studio.ui.train.resume_dialog import ResumeDialog

        if self.resume_dialog is not None:
            self.resume_dialog.reject()
        dialog = ResumeDialog(info, self.window())
        dialog.accepted.connect(
            lambda: self._resume_from(info.run_dir, info.records, dialog.overrides()))
        dialog.finished.connect(lambda _r: self._dialog_closed(dialog))
        self.resume_dialog = dialog
        dialog.open()  # window-modal without a nested event loop: the charts keep drawing

    def _dialog_closed(self, dialog: "ResumeDialog") -> None:
        if self.resume_dialog is dialog:
            self.resume_dialog = None
        dialog.deleteLater()

    def _status_of(self, run_dir: Path) -> str:
        if self._ended is not None and self._ended[0] == run_dir:
            return self._ended[1]
        for s in self.runs_list.summaries:
            if Path(s.run_dir) == run_dir:
                return s.status
        return "unknown"

    def _update_resume_actions(self) -> None:
        target = self.runs_list.selected_run() or self.session.run_dir
        self.resume_changes_button.setEnabled(
            self.session.state == "idle" and target is not None
            and self._status_of(Path(target)) in RESUMABLE)

    def follow(self, run_dir: str) -> None:
        self._keep_curves = False
        try:
            self.session.follow(run_dir)
        except UserError as e:
            show_error(self, e.one_line())

    def _overlay(self, run_dir: str, on: bool) -> None:
        name = Path(run_dir).name
        if not on:
            self.plots.remove_overlay(name)
            return
        self.overlay_loader.request(run_dir)

    def _overlay_ready(self, run_dir: str, curves: Any) -> None:
        name = Path(run_dir).name
        if self.runs_list.is_overlaid(name):  # not unticked while it was read
            self.plots.add_overlay(name, curves)

    # --- session signals -----------------------------------------------------------------------
    def _on_state(self, state: str) -> None:
        idle = state == "idle"
        self.start_button.setEnabled(idle)
        self.detach_button.setEnabled(idle)
        self.resume_button.setEnabled(idle)
        self._update_resume_actions()
        self.stop_button.setEnabled(state in ("starting", "running", "following"))
        for form in self.forms.values():
            form.setEnabled(idle)
        if state == "starting":
            self.eta_label.setText(self.tr("Loading the model and the data…"))

    def _on_started(self, run_dir: str) -> None:
        if not self._keep_curves:
            self.plots.clear()
            self.completions.clear()
            self.progress.reset()
        self._keep_curves = False
        self._oom = False
        self.progress_bar.setValue(0)
        self.message.setText("")
        self._log(self.tr("Run folder: {path}").format(path=run_dir))

    def _on_step(self, m: StepMetrics, mem: Any) -> None:
        self.plots.add_step(m, mem)
        self.progress.add(m.step, m.time)
        total = m.total_steps
        if total:
            self.progress_bar.setMaximum(total)
            self.progress_bar.setValue(min(m.step, total))
        rate, eta = self.progress.seconds_per_step(), self.progress.eta(m.step, total)
        parts = [self.tr("Step {step} of {total}").format(step=m.step, total=total or "?")]
        if rate is not None:
            parts.append(self.tr("{s:.2f} s/step").format(s=rate))
        if eta is not None:
            parts.append(self.tr("about {t} left").format(t=fmt_duration(eta)))
        parts.append(self.tr("loss {loss:.4f}").format(loss=m.loss))
        if m.reward is not None:
            parts.append(self.tr("reward {r:.3f}").format(r=m.reward))
            self._show_group(m)
        self.eta_label.setText(" · ".join(parts))

    def _show_group(self, m: StepMetrics) -> None:
        """grpo: the step's group of completions, from the newest line of completions.jsonl."""
        from studio.core.train.grpo.completions import last_group  # standard library only

        run_dir = self.session.run_dir
        if run_dir is not None:
            self.completions.show_group(last_group(run_dir), m.rewards)

    def _on_eval(self, e: EvalMetrics) -> None:
        self.plots.add_eval(e)
        self._log(self.tr("Step {step}: eval loss {loss:.4f}, perplexity {ppl:.2f}").format(
            step=e.step, loss=e.eval_loss, ppl=e.perplexity))

    def _on_event(self, e: RunEvent) -> None:
        names = {"started": self.tr("started"), "checkpoint": self.tr("checkpoint saved"),
                 "stopped": self.tr("stopped"), "resumed": self.tr("resumed"),
                 "finished": self.tr("finished"), "failed": self.tr("failed"),
                 "download": self.tr("downloading the model")}
        text = self.tr("Step {step}: {event}").format(step=e.step,
                                                     event=names.get(e.event, e.event))
        self._log(f"{text}  {e.detail}" if e.detail else text)
        if e.event == "failed" and (e.data or {}).get("kind") == "oom":
            self._oom = True

    def _on_finished(self, status: str, reason: str) -> None:
        texts = {"finished": self.tr("The run finished."),
                 "stopped": self.tr("Stopped after saving a checkpoint: press Resume to "
                                    "continue."),
                 "failed": self.tr("The run failed: {reason}").format(reason=reason)}
        self.eta_label.setText(texts.get(status, status))
        run_dir = self.session.run_dir
        # a run refused before its folder was made (a missing file) has nothing to resume
        self._ended = (Path(run_dir), status) if run_dir is not None \
            and runs.holds_run(run_dir) else None
        self._update_resume_actions()
        self.runs_list.refresh()
        self.suggest_output_dir()  # clears the message: the draft changed
        if self._oom:
            self.message.setText(self.tr("Out of memory: “Resume with changes…” continues from "
                                         "the checkpoint with a smaller micro-batch."))

    def _on_error(self, reason: str, details: str) -> None:
        self._log(self.tr("Error: {reason}").format(reason=reason))
        self.last_error = show_error(self.window(), reason, details)
        if self._oom and self._ended is not None:
            # the remedy one click away: every button closes the box, this one opens the dialog
            run_dir = self._ended[0]
            button = self.last_error.addButton(self.tr("Resume with a smaller micro-batch…"),
                                               QMessageBox.ButtonRole.AcceptRole)
            button.setObjectName("oom_resume_button")
            button.clicked.connect(lambda _=False: self.resume_with_changes(run_dir))

    def _log(self, text: str) -> None:
        self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self.plots  # noqa: B018 (builds the charts on first show)
        if not self.runs_list.loaded:
            self.runs_list.refresh()


def _processes(run_dir: Path, overrides: Optional[dict]) -> int:
    """How many processes the resumed run has (its config.yaml, changed by `overrides`)."""
    if overrides and "processes" in overrides:
        return int(overrides["processes"])
    try:
        return runs.load_config(runs.RunDir(run_dir)).processes
    except UserError:  # the engine says what is wrong with the run when it resumes
        return 1
