"""The Model & method page: pick the base model (a folder, a hub id, a recent one, or a new
starter model), pick the method and its settings, and see before pressing Start what the method
trains (the parameter map) and whether the run fits in memory (the estimate).

The settings are the run's draft config (shared with the other pages): choosing a model sets
`model`, the method form edits the `method` group's keys. Everything slow (resolving the model,
building the meta-device map, writing a starter model) runs in ModelInspector's workers; the
memory estimate is arithmetic on config.json and runs here on every change.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.core import config as config_mod
from studio.core.methods import registry as methods
from studio.services.draft import ConfigDraft
from studio.services.model_worker import MAP_KEYS, ModelInspector, map_key
from studio.ui import prefs
from studio.ui.forms import ConfigForm
from studio.ui.model.memory_view import MemoryView
from studio.ui.model.param_map_view import ParamMapView

STARTER_ROOT = Path("~/.cache/studio/models")
MAP_DEBOUNCE_MS = 120  # a spin box held down asks for one map, not one per step


class ModelPanel(QWidget):
    sig_model_changed = Signal(str)  # the base model now chosen (folder or hub id)

    def __init__(self, session: Any = None, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.draft: ConfigDraft = session.draft if session is not None else ConfigDraft(self)
        self.inspector = ModelInspector(self)
        self.blocks: list = []
        self._shown_key: Any = None
        self._map_timer = QTimer(self)
        self._map_timer.setSingleShot(True)
        self._map_timer.setInterval(MAP_DEBOUNCE_MS)
        self._map_timer.timeout.connect(self._request_map)
        self._build()
        self._connect()
        self._refresh_recent()
        self._method_changed(self.draft.get("method"))
        if self.draft.get("model"):
            self._model_set(self.draft.get("model"))
        app = QCoreApplication.instance()
        if app is not None:  # worker threads must end before the process does
            app.aboutToQuit.connect(self.shutdown)

    # --- building ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.folder_button = QPushButton(self.tr("Choose a folder…"))
        self.folder_button.setObjectName("choose_folder")
        self.hub_edit = QLineEdit()
        self.hub_edit.setObjectName("hub_id")
        self.hub_edit.setPlaceholderText(self.tr("or a hub id, e.g. Qwen/Qwen2.5-0.5B-Instruct"))
        self.hub_button = QPushButton(self.tr("Use"))
        self.recent = QComboBox()
        self.recent.setObjectName("recent_models")
        self.recent.setMinimumContentsLength(18)
        self.recent.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.starter_button = QPushButton(self.tr("Create a starter model…"))
        self.starter_button.setObjectName("create_starter")
        self.starter_button.setToolTip(self.tr(
            "A small model with random weights and its own tokenizer, made here in seconds: "
            "for trying the studio out without downloading anything."))
        self.starter_size = QComboBox()
        self.starter_size.setObjectName("starter_size")
        self.starter_size.addItem(self.tr("tiny (0.4 M)"), "tiny")
        self.starter_size.addItem(self.tr("small (5 M)"), "small")
        self.starter_arch = QComboBox()
        self.starter_arch.setObjectName("starter_arch")
        self.starter_arch.addItem("Llama", "llama")
        self.starter_arch.addItem("Qwen2", "qwen2")
        pick = QHBoxLayout()
        pick.addWidget(self.folder_button)
        pick.addWidget(self.hub_edit, 2)
        pick.addWidget(self.hub_button)
        pick.addWidget(QLabel(self.tr("Recent")))
        pick.addWidget(self.recent, 1)
        pick.addSpacing(16)
        pick.addWidget(self.starter_button)
        pick.addWidget(self.starter_size)
        pick.addWidget(self.starter_arch)
        self.model_label = QLabel(self.tr("No model chosen yet."))
        self.model_label.setObjectName("model_label")
        self.model_label.setWordWrap(True)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status = QLabel()
        self.status.setObjectName("model_status")
        self.status.setWordWrap(True)
        self.status.hide()
        model_box = QGroupBox(self.tr("Base model"))
        box_layout = QVBoxLayout(model_box)
        box_layout.addLayout(pick)
        box_layout.addWidget(self.model_label)
        box_layout.addWidget(self.status)

        self.form = ConfigForm(groups=("method",), titled=False)
        self.form.setObjectName("method_form")
        self.description = QLabel()
        self.description.setObjectName("method_description")
        self.description.setWordWrap(True)
        method_box = QGroupBox(self.tr("Method"))
        method_layout = QVBoxLayout(method_box)
        method_layout.addWidget(self.description)
        method_layout.addWidget(self.form, 1)
        method_scroll = QScrollArea()
        method_scroll.setWidgetResizable(True)
        method_scroll.setWidget(method_box)
        method_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        method_scroll.setMinimumWidth(300)

        self.map_view = ParamMapView()
        map_box = QGroupBox(self.tr("Parameter map: what the method trains"))
        QVBoxLayout(map_box).addWidget(self.map_view)
        self.memory_view = MemoryView()
        memory_box = QGroupBox(self.tr("Memory estimate"))
        QVBoxLayout(memory_box).addWidget(self.memory_view)
        memory_box.setMinimumWidth(280)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(method_scroll)
        split.addWidget(map_box)
        split.addWidget(memory_box)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 3)
        split.setStretchFactor(2, 1)
        split.setSizes([320, 760, 320])
        layout = QVBoxLayout(self)
        layout.addWidget(model_box)
        layout.addWidget(split, 1)

    def _connect(self) -> None:
        ins = self.inspector
        ins.sig_info.connect(self._on_info)
        ins.sig_map.connect(self._on_map)
        ins.sig_device.connect(self._on_device)
        ins.sig_starter.connect(self._on_starter)
        ins.sig_error.connect(self._on_error)
        ins.sig_busy.connect(self._on_busy)
        self.folder_button.clicked.connect(self.choose_folder)
        self.hub_button.clicked.connect(self._use_hub_id)
        self.hub_edit.returnPressed.connect(self._use_hub_id)
        self.recent.activated.connect(self._recent_chosen)
        self.starter_button.clicked.connect(self.ask_starter)
        self.form.sig_changed.connect(lambda key, value: self.draft.update({key: value}))
        self.draft.sig_changed.connect(self._on_draft)

    # --- public --------------------------------------------------------------------------------
    def model_path(self) -> str:
        return str(self.draft.get("model") or "")

    def method_values(self) -> dict:
        """The method group's keys as the run will use them."""
        values = self.draft.values()
        return {k: values[k] for k in self.form.keys()}

    def set_model(self, source: str) -> None:
        """Use `source` (a model folder or hub id) as the run's base model. A folder that
        carries Python code is only trusted when the user says so, for that code."""
        source = str(source).strip()
        self.draft.update(model=source, trust_remote_code=self._allow_code(source))

    def _allow_code(self, source: str) -> bool:
        # two small JSON reads and a hash of the folder's few .py files
        from studio.core.model.load import code_fingerprint, remote_code_files

        folder = Path(source).expanduser()
        files = remote_code_files(folder) if folder.is_dir() else []
        if not files:
            return False
        # Remembered by what would run, not where: code replaced later asks again.
        key = "sha256:" + code_fingerprint(folder)
        if key in prefs.recent("trusted_code"):
            return True
        box = QMessageBox(QMessageBox.Icon.Warning, self.tr("This model runs its own code"),
                          self.tr("{name} ships Python code that runs when the model loads:\n"
                                  "{files}\n\nAllow it only if you trust the model's author.")
                          .format(name=folder.name, files="\n".join(files)), parent=self)
        allow = box.addButton(self.tr("Allow for this model"), QMessageBox.ButtonRole.AcceptRole)
        box.addButton(self.tr("Don't allow"), QMessageBox.ButtonRole.RejectRole)
        box.exec()
        if box.clickedButton() is not allow:
            return False  # the engine then refuses to load it, saying why
        prefs.add_recent("trusted_code", key, keep=50)
        return True

    def set_device(self, info: Any) -> None:
        """The device the status bar shows (the app passes it; else it is detected here)."""
        self.inspector.device = info
        self._on_device(info)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, self.tr("Choose a model folder"),
                                                self.model_path() or str(Path.home()))
        if path:
            self.set_model(path)

    def ask_starter(self) -> None:
        root = STARTER_ROOT.expanduser()
        root.mkdir(parents=True, exist_ok=True)
        parent = QFileDialog.getExistingDirectory(
            self, self.tr("Where to put the starter model"), str(root))
        if parent:
            self.create_starter(self.starter_folder(Path(parent)))

    def starter_folder(self, parent: Path) -> Path:
        """A new folder under `parent` named after the chosen size and architecture."""
        base = f"starter-{self.starter_size.currentData()}-{self.starter_arch.currentData()}"
        out, n = parent / base, 2
        while out.exists() and any(out.iterdir()):
            out, n = parent / f"{base}-{n}", n + 1
        return out

    def create_starter(self, out: str | Path) -> None:
        self._set_status(self.tr("Creating a starter model in {path}…").format(path=out))
        self.starter_button.setEnabled(False)
        self.inspector.create_starter(str(out), self.starter_size.currentData(),
                                      self.starter_arch.currentData())

    def shutdown(self) -> None:
        self._map_timer.stop()
        self.inspector.wait(30000)

    def tour_ready(self) -> bool:
        """The map and the estimate shown are those of the current settings."""
        return bool(self.blocks) and self._shown_key == map_key(self.draft.values()) and \
            not self._map_timer.isActive() and self.memory_view.estimate is not None and \
            not self.inspector.busy()

    # --- reacting to the draft ---------------------------------------------------------------
    def _on_draft(self, changed: dict) -> None:
        self.form.set_values({k: v for k, v in changed.items() if k in self.form.keys()})
        if "method" in changed:
            self._method_changed(changed["method"])
        if "model" in changed:
            self._model_set(str(changed["model"] or ""))
        elif any(k in MAP_KEYS for k in changed):
            self._map_timer.start()
        self._update_memory()

    def _method_changed(self, method: str) -> None:
        spec = methods.find(method)
        # descriptions are translated under "Method" (i18n.extract reads them from the registry)
        self.description.setText("" if spec is None else "\n".join((
            QCoreApplication.translate("Method", spec.description),
            self.tr("A learning rate that usually works: {lr}").format(
                lr=f"{spec.learning_rate:g}"))))
        shown = set(spec.keys if spec else ()) | {"method"}  # the keys the method reads
        layout = self.form.boxes["method"].layout()
        for key in self.form.keys():
            layout.setRowVisible(self.form.editor(key), key in shown)

    def _model_set(self, source: str) -> None:
        self.blocks = []
        self._shown_key = None
        self.inspector.set_model(source)
        self.sig_model_changed.emit(source)
        if not source:
            self.model_label.setText(self.tr("No model chosen yet."))
            self.map_view.clear(self.tr("Choose a model to see which of its weights the "
                                        "method trains."))
            self.memory_view.show_message(self.tr("The estimate appears once a model is "
                                                  "chosen."))
            return
        self.model_label.setText(html.escape(source))
        self.map_view.clear(self.tr("Reading the model…"))
        self.inspector.detect_device()

    def _request_map(self) -> None:
        if self.inspector.info is None:
            return
        values = self.draft.values()
        if not self.inspector.request_map(values):
            self.map_view.show_message(self.tr("Building the parameter map…"))

    # --- results -------------------------------------------------------------------------------
    def _on_info(self, info: Any) -> None:
        c = info.config
        parts = [str(c.get("model_type", "?"))]
        for key, label in (("num_hidden_layers", self.tr("{n} layers")),
                           ("hidden_size", self.tr("hidden {n}")),
                           ("vocab_size", self.tr("vocabulary {n}"))):
            if c.get(key):
                parts.append(label.format(n=f"{int(c[key]):,}"))
        self.model_label.setText(f"<b>{html.escape(info.source)}</b><br>"
                                 f"<span style='color:#5d6d7e'>{' · '.join(parts)}</span>")
        self._set_status("")
        prefs.add_recent("models", info.source)
        self._refresh_recent()
        self._request_map()
        self._update_memory()

    def _on_map(self, key: Any, blocks: list) -> None:
        if key != map_key(self.draft.values()):
            return  # built for settings that have changed since
        self.blocks = blocks
        self._shown_key = key
        self.map_view.set_blocks(blocks)
        self._update_memory()
        self.inspector.prefetch_methods(self.draft.values())

    def _on_device(self, info: Any) -> None:
        self.memory_view.set_device(info)
        self._update_memory()

    def _on_starter(self, folder: str) -> None:
        self.starter_button.setEnabled(True)
        self._set_status(self.tr("Starter model written to {path}.").format(path=folder))
        self.set_model(folder)

    def _on_error(self, kind: str, reason: str, details: str) -> None:
        if kind == "starter":
            self.starter_button.setEnabled(True)
        text = self.tr("Cannot use this model: {reason}").format(reason=reason) \
            if kind in ("info", "map") else reason
        self._set_status(text)
        self.status.setStyleSheet("color:#b03a2e;")
        self.status.setToolTip(details)
        if kind in ("info", "map"):
            self.map_view.clear(text)
            self.memory_view.show_message("")

    def _on_busy(self, what: str) -> None:
        if what:
            self.status.setStyleSheet("color:#5d6d7e;")
            self.status.setToolTip("")
        texts = {"model": self.tr("Reading the model…"),
                 "map": self.tr("Building the parameter map…")}
        if what in texts:
            self._set_status(texts[what])
        elif not what and self.status.text() in texts.values():
            self._set_status("")

    def _set_status(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))  # no empty line under the model when all is well

    def _update_memory(self) -> None:
        info = self.inspector.info
        if info is None or not self.blocks or self._shown_key != map_key(self.draft.values()):
            return
        # Lazy: light (no torch), but only this page needs it.
        from studio.core.errors import UserError
        from studio.core.model.memory import estimate_memory
        from studio.core.model.param_map import summarize

        device = self.inspector.device
        if device is None:
            self.memory_view.show_message(self.tr("Detecting the device…"))
            return
        try:
            cfg = config_mod.from_dict(self.draft.values())
            kind = device.kind if cfg.device == "auto" else cfg.device
            counts = summarize(self.blocks)
            est = estimate_memory(cfg, info.config,
                                  device.total_mb if kind == device.kind else None,
                                  device_kind=kind,
                                  param_counts=(counts["trainable"], counts["params"]))
        except UserError as e:
            self.memory_view.show_message(e.one_line())
            return
        self.memory_view.set_estimate(est)

    # --- recent models -----------------------------------------------------------------------
    def _refresh_recent(self) -> None:
        self.recent.blockSignals(True)
        self.recent.clear()
        items = prefs.recent("models")
        self.recent.addItem(self.tr("(recent models)") if items else self.tr("(none yet)"), "")
        for item in items:
            self.recent.addItem(Path(item).name or item, item)
            self.recent.setItemData(self.recent.count() - 1, item, Qt.ItemDataRole.ToolTipRole)
        self.recent.blockSignals(False)

    def _recent_chosen(self, index: int) -> None:
        source = self.recent.itemData(index)
        if source:
            self.set_model(source)

    def _use_hub_id(self) -> None:
        text = self.hub_edit.text().strip()
        if text:
            self.set_model(text)
