"""The stall sampler charges a late event loop to the code the GUI thread was running."""

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
