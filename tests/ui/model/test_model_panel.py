"""The Model & method page: the parameter map's counts equal the real loaded model's, the map
follows the method, the memory estimate and its suggestions, starter models, bad folders."""

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip

from studio.core import config as config_mod
from studio.core.methods.registry import apply_method
from studio.core.model.load import count_parameters, load_model
from studio.core.model.memory import DeviceInfo
from studio.ui import prefs
from studio.ui.model.panel import ModelPanel


@pytest.fixture
def panel(qtbot):
    p = ModelPanel()
    qtbot.addWidget(p)
    p.resize(1400, 800)
    p.show()
    yield p
    p.shutdown()


def _ready(qtbot, panel, timeout=180000):
    qtbot.waitUntil(panel.tour_ready, timeout=timeout)


@pytest.mark.parametrize("method", ["lora", "qlora", "freeze", "prompt_tuning"])
def test_map_counts_match_the_real_loaded_model(qtbot, panel, tiny_model_dir, method):
    panel.draft.update(model=str(tiny_model_dir), method=method)
    _ready(qtbot, panel)
    cfg = config_mod.from_dict(panel.draft.values())
    model = load_model(tiny_model_dir, quantize_4bit=method == "qlora")
    trainable, total = count_parameters(apply_method(model, cfg, 100))
    counts = panel.map_view.counts
    assert (counts["trainable"], counts["params"]) == (trainable, total)
    assert f"{trainable:,} of {total:,}" in panel.map_view.caption.text()
    if method == "qlora":
        assert counts["quantized"] > 0  # the base linear layers are drawn as 4-bit
    if method == "prompt_tuning":
        assert any(b.kind == "virtual_tokens" for b in panel.blocks)
    if method == "freeze":
        assert counts["added"] == 0 and 0 < trainable < total


def test_the_map_follows_the_method_at_once(qtbot, panel, tiny_model_dir):
    def settle():
        assert panel._map_timer.isActive()
        qtbot.waitUntil(lambda: not panel._map_timer.isActive(), timeout=2000)

    panel.draft.update(model=str(tiny_model_dir), method="lora")
    _ready(qtbot, panel)
    lora = panel.map_view.counts
    # the other methods' maps are built in the background after the first one
    qtbot.waitUntil(lambda: "prefetch" not in panel.inspector._running(), timeout=120000)
    panel.form.editor("method").setCurrentText("full")  # the user picks another method
    assert panel.draft.get("method") == "full"
    assert panel.form.editor("lora_r").isHidden()  # LoRA settings only for LoRA methods
    settle()  # the debounce ends: the map is shown in the same turn, no worker started
    assert panel.tour_ready() and "map" not in panel.inspector._running()
    assert panel.map_view.counts["trainable"] == panel.map_view.counts["params"]
    assert panel.map_view.caption.text().startswith("100.0% of")
    panel.form.editor("method").setCurrentText("ia3")
    settle()
    assert 0 < panel.map_view.counts["added"] < lora["added"] / 10
    panel.form.editor("method").setCurrentText("lora")
    settle()
    assert panel.map_view.counts == lora
    # a rank change is a new map (built in the worker) with twice the adapter weights
    panel.draft.update(lora_r=32)
    assert not panel.tour_ready()
    _ready(qtbot, panel)
    assert panel.map_view.counts["added"] == 2 * lora["added"]


def test_blocks_have_tooltips(qtbot, panel, tiny_model_dir):
    panel.draft.update(model=str(tiny_model_dir), method="lora")
    _ready(qtbot, panel)
    canvas = panel.map_view.canvas
    item = next(it for _, items in canvas.rows for it in items
                if it.block.name.endswith("layers.1.self_attn.q_proj"))
    text = panel.map_view.tooltip(item)
    assert "4,096 parameters: frozen" in text and "lora_A" in text and "lora_B" in text
    centre = item.rect.center().toPoint()
    assert canvas.item_at(centre.x(), centre.y()) is item
    event = QHelpEvent(QEvent.Type.ToolTip, centre, canvas.mapToGlobal(centre))
    QApplication.sendEvent(canvas, event)
    assert "q_proj" in QToolTip.text()


def test_memory_estimate_is_shown_with_suggestions_when_it_does_not_fit(qtbot, panel,
                                                                        tiny_model_dir):
    panel.draft.update(model=str(tiny_model_dir), method="full", batch_size=8,
                       max_length=2048, gradient_checkpointing="off")
    _ready(qtbot, panel)
    est = panel.memory_view.estimate
    assert est.total_mb > 0 and est.fits is True  # a tiny model on this computer
    assert panel.memory_view.verdict.text().startswith("<b style='color:#1e8449'>Fits")
    assert "weights" in panel.memory_view.parts.text()
    # planned for a GPU (real DeviceInfo values) a fifth smaller than the run needs
    panel.set_device(DeviceInfo(kind="cuda", name="Big GPU", total_mb=1e6, bf16=True))
    need = panel.memory_view.estimate.total_mb
    panel.set_device(DeviceInfo(kind="cuda", name="Small GPU", total_mb=need * 0.8, bf16=True))
    est = panel.memory_view.estimate
    assert est.fits is False and est.device_kind == "cuda"
    assert "Does not fit" in panel.memory_view.verdict.text()
    assert "Small GPU" in panel.memory_view.verdict.text()
    assert est.suggestions
    assert "gradient_checkpointing: on" in panel.memory_view.suggestions.text()
    panel.draft.update(batch_size=1, max_length=128)  # the estimate follows the settings
    assert panel.memory_view.estimate.total_mb < est.total_mb


