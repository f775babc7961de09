"""Live curves: buffers, smoothing, resume overlap, overlays, and redraw on a timer."""

import time

import numpy as np
import pytest

from studio.core.events import EvalMetrics, StepMetrics
from studio.ui.plots import REDRAW_MS, PlotsView, Series, ema


def step(i, loss=1.0, mem=100.0):
    return StepMetrics(step=i, loss=loss, lr=1e-3, grad_norm=0.5, tokens=10, tokens_per_s=50.0,
                       mem_mb=mem, total_steps=100)


def test_series_grows_and_truncates_for_a_resume():
    s = Series(capacity=2)
    for i in range(1, 11):
        s.append(i, i * 10)
    assert len(s) == 10 and s.y[-1] == 100
    s.truncate_from(7)
    assert list(s.x) == [1, 2, 3, 4, 5, 6]


def test_ema_is_debiased_and_skips_nan():
    out = ema(np.array([4.0, 4.0, np.nan, 4.0]), 0.9)
    assert out == pytest.approx([4.0, 4.0, 4.0, 4.0])  # no pull towards zero at the start
    assert ema(np.array([1.0, 3.0]), 0.0) == pytest.approx([1.0, 3.0])


def test_records_fill_the_buffers_and_curves_update_on_the_timer(qtbot):
    view = PlotsView()
    qtbot.addWidget(view)
    for i in range(1, 21):
        view.add_step(step(i, loss=2.0 / i))
    view.add_eval(EvalMetrics(step=20, eval_loss=0.4, perplexity=1.5))
    assert view.points("loss") == 20 and view.points("eval_loss") == 1
    assert view.points("mem_peak") == 20
    assert len(view.curves["loss"].getData()[0] or []) == 0  # not drawn per record
    qtbot.wait(REDRAW_MS * 3)
    x, y = view.curves["loss"].getData()
    assert list(x) == list(range(1, 21))
    assert view.curves["loss_smooth"].getData()[1][-1] > y[-1]  # smoothing lags a falling loss
    assert "20" in view.status.text()


def test_a_resumed_run_continues_the_curve_and_redoes_overlapping_steps(qtbot):
    view = PlotsView()
    qtbot.addWidget(view)
    for i in range(1, 9):  # killed at step 8, last checkpoint at step 5
        view.add_step(step(i, loss=1.0))
    view.add_eval(EvalMetrics(step=6, eval_loss=0.9, perplexity=2.0))
    for i in range(6, 11):  # resume redoes 6..10
        view.add_step(step(i, loss=0.5))
    xs = list(view.live.series["loss"].x)
    assert xs == list(range(1, 11))
    assert view.live.series["loss"].y[5] == 0.5
    assert view.points("eval_loss") == 0  # the eval of the discarded step 6 went with it


def test_overlays_add_and_remove(qtbot):
    view = PlotsView()
    qtbot.addWidget(view)
    view.add_overlay("old-run", [step(i, loss=3.0 - i * 0.1) for i in range(1, 11)])
    assert view.overlays() == ["old-run"]
    qtbot.wait(REDRAW_MS * 3)
    assert len(view._overlays["old-run"][1]["loss_smooth"].getData()[0]) == 10
    assert "old-run" in view.plots["loss"].titleLabel.text
    view.remove_overlay("old-run")
    assert view.overlays() == []


def test_log_scale_and_smoothing_controls(qtbot):
    view = PlotsView()
    qtbot.addWidget(view)
    for i in range(1, 6):
        view.add_step(step(i, loss=float(i)))
    view.log_box.setChecked(True)
    assert view.plots["loss"].ctrl.logYCheck.isChecked()
    view.smooth_box.setValue(0.0)
    assert list(view.live.series["loss_smooth"].y) == pytest.approx([1, 2, 3, 4, 5])


def test_a_100k_point_loss_curve_redraws_fast(qtbot):
    view = PlotsView()
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    n = 100_000
    loss = view.live.series["loss"]
    for i in range(n):
        loss.append(i, 1.0 + np.sin(i / 500.0))
    view._dirty = True
    view.redraw()
    qtbot.wait(50)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        view.curves["loss"].setData(loss.x, loss.y)
        view.graphics.viewport().repaint()  # paint now, all six charts
        times.append(time.perf_counter() - t0)
    print(f"100k-point loss curve: setData + repaint of all charts {min(times) * 1000:.1f} ms")
    assert min(times) < 0.1  # ~10 ms here unloaded; generous for a busy 2-core machine


def test_memory_curves_follow_the_device(qtbot):
    from studio.core.memory import MemorySample

    view = PlotsView()
    qtbot.addWidget(view)
    gpu = MemorySample(allocated_mb=800.0, reserved_mb=1024.0, peak_mb=900.0, rss_mb=2000.0)
    view.add_step(step(1), gpu)
    assert [view.points(k) for k in ("mem_allocated", "mem_reserved", "mem_peak")] == [1, 1, 1]
    assert view.live.series["mem_peak"].y[0] == 900.0  # the allocator's peak, not RSS
    cpu = MemorySample(allocated_mb=600.0, reserved_mb=600.0, peak_mb=650.0, rss_mb=600.0)
    view2 = PlotsView()
    qtbot.addWidget(view2)
    view2.add_step(step(1, mem=650.0), cpu)
    assert view2.points("mem_allocated") == 0 and view2.points("mem_rss") == 1
    qtbot.wait(REDRAW_MS * 3)
    title = view2.plots["memory"].titleLabel.text
    assert "process RSS" in title and "allocated" not in title
