"""The field mapping panel of the Data page: the file's fields with a sample value each, a
combo box per field to say which role it plays, and the mapping as text (config key
`columns`, also written by hand: prompt=q_text,response=a_text,...).

It shows up by itself when no known shape fits the file (then pre-filled with the doctor's
proposal, which the rows are already read through), or when the user asks. Every valid change
is emitted as the mapping's text; an invalid one (a role given twice, ...) is shown as its
one-line reason and not emitted.
"""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.data.columns import TAGS, Columns, parse_columns, quote_path
from studio.core.errors import DataError

# Roles offered for a field, by the kind of value it holds (propose.FieldInfo.kind). An object
# is not offered: its fields are listed one by one (meta.source).
ROLE_CHOICES = {
    "text": ("prompt", "query", "response", "system", "text", "chosen", "rejected", "label",
             "tools"),
    "turns": ("messages", "history", "chosen", "rejected", "tools"),
    "list": ("messages", "history", "tools"),
    "number": ("prompt", "response", "label"),
    "flag": ("label",),
}
ROLE_HINTS = {
    "prompt": QT_TRANSLATE_NOOP("Mapping", "prompt: the question / instruction"),
    "query": QT_TRANSLATE_NOOP("Mapping", "query: extra input under the prompt"),
    "response": QT_TRANSLATE_NOOP("Mapping", "response: the reply to learn"),
    "system": QT_TRANSLATE_NOOP("Mapping", "system: the system prompt"),
    "text": QT_TRANSLATE_NOOP("Mapping", "text: plain text (pre-training)"),
    "messages": QT_TRANSLATE_NOOP("Mapping", "messages: the list of turns"),
    "history": QT_TRANSLATE_NOOP("Mapping", "history: earlier question / answer pairs"),
    "chosen": QT_TRANSLATE_NOOP("Mapping", "chosen: the preferred reply"),
    "rejected": QT_TRANSLATE_NOOP("Mapping", "rejected: the worse reply"),
    "label": QT_TRANSLATE_NOOP("Mapping", "label: good / bad (true / false)"),
    "tools": QT_TRANSLATE_NOOP("Mapping", "tools: tool descriptions"),
}
FIELD, SAMPLE, ROLE = range(3)


