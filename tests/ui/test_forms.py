"""The config form: generated from RunConfig, round-trips values, explains every field."""

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from studio.core.config import defaults, field_specs
from studio.core.errors import ConfigError
from studio.ui.forms import ConfigForm, SciSpinBox


def test_every_field_gets_the_editor_its_type_asks_for(qtbot):
    form = ConfigForm()
    qtbot.addWidget(form)
    assert set(form.keys()) == {f.name for f in field_specs()}
    assert isinstance(form.editor("packing"), QCheckBox)
    assert isinstance(form.editor("method"), QComboBox)
    assert isinstance(form.editor("lora_r"), QSpinBox)
    assert isinstance(form.editor("learning_rate"), SciSpinBox)
    assert isinstance(form.editor("model"), QLineEdit)
    assert form.values() == defaults()  # defaults come from core, untouched


def test_values_round_trip(qtbot):
    form = ConfigForm()
    qtbot.addWidget(form)
    values = {**defaults(), "model": "/models/tiny", "dataset": "a.jsonl", "method": "qlora",
              "lora_r": 8, "learning_rate": 3e-5, "packing": False, "max_steps": 120,
              "eval_split": 0.1, "lr_scheduler": "linear", "target_modules": "q_proj,v_proj"}
    form.set_values(values)
    assert form.values() == values
    form.set_values({"max_steps": None})  # optional int: "not set"
    assert form.values()["max_steps"] is None
    assert form.editor("max_steps").text() == "not set"


def test_tooltips_carry_the_field_help_and_key(qtbot):
    form = ConfigForm()
    qtbot.addWidget(form)
    for f in field_specs():
        tip = form.editor(f.name).toolTip()
        assert f.metadata["help"] in tip and f.name in tip


def test_edits_emit_sig_changed_but_set_values_does_not(qtbot):
    form = ConfigForm(["method"])
    qtbot.addWidget(form)
    got = []
    form.sig_changed.connect(lambda k, v: got.append((k, v)))
    form.set_values({"lora_r": 4})
    assert got == []
    form.editor("lora_r").setValue(32)
    form.editor("method").setCurrentText("dora")
    assert got == [("lora_r", 32), ("method", "dora")]


def test_groups_limit_the_fields_and_hidden_values_still_reach_config(qtbot):
    form = ConfigForm(["training"])
    qtbot.addWidget(form)
    assert "model" not in form.keys() and "learning_rate" in form.keys()
    with pytest.raises(ConfigError, match="model"):
        form.config()
    form.set_values({"model": "m", "dataset": "d.jsonl", "batch_size": 2})
    cfg = form.config()
    assert (cfg.model, cfg.dataset, cfg.batch_size) == ("m", "d.jsonl", 2)


def test_learning_rate_accepts_scientific_notation(qtbot):
    box = SciSpinBox(log_steps=True)
    qtbot.addWidget(box)
    box.setRange(0.0, 10.0)
    box.lineEdit().setText("2e-4")
    box.interpretText()
    assert box.value() == pytest.approx(2e-4)
    assert box.text() == "0.0002"
    box.stepBy(1)  # log steps: doubles
    assert box.value() == pytest.approx(4e-4)
    assert box.textFromValue(1e-7) == "1e-07"


def test_out_of_range_is_a_config_error_naming_the_key(qtbot):
    form = ConfigForm()
    qtbot.addWidget(form)
    form.set_values({"model": "m", "dataset": "d", "output_dir": "o"})
    assert isinstance(form.editor("eval_split"), QDoubleSpinBox)
    form._hidden["lora_dropout"] = 0.95  # noqa: SLF001 (a value the spin box would clamp)
    form2 = ConfigForm(["training"])
    qtbot.addWidget(form2)
    form2.set_values({"model": "m", "dataset": "d", "lora_dropout": 0.95})
    with pytest.raises(ConfigError, match="lora_dropout"):
        form2.config()


def test_every_config_key_has_a_translatable_label():
    from studio.ui.forms import LABELS

    missing = [f.name for f in field_specs() if f.name not in LABELS]
    assert not missing, f"add a label to studio/ui/forms.py LABELS for: {missing}"
