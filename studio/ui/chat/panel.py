"""The Chat page: talk to a tuned model, side by side with its base.

Pick a run (its final weights or any checkpoint: from the list, or by clicking a checkpoint
point on the run's loss curve), a model folder or an adapter folder; press Load. Each question
goes to the tuned model and, with "side by side" on, to the base model too; both transcripts
stream token by token. Loading and generation run in the engine host process, through the
ChatService (services/chat_worker.py): the GUI thread only appends text, at most ~25 times a
second (chunks are buffered between redraws).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.core.chat.engine import Conversation, GenSettings
from studio.core.errors import UserError
from studio.services.chat_worker import ChatService, ChatSource, Loaded
from studio.ui import prefs
from studio.ui.chat.source import ChatSourcePicker
from studio.ui.chat.transcript import ChatTranscript
from studio.ui.errors import show_error

FLUSH_MS = 40  # redraw streamed text at most 25 times a second
TOUR_QUESTION = "用一句话解释什么是机器学习。"  # a question from the tour's sample data


class ChatPanel(QWidget):
    sig_loaded = Signal(object)   # Loaded (the tour and tests wait on it)
    sig_answered = Signal()       # every side of a question has answered

    def __init__(self, service: Optional[ChatService] = None, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.service = service or ChatService(self)
        self.loaded: Optional[Loaded] = None
        self.conv = {"base": Conversation(), "tuned": Conversation()}
        self._pending: dict[str, list] = {"base": [], "tuned": []}
        self._question = ""
        self._sides: tuple[str, ...] = ()
        self._last_error: Any = None
        self.export_dialog: Any = None
        self._tour_question = ""
        self._tour_done = True
        col = QVBoxLayout(self)
        self.picker = ChatSourcePicker()
        self.picker.sig_load.connect(self.load_source)
        self.picker.sig_message.connect(lambda text: self.status.setText(text))
        col.addWidget(self.picker)
        self.status = QLabel(self.tr("Nothing loaded yet."))
        self.status.setObjectName("chat_status")
        self.status.setWordWrap(True)
        self.export_button = QPushButton(self.tr("Export…"))
        self.export_button.setObjectName("chat_export")
        self.export_button.setToolTip(self.tr("Export the loaded run as an adapter or a merged "
                                              "model"))
        self.export_button.clicked.connect(self.open_export)
        status_row = QHBoxLayout()
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.export_button)
        col.addLayout(status_row)
        col.addWidget(self._build_settings())
        col.addWidget(self._build_transcripts(), 1)
        col.addLayout(self._build_input_row())
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush)
        s = self.service
        s.sig_loaded.connect(self._on_loaded)
        s.sig_chunk.connect(self._on_chunk)
        s.sig_reply.connect(self._on_reply)
        s.sig_done.connect(self._on_done)
        s.sig_error.connect(self._on_error)
        s.sig_state.connect(self._on_state)
        s.sig_progress.connect(self._on_progress)
        self._update_buttons()

    # --- building --------------------------------------------------------------------------------
    def _build_settings(self) -> QGroupBox:
        box = QGroupBox(self.tr("Generation"))
        row = QHBoxLayout(box)

        def spin(cls: Any, name: str, label: str, lo: float, hi: float, value: float,
                 tip: str, step: float = 1.0, decimals: int = 2) -> Any:
            w = cls()
            w.setObjectName(name)
            w.setRange(lo, hi)
            if cls is QDoubleSpinBox:
                w.setDecimals(decimals)
                w.setSingleStep(step)
            w.setValue(value)
            w.setToolTip(tip)
            row.addWidget(QLabel(label))
            row.addWidget(w)
            return w

        self.temperature = spin(QDoubleSpinBox, "chat_temperature", self.tr("Temperature"),
                                0.0, 5.0, 0.7, self.tr("0 = greedy: always the most likely "
                                                       "token (the same reply every time)"), 0.1)
        self.top_p = spin(QDoubleSpinBox, "chat_top_p", self.tr("Top-p"), 0.01, 1.0, 0.9,
                          self.tr("Sample only from the most likely tokens that together "
                                  "reach this probability"), 0.05)
        self.top_k = spin(QSpinBox, "chat_top_k", self.tr("Top-k"), 0, 1000, 50,
                          self.tr("Sample only from the k most likely tokens (0 = off)"))
        self.repetition = spin(QDoubleSpinBox, "chat_repetition", self.tr("Repetition penalty"),
                               0.5, 3.0, 1.0, self.tr("Above 1 makes repeating a token less "
                                                      "likely (1 = off)"), 0.05)
        self.max_tokens = spin(QSpinBox, "chat_max_tokens", self.tr("Max new tokens"), 1, 8192,
                               256, self.tr("The reply stops here if the model has not ended "
                                            "its turn"))
        # Remembered: they are also the sampling defaults of an exported Ollama Modelfile.
        saved = prefs.chat_sampling()
        for editor, key in ((self.temperature, "temperature"), (self.top_p, "top_p"),
                            (self.top_k, "top_k"), (self.repetition, "repetition_penalty")):
            editor.setValue(getattr(saved, key))
            editor.valueChanged.connect(lambda v, k=key: prefs.set_chat_sampling(**{k: v}))
        self.seed = spin(QSpinBox, "chat_seed", self.tr("Seed"), -1, 2**31 - 1, -1,
                         self.tr("A fixed seed gives the same reply every time"))
        self.seed.setSpecialValueText(self.tr("random"))
        row.addStretch(1)
        return box

    def _build_transcripts(self) -> QWidget:
        wrap = QWidget()
        col = QVBoxLayout(wrap)
        col.setContentsMargins(0, 0, 0, 0)
        toggles = QHBoxLayout()
        self.system_edit = QLineEdit()
        self.system_edit.setObjectName("chat_system")
        self.system_edit.setPlaceholderText(self.tr("System prompt (optional)"))
        toggles.addWidget(self.system_edit, 1)
        self.compare_box = QCheckBox(self.tr("Side by side with the base model"))
        self.compare_box.setObjectName("chat_compare")
        self.compare_box.setChecked(True)
        self.compare_box.toggled.connect(self._update_views)
        toggles.addWidget(self.compare_box)
        self.probs_box = QCheckBox(self.tr("Show token probabilities"))
        self.probs_box.setObjectName("chat_probs")
        self.probs_box.setToolTip(self.tr("Colour each token by how likely the model found it "
                                          "(green: sure, red: unlikely); hover a token for the "
                                          "alternatives"))
        toggles.addWidget(self.probs_box)
        col.addLayout(toggles)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.views: dict[str, ChatTranscript] = {}
        self.view_boxes: dict[str, QGroupBox] = {}
        for side, title in (("base", self.tr("Base model")), ("tuned", self.tr("Tuned model"))):
            box = QGroupBox(title)
            box.setObjectName(f"chat_{side}_box")
            inner = QVBoxLayout(box)
            view = ChatTranscript()
            view.setObjectName(f"chat_{side}_view")
            inner.addWidget(view)
            self.views[side], self.view_boxes[side] = view, box
            self.splitter.addWidget(box)
        col.addWidget(self.splitter, 1)
        return wrap

    def _build_input_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.input = QPlainTextEdit()
        self.input.setObjectName("chat_input")
        self.input.setPlaceholderText(self.tr("Ask something… (Ctrl+Enter sends)"))
        self.input.setFixedHeight(64)
        self.input.installEventFilter(self)
        row.addWidget(self.input, 1)
        buttons = QVBoxLayout()
        self.send_button = QPushButton(self.tr("Send"))
        self.send_button.setObjectName("chat_send")
        self.send_button.clicked.connect(lambda: self.send())
        self.stop_button = QPushButton(self.tr("Stop"))
        self.stop_button.setObjectName("chat_stop")
        self.stop_button.clicked.connect(self.stop)
        self.clear_button = QPushButton(self.tr("New chat"))
        self.clear_button.setObjectName("chat_clear")
        self.clear_button.clicked.connect(self.clear)
        for b in (self.send_button, self.stop_button, self.clear_button):
            buttons.addWidget(b)
        row.addLayout(buttons)
        return row

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 (Qt name)
        from PySide6.QtCore import QEvent

        if obj is self.input and event.type() == QEvent.Type.KeyPress and \
                event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and \
                event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.send()
            return True
        return super().eventFilter(obj, event)

    # --- sources -------------------------------------------------------------------------------
    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self.picker.refresh()  # runs may have finished since (in a worker; keeps the choice)

    def load_run(self, run_dir: str | Path, step: Optional[int] = None) -> None:
        """Chat with a run's final weights or checkpoint `step` (used by other pages)."""
        self.picker.add_source(run_dir)
        self.load_source(ChatSource(run=str(Path(run_dir).expanduser()), step=step))

    def load_source(self, src: ChatSource) -> None:
        self.stop()
        self.status.setText(self.tr("Loading {what}…").format(what=src.describe()))
        self.service.load(src)
        self._update_buttons()

    def _on_loaded(self, loaded: Loaded) -> None:
        self.loaded = loaded
        self.clear()
        text = self.tr("Loaded {label}.").format(label=loaded.label)
        if loaded.shared:
            text += " " + self.tr("Base and tuned share one copy of the weights (the adapter "
                                  "is switched off for the base answer).")
        elif loaded.has_tuned:
            text += " " + self.tr("This method changed the weights themselves: the base model "
                                  "is a second copy in memory.")
        self.status.setText(text)
        self.status.setToolTip(loaded.note)
        self.view_boxes["tuned"].setTitle(self.tr("Tuned: {label}").format(label=loaded.label))
        # a dpo / kto run's base is the model it started from (often an SFT model): the
        # reference its preferences were learned against
        self.view_boxes["base"].setTitle(
            self.tr("Before {stage}: the reference (base) model").format(
                stage=loaded.stage.upper()) if loaded.stage in ("dpo", "kto")
            else self.tr("Base model"))
        self._update_views()
        self.sig_loaded.emit(loaded)
        if self._tour_question:
            question, self._tour_question = self._tour_question, ""
            self.send(question)

    # --- asking --------------------------------------------------------------------------------
    def settings(self) -> GenSettings:
        seed = self.seed.value()
        return GenSettings(temperature=self.temperature.value(), top_p=self.top_p.value(),
                           top_k=self.top_k.value(),
                           repetition_penalty=self.repetition.value(),
                           max_new_tokens=self.max_tokens.value(),
                           seed=None if seed < 0 else seed,
                           logprobs=self.probs_box.isChecked()).check()

    def sides(self) -> tuple[str, ...]:
        """Which models answer: tuned (and base when side by side), or base alone."""
        if self.loaded is None or not self.loaded.has_tuned:
            return ("base",)
        return ("tuned", "base") if self.compare_box.isChecked() else ("tuned",)

    def send(self, text: Optional[str] = None) -> bool:
        text = (self.input.toPlainText() if text is None else text).strip()
        if not text or self.service.busy or self.loaded is None:
            return False
        try:
            settings = self.settings()
        except UserError as e:
            self.status.setText(e.one_line())
            return False
        self._sides = self.sides()
        self._question = text
        messages = {}
        for side in self._sides:
            self.conv[side].system = self.system_edit.text()
            messages[side] = self.conv[side].messages(text)
            self.views[side].add_user(self.tr("You"), text)
        self.service.ask(messages, settings, self._sides)
        self.input.clear()
        self._flush_timer.start()
        self._update_buttons()
        return True

    def stop(self) -> None:
        self.service.stop()

    def clear(self) -> None:
        """A new conversation on both sides."""
        for side in ("base", "tuned"):
            self.conv[side].reset()
            self.views[side].clear_all()
            self._pending[side].clear()

    def _on_chunk(self, side: str, chunk: Any) -> None:
        if side in self._pending:
            if not self.views[side].in_reply:
                self.views[side].begin_reply(self._side_name(side))
            self._pending[side].append(chunk)

    def _flush(self) -> None:
        probs = self.probs_box.isChecked()
        for side, chunks in self._pending.items():
            if chunks:
                self.views[side].append_chunks(chunks, probs)
                chunks.clear()

    def _on_reply(self, side: str, reply: Any) -> None:
        self._flush()
        view = self.views[side]
        if not view.in_reply:
            view.begin_reply(self._side_name(side))
        endings = {"eos": self.tr("ended its turn"),
                   "length": self.tr("stopped at the token limit"),
                   "cancelled": self.tr("stopped")}
        view.end_reply(self.tr("{tokens} tokens · {speed:.1f} tokens/s · first token after "
                               "{ms:.0f} ms · {ending}").format(
            tokens=reply.tokens, speed=reply.tokens_per_s, ms=reply.first_token_s * 1000,
            ending=endings.get(reply.stop_reason, reply.stop_reason)))
        self.conv[side].add(self._question, reply.text)

    def _on_done(self) -> None:
        self._flush()
        self._flush_timer.stop()
        self._update_buttons()
        self.sig_answered.emit()

    def _on_error(self, reason: str, details: str) -> None:
        self.status.setText(reason)
        self._last_error = show_error(self, reason, details)
        self._update_buttons()

    def _on_state(self, _state: str) -> None:
        self._update_buttons()

    def _on_progress(self, done: int, total: int, message: str) -> None:
        """A hub id's download: the bytes so far (Stop cancels; the next Load resumes)."""
        pct = f" ({100 * done // total}%)" if total else ""
        self.status.setText(self.tr("Downloading: {message}{pct}. Stop cancels; loading it "
                                    "again resumes.").format(message=message, pct=pct))

    def _side_name(self, side: str) -> str:
        return self.tr("Base") if side == "base" else self.tr("Tuned")

    # --- view state ----------------------------------------------------------------------------
    def _update_views(self) -> None:
        has_tuned = self.loaded is not None and self.loaded.has_tuned
        self.compare_box.setEnabled(has_tuned)
        self.view_boxes["tuned"].setVisible(has_tuned or self.loaded is None)
        self.view_boxes["base"].setVisible(not has_tuned or self.compare_box.isChecked())

    def _update_buttons(self) -> None:
        busy = self.service.busy
        generating = self.service.state == "generating"
        self.send_button.setEnabled(self.loaded is not None and not busy)
        self.stop_button.setEnabled(generating or self.service.state == "loading")
        self.picker.load_button.setEnabled(self.service.state != "loading")

    def open_export(self) -> Any:
        """The export dialog for the loaded run (or the one picked)."""
        from studio.ui.export.dialog import ExportDialog

        src = self.loaded.source if self.loaded is not None else self.picker.current_source()
        run = src.run if src is not None else None
        step = src.step if src is not None else None
        self.export_dialog = ExportDialog(run, step, parent=self)
        self.export_dialog.open()
        return self.export_dialog

    # --- the tour: load the run just trained, ask a question on both sides ----------------
    def tour_prepare(self, tour: Any) -> None:
        run = getattr(getattr(tour, "session", None), "run_dir", None)
        if run is None or not Path(run).is_dir():
            return
        self._tour_done = False
        self._tour_question = getattr(tour, "question", TOUR_QUESTION)
        self.max_tokens.setValue(48)
        self.seed.setValue(0)
        self.temperature.setValue(0.0)  # greedy: each side says what it has learned most
        self.sig_answered.connect(self._end_tour)
        self.load_run(run)

    def _end_tour(self) -> None:
        self._tour_done = True
        self.sig_answered.disconnect(self._end_tour)

    def tour_ready(self) -> bool:
        return self._tour_done

    def text_of(self, side: str) -> str:
        """The transcript of one side as plain text (tests, the tour)."""
        return self.views[side].toPlainText()

    def shutdown(self) -> None:
        self.service.shutdown()
