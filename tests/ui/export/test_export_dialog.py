"""The export dialog: refusals shown before anything starts, the export in a worker with
progress, and the check's result on screen."""

from __future__ import annotations

import pytest

from studio.ui.export.dialog import ExportDialog, ExportForm


def _choose(form: ExportForm, fmt: str) -> None:
    next(b for b in form.formats.buttons() if b.property("fmt") == fmt).setChecked(True)


def test_export_runs_in_a_worker_and_shows_the_check(qtbot, trained_run, tmp_path):
    run = trained_run("lora")
    dialog = ExportDialog(run, step=None)
    qtbot.addWidget(dialog)
    dialog.show()
    form = dialog.form
    assert form.fmt() == "adapter" and form.export_button.isEnabled()
    assert [form.step_combo.itemText(i) for i in range(form.step_combo.count())] == \
        ["final", "checkpoint step 4", "checkpoint step 2"]
    form.dest.setText(str(tmp_path / "out"))
    _choose(form, "merged")
    seen = []
    form.job = None
    assert form.start()
    form.job.sig_progress.connect(lambda f, m: seen.append(f))
    assert not form.export_button.isEnabled()
    dialog.reject()  # closing while it runs is refused, with a word why
    assert dialog.isVisible() and "Wait for the export" in form.message.text()
    with qtbot.waitSignal(form.sig_finished, timeout=120_000) as sig:
        pass
    result = sig.args[0]
    assert result is not None and (tmp_path / "out" / "config.json").is_file()
    assert form.progress.value() == 100 and form.open_button.isEnabled()
    assert "max abs diff" in form.report.toPlainText()
    assert seen == sorted(seen)
    dialog.grab().save(str(tmp_path / "export_dialog.png"))
    # the same folder again: refused by the engine (no silent overwrite), shown as text
    with qtbot.waitSignal(form.sig_finished, timeout=60_000) as sig:
        assert form.start()
    assert sig.args[0] is None and "not empty" in form.report.toPlainText()


def test_refusals_are_shown_before_starting(qtbot, trained_run, tmp_path):
    form = ExportForm(trained_run("full"))
    qtbot.addWidget(form)
    form.show()
    assert form.fmt() == "merged"  # a full run's natural format
    _choose(form, "adapter")
    assert "has no adapter" in form.reason.text() and not form.export_button.isEnabled()
    _choose(form, "gguf")
    assert form.gguf_type.isVisible() and form.reason.text() == ""
    assert form.dest.text().endswith("-gguf-f16")
    _choose(form, "merged")
    assert form.reason.text() == "" and form.export_button.isEnabled()
    assert not form.dequantize.isVisible()  # only for qlora
    form.dest.setText("")
    assert "Choose the folder" in form.reason.text()


@pytest.mark.slow
def test_qlora_merge_asks_for_dequantize(qtbot, trained_run):
    form = ExportForm(trained_run("qlora"))
    qtbot.addWidget(form)
    form.show()
    _choose(form, "merged")
    assert form.dequantize.isVisible() and "4-bit" in form.reason.text()
    form.dequantize.setChecked(True)
    assert form.export_button.isEnabled()


def test_not_a_run_is_explained(qtbot, tmp_path):
    form = ExportForm(tmp_path)
    qtbot.addWidget(form)
    assert "not a run directory" in form.reason.text() and not form.export_button.isEnabled()


def test_suggested_folder_follows_the_format_until_edited(qtbot, trained_run):
    run = trained_run("lora")
    form = ExportForm(run)
    qtbot.addWidget(form)
    assert form.dest.text() == str(run.parent / "exports" / f"{run.name}-adapter")
    _choose(form, "merged")
    assert form.dest.text().endswith(f"{run.name}-merged")
    form.dest.setText("/somewhere/mine")
    _choose(form, "adapter")
    assert form.dest.text() == "/somewhere/mine"


def test_refreshing_the_list_keeps_the_choice(qtbot, trained_run):
    form = ExportForm(trained_run("lora"))
    qtbot.addWidget(form)
    _choose(form, "merged")
    form.step_combo.setCurrentIndex(form.step_combo.findData(2))
    form.refresh_runs()  # what showing the Export page again does
    assert form.fmt() == "merged" and form.step_combo.currentData() == 2


def test_a_gguf_export_shows_its_checks_as_a_checklist(qtbot, trained_run, tmp_path):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the gguf extra) is not installed")
    from studio.ui import prefs

    prefs.set_chat_sampling(temperature=0.3, top_k=20)   # the Chat page's choice
    dialog = ExportDialog(trained_run("lora"))
    qtbot.addWidget(dialog)
    dialog.resize(900, 620)
    dialog.show()
    form = dialog.form
    _choose(form, "gguf")
    assert form.gguf_type.isVisible() and form.gguf_type.currentData() == "f16"
    form.gguf_type.setCurrentIndex(form.gguf_type.findData("q8_0"))
    form.dest.setText(str(tmp_path / "gguf"))
    with qtbot.waitSignal(form.sig_finished, timeout=300_000) as sig:
        assert form.start()
    assert sig.args[0] is not None, form.report.toPlainText()
    rows = form.checklist.verdicts()
    assert form.checklist.isVisible() and len(rows) >= 5
    assert ("✓", "loads in llama.cpp") in rows
    assert ("✓", "llama.cpp splits text into the studio's tokens") in rows
    assert any(mark == "–" and name.startswith("top-1") for mark, name in rows)  # q8_0: a figure
    modelfile = (tmp_path / "gguf" / "Modelfile").read_text()
    assert "PARAMETER temperature 0.3" in modelfile and "PARAMETER top_k 20" in modelfile
    dialog.grab().save(str(tmp_path / "export_gguf.png"))


def test_an_export_can_be_cancelled_and_leaves_nothing(qtbot, trained_run, tmp_path):
    form = ExportForm(trained_run("lora"))
    qtbot.addWidget(form)
    form.show()
    _choose(form, "gguf")
    form.dest.setText(str(tmp_path / "out"))
    assert not form.cancel_button.isEnabled()
    with qtbot.waitSignal(form.sig_finished, timeout=300_000) as sig:
        assert form.start()
        assert form.cancel_button.isEnabled()
        form.cancel()   # honoured at the engine's next progress report
    assert sig.args[0] is None and "Cancelled" in form.message.text()
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []
    qtbot.waitUntil(form.export_button.isEnabled, timeout=10_000)   # after the job's sig_done
    assert not form.cancel_button.isEnabled()
