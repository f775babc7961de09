"""The stall sampler charges a late event loop to the code the GUI thread was running."""

import threading
import time

from studio.services.latency import LatencyProbe
from studio.services.stall_sampler import StallSampler, attribute


def _spin_on_the_gui_thread(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sum(range(1000))  # Python, holding the GIL like any work done in a slot


def test_a_stall_is_charged_to_what_the_gui_thread_ran(qtbot, tmp_path):
    from PySide6.QtCore import QTimer

    probe = LatencyProbe()
    sampler = StallSampler(probe, tmp_path / "stalls.txt")
    probe.start()
    sampler.start()
    QTimer.singleShot(0, lambda: _spin_on_the_gui_thread(0.5))
    qtbot.wait(800)
    probe.stop()
    sampler.stop()
    assert sampler.samples, "a 0.5 s stall left no sample"
    ours = [s for s in sampler.samples if any("_spin_on_the_gui_thread" in f for f in s.gui)]
    assert len(ours) >= 3  # ~40 at 10 ms apart; fewer when the sampler waits for the GIL
    assert "_spin_on_the_gui_thread" in sampler.report()
    assert "_spin_on_the_gui_thread" in (tmp_path / "stalls.txt").read_text(encoding="utf-8")


def test_attribution_names_the_studio_frame_and_the_innermost_one():
    stack = ["/x/site-packages/pyqtgraph/AxisItem.py:999 paint",
             "/repo/studio/ui/train/plots.py:120 _build_chart",
             "/repo/studio/cli/demo.py:75 run"]
    assert attribute(stack) == \
        "ui/train/plots.py:120 _build_chart  <-  pyqtgraph/AxisItem.py:999 paint"
    assert attribute(["/repo/studio/cli/demo.py:75 run", "/repo/main.py:9 <module>"]) == \
        "(event loop)"


class _Canary:
    """Records the thread that releases it (where a QObject's destructor would run)."""

    freed_in: list[str] = []

    def __del__(self):
        _Canary.freed_in.append(threading.current_thread().name)


class _StalledProbe:
    last_tick = 1e-9  # a tick long ago: the loop looks stalled until the test sets 0


def _work_while_sampled(sampler: StallSampler, probe: _StalledProbe) -> None:
    canary = _Canary()  # a local of the "GUI thread", like a widget or item made in a slot
    deadline = time.monotonic() + 10
    while not sampler.samples and time.monotonic() < deadline:
        time.sleep(0.005)
    probe.last_tick = 0.0  # no more samples: the sampler keeps whatever it last took
    assert sampler.samples and canary is not None


def test_the_sampler_never_releases_the_gui_threads_objects_in_its_own_thread():
    """Sampled with sys._current_frames(), a function that returned while the sampler held its
    frame had its locals freed in the sampler's thread: Qt objects destroyed off the GUI thread
    (the tour's intermittent SIGSEGV). Its locals must be freed here, when it returns."""
    _Canary.freed_in.clear()
    probe = _StalledProbe()
    sampler = StallSampler(probe).start()
    _work_while_sampled(sampler, probe)
    freed_on_return = list(_Canary.freed_in)
    sampler.stop()
    assert freed_on_return == [threading.current_thread().name], _Canary.freed_in
    assert any("_work_while_sampled" in f for f in sampler.samples[0].gui)


def test_a_workers_objects_are_released_in_the_worker_too():
    """The sampler reads every thread's stack: a worker's `self` (a QObject living in its
    QThread) must not end up freed in the sampler's thread either."""
    _Canary.freed_in.clear()
    probe = _StalledProbe()
    sampler = StallSampler(probe).start()
    worker = threading.Thread(target=_work_while_sampled, args=(sampler, probe), name="worker")
    worker.start()
    worker.join(timeout=15)
    freed_on_return = list(_Canary.freed_in)
    sampler.stop()
    assert freed_on_return == ["worker"], _Canary.freed_in
    assert any("_work_while_sampled" in f for st in sampler.samples[0].others.values()
               for f in st)
