"""The Data page: real files dropped on the real window, the doctor's findings by row number,
a 200,000-row file without freezing the window, lengths against max_length, token preview."""

import json
import time
from pathlib import Path

import pytest
from data_files import write_rows
from loop_check import assert_responsive, idle_baseline
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from studio.core.data.tokenize import tokenize_sample
from studio.core.data.view import summarize_row
from studio.paths import resource
from studio.services.latency import LatencyProbe
from studio.ui.data.panel import DataPanel


def _write_jsonl(path: Path, rows: list) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")
    return path


def _qa(i: int, words: int = 1) -> dict:
    return {"instruction": f"Question {i}?", "input": "", "output": "Fine answer. " * words}


def _drop(widget, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    pos = QPoint(widget.width() // 2, widget.height() // 2)
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)


@pytest.fixture
def studio(qtbot):
    from studio.app import Studio

    s = Studio()
    qtbot.addWidget(s.window)
    s.window.resize(1300, 850)
    s.window.show()
    yield s
    for key in s.window.page_keys():  # every built page's worker threads end with the test
        page = s.window.built_page(key)
        if hasattr(page, "shutdown"):
            page.shutdown()


@pytest.fixture
def panel(qtbot):
    p = DataPanel()
    qtbot.addWidget(p)
    p.resize(1300, 850)
    p.show()
    yield p
    p.shutdown()


def _wait_report(qtbot, panel, timeout=60000):
    qtbot.waitUntil(lambda: panel._report is not None and not panel.doctor.busy(),
                    timeout=timeout)
    return panel._report


def test_a_file_dropped_on_the_window_opens_in_the_data_page(qtbot, studio, tmp_path):
    path = _write_jsonl(tmp_path / "qa.jsonl", [_qa(i) for i in range(12)])
    _drop(studio.window, path)
    r = _wait_report(qtbot, studio.data)
    assert studio.window.current_page() == "data"
    assert studio.data.dataset_path() == str(path)
    assert studio.session.draft.get("dataset") == str(path)  # the run's dataset, no typing
    assert (r.format, r.total_rows, r.good_rows) == ("alpaca", 12, 12)
    assert studio.data.format_value.text().startswith("alpaca (detected)")
    assert studio.data.rows_value.text() == "12"
    assert studio.data.rows.rowCount() == 12


@pytest.mark.parametrize("suffix", [".tsv", ".ndjson"])
def test_every_file_type_the_engine_reads_opens_when_dropped(qtbot, studio, tmp_path, suffix):
    # the window used to accept 5 of the engine's 7 types: a dropped .tsv was refused
    kind = "tsv" if suffix == ".tsv" else "jsonl"
    path = write_rows(tmp_path, kind, [_qa(i) for i in range(4)]).rename(
        tmp_path / f"qa{suffix}")
    _drop(studio.window, path)
    r = _wait_report(qtbot, studio.data)
    assert studio.window.current_page() == "data"
    assert studio.data.dataset_path() == str(path)
    assert (r.format, r.total_rows, r.good_rows) == ("alpaca", 4, 4)


def test_dropping_the_same_file_again_reads_it_again(qtbot, studio, tmp_path):
    path = _write_jsonl(tmp_path / "qa.jsonl", [_qa(i) for i in range(3)])
    _drop(studio.window, path)
    _wait_report(qtbot, studio.data)
    _write_jsonl(path, [_qa(i) for i in range(5)])  # edited in another program
    with qtbot.waitSignal(studio.data.doctor.sig_report, timeout=30000):
        _drop(studio.window, path)
    assert studio.data._report.total_rows == 5


def test_broken_rows_are_listed_by_number_and_a_click_jumps_there(qtbot, panel, tmp_path):
    rows = [_qa(1), _qa(2), '{"instruction": "broken', _qa(4),
            {"instruction": "no answer", "input": ""},
            {"instruction": "look", "output": "a cat", "images": ["cat.png"]}, _qa(7)]
    path = _write_jsonl(tmp_path / "broken.jsonl", rows)
    panel.open_file(str(path))
    r = _wait_report(qtbot, panel)
    assert [p.row for p in r.problems] == [3, 5, 6]
    listed = panel.problems.stringList()
    assert listed[0].startswith("row 3: not valid JSON")
    assert listed[1].startswith("row 5:")
    assert "image" in listed[2]
    assert panel.media_value.text().startswith("1 (rows 6)")
    assert "3 of 7 rows cannot be trained on" in panel.notice.text()
    assert panel.skip_bad.isVisible()
    # click "row 5" in the list: the table and the preview go to row 5
    index = panel.problems.index(1)
    panel.problem_list.clicked.emit(index)
    assert panel.table.currentIndex().row() == 4
    assert "Row 5" in panel.preview.toPlainText()
    assert panel.rows.data(panel.rows.index(4, 1)) == panel.rows.problem(4) != "ok"
    panel.skip_bad.setChecked(True)
    assert panel.draft.get("skip_bad_rows") is True


def test_a_file_that_is_not_utf8_says_so(qtbot, panel, tmp_path):
    path = tmp_path / "gbk.jsonl"
    path.write_bytes(json.dumps(_qa(1), ensure_ascii=False).encode("utf-8") + b"\n" +
                     json.dumps({"instruction": "中文问题", "output": "回答"},
                                ensure_ascii=False).encode("gbk") + b"\n")
    with qtbot.waitSignal(panel.doctor.sig_error, timeout=30000):
        panel.open_file(str(path))
    text = panel.notice.text()
    assert "not UTF-8" in text and "line 2" in text and "GBK" in text


def test_preference_data_gets_a_notice(qtbot, panel, tmp_path):
    rows = [{"conversations": [{"from": "human", "value": f"hi {i}"}],
             "chosen": {"from": "gpt", "value": "good"},
             "rejected": {"from": "gpt", "value": "bad"}} for i in range(4)]
    panel.open_file(str(_write_jsonl(tmp_path / "dpo.jsonl", rows)))
    r = _wait_report(qtbot, panel)
    assert r.is_preference
    assert "preference pairs" in panel.notice.text()


def test_format_override_rereads_the_rows(qtbot, panel, tmp_path):
    rows = [{"text": f"plain text {i}", "instruction": f"q{i}", "output": f"a{i}"}
            for i in range(5)]
    panel.open_file(str(_write_jsonl(tmp_path / "mixed.jsonl", rows)))
    assert _wait_report(qtbot, panel).format == "alpaca"
    panel.format_combo.setCurrentIndex(panel.format_combo.findData("text"))
    r = _wait_report(qtbot, panel)
    assert r.format == "text" and r.detected_format == "alpaca"
    assert panel.draft.get("format") == "text"
    assert "chosen; detected: alpaca" in panel.format_value.text()
    assert panel.rows.summary(0).prompt == "plain text 0"


@pytest.mark.slow
def test_200k_rows_load_without_blocking_the_window(qtbot, panel, tmp_path):
    path = tmp_path / "big.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i in range(200_000):
            f.write(json.dumps(_qa(i, 1 + i % 7)) + "\n")
    idle = idle_baseline(qtbot)
    probe = LatencyProbe()
    probe.start()
    started = time.monotonic()
    panel.open_file(str(path))
    # the rows are readable as soon as the index is built, before the full check ends
    qtbot.waitUntil(lambda: panel.rows.rowCount() == 200_000, timeout=120000)
    _wait_report(qtbot, panel, timeout=240000)
    probe.stop()
    print("200k rows:", assert_responsive(probe, time.monotonic() - started, idle))
    assert panel._report.good_rows == 200_000
    # scrolling to the end reads only the rows on screen
    reads = panel.rows.reads
    panel.jump_to_row(199_990)
    qtbot.wait(100)
    panel.table.viewport().repaint()
    assert panel.table.currentIndex().row() == 199_989
    assert panel.rows.reads - reads < 200
    assert panel.rows.summary(199_989).prompt == "Question 199989?"


def test_histogram_says_how_many_rows_will_be_truncated(qtbot, panel, tmp_path, tiny_model_dir):
    rows = [_qa(i, words=1 + (i % 10) * 6) for i in range(30)]
    path = _write_jsonl(tmp_path / "lengths.jsonl", rows)
    panel.open_file(str(path))
    _wait_report(qtbot, panel)
    panel.set_tokenizer_source(str(tiny_model_dir))
    qtbot.waitUntil(lambda: panel.doctor.lengths is not None and panel.doctor.lengths.done,
                    timeout=120000)
    from studio.core.model.load import load_tokenizer

    tok = load_tokenizer(tiny_model_dir)  # the doctor's own is in the engine host
    lengths = [len(tokenize_sample(summarize_row(panel.rows.raw(i), "alpaca").sample, tok,
                                   None).input_ids) for i in range(30)]
    limit = sorted(lengths)[18]
    want = sum(n > limit for n in lengths)
    assert 0 < want < 30
    panel.max_length.setValue(limit)  # the spin box edits the run's max_length
    assert panel.draft.get("max_length") == limit
    assert panel.histogram.truncated == want
    assert f"{want} rows will be truncated" in panel.histogram.caption.text()
    assert panel.histogram.plot.isVisible()
    panel.draft.update(max_length=max(lengths))  # edited on another page
    assert panel.max_length.value() == max(lengths)
    assert "No row will be truncated" in panel.histogram.caption.text()


def test_preview_highlights_the_trained_tokens(qtbot, panel, tmp_path, tiny_model_dir):
    rows = [{"conversations": [{"from": "human", "value": "What is two plus two?"},
                               {"from": "gpt", "value": "Four, of course."}]}]
    panel.open_file(str(_write_jsonl(tmp_path / "one.jsonl", rows)))
    _wait_report(qtbot, panel)
    views = []
    panel.doctor.sig_preview.connect(views.append)
    panel.draft.update(model=str(tiny_model_dir))  # as the Model page does
    qtbot.waitUntil(lambda: bool(views), timeout=120000)
    view = views[-1]
    trained = "".join(t for t, k in view.spans if k == "train")
    masked = "".join(t for t, k in view.spans if k == "mask")
    assert trained.startswith("Four, of course.") and "<|im_end|>" in trained
    assert "What is two plus two?" in masked and "What" not in trained
    html = panel.preview.toHtml()
    assert "#c9ecd4" in html  # the trained span's highlight
    assert "Four, of course." in panel.preview.toPlainText()
    assert f"{view.trained} trained" in panel.preview.toPlainText()


def test_the_bundled_chinese_sample_opens(qtbot, panel):
    panel.open_file(str(resource("samples", "demo_zh_en.jsonl")))
    r = _wait_report(qtbot, panel)
    assert (r.format, r.good_rows) == ("alpaca", r.total_rows)
    assert panel.rows.summary(0).prompt.startswith("把下面的句子翻译成英文")


def test_the_preview_of_a_pair_shows_both_replies():
    from studio.core.data.types import Message, Sample
    from studio.core.data.view import RowSummary, TokenView
    from studio.ui.data.token_preview import messages_html, tokens_html

    sample = Sample(3, (Message("user", "q"), Message("assistant", "good")), rejected="bad")
    text = messages_html(RowSummary(3, "", 2, "q", "good", sample))
    assert "rejected" in text and "bad" in text
    side = TokenView(3, (("q ", "mask"), ("bad", "train")), 2, 1, 0, 2)
    view = TokenView(3, (("q ", "mask"), ("good", "train")), 2, 1, 0, 2, side)
    html_ = tokens_html(view)
    assert "Chosen reply" in html_ and "Rejected reply" in html_
    assert html_.index("good") < html_.index("Rejected reply") < html_.index("bad")