def test_a_starter_model_is_created_and_chosen(qtbot, panel, tmp_path):
    out = panel.starter_folder(tmp_path)
    assert out.name == "starter-tiny-llama"
    panel.create_starter(out)
    assert not panel.starter_button.isEnabled()
    with qtbot.waitSignal(panel.sig_model_changed, timeout=180000) as sig:
        pass
    assert sig.args == [str(out)]
    assert panel.model_path() == str(out)
    _ready(qtbot, panel)
    assert (out / "config.json").is_file()
    assert str(out) in prefs.recent("models")
    assert panel.recent.findData(str(out)) > 0
    # a second starter goes into a new folder, not over the first
    assert panel.starter_folder(tmp_path).name == "starter-tiny-llama-2"


def test_a_folder_that_is_not_a_model_says_why(qtbot, panel, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    panel.set_model(str(tmp_path))
    qtbot.waitUntil(lambda: "Cannot use this model" in panel.status.text(), timeout=60000)
    assert panel.blocks == []


def test_method_values_and_model_signal(qtbot, panel, tiny_model_dir):
    with qtbot.waitSignal(panel.sig_model_changed) as sig:
        panel.hub_edit.setText(str(tiny_model_dir))
        qtbot.keyClick(panel.hub_edit, Qt.Key.Key_Return)
    assert sig.args == [str(tiny_model_dir)]
    panel.form.editor("lora_r").setValue(8)
    values = panel.method_values()
    assert values["lora_r"] == 8 and values["method"] == "lora"
    assert set(values) == {f.name for f in config_mod.field_specs()
                           if f.metadata["group"] == "method"}
    _ready(qtbot, panel)
    # rank 8: B (out x 8) @ A (8 x in) beside every linear layer of the layers
    linear = [b for b in panel.blocks if b.kind in ("attention", "mlp")]
    assert panel.map_view.counts["added"] == sum(8 * (b.shape[0] + b.shape[1]) for b in linear)


def test_a_registered_method_is_in_the_form_with_its_text_and_keys(qtbot, toy_method_in_host,
                                                                    tiny_model_dir):
    toy_method = toy_method_in_host
    panel = ModelPanel()  # built after the entry was registered, as the app is
    qtbot.addWidget(panel)
    panel.show()
    combo = panel.form.editor("method")
    assert "lora_qv" in [combo.itemText(i) for i in range(combo.count())]
    combo.setCurrentText("lora_qv")  # the user picks it
    assert panel.draft.get("method") == "lora_qv"
    assert panel.description.text().splitlines() == [
        toy_method.description, "A learning rate that usually works: 0.0003"]
    layout = panel.form.boxes["method"].layout()
    shown = {k for k in panel.form.keys() if layout.isRowVisible(panel.form.editor(k))}
    assert shown == {"method", "lora_r", "lora_alpha"}
    panel.draft.update(model=str(tiny_model_dir))
    _ready(qtbot, panel)  # the map and the memory estimate of the new method
    cfg = config_mod.from_dict(panel.draft.values())
    trainable, total = count_parameters(apply_method(load_model(tiny_model_dir), cfg, 100))
    assert (panel.map_view.counts["trainable"], panel.map_view.counts["params"]) == \
        (trainable, total)
    assert panel.memory_view.estimate.trainable_params == trainable
    panel.shutdown()


@pytest.mark.parametrize("answer", ["Allow for this model", "Don't allow"])
def test_a_folder_with_code_asks_first_naming_the_files(qtbot, panel, tmp_path, answer):
    import json

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox

    folder = tmp_path / "odd-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(
        {"model_type": "my_odd_arch", "auto_map": {"AutoModelForCausalLM": "modeling_odd.OddLM"}}))
    (folder / "modeling_odd.py").write_text("raise SystemExit('must never run unasked')\n")
    seen = {}

    def answer_the_box():
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        seen["text"] = box.text()
        next(b for b in box.buttons() if b.text() == answer).click()

    QTimer.singleShot(0, answer_the_box)
    panel.set_model(str(folder))
    assert "modeling_odd.py" in seen["text"]
    assert panel.draft.values()["trust_remote_code"] is (answer == "Allow for this model")
    assert panel.draft.values()["model"] == str(folder)
    # a normal folder never asks, and never carries the trust over
    panel.set_model(str(tmp_path))
    assert panel.draft.values()["trust_remote_code"] is False
    prefs.put("recent/trusted_code", [])


def test_trust_is_remembered_for_the_code_not_the_folder(qtbot, panel, tmp_path):
    import json

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    folder = tmp_path / "odd-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(
        {"model_type": "my_odd_arch", "auto_map": {"AutoModelForCausalLM": "modeling_odd.OddLM"}}))
    (folder / "modeling_odd.py").write_text("from .helpers import x\n")
    (folder / "helpers.py").write_text("x = 1\n")
    asked = []

    def allow():
        box = QApplication.activeModalWidget()
        asked.append(box.text())
        next(b for b in box.buttons() if b.text() == "Allow for this model").click()

    prefs.put("recent/trusted_code", [])
    QTimer.singleShot(0, allow)
    panel.set_model(str(folder))
    assert len(asked) == 1 and panel.draft.values()["trust_remote_code"] is True
    panel.set_model(str(folder))  # the same code: trusted without a question
    assert len(asked) == 1 and panel.draft.values()["trust_remote_code"] is True
    for name in ("helpers.py", "modeling_odd.py"):  # code it imports, or the module itself
        (folder / name).write_text((folder / name).read_text() + "import os\n")
        QTimer.singleShot(0, allow)
        panel.set_model(str(folder))
        assert len(asked) == 2 + (name == "modeling_odd.py")
    prefs.put("recent/trusted_code", [])