class MappingPanel(QGroupBox):
    sig_columns = Signal(str)  # a valid mapping the user chose ("" = detect the shape again)

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setTitle(self.tr("Field mapping: which field is which"))
        self.setObjectName("mapping_panel")
        self._fields: list[Any] = []       # propose.FieldInfo, one per table row
        self._combos: list[QComboBox] = []
        self._columns = Columns()
        self._proposed = Columns()        # the doctor's proposal: its turn tags are reused
        self._loading = False
        self.intro = QLabel()
        self.intro.setObjectName("mapping_intro")
        self.intro.setWordWrap(True)
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("mapping_table")
        self.table.setHorizontalHeaderLabels([self.tr("Field"), self.tr("Sample value"),
                                              self.tr("Role")])
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(26)  # a combo box's height
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(FIELD, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(SAMPLE, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(ROLE, QHeaderView.ResizeMode.ResizeToContents)
        self.text = QLineEdit()
        self.text.setObjectName("mapping_text")
        self.text.setPlaceholderText("prompt=question,response=answer")
        self.text.setToolTip(self.tr("The mapping as the config key columns writes it; edit it "
                                     "by hand for nested paths (a.b.c) and the turn tags "
                                     "(role_tag, content_tag, user_tag, assistant_tag)."))
        self.text.editingFinished.connect(lambda: self._apply(self.text.text()))
        self.detect_button = QPushButton(self.tr("Detect again"))
        self.detect_button.setObjectName("mapping_detect")
        self.detect_button.setToolTip(self.tr("Forget the mapping; read the file by its shape."))
        self.detect_button.clicked.connect(lambda: self._apply(""))
        self.error = QLabel()
        self.error.setObjectName("mapping_error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color:#b03a2e;")
        self.error.hide()
        row = QHBoxLayout()
        row.addWidget(QLabel(self.tr("Mapping (config key columns)")))
        row.addWidget(self.text, 1)
        row.addWidget(self.detect_button)
        self.toggle = QPushButton(self.tr("Map fields…"))  # for the page's top bar
        self.toggle.setObjectName("map_fields")
        self.toggle.setCheckable(True)
        self.toggle.setToolTip(self.tr("Say which field is the prompt, which the reply, ... "
                                       "(config key columns)"))
        self.toggle.toggled.connect(self.setVisible)
        self.toggle.toggled.connect(self._make_room)
        self.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        layout.addWidget(self.error)

    # --- public --------------------------------------------------------------------------------
    def columns(self) -> str:
        return str(self._columns)

    def set_fields(self, proposal: Any, applied: bool) -> None:
        """The file's fields (a propose.Proposal); `applied`: the rows are read through the
        proposal because no known shape fits."""
        self._fields = [f for f in proposal.fields if f.kind in ROLE_CHOICES]
        self._proposed = proposal.columns
        self._combos = []
        self.table.setRowCount(len(self._fields))
        for i, f in enumerate(self._fields):
            name = QTableWidgetItem(f.path)
            name.setToolTip(self.tr("{kind}, in {share:.0%} of the first rows").format(
                kind=f.kind, share=f.share))
            self.table.setItem(i, FIELD, name)
            sample = QTableWidgetItem(f.sample)
            sample.setToolTip(f.sample)
            self.table.setItem(i, SAMPLE, sample)
            combo = QComboBox()
            combo.addItem("—", "")
            for role in ROLE_CHOICES[f.kind]:
                combo.addItem(QCoreApplication.translate("Mapping", ROLE_HINTS[role]), role)
            combo.currentIndexChanged.connect(self._combo_changed)
            self.table.setCellWidget(i, ROLE, combo)
            self._combos.append(combo)
        if applied:
            self.intro.setText(self.tr(
                "Studio could not tell the shape of this file, so it guessed which field is "
                "which ({reason}). Check the preview, and change a role below if it is "
                "wrong.").format(reason=proposal.reason))
            self.intro.setStyleSheet("color:#9a5b00;")
        else:
            self.intro.setText(self.tr(
                "Give fields a role to read this file your own way; the preview, the problems "
                "and the token lengths follow each change."))
            self.intro.setStyleSheet("")
        self._show(self._columns)

    def set_mapping(self, text: str) -> None:
        """Show `text` (a mapping from the config) without emitting it."""
        try:
            self._columns = parse_columns(text)
        except DataError as e:
            self._columns = Columns()
            self._error(e.one_line())
            return
        self._show(self._columns)

    def _make_room(self, shown: bool) -> None:
        """Shown in the page's splitter (mapping / doctor + lengths / rows + preview): take a
        share that lists several fields, without squeezing the doctor's lines."""
        split = self.parentWidget()
        if shown and isinstance(split, QSplitter) and split.count() == 3:
            h = sum(split.sizes())
            mine, doctor = int(h * 0.3), int(h * 0.4)
            split.setSizes([mine, doctor, h - mine - doctor])

    # --- editing -------------------------------------------------------------------------------
    def _show(self, cols: Columns) -> None:
        self._loading = True
        by_path = {p: r for r, p in cols.pairs if r not in TAGS}
        for f, combo in zip(self._fields, self._combos):
            i = combo.findData(by_path.get(f.path, ""))
            combo.setCurrentIndex(max(i, 0))
        self.text.setText(str(cols))
        self._loading = False
        self._error("")

    def _combo_changed(self) -> None:
        if self._loading:
            return
        pairs = [(c.currentData(), f.path) for f, c in zip(self._fields, self._combos)
                 if c.currentData()]
        if not pairs:  # "" would mean "detect again": that is the button's job
            self._error(self.tr("No field has a role yet: give the prompt and the response, the "
                                "messages, or the text."))
            return
        pairs += self._turn_tags(pairs)
        self._apply(",".join(f"{r}={quote_path(p)}" for r, p in pairs))

    def _turn_tags(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """How to read the turns of the field now mapped to messages / history: the tags
        of the mapping in use or of the proposal, whichever reads that same field."""
        turns = {(r, p) for r, p in pairs if r in ("messages", "history")}
        for cols in (self._columns, self._proposed):
            if turns and turns <= set(cols.pairs):
                return [(r, p) for r, p in cols.pairs if r in TAGS]
        return []

    def _apply(self, spec: str) -> None:
        try:
            cols = parse_columns(spec)
        except DataError as e:
            self._error(e.one_line())
            return
        self._columns = cols
        self._show(cols)
        self.sig_columns.emit(str(cols))

    def _error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

