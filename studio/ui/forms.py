"""A form generated from RunConfig's fields: one editor per key, tooltips from the field help.

bool -> QCheckBox, choices -> QComboBox, int -> QSpinBox (an optional int shows "not set" at
its lowest position), float -> SciSpinBox (accepts 2e-4), str -> QLineEdit (with a Browse
button for paths). Defaults and limits come from studio.core.config only.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from typing import Any, Iterable, Optional

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core import config as config_mod
from studio.core.config import GROUPS, INT_LIMIT, RunConfig, field_specs
from studio.core.data.types import file_patterns

PATH_FIELDS = {"model": "dir", "dataset": "file", "output_dir": "dir",
               "grpo_reward_file": "python"}


GROUP_TITLES = {
    "model": QT_TRANSLATE_NOOP("ConfigForm", "Model"),
    "data": QT_TRANSLATE_NOOP("ConfigForm", "Data"),
    "method": QT_TRANSLATE_NOOP("ConfigForm", "Method"),
    "training": QT_TRANSLATE_NOOP("ConfigForm", "Training"),
    "output": QT_TRANSLATE_NOOP("ConfigForm", "Output"),
}

# English labels for the config keys (the key itself is shown in the tooltip).
LABELS = {
    "model": QT_TRANSLATE_NOOP("ConfigForm", "Base model"),
    "trust_remote_code": QT_TRANSLATE_NOOP("ConfigForm", "Trust remote code"),
    "allow_pickle": QT_TRANSLATE_NOOP("ConfigForm", "Allow pickle weights"),
    "dataset": QT_TRANSLATE_NOOP("ConfigForm", "Dataset file"),
    "format": QT_TRANSLATE_NOOP("ConfigForm", "Format"),
    "columns": QT_TRANSLATE_NOOP("ConfigForm", "Field mapping"),
    "stage": QT_TRANSLATE_NOOP("ConfigForm", "Stage"),
    "max_length": QT_TRANSLATE_NOOP("ConfigForm", "Max length (tokens)"),
    "eval_split": QT_TRANSLATE_NOOP("ConfigForm", "Eval share"),
    "skip_bad_rows": QT_TRANSLATE_NOOP("ConfigForm", "Skip bad rows"),
    "train_on_prompt": QT_TRANSLATE_NOOP("ConfigForm", "Loss on prompt too"),
    "packing": QT_TRANSLATE_NOOP("ConfigForm", "Packing"),
    "method": QT_TRANSLATE_NOOP("ConfigForm", "Method"),
    "lora_r": QT_TRANSLATE_NOOP("ConfigForm", "LoRA rank r"),
    "lora_alpha": QT_TRANSLATE_NOOP("ConfigForm", "LoRA alpha"),
    "lora_dropout": QT_TRANSLATE_NOOP("ConfigForm", "LoRA dropout"),
    "target_modules": QT_TRANSLATE_NOOP("ConfigForm", "Target modules"),
    "num_virtual_tokens": QT_TRANSLATE_NOOP("ConfigForm", "Virtual tokens"),
    "freeze_trainable_layers": QT_TRANSLATE_NOOP("ConfigForm", "Trainable last layers"),
    "max_steps": QT_TRANSLATE_NOOP("ConfigForm", "Max steps"),
    "epochs": QT_TRANSLATE_NOOP("ConfigForm", "Epochs"),
    "batch_size": QT_TRANSLATE_NOOP("ConfigForm", "Batch size"),
    "grad_accum": QT_TRANSLATE_NOOP("ConfigForm", "Gradient accumulation"),
    "learning_rate": QT_TRANSLATE_NOOP("ConfigForm", "Learning rate"),
    "lr_scheduler": QT_TRANSLATE_NOOP("ConfigForm", "LR schedule"),
    "warmup_ratio": QT_TRANSLATE_NOOP("ConfigForm", "Warm-up share"),
    "weight_decay": QT_TRANSLATE_NOOP("ConfigForm", "Weight decay"),
    "max_grad_norm": QT_TRANSLATE_NOOP("ConfigForm", "Max gradient norm"),
    "optimizer": QT_TRANSLATE_NOOP("ConfigForm", "Optimizer"),
    "precision": QT_TRANSLATE_NOOP("ConfigForm", "Precision"),
    "gradient_checkpointing": QT_TRANSLATE_NOOP("ConfigForm", "Gradient checkpointing"),
    "device": QT_TRANSLATE_NOOP("ConfigForm", "Device"),
    "processes": QT_TRANSLATE_NOOP("ConfigForm", "Processes"),
    "distributed": QT_TRANSLATE_NOOP("ConfigForm", "Strategy"),
    "gpus": QT_TRANSLATE_NOOP("ConfigForm", "Which GPUs"),
    "pref_loss": QT_TRANSLATE_NOOP("ConfigForm", "Preference loss"),
    "pref_beta": QT_TRANSLATE_NOOP("ConfigForm", "Preference beta"),
    "simpo_gamma": QT_TRANSLATE_NOOP("ConfigForm", "SimPO gamma"),
    "pref_label_smoothing": QT_TRANSLATE_NOOP("ConfigForm", "Label smoothing"),
    "pref_sft_weight": QT_TRANSLATE_NOOP("ConfigForm", "SFT term weight"),
    "grpo_group_size": QT_TRANSLATE_NOOP("ConfigForm", "Group size (GRPO)"),
    "grpo_max_completion": QT_TRANSLATE_NOOP("ConfigForm", "Max completion tokens"),
    "grpo_temperature": QT_TRANSLATE_NOOP("ConfigForm", "Sampling temperature"),
    "grpo_beta": QT_TRANSLATE_NOOP("ConfigForm", "KL weight (GRPO)"),
    "grpo_clip": QT_TRANSLATE_NOOP("ConfigForm", "Clip range"),
    "grpo_iterations": QT_TRANSLATE_NOOP("ConfigForm", "Updates per batch"),
    "grpo_rewards": QT_TRANSLATE_NOOP("ConfigForm", "Rewards and weights"),
    "grpo_format_regex": QT_TRANSLATE_NOOP("ConfigForm", "Format pattern"),
    "grpo_answer_regex": QT_TRANSLATE_NOOP("ConfigForm", "Answer pattern"),
    "grpo_reward_file": QT_TRANSLATE_NOOP("ConfigForm", "Reward file (Python)"),
    "grpo_reward_file_sha256": QT_TRANSLATE_NOOP("ConfigForm", "Trusted reward file sha256"),
    "seed": QT_TRANSLATE_NOOP("ConfigForm", "Seed"),
    "output_dir": QT_TRANSLATE_NOOP("ConfigForm", "Run folder"),
    "overwrite": QT_TRANSLATE_NOOP("ConfigForm", "Overwrite"),
    "logging_steps": QT_TRANSLATE_NOOP("ConfigForm", "Log every N steps"),
    "eval_steps": QT_TRANSLATE_NOOP("ConfigForm", "Eval every N steps"),
    "save_steps": QT_TRANSLATE_NOOP("ConfigForm", "Checkpoint every N steps"),
    "eval_data": QT_TRANSLATE_NOOP("ConfigForm", "Evaluate at checkpoints"),
    "eval_metric": QT_TRANSLATE_NOOP("ConfigForm", "Evaluation metric"),
    "save_total_limit": QT_TRANSLATE_NOOP("ConfigForm", "Checkpoints kept"),
    "report_to": QT_TRANSLATE_NOOP("ConfigForm", "Also log to"),
    "mlflow_tracking_uri": QT_TRANSLATE_NOOP("ConfigForm", "MLflow tracking URI"),
    "mlflow_experiment": QT_TRANSLATE_NOOP("ConfigForm", "MLflow experiment"),
    "log_samples": QT_TRANSLATE_NOOP("ConfigForm", "Log the rows of each step"),
}


@functools.cache
def _types() -> dict[str, tuple[type, bool]]:
    """name -> (base type, optional), the rule of core.config.field_type / is_optional, resolved
    in one pass: core resolves every type hint on each call (~4 ms), and a form asks for all."""
    out = {}
    for name, t in typing.get_type_hints(RunConfig).items():
        args = typing.get_args(t)
        optional = type(None) in args
        out[name] = (next(a for a in args if a is not type(None)) if optional else t, optional)
    return out


def field_type(f: dataclasses.Field) -> type:
    return _types()[f.name][0]


def is_optional(f: dataclasses.Field) -> bool:
    return _types()[f.name][1]


def group_title(group: str) -> str:
    return QCoreApplication.translate("ConfigForm", GROUP_TITLES[group]) \
        if group in GROUP_TITLES else group


def field_label(name: str) -> str:
    """A readable, translated label for a config key; a key added to core later still gets
    one (its name, humanised) until it has an entry in LABELS."""
    if name in LABELS:
        return QCoreApplication.translate("ConfigForm", LABELS[name])
    return name.replace("_", " ").capitalize()


class SciSpinBox(QDoubleSpinBox):
    """A float spin box that shows 0.0002 as 2e-04 and accepts any float notation. Arrow keys
    multiply / divide by 2 for `log_steps` fields (learning rates span decades)."""

    def __init__(self, log_steps: bool = False, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self._log = log_steps
        self.setDecimals(12)  # keep the typed value exactly; display is textFromValue's job
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> object:
        s = text.strip()
        try:
            v = float(s)
        except ValueError:
            # a number being typed ("2e", "-", "1.") is fine until editing finishes
            ok = all(c in "0123456789.eE+-" for c in s)
            return (QValidator.State.Intermediate if ok else QValidator.State.Invalid), text, pos
        if self.minimum() <= v <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos

    def fixup(self, text: str) -> str:
        return self.textFromValue(self.value())

    def stepBy(self, steps: int) -> None:
        if self._log and self.value() > 0:
            self.setValue(self.value() * (2.0 ** steps))
        else:
            super().stepBy(steps)


class ConfigForm(QWidget):
    """Editors for the RunConfig keys of `groups` (all groups by default), or only for `keys`
    (in RunConfig's order, under their groups' titles)."""

    sig_changed = Signal(str, object)  # key, new value (only for edits, not set_values)

    def __init__(self, groups: Optional[Iterable[str]] = None, parent: Optional[QWidget] = None,
                 titled: bool = True, keys: Optional[Iterable[str]] = None):
        super().__init__(parent)
        wanted = set(keys) if keys is not None else None
        self._specs = {f.name: f for f in field_specs()
                       if f.metadata["group"] in tuple(groups or GROUPS)
                       and (wanted is None or f.name in wanted)}
        self.groups = tuple(g for g in (groups or GROUPS)
                            if any(f.metadata["group"] == g for f in self._specs.values()))
        self._editors: dict[str, QWidget] = {}
        self._hidden: dict[str, Any] = config_mod.defaults()  # values of keys not shown
        self._loading = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.boxes: dict[str, QGroupBox] = {}
        for group in self.groups:
            box = QGroupBox(group_title(group) if titled else "")
            box.setObjectName(f"group_{group}")
            form = QFormLayout(box)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            for f in self._specs.values():
                if f.metadata["group"] == group:
                    label = QLabel(field_label(f.name))
                    editor = self._make_editor(f)
                    tip = self._tooltip(f)
                    label.setToolTip(tip)
                    editor.setToolTip(tip)
                    form.addRow(label, self._wrap_path(f.name, editor))
            self.boxes[group] = box
            layout.addWidget(box)
        layout.addStretch(1)
        self.set_values(config_mod.defaults())

    # --- building ----------------------------------------------------------------------------
    def _tooltip(self, f: dataclasses.Field) -> str:
        text = QCoreApplication.translate("RunConfig", f.metadata["help"])
        default = f.default if f.default not in ("", None) else "—"
        key = QCoreApplication.translate("ConfigForm", "config key")
        dflt = QCoreApplication.translate("ConfigForm", "default")
        return f"{text}\n\n{key}: {f.name}   {dflt}: {default}"

    def _make_editor(self, f: dataclasses.Field) -> QWidget:
        t, meta = field_type(f), f.metadata
        if t is bool:
            w: QWidget = QCheckBox()
            w.toggled.connect(lambda _=None, n=f.name: self._edited(n))
        elif meta.get("choices"):
            w = QComboBox()
            w.addItems(list(meta["choices"]))
            w.currentIndexChanged.connect(lambda _=None, n=f.name: self._edited(n))
        elif t is int:
            w = QSpinBox()
            lo = int(meta.get("min", 0 if f.name != "seed" else -INT_LIMIT))
            hi = int(meta.get("max", INT_LIMIT))
            if is_optional(f):
                lo -= 1  # the lowest position means "not set"
                w.setSpecialValueText(QCoreApplication.translate("ConfigForm", "not set"))
            w.setRange(lo, hi)
            w.setKeyboardTracking(False)
            w.valueChanged.connect(lambda _=None, n=f.name: self._edited(n))
        elif t is float:
            w = SciSpinBox(log_steps=f.name == "learning_rate")
            w.setRange(float(meta.get("min", -1e12)), float(meta.get("max", 1e12)))
            w.setSingleStep(0.01 if meta.get("max", 2.0) <= 1.0 else 1.0)
            w.valueChanged.connect(lambda _=None, n=f.name: self._edited(n))
        else:
            w = QLineEdit()
            w.editingFinished.connect(lambda n=f.name: self._edited(n))
        w.setObjectName(f"field_{f.name}")
        self._editors[f.name] = w
        return w

    def _wrap_path(self, name: str, editor: QWidget) -> QWidget:
        kind = PATH_FIELDS.get(name)
        if kind is None:
            return editor
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(editor, 1)
        button = QPushButton(QCoreApplication.translate("ConfigForm", "Browse…"))
        button.setObjectName(f"browse_{name}")
        button.clicked.connect(lambda _=None, n=name, k=kind: self._browse(n, k))
        row.addWidget(button)
        return box

    def _browse(self, name: str, kind: str) -> None:
        current = str(self.values().get(name, ""))
        if kind == "python":  # stage grpo's reward functions
            path, _ = QFileDialog.getOpenFileName(
                self, field_label(name), current,
                QCoreApplication.translate("ConfigForm", "Python files") + " (*.py)")
        elif kind == "file":
            path, _ = QFileDialog.getOpenFileName(
                self, field_label(name), current,
                QCoreApplication.translate("ConfigForm", "Datasets") +
                f" ({file_patterns()})")
        else:
            path = QFileDialog.getExistingDirectory(self, field_label(name), current)
        if path:
            self.set_values({name: path})
            self._edited(name)

    # --- values ------------------------------------------------------------------------------
    def editor(self, key: str) -> QWidget:
        return self._editors[key]

    def keys(self) -> list[str]:
        return list(self._editors)

    def _read(self, key: str) -> Any:
        w, f = self._editors[key], self._specs[key]
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QComboBox):
            return w.currentText()
        if isinstance(w, QSpinBox):
            if is_optional(f) and w.value() == w.minimum():
                return None
            return w.value()
        if isinstance(w, QDoubleSpinBox):
            return float(w.value())
        return w.text().strip()

    def _write(self, key: str, value: Any) -> None:
        w, f = self._editors[key], self._specs[key]
        if isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QComboBox):
            i = w.findText(str(value))
            w.setCurrentIndex(max(i, 0))
        elif isinstance(w, QSpinBox):
            w.setValue(w.minimum() if value is None and is_optional(f) else int(value or 0))
        elif isinstance(w, QDoubleSpinBox):
            v = float(value or 0.0)
            w.setValue(v if math.isfinite(v) else 0.0)
        else:
            w.setText("" if value is None else str(value))

    def values(self) -> dict[str, Any]:
        """The shown keys' values (typed as RunConfig wants them)."""
        return {k: self._read(k) for k in self._editors}

    def set_values(self, values: dict[str, Any]) -> None:
        """Show these values; keys not in this form are kept for config(). No sig_changed."""
        self._loading = True
        try:
            for k, v in values.items():
                if k in self._editors:
                    self._write(k, v)
                elif k in self._hidden:
                    self._hidden[k] = v
        finally:
            self._loading = False

    def config(self) -> RunConfig:
        """The full config (shown values over the others); ConfigError names a bad key."""
        return config_mod.from_dict({**self._hidden, **self.values()}, check_required=True)

    def _edited(self, key: str) -> None:
        if not self._loading:
            self.sig_changed.emit(key, self._read(key))
