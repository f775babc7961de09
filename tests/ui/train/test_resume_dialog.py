"""Resume with changes from the Train page: the out-of-memory remedy (a smaller micro-batch, the
same effective batch, from the checkpoint) in two clicks, on the real tiny model."""

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox, QPushButton
from test_train_panel import _panel  # the Train page on the tiny model

from studio.core import config, runs
from studio.core.events import RunEvent, StepMetrics
from studio.services.session import Session
from studio.ui.train.panel import TrainPanel
from studio.ui.train.resume_dialog import ResumeDialog, ResumeInfo, oom_step

OK = QDialogButtonBox.StandardButton.Ok


def _steps_around_the_resume(run_dir: Path) -> tuple[list[int], list[int]]:
    """Step numbers in metrics.jsonl before and after the 'resumed' event (raw lines)."""
    before: list[int] = []
    after: list[int] = []
    seen = before
    for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        if d.get("type") == "event" and d.get("event") == "resumed":
            seen = after
        elif d.get("type") == "step":
            seen.append(d["step"])
    return before, after


@pytest.mark.slow  # a real run that runs out of memory, then its resume: ~20 s on 2 cores
def test_out_of_memory_is_resumed_from_the_train_page_with_half_the_micro_batch(
        qtbot, tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_FAULTS", "oom@3")
    run_dir = tmp_path / "runs" / "oom"
    session, panel = _panel(qtbot, tiny_model_dir, run_dir, steps=5)
    finished = []
    session.sig_finished.connect(lambda status, reason: finished.append(status))
    assert panel.start(), panel.message.text()
    qtbot.waitUntil(lambda: finished == ["failed"], timeout=180_000)
    qtbot.waitUntil(lambda: getattr(panel, "last_error", None) is not None, timeout=2000)
    assert "out of memory at step 3" in panel.last_error.text()
    assert "Resume with changes" in panel.message.text()
    assert panel.resume_changes_button.isEnabled()
    monkeypatch.delenv("STUDIO_FAULTS")

    # click 1: the error box's remedy opens the dialog with the smaller micro-batch applied
    panel.last_error.findChild(QPushButton, "oom_resume_button").click()
    qtbot.waitUntil(lambda: panel.resume_dialog is not None
                    and panel.resume_dialog.isVisible(), timeout=10_000)
    dialog = panel.resume_dialog
    assert not panel.last_error.isVisible()
    assert "step 3" in dialog.why.text() and dialog.why.isVisible()
    assert dialog.overrides() == {"batch_size": 1, "grad_accum": 2}
    assert "1 × 2 = 2" in dialog.effective.text()
    assert not dialog.halve_button.isEnabled()  # the micro-batch is 1 now
    # click 2: resume
    dialog.buttons.button(OK).click()
    qtbot.waitUntil(lambda: finished == ["failed", "finished"], timeout=180_000)

    cfg = runs.load_config(runs.RunDir(run_dir))
    assert (cfg.batch_size, cfg.grad_accum) == (1, 2)
    assert cfg.effective_batch == 2  # as before the fault
    before, after = _steps_around_the_resume(run_dir)
    assert before == [1, 2]  # the fault hit step 3; step 2 was checkpointed
    assert after == [3, 4, 5]  # from the checkpoint: no step 1 again
    assert runs.read_status(run_dir)["status"] == "finished"
    assert list(panel.plots.live.series["loss"].x) == [1, 2, 3, 4, 5]


def _stopped_run(tmp_path: Path, **kw) -> Path:
    """A run folder with its config.yaml (no training needed to read or refuse values)."""
    cfg = config.from_dict(dict(model="m", dataset="d.jsonl", output_dir=str(tmp_path / "r"),
                                batch_size=4, grad_accum=1, **kw), check_required=True)
    run = runs.create(cfg)
    runs.write_status(run, "stopped", step=2, total_steps=10)
    return run.path


def test_an_invalid_value_is_explained_in_the_dialog_and_starts_nothing(qtbot, tmp_path):
    run_dir = _stopped_run(tmp_path)
    session = Session()
    panel = TrainPanel(session)
    qtbot.addWidget(panel)
    started = []
    session.sig_started.connect(started.append)
    panel.resume_with_changes(run_dir)
    qtbot.waitUntil(lambda: panel.resume_dialog is not None
                    and panel.resume_dialog.isVisible(), timeout=10_000)
    dialog = panel.resume_dialog
    assert dialog.why.isHidden()  # it was stopped, not out of memory: nothing changed
    assert dialog.overrides() == {}
    dialog.form.editor("batch_size").setValue(3)  # 3 x 1 != 4
    assert "must stay 4" in dialog.effective.text()
    dialog.buttons.button(OK).click()
    assert dialog.isVisible()
    assert "effective batch" in dialog.message.text()
    assert "Traceback" not in dialog.message.text()
    assert session.state == "idle" and started == []
    assert runs.load_config(runs.RunDir(run_dir)).batch_size == 4  # config.yaml untouched

    dialog.halve_button.click()  # 3 has no half: the next divisor down, 1 x 3 (still not 4)
    assert dialog.overrides() == {"batch_size": 1, "grad_accum": 3}
    dialog.form.editor("grad_accum").setValue(4)
    assert "1 × 4 = 4" in dialog.effective.text() and dialog.message.text() == ""
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    assert started == [] and panel.resume_dialog is None
    panel.resume_with_changes(run_dir)  # again, after the first one is gone
    qtbot.waitUntil(lambda: panel.resume_dialog is not None
                    and panel.resume_dialog.isVisible(), timeout=10_000)
    assert panel.resume_dialog.overrides() == {}


def test_halving_keeps_the_effective_batch_and_is_offered_only_above_one(qtbot, tmp_path):
    run_dir = _stopped_run(tmp_path, max_steps=10)
    info = ResumeInfo(run_dir, runs.load_config(runs.RunDir(run_dir)), "stopped", 2, None, [])
    dialog = ResumeDialog(info)
    qtbot.addWidget(dialog)
    assert set(dialog.form.keys()) == {
        "batch_size", "grad_accum", "max_steps", "epochs", "save_steps", "eval_steps",
        "logging_steps", "save_total_limit", "gradient_checkpointing", "device", "precision",
        "processes", "distributed"}
    assert "effective batch" in dialog.form.editor("grad_accum").toolTip()  # from the help
    assert dialog.halve() and dialog.overrides() == {"batch_size": 2, "grad_accum": 2}
    assert dialog.halve() and dialog.overrides() == {"batch_size": 1, "grad_accum": 4}
    assert not dialog.halve() and not dialog.halve_button.isEnabled()
    dialog.form.editor("max_steps").setValue(20)
    assert dialog.overrides() == {"batch_size": 1, "grad_accum": 4, "max_steps": 20}


def test_the_out_of_memory_step_comes_from_the_last_ending_event():
    oom = RunEvent(step=2, event="failed", detail="out of memory at step 3", data={"kind": "oom"})
    step = StepMetrics(step=2, loss=1.0, grad_norm=1.0, lr=1e-3, tokens=1, tokens_per_s=1.0,
                       mem_mb=1.0, total_steps=5)
    assert oom_step([step, oom]) == 3
    assert oom_step([oom, RunEvent(step=2, event="resumed")]) is None
    assert oom_step([RunEvent(step=2, event="failed", data={"kind": "diverged"})]) is None
