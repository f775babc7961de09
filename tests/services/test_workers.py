"""Worker threads: queued signals carrying frozen dataclasses, results and errors."""

import threading

from PySide6.QtCore import QObject, QThread, Slot
from train_host_jobs import bad_rows, many_steps, until_stopped

from studio.core.errors import DataError
from studio.core.events import RunEvent, StepMetrics
from studio.core.model.telemetry import MemorySample
from studio.services.train_host import HostReporter
from studio.services.workers import Task, TrainWorker, describe_error, run_task


class Receiver(QObject):
    """Lives in the GUI thread; records which thread each delivery ran in."""

    def __init__(self):
        super().__init__()
        self.steps: list[StepMetrics] = []
        self.mems: list = []
        self.threads: set = set()
        self.results: list = []

    @Slot(object, object)
    def on_step(self, m, mem):
        self.steps.append(m)
        self.mems.append(mem)
        self.threads.add(QThread.currentThread())

    @Slot(object)
    def on_result(self, r):
        self.results.append(r)


def _relay(qtbot, worker, recv):
    """Run a TrainWorker in its own QThread until its result arrives."""
    thread = QThread()
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    worker.sig_step.connect(recv.on_step)
    worker.sig_result.connect(recv.on_result)
    thread.start()
    qtbot.waitUntil(lambda: bool(recv.results), timeout=60000)
    thread.quit()
    thread.wait()


def test_5000_steps_from_the_engine_host_all_arrive_in_the_gui_thread(qtbot):
    # Guards against PySide6 6.12.0's abort after ~50 cross-thread emits (facts.md), and the
    # relay keeps the host's order and each step's memory sample.
    n = 5000
    recv = Receiver()
    worker = TrainWorker(many_steps, (n,), threading.Event())
    evals, events = [], []
    worker.sig_eval.connect(evals.append)
    worker.sig_event.connect(events.append)
    _relay(qtbot, worker, recv)
    qtbot.waitUntil(lambda: len(recv.steps) == n and bool(events), timeout=60000)
    assert recv.results == ["done"]
    assert [m.step for m in recv.steps] == list(range(1, n + 1))
    assert recv.mems[:2] == ["sample 1", "sample 2"] and recv.mems[-1] == f"sample {n}"
    assert recv.threads == {QThread.currentThread()}  # delivered in the GUI thread
    assert [e.step for e in evals] == [n] and [e.event for e in events] == ["finished"]


def test_setting_the_stop_event_cancels_the_call_in_the_host(qtbot):
    recv = Receiver()
    stop = threading.Event()
    worker = TrainWorker(until_stopped, (), stop)
    worker.sig_step.connect(lambda m, mem: stop.set())  # stop once the run is under way
    _relay(qtbot, worker, recv)
    assert recv.results == ["stopped"]


def test_a_run_that_fails_in_the_host_reports_its_one_line_reason(qtbot):
    errors = []
    worker = TrainWorker(bad_rows, (), threading.Event())
    worker.sig_error.connect(lambda r, d: errors.append((r, d)))
    worker.run()  # in this thread: signals are direct
    assert errors == [("row 3 has no 'output'", "")]


def test_the_host_reporter_sends_each_step_with_a_memory_sample():
    sent = []

    class Ctx:
        def emit(self, kind, payload):
            sent.append((kind, payload))

    m = StepMetrics(1, 1.0, 0.1, 0.1, 1, 1.0, 1.0)
    reporter = HostReporter(Ctx())
    reporter.on_step(m)
    reporter.on_event(RunEvent(step=1, event="saved"))
    assert [k for k, _ in sent] == ["step", "event"]
    step, mem = sent[0][1]
    assert step is m and isinstance(mem, MemorySample) and mem.rss_mb > 0


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
