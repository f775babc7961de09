"""DataDoctor: the dataset doctor's jobs run in worker threads, a child process and the engine
host (the tokenizer), and report through signals in the GUI thread; newer requests replace
older ones."""

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QThread

from studio.core.data.tokenize import tokenize_sample
from studio.core.data.view import summarize_row
from studio.services import data_host
from studio.services.data_worker import DataDoctor
from studio.services.engine_host import engine_host

ROOT = Path(__file__).resolve().parents[2]


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
    # the same lengths as tokenizing every row directly (the doctor's tokenizer is in the host)
    from studio.core.model.load import load_tokenizer

    tokenizer = load_tokenizer(tiny_model_dir)
    want = {}
    for i in range(40):
        s = summarize_row(doctor.index.read(i), "alpaca")
        want[s.row] = len(tokenize_sample(s.sample, tokenizer, None).input_ids)
    assert dict(zip(got.rows.tolist(), got.lengths.tolist())) == want
    limit = sorted(want.values())[20]
    assert got.over(limit) == sum(v > limit for v in want.values())


def _checked_and_measured(qtbot, doctor, tmp_path, model_dir):
    """A 3-row file checked, the model's tokenizer loaded and every row measured."""
    with qtbot.waitSignal(doctor.sig_report, timeout=30000):
        doctor.open(str(_alpaca(tmp_path / "a.jsonl", 3)))
    with qtbot.waitSignal(doctor.sig_tokenizer, timeout=120000):
        doctor.set_tokenizer_source(str(model_dir))
    qtbot.waitUntil(lambda: doctor.lengths is not None and doctor.lengths.done, timeout=60000)


def _started(call):
    """Wait (in a thread of its own) for the host call's first event: it is running."""
    started = threading.Event()
    threading.Thread(target=call.wait, args=(lambda kind, _: started.set(),),
                     daemon=True).start()
    assert started.wait(30)
    return call


def hold_the_tokenizer(ctx, source):
    """In the engine host: hold the doctor's tokenizer lock until cancelled."""
    _, lock = data_host.loaded_tokenizer(ctx, source)
    with lock:
        ctx.emit("held")
        ctx.cancel.wait(60)


def test_preview_renders_in_the_host_and_holds_the_tokenizer_lock(qtbot, doctor, tmp_path,
                                                                  tiny_model_dir):
    _checked_and_measured(qtbot, doctor, tmp_path, tiny_model_dir)
    sample = summarize_row(doctor.index.read(1), "alpaca").sample
    seen = []
    # while another thread of the host holds the lane's tokenizer lock, the preview must wait
    holder = _started(engine_host().call(hold_the_tokenizer, str(tiny_model_dir),
                                         lane=doctor.lane, serial=False))
    doctor.sig_preview.connect(seen.append)
    doctor.request_preview(sample, 512)
    qtbot.wait(500)
    assert not seen
    holder.cancel()
    qtbot.waitUntil(lambda: bool(seen), timeout=30000)
    view = seen[0]
    assert view.row == 2
    trained = "".join(t for t, k in view.spans if k == "train")
    assert "Answer 1." in trained
    assert "Question 1?" in "".join(t for t, k in view.spans if k == "mask")


def occupy_the_lane(ctx):
    """In the engine host: keep the lane's thread busy (as a long length pass) until cancelled."""
    ctx.emit("started")
    ctx.cancel.wait(60)


def test_a_preview_does_not_wait_behind_the_lanes_queue(qtbot, doctor, tmp_path,
                                                        tiny_model_dir):
    _checked_and_measured(qtbot, doctor, tmp_path, tiny_model_dir)
    busy = _started(engine_host().call(occupy_the_lane, lane=doctor.lane))
    seen = []
    doctor.sig_preview.connect(seen.append)
    try:
        doctor.request_preview(summarize_row(doctor.index.read(0), "alpaca").sample, 512)
        qtbot.waitUntil(lambda: bool(seen), timeout=30000)  # the lane is still busy
    finally:
        busy.cancel()
    assert seen[0].row == 1


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


_WINDOW = textwrap.dedent("""
    import json, sys
    from PySide6.QtCore import QCoreApplication, QTimer
    from studio.services.data_worker import DataDoctor

    app = QCoreApplication([])
    doctor = DataDoctor()
    got = {}

    def lengths(sample):
        if sample.done and "lengths" not in got:
            got["lengths"] = sample.good
            s = doctor.index.read(0)
            from studio.core.data.view import summarize_row
            doctor.request_preview(summarize_row(s, "alpaca").sample, 64)

    def preview(view):
        got["trained"] = view.trained
        app.quit()

    def failed(*why):
        got["error"] = why
        app.quit()

    doctor.sig_lengths.connect(lengths)
    doctor.sig_preview.connect(preview)
    for sig in (doctor.sig_error, doctor.sig_tokenizer_error, doctor.sig_preview_error):
        sig.connect(failed)
    doctor.open(sys.argv[1])
    doctor.set_tokenizer_source(sys.argv[2])
    QTimer.singleShot(120000, app.quit)
    app.exec()
    doctor.shutdown()
    got["heavy"] = [m for m in ("torch", "transformers", "peft") if m in sys.modules]
    print(json.dumps(got))
""")


def test_the_window_process_never_imports_the_engine(tmp_path, tiny_model_dir):
    """Lengths and a preview with a real model's tokenizer: torch loads in the host only."""
    path = _alpaca(tmp_path / "a.jsonl", 12)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", _WINDOW, str(path), str(tiny_model_dir)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got.get("lengths") == 12 and got.get("trained", 0) > 0, got
    assert got["heavy"] == []
