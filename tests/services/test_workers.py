"""Worker threads: queued signals carrying frozen dataclasses, results and errors."""

import threading

from PySide6.QtCore import QObject, QThread, Slot

from studio.core.errors import DataError
from studio.core.events import StepMetrics
from studio.services.workers import Task, TrainWorker, describe_error, run_task


class Receiver(QObject):
    """Lives in the GUI thread; records which thread each delivery ran in."""

    def __init__(self):
        super().__init__()
        self.steps: list[StepMetrics] = []
        self.threads: set = set()
        self.results: list = []

    @Slot(object, object)
    def on_step(self, m, mem):
        self.steps.append(m)
        self.threads.add(QThread.currentThread())

    @Slot(object)
    def on_result(self, r):
        self.results.append(r)


def test_5000_queued_signals_from_a_worker_thread_all_arrive_in_the_gui_thread(qtbot):
    # Guards against PySide6 6.12.0's abort after ~50 cross-thread emits (facts.md).
    n = 5000

    def job(reporter, stop):
        for i in range(1, n + 1):
            reporter.on_step(StepMetrics(step=i, loss=1.0 / i, lr=1e-3, grad_norm=0.5,
                                         tokens=64, tokens_per_s=1000.0, mem_mb=10.0))
        return "done"

    recv = Receiver()
    thread = QThread()
    worker = TrainWorker(job, threading.Event())
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    worker.sig_step.connect(recv.on_step)
    worker.sig_result.connect(recv.on_result)
    thread.start()
    qtbot.waitUntil(lambda: recv.results == ["done"], timeout=60000)
    qtbot.waitUntil(lambda: len(recv.steps) == n, timeout=60000)
    thread.quit()
    thread.wait()
    assert [m.step for m in recv.steps] == list(range(1, n + 1))
    assert recv.threads == {QThread.currentThread()}  # delivered in the GUI thread


def test_train_worker_reports_the_memory_sample_with_each_step(qtbot):
    got = []
    worker = TrainWorker(lambda rep, stop: rep.on_step(StepMetrics(1, 1.0, 0.1, 0.1, 1, 1.0, 1.0)),
                         threading.Event(), sample_memory=lambda: "sample")
    worker.sig_step.connect(lambda m, mem: got.append(mem))
    worker.run()  # in this thread: signals are direct
    assert got == ["sample"]


def test_task_returns_its_result_in_the_gui_thread(qtbot):
    results, threads = [], []

    def on_result(r):
        results.append(r)
        threads.append(QThread.currentThread())

    task = run_task(lambda a, b: (a + b, threading.current_thread().name), 2, 3,
                    on_result=on_result)
    qtbot.waitUntil(lambda: bool(results), timeout=10000)
    qtbot.waitUntil(lambda: not task.running, timeout=10000)
    assert results[0][0] == 5
    assert results[0][1] != threading.current_thread().name  # it ran elsewhere
    assert threads == [QThread.currentThread()]
    assert task not in Task._live


def test_task_error_gives_the_user_reason_or_a_traceback(qtbot):
    errors = []

    def bad_data():
        raise DataError("row 3 has no 'output'")

    def bug():
        return {}["missing"]

    run_task(bad_data, on_error=lambda r, d: errors.append((r, d)))
    run_task(bug, on_error=lambda r, d: errors.append((r, d)))
    qtbot.waitUntil(lambda: len(errors) == 2, timeout=10000)
    by_reason = dict(errors)
    assert by_reason["row 3 has no 'output'"] == ""  # a user error: no traceback
    key_error = next(r for r in by_reason if r.startswith("KeyError"))
    assert "Traceback" in by_reason[key_error]


def test_describe_error_keeps_one_line():
    reason, details = describe_error(ValueError("first line\nsecond line"))
    assert reason == "ValueError: first line"
    assert "second line" in details


def test_a_task_thread_ends_by_itself_without_the_gui_loop(qtbot):
    # At shutdown nothing runs the queued slot that quits a thread; a QThread destroyed while
    # running aborts the process. The worker ends its own thread when its call returns.
    import time

    task = run_task(time.sleep, 0.2)
    assert task.wait(10_000)  # blocks the GUI thread: no event is processed meanwhile
    assert Task.wait_all(1.0)
