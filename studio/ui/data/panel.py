"""The Data page, or dataset doctor: open or drop a file and see at once whether it can be
trained on.

It shows the detected format (with an override), row counts, every problem by row number (a
click jumps to the row), unknown fields, media rows, a token-length histogram against
max_length, the rows in a table read lazily from the file, and a preview of the selected row
rendered through the model's chat template with the trained tokens highlighted. A file of
unknown shape opens the field mapping panel (mapping.py), read through the doctor's proposal;
the mapping chosen there is the draft's `columns` and is remembered per file.

Reading and checking run in a child process, tokenizing in the engine host (DataDoctor says how;
its threads here only wait). The page shares the
run's draft config with the other pages: opening a file sets `dataset` (nothing is registered
anywhere by hand), the model chosen on the Model page brings its tokenizer, and `max_length`,
`format`, `columns`, `stage`, `train_on_prompt` and `skip_bad_rows` are the draft's own keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QCoreApplication, QItemSelectionModel, QStringListModel, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from studio.core.config import FORMATS
from studio.core.data.types import file_patterns
from studio.services.data_worker import DataDoctor, shape_of
from studio.services.draft import ConfigDraft
from studio.ui import prefs
from studio.ui.data.length_histogram import LengthHistogram
from studio.ui.data.mapping import MappingPanel
from studio.ui.data.table_model import RowTableModel
from studio.ui.data.token_preview import message_html, messages_html, problem_html, tokens_html

MAX_PROBLEMS_LISTED = 50_000  # a file of nothing but bad rows still lists quickly
def _n(value: int) -> str:
    return f"{value:,}"


class DataPanel(QWidget):
    sig_dataset_changed = Signal(str)  # the file now shown (it is the run's `dataset`)

    def __init__(self, session: Any = None, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.draft: ConfigDraft = session.draft if session is not None else ConfigDraft(self)
        self.doctor = DataDoctor(self)
        self._path = ""
        self._report: Any = None
        self._preview_row = -1
        self._build()
        self._connect()
        self._sync_from_draft(self.draft.values())
        app = QCoreApplication.instance()
        if app is not None:  # worker threads must end before the process does
            app.aboutToQuit.connect(self.shutdown)

    # --- building ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.open_button = QPushButton(self.tr("Open dataset…"))
        self.open_button.setObjectName("open_dataset")
        self.path_label = QLabel(self.tr("No dataset yet: drop a .json, .jsonl, .csv, .parquet "
                                         "or .txt file anywhere on this window."))
        self.path_label.setObjectName("dataset_path")
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.format_combo = QComboBox()
        self.format_combo.setObjectName("format_combo")
        for fmt in FORMATS:
            self.format_combo.addItem(self.tr("auto-detect") if fmt == "auto" else fmt, fmt)
        self.format_combo.setToolTip(self.tr("How to read the rows; auto-detect looks at the "
                                             "first rows' fields."))
        self.max_length = QSpinBox()
        self.max_length.setObjectName("max_length")
        self.max_length.setRange(8, 131072)
        self.max_length.setSingleStep(64)
        self.max_length.setKeyboardTracking(False)
        self.max_length.setToolTip(self.tr("Longest sample in tokens; longer ones are "
                                           "truncated (config key max_length)."))
        self.busy_label = QLabel()
        self.busy_label.setObjectName("busy_label")
        self.mapping = MappingPanel()  # hidden until asked for, or needed
        self.map_button = self.mapping.toggle
        top = QHBoxLayout()
        top.addWidget(self.open_button)
        top.addWidget(self.path_label, 1)
        top.addWidget(QLabel(self.tr("Format")))
        top.addWidget(self.format_combo)
        top.addWidget(self.map_button)
        top.addWidget(QLabel(self.tr("Max length")))
        top.addWidget(self.max_length)
        top.addWidget(self.busy_label)

        self.histogram = LengthHistogram()
        hist_box = QGroupBox(self.tr("Token lengths"))
        QVBoxLayout(hist_box).addWidget(self.histogram)

        upper = QSplitter(Qt.Orientation.Horizontal)
        upper.addWidget(self._build_doctor())
        upper.addWidget(hist_box)
        upper.setStretchFactor(0, 2)
        upper.setStretchFactor(1, 3)

        self.rows = RowTableModel(self)
        self.table = QTableView()
        self.table.setObjectName("rows_table")
        self.table.setModel(self.rows)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        # fixed row heights: the view never measures rows it does not show
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for col, width in ((0, 70), (1, 90), (2, 50), (3, 300)):
            self.table.setColumnWidth(col, width)
        self.preview = QTextBrowser()
        self.preview.setObjectName("preview")
        self.preview.setOpenLinks(False)
        rows_box = QGroupBox(self.tr("All rows"))
        QVBoxLayout(rows_box).addWidget(self.table)
        preview_box = QGroupBox(self.tr("Preview: the row as the model sees it"))
        QVBoxLayout(preview_box).addWidget(self.preview)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(rows_box)
        lower.addWidget(preview_box)
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 2)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.mapping)
        split.addWidget(upper)
        split.addWidget(lower)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 2)
        split.setStretchFactor(2, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        self._show_preview_hint()

    def _build_doctor(self) -> QWidget:
        box = QGroupBox(self.tr("Dataset doctor"))
        form = QFormLayout()
        self.format_value = QLabel("—")
        self.rows_value = QLabel("—")
        self.good_value = QLabel("—")
        self.fields_value = QLabel("—")
        self.media_value = QLabel("—")
        for w, name in ((self.format_value, "format_value"), (self.rows_value, "rows_value"),
                        (self.good_value, "good_value"), (self.fields_value, "fields_value"),
                        (self.media_value, "media_value")):
            w.setObjectName(name)
            w.setWordWrap(True)
        form.addRow(self.tr("Format"), self.format_value)
        form.addRow(self.tr("Rows"), self.rows_value)
        form.addRow(self.tr("Good rows"), self.good_value)
        form.addRow(self.tr("Unknown fields"), self.fields_value)
        form.addRow(self.tr("Media rows"), self.media_value)
        self.notice = QLabel()
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.skip_bad = QCheckBox(self.tr("Train on the good rows, skip the bad ones"))
        self.skip_bad.setObjectName("skip_bad_rows")
        self.skip_bad.setToolTip(self.tr("Off: training refuses a file with bad rows, naming "
                                         "them (config key skip_bad_rows)."))
        self.skip_bad.hide()
        self.problems = QStringListModel(self)
        self.problem_rows: list[int] = []
        self.problem_list = QListView()
        self.problem_list.setObjectName("problem_list")
        self.problem_list.setModel(self.problems)
        self.problem_list.setUniformItemSizes(True)
        self.problem_list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.problem_list.setToolTip(self.tr("Click a problem to show its row."))
        layout = QVBoxLayout(box)
        layout.addLayout(form)
        layout.addWidget(self.notice)
        layout.addWidget(self.skip_bad)
        layout.addWidget(self.problem_list, 1)
        layout.addStretch(0)
        self.problem_list.hide()
        return box

    def _connect(self) -> None:
        d = self.doctor
        d.sig_index.connect(self._on_index)
        d.sig_fields.connect(self._on_fields)
        self.mapping.sig_columns.connect(self._columns_chosen)
        d.sig_report.connect(self._on_report)
        d.sig_lengths.connect(self._on_lengths)
        d.sig_tokenizer.connect(self._on_tokenizer)
        d.sig_tokenizer_error.connect(self._on_tokenizer_error)
        d.sig_preview.connect(self._on_preview)
        d.sig_preview_error.connect(self._on_preview_error)
        d.sig_error.connect(self._on_error)
        d.sig_busy.connect(self._on_busy)
        self.open_button.clicked.connect(self.open_dialog)
        self.format_combo.currentIndexChanged.connect(self._format_chosen)
        self.max_length.valueChanged.connect(lambda v: self.draft.update(max_length=int(v)))
        self.skip_bad.toggled.connect(lambda on: self.draft.update(skip_bad_rows=bool(on)))
        self.problem_list.clicked.connect(self._problem_clicked)
        self.problem_list.activated.connect(self._problem_clicked)
        self.table.selectionModel().currentRowChanged.connect(
            lambda cur, _prev: self._show_row(cur.row()))
        self.histogram.sig_row_clicked.connect(self.jump_to_row)
        self.draft.sig_changed.connect(self._sync_from_draft)

    # --- public --------------------------------------------------------------------------------
    def dataset_path(self) -> str:
        return self._path

    def open_dialog(self) -> None:
        start = str(Path(self._path).parent) if self._path else ""
        path, _ = QFileDialog.getOpenFileName(
            self, self.tr("Open a dataset"), start,
            self.tr("Datasets") + f" ({file_patterns()})")
        if path:
            self.open_file(path)

    def open_file(self, path: str, columns: Optional[str] = None) -> None:
        """Show `path` and make it the run's dataset, read through `columns` (None: the
        mapping last chosen for this file, if any); the doctor starts in its worker."""
        path = str(Path(path).expanduser())
        self._path = path
        self._report = None
        self.rows.set_source(None, "")
        self._clear_summary()
        self.path_label.setText(path)
        self.path_label.setToolTip(path)
        columns = prefs.remembered_columns(path) if columns is None else str(columns)
        self.mapping.set_mapping(columns)
        self.map_button.setChecked(bool(columns))
        self.doctor.open(path, self.format_combo.currentData(), columns)
        prefs.add_recent("datasets", path)
        self.draft.update(dataset=path, columns=columns)
        self.sig_dataset_changed.emit(path)

    def set_tokenizer_source(self, model: str) -> None:
        """Measure and preview with the tokenizer and chat template of `model`."""
        self.doctor.set_tokenizer_source(model)
        if model:
            self.histogram.show_message(self.tr("Loading the tokenizer of {name}…").format(
                name=Path(model).name or model))
        else:
            self._lengths_hint()

    def jump_to_row(self, row: int) -> None:
        """Select the 1-based row `row` in the table and preview it."""
        if not 1 <= row <= self.rows.rowCount():
            return
        index = self.rows.index(row - 1, 0)
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect |
            QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)

    def tour_ready(self) -> bool:
        """The tour waits for the check and the lengths before its screenshot."""
        if self._report is None or self.doctor.busy():
            return False
        if self.table.currentIndex().row() < 0 and self.rows.rowCount():
            self.jump_to_row(1)
        return True

    def shutdown(self) -> None:
        self.doctor.shutdown()

    # --- draft ---------------------------------------------------------------------------------
    def _sync_from_draft(self, changed: dict) -> None:
        if "max_length" in changed:
            self.max_length.blockSignals(True)
            self.max_length.setValue(int(changed["max_length"]))
            self.max_length.blockSignals(False)
            self.histogram.set_max_length(int(changed["max_length"]))
            self._refresh_preview()
        columns = str(changed.get("columns") or "")
        same_file = str(changed.get("dataset") or self._path) == self._path
        if "columns" in changed and self._path and same_file and columns != self.doctor.columns:
            self.mapping.set_mapping(columns)
            self._recheck(lambda: self.doctor.set_columns(columns))
        if "format" in changed:
            i = self.format_combo.findData(changed["format"])
            if i >= 0 and i != self.format_combo.currentIndex():
                self.format_combo.setCurrentIndex(i)
        if "skip_bad_rows" in changed:
            self.skip_bad.blockSignals(True)
            self.skip_bad.setChecked(bool(changed["skip_bad_rows"]))
            self.skip_bad.blockSignals(False)
        if "stage" in changed or "train_on_prompt" in changed:
            self.doctor.set_length_options(self.draft.get("stage"),
                                           bool(self.draft.get("train_on_prompt")))
            self._refresh_preview()
        if "model" in changed:
            self.set_tokenizer_source(str(changed["model"] or ""))
        dataset = str(changed.get("dataset") or "")
        if dataset and dataset != self._path and Path(dataset).is_file():
            self.open_file(dataset, changed.get("columns"))  # a config's own mapping wins

    def _format_chosen(self) -> None:
        fmt = self.format_combo.currentData()
        if fmt != "auto":
            self.draft.update(columns="")  # a format chosen by name reads the fields by name
        self.draft.update(format=fmt)
        if self._path:
            self._recheck(lambda: self.doctor.set_format(fmt))

    def _columns_chosen(self, columns: str) -> None:
        """A mapping from the panel: the run's config gets it, the file remembers it."""
        if self._path:
            prefs.remember_columns(self._path, columns)
        if columns and self.format_combo.currentData() != "auto":
            self.draft.update(format="auto")
        self.draft.update(columns=columns)

    def _recheck(self, start: Any) -> None:
        self._report = None
        self._clear_summary()
        start()

    # --- doctor results ----------------------------------------------------------------------
    def _on_index(self, index: Any, shape: Any) -> None:
        chosen = self.format_combo.currentData()
        self.rows.set_source(index, shape if chosen == "auto" else chosen)
        self.rows_value.setText(_n(len(index)))
        if self.rows.rowCount():
            self.jump_to_row(1)

    def _on_fields(self, proposal: Any, applied: bool) -> None:
        self.mapping.set_fields(proposal, applied)
        if applied:  # no known shape fits: the rows are read through the proposal
            self.mapping.set_mapping(str(proposal.columns))
            self.map_button.setChecked(True)
            self.draft.update(columns=str(proposal.columns))

    def _on_report(self, r: Any) -> None:
        self._report = r
        if shape_of(r) != self.rows.format():
            self.rows.set_format(shape_of(r))
            self.jump_to_row(1)
        if r.columns and not self.mapping.columns():
            self.mapping.set_mapping(r.columns)  # a layout detected without a mapping
        detected = r.detected_format or self.tr("nothing fits")
        self.format_value.setText(
            self.tr("{fmt} through the field mapping, {kind} file").format(
                fmt=r.format, kind=r.file_type) if r.columns else
            self.tr("{fmt} (detected), {kind} file").format(fmt=r.format, kind=r.file_type)
            if r.format == r.detected_format else
            self.tr("{fmt} (chosen; detected: {detected}), {kind} file").format(
                fmt=r.format, detected=detected, kind=r.file_type))
        self.rows_value.setText(_n(r.total_rows))
        self.good_value.setText(self.tr("{good} ({bad} with problems)").format(
            good=_n(r.good_rows), bad=_n(r.bad_rows)))
        self.fields_value.setText(", ".join(r.unknown_fields) or self.tr("none"))
        self.fields_value.setToolTip(self.tr("Fields Studio does not read for this format; "
                                             "they are ignored in training."))
        self.media_value.setText(self._media_text(r.media_rows))
        self._set_problems(r.problems)
        self._set_notice(r)
        self.skip_bad.setVisible(bool(r.problems) and r.good_rows > 0)
        if self.doctor.tokenizer is None:
            self._lengths_hint()

    def _media_text(self, rows: list[int]) -> str:
        if not rows:
            return self.tr("none")
        shown = ", ".join(str(r) for r in rows[:8]) + (" …" if len(rows) > 8 else "")
        return self.tr("{n} (rows {rows}): image/audio/video input is not trained").format(
            n=_n(len(rows)), rows=shown)

    def _set_notice(self, r: Any) -> None:
        if r.is_preference:
            text, colour = self.tr(
                "This file holds preference pairs (chosen / rejected), or replies labelled "
                "good / bad: train it with stage dpo (pairs) or kto. The preview shows the "
                "chosen reply; the rejected one is trained against it."), "#1e6b3a"
        elif not r.good_rows:
            text, colour = self.tr("No row can be trained on; the problems below say why."), \
                "#b03a2e"
        elif r.problems:
            text, colour = self.tr(
                "{bad} of {total} rows cannot be trained on. Training refuses the file unless "
                "bad rows are skipped; fix them or tick the box below.").format(
                bad=_n(r.bad_rows), total=_n(r.total_rows)), "#9a5b00"
        elif r.rows_scanned_limit:
            text, colour = "", ""
        else:
            text, colour = self.tr("Every row can be trained on."), "#1e8449"
        self.notice.setText(text)
        self.notice.setStyleSheet(f"color:{colour};" if colour else "")

    def _set_problems(self, problems: list) -> None:
        self.problem_rows = [p.row for p in problems[:MAX_PROBLEMS_LISTED]]
        lines = [self.tr("row {row}: {reason}").format(row=p.row, reason=p.reason)
                 for p in problems[:MAX_PROBLEMS_LISTED]]
        if len(problems) > MAX_PROBLEMS_LISTED:
            lines.append(self.tr("… and {n} more").format(
                n=_n(len(problems) - MAX_PROBLEMS_LISTED)))
        self.problems.setStringList(lines)
        self.problem_list.setVisible(bool(lines))

    def _problem_clicked(self, index: Any) -> None:
        if 0 <= index.row() < len(self.problem_rows):
            self.jump_to_row(self.problem_rows[index.row()])

    def _on_error(self, reason: str, details: str) -> None:
        self._report = None
        self.notice.setText(reason)
        self.notice.setStyleSheet("color:#b03a2e;")
        self.notice.setToolTip(details)
        self.format_value.setText("—")
        self.histogram.show_message(self.tr("This file cannot be read; see the reason on the "
                                            "left."))
        self.preview.setHtml(message_html(reason, "#b03a2e"))

    def _on_busy(self, what: str) -> None:
        texts = {"reading": self.tr("Reading the file…"), "checking": self.tr("Checking rows…"),
                 "tokenizer": self.tr("Loading the tokenizer…"),
                 "measuring": self.tr("Measuring token lengths…")}
        self.busy_label.setText(texts.get(what, what))  # else a message as it is (download)

    def _clear_summary(self) -> None:
        for w in (self.format_value, self.rows_value, self.good_value, self.fields_value,
                  self.media_value):
            w.setText("—")
        self.notice.setText("")
        self.notice.setToolTip("")
        self.skip_bad.hide()
        self.problems.setStringList([])
        self.problem_rows = []
        self._lengths_hint()

    # --- lengths -------------------------------------------------------------------------------
    def _lengths_hint(self) -> None:
        if self.doctor.tokenizer_source:
            return
        self.histogram.show_message(self.tr("Choose a model on the Model page: its tokenizer "
                                            "measures every row against max_length."))

    def _on_tokenizer(self, model: str) -> None:
        self.histogram.show_message(self.tr("Measuring token lengths…"))
        self._refresh_preview()

    def _on_tokenizer_error(self, reason: str, details: str) -> None:
        self.histogram.show_message(self.tr("The model's tokenizer cannot be used: {reason}")
                                    .format(reason=reason))

    def _on_lengths(self, sample: Any) -> None:
        self.histogram.set_sample(sample)
        if sample.done and sample.failed:  # the chat template refused these rows
            self.rows.set_problems({p.row: p.reason for p in sample.failed})

    # --- preview -------------------------------------------------------------------------------
    def _show_row(self, i: int) -> None:
        self._preview_row = i
        if i < 0 or i >= self.rows.rowCount():
            self._show_preview_hint()
            return
        s = self.rows.summary(i)
        problem = self.rows.problem(i)
        if problem or s.sample is None:
            self.preview.setHtml(problem_html(s.row, problem, self.rows.raw(i).value))
        elif not self.doctor.request_preview(s.sample, int(self.max_length.value())):
            self.preview.setHtml(messages_html(s))

    def _refresh_preview(self) -> None:
        if self._preview_row >= 0 and self.rows.rowCount():
            self._show_row(self._preview_row)

    def _on_preview(self, view: Any) -> None:
        if self._preview_row < 0 or self.rows.summary(self._preview_row).row != view.row:
            return  # an older request
        self.preview.setHtml(tokens_html(view))

    def _on_preview_error(self, row: int, reason: str) -> None:
        self.preview.setHtml(message_html(reason, "#b03a2e"))

    def _show_preview_hint(self) -> None:
        self.preview.setHtml(message_html(self.tr("Select a row to see it here.")))
