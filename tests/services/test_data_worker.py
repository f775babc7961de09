"""DataDoctor: the dataset doctor's jobs run in worker threads and report through signals in
the GUI thread; newer requests replace older ones."""

import json
import threading

import pytest
from PySide6.QtCore import QThread

from studio.core.data.tokenize import tokenize_sample
from studio.core.data.view import summarize_row
from studio.services.data_worker import DataDoctor


def _alpaca(path, n, long_every=0):
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            out = f"Answer {i}." + (" and more words" * 40 if long_every and i % long_every == 0
                                    else "")
            f.write(json.dumps({"instruction": f"Question {i}?", "input": "", "output": out})
                    + "\n")
    return path


@pytest.fixture
def doctor(qtbot):
    d = DataDoctor()
    yield d
    d.shutdown()


def test_open_emits_index_then_report_from_a_worker_thread(qtbot, doctor, tmp_path):
    path = _alpaca(tmp_path / "a.jsonl", 30)
    threads = []
    doctor.sig_report.connect(lambda r: threads.append(QThread.currentThread()))
    with qtbot.waitSignals([doctor.sig_index, doctor.sig_report], timeout=30000, order="strict"):
        doctor.open(str(path))
    assert threads == [QThread.currentThread()]  # delivered in the GUI thread
    r = doctor.report
    assert (r.format, r.total_rows, r.good_rows) == ("alpaca", 30, 30)
    assert len(doctor.index) == 30
    qtbot.waitUntil(lambda: doctor.busy() == "", timeout=10000)


def test_a_newer_file_replaces_the_older_one(qtbot, doctor, tmp_path):
    first = _alpaca(tmp_path / "first.jsonl", 20000)
    second = _alpaca(tmp_path / "second.jsonl", 7)
    reports = []
    doctor.sig_report.connect(reports.append)
    doctor.open(str(first))
    doctor.open(str(second))
    qtbot.waitUntil(lambda: doctor.busy() == "" and bool(reports), timeout=60000)
    qtbot.wait(200)
    assert [r.total_rows for r in reports] == [7]
    assert doctor.path == str(second)


def test_unreadable_file_is_one_error_signal(qtbot, doctor, tmp_path):
    bad = tmp_path / "gbk.json"
    bad.write_bytes(json.dumps([{"text": "中文"}], ensure_ascii=False).encode("gbk"))
    with qtbot.waitSignal(doctor.sig_error, timeout=30000) as sig:
        doctor.open(str(bad))
    reason, details = sig.args
    assert "not UTF-8" in reason and "gbk.json" in reason
    assert details == ""  # a DataError is a plain reason, no traceback


def test_lengths_with_the_models_tokenizer_are_exact_for_a_small_file(qtbot, doctor, tmp_path,
                                                                       tiny_model_dir):
    path = _alpaca(tmp_path / "a.jsonl", 40, long_every=4)
    with qtbot.waitSignal(doctor.sig_report, timeout=30000):
        doctor.open(str(path))
    doctor.set_tokenizer_source(str(tiny_model_dir))
    qtbot.waitUntil(lambda: doctor.lengths is not None and doctor.lengths.done, timeout=120000)
    got = doctor.lengths
    assert got.exact and got.good == 40
    # the same lengths as tokenizing every row directly
    want = {}
    for i in range(40):
        s = summarize_row(doctor.index.read(i), "alpaca")
        want[s.row] = len(tokenize_sample(s.sample, doctor.tokenizer, None).input_ids)
    assert dict(zip(got.rows.tolist(), got.lengths.tolist())) == want
    limit = sorted(want.values())[20]
    assert got.over(limit) == sum(v > limit for v in want.values())


def test_preview_renders_in_a_worker_and_holds_the_tokenizer_lock(qtbot, doctor, tmp_path,
                                                                  tiny_model_dir):
    path = _alpaca(tmp_path / "a.jsonl", 3)
    with qtbot.waitSignal(doctor.sig_report, timeout=30000):
        doctor.open(str(path))
    with qtbot.waitSignal(doctor.sig_tokenizer, timeout=120000):
        doctor.set_tokenizer_source(str(tiny_model_dir))
    sample = summarize_row(doctor.index.read(1), "alpaca").sample
    seen = []
    lock = doctor.tokenizer_lock
    # while the GUI thread holds the lock, the preview job must wait for it
    lock.acquire()
    done = threading.Event()
    doctor.sig_preview.connect(lambda v: (seen.append(v), done.set()))
    doctor.request_preview(sample, 512)
    qtbot.wait(300)
    assert not seen
    lock.release()
    qtbot.waitUntil(lambda: bool(seen), timeout=30000)
    view = seen[0]
    assert view.row == 2
    trained = "".join(t for t, k in view.spans if k == "train")
    assert "Answer 1." in trained
    assert "Question 1?" in "".join(t for t, k in view.spans if k == "mask")


def test_a_folder_without_a_tokenizer_is_reported(qtbot, doctor, tmp_path):
    empty = tmp_path / "not_a_model"
    empty.mkdir()
    with qtbot.waitSignal(doctor.sig_tokenizer_error, timeout=60000) as sig:
        doctor.set_tokenizer_source(str(empty))
    assert sig.args[0]
    assert doctor.tokenizer is None


def test_a_hub_id_tokenizer_comes_from_the_cache(qtbot, doctor, hub_cache):
    with qtbot.waitSignal(doctor.sig_tokenizer, timeout=120000) as sig:
        doctor.set_tokenizer_source(hub_cache)
    assert sig.args == [hub_cache]
    assert doctor.tokenizer is not None and doctor.tokenizer.chat_template
