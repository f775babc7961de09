"""What the chat talks to: runs listed with their checkpoints and loss, folders recognised."""

from __future__ import annotations

from studio.ui.chat.source import ChatSourcePicker, list_sources, read_run_info, source_kind


def test_run_info_and_listing(trained_run, tiny_model_dir, tmp_path):
    run = trained_run("lora")
    info = read_run_info(str(run))
    assert info.has_final and info.steps == (2, 4)
    assert [s for s, _ in info.loss] == [1, 2, 3, 4]
    assert list_sources(str(run.parent)) == [("run", str(run), f"{run.name} (lora, finished)")]
    assert list_sources(str(tmp_path / "none")) == []
    assert source_kind(run) == "run" and source_kind(tiny_model_dir) == "model"
    assert source_kind(tmp_path) is None


def test_picker_offers_final_and_checkpoints_and_loads_on_click(qtbot, trained_run):
    picker = ChatSourcePicker()
    qtbot.addWidget(picker)
    picker.show()
    run = trained_run("lora")
    assert picker.add_source(run)
    qtbot.waitUntil(lambda: picker.step_combo.count() == 3, timeout=20_000)
    assert picker.current_source().run == str(run) and picker.current_source().step is None
    with qtbot.waitSignal(picker.sig_load) as sig:
        picker.click_checkpoint(4)
    assert sig.args[0].step == 4
    with qtbot.assertNotEmitted(picker.sig_load):
        picker.click_checkpoint(3)  # no such checkpoint: nothing happens


def test_model_and_adapter_folders(qtbot, tiny_model_dir, tmp_path):
    picker = ChatSourcePicker()
    qtbot.addWidget(picker)
    assert picker.add_source(tiny_model_dir)
    assert picker.current_source().model == str(tiny_model_dir)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    assert picker.add_source(adapter) and picker.current_source().adapter == str(adapter)
    with qtbot.waitSignal(picker.sig_message) as sig:
        assert not picker.add_source(tmp_path / "nothing")
    assert "not a run, model or adapter folder" in sig.args[0]
