"""HostStreamJob: a StreamJob whose work runs in the engine host; its events arrive in the GUI
thread and its cancel reaches the host call."""

import os
import time

from PySide6.QtCore import QThread

from studio.services.stream_job import HostStreamJob


def count(ctx, n):
    for i in range(n):
        ctx.emit("n", (i, os.getpid()))


def until_cancelled(ctx, marker):
    ctx.emit("started")
    if ctx.cancel.wait(60):
        with open(marker, "w") as f:  # what the host saw, where the window can read it
            f.write("cancelled")


def test_events_of_the_host_call_arrive_in_the_gui_thread(qtbot):
    got, threads = [], []
    job = HostStreamJob("count", count, 5)
    job.sig_item.connect(lambda kind, p: (got.append((kind, p[0])), threads.append(
        QThread.currentThread())))
    with qtbot.waitSignal(job.sig_done, timeout=120000):
        job.start()
    assert got == [("n", i) for i in range(5)]
    assert set(threads) == {QThread.currentThread()}


def test_cancel_reaches_the_host_call(qtbot, tmp_path):
    marker = tmp_path / "seen"
    started = []
    job = HostStreamJob("wait", until_cancelled, str(marker), lane="stream-job-test")
    job.sig_item.connect(lambda kind, p: started.append(kind))
    job.start()
    qtbot.waitUntil(lambda: bool(started), timeout=120000)
    t0 = time.monotonic()
    with qtbot.waitSignal(job.sig_done, timeout=30000):
        job.cancel()
    assert time.monotonic() - t0 < 20  # not the 60 s the call waits uncancelled
    assert marker.read_text() == "cancelled"
