"""Live curves: buffers, smoothing, resume overlap, overlays, and redraw on a timer."""

import time

import numpy as np
import pytest

from studio.core.events import EvalMetrics, StepMetrics
from studio.ui.train.decimate import peak_decimate
from studio.ui.train.plots import OVERLAY_COLOURS, PlotsView, Series, ema


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


def drawn(curve) -> int:
    """Points a curve item holds (its data is None before the first draw)."""
    x = curve.getData()[0]
    return 0 if x is None else len(x)


def test_records_fill_the_buffers_and_curves_update_on_the_timer(qtbot):
    view = PlotsView()
    qtbot.addWidget(view)
    for i in range(1, 21):
        view.add_step(step(i, loss=2.0 / i))
    view.add_eval(EvalMetrics(step=20, eval_loss=0.4, perplexity=1.5))
    assert view.points("loss") == 20 and view.points("eval_loss") == 1
    assert view.points("mem_peak") == 20
    assert len(view.curves["loss"].getData()[0] or []) == 0  # not drawn per record
    qtbot.waitUntil(lambda: drawn(view.curves["loss"]) == 20, timeout=10_000)
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
    smooth = view._overlays["old-run"][1]["loss_smooth"]
    qtbot.waitUntil(lambda: drawn(smooth) == 10, timeout=10_000)
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
    from studio.core.model.memory import MemorySample

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
    qtbot.waitUntil(lambda: "process RSS" in view2.plots["memory"].titleLabel.text,
                    timeout=10_000)
    title = view2.plots["memory"].titleLabel.text
    assert "process RSS" in title and "allocated" not in title


def noisy_run(n=10_000, spike_at=6000, seed=0):
    """A past run: noisy grad norm with one spike (x20) at spike_at, a decaying loss."""
    rng = np.random.default_rng(seed)
    for i in range(1, n + 1):
        norm = 1.0 + 0.3 * abs(rng.standard_normal())
        yield StepMetrics(step=i, loss=2.0 + 3.0 * np.exp(-i / 2000), lr=1e-3,
                          grad_norm=norm * (20 if i == spike_at else 1), tokens=10,
                          tokens_per_s=50.0, mem_mb=100.0, total_steps=n)


def test_peak_decimation_keeps_each_columns_min_and_max_and_the_ends():
    rng = np.random.default_rng(0)
    x = np.arange(1, 10_001, dtype=float)
    y = rng.standard_normal(x.size)
    y[6000], y[7000] = 40.0, -30.0  # a spike and a dip
    y[100], y[200] = np.nan, np.inf  # skipped, not drawn
    px = (x[-1] - x[0]) / 600  # 600 columns
    dx, dy = peak_decimate(x, y, px)
    assert len(dx) <= 2 * 601
    assert dx[0] == x[0] and dx[-1] == x[-1]
    assert dy.max() == 40.0 and dy.min() == -30.0 and np.isfinite(dy).all()
    assert (np.diff(dx) >= 0).all()
    # every column's envelope is the data's
    cols = np.floor((x - x[0]) / px).astype(int)
    for c in (0, 17, 376, 599):
        in_col = y[(cols == c) & np.isfinite(y)]
        drawn = dy[np.floor((dx - x[0]) / px).astype(int) == c]
        assert drawn.max() == in_col.max() and drawn.min() == in_col.min()
    sparse = np.arange(10.0) * 100  # fewer points than columns: as they are
    assert peak_decimate(sparse, sparse, px)[0] is sparse


def test_a_10k_step_overlay_draws_a_few_points_per_pixel_with_its_spike(qtbot):
    view = PlotsView()
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    qtbot.waitExposed(view)
    view.add_overlay("old", noisy_run())
    view.redraw()
    curves, items, _ = view._overlays["old"]
    full = curves.series["grad_norm"]
    x, y = items["grad_norm"].getData()
    width = view.plots["grad_norm"].vb.width()
    # two min/max columns per pixel (one per pixel leaves empty columns when the chart is a
    # few percent narrower than when they were made)
    assert 0 < len(x) <= 4 * width + 4
    assert full.y[5999] > 10 and y.max() == full.y[5999]  # the spike at step 6000 is drawn
    assert y.min() == full.y.min()
    assert x[0] == 1 and x[-1] == 10_000
    # zoomed in on 200 steps, the overlay is decimated again: every step is drawn
    view.plots["grad_norm"].vb.setXRange(5900, 6100, padding=0)
    assert len(items["grad_norm"].getData()[0]) == 10_000


def colour_pixels(image, colour):
    from PySide6.QtGui import QColor

    rgb = QColor(colour).rgb() & 0xFFFFFF
    img = image.toImage() if hasattr(image, "toImage") else image
    img = img.convertToFormat(img.Format.Format_RGB32)
    arr = np.frombuffer(img.constBits(), np.uint32).reshape(img.height(), -1)[:, :img.width()]
    return int(((arr & 0xFFFFFF) == rgb).sum())


def test_overlays_are_painted_once_then_reused_while_the_live_run_grows(qtbot):
    view = PlotsView()
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    qtbot.waitExposed(view)
    view.add_overlay("old", noisy_run(n=2000))
    for i in range(1, 50):
        view.add_step(StepMetrics(step=i, loss=3.0, lr=1e-3, grad_norm=1.0, tokens=10,
                                  tokens_per_s=50.0, mem_mb=100.0, total_steps=2000))
    view.redraw()
    first = view.grab()
    assert colour_pixels(first, OVERLAY_COLOURS[0]) > 500  # the past run is on screen
    layer = view._layers["grad_norm"]
    renders = layer.renders
    for i in range(50, 60):  # the live run grows; the past run's picture is reused
        view.add_step(StepMetrics(step=i, loss=3.0, lr=1e-3, grad_norm=1.0, tokens=10,
                                  tokens_per_s=50.0, mem_mb=100.0, total_steps=2000))
        view.redraw()
        view.grab()
    assert layer.renders == renders
    view.plots["grad_norm"].vb.translateBy(x=50)  # the view moves: drawn anew
    view.grab()
    assert layer.renders == renders + 1
    view.remove_overlay("old")
    view.redraw()
    assert colour_pixels(view.grab(), OVERLAY_COLOURS[0]) == 0


def test_zoomed_in_the_y_range_fits_the_overlays_in_view(qtbot):
    view = PlotsView()
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    qtbot.waitExposed(view)
    view.add_overlay("old", noisy_run())  # smoothed loss decays from 5 to ~2
    view.redraw()
    view.grab()
    vb = view.plots["loss"].vb
    assert vb.viewRange()[1][1] > 4.5
    vb.setXRange(9000, 10_000, padding=0)
    view.grab()  # auto-range is applied before a paint
    assert vb.viewRange()[1][1] < 2.2


def test_an_exported_chart_keeps_its_overlays(qtbot):
    from pyqtgraph.exporters import ImageExporter

    view = PlotsView()
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    view.add_overlay("old", noisy_run(n=2000))
    view.redraw()
    image = ImageExporter(view.plots["grad_norm"]).export(toBytes=True)
    assert colour_pixels(image, OVERLAY_COLOURS[0]) > 200
    view.grab()  # back on screen, painted by the layer again
    assert view._layers["grad_norm"].renders >= 1
    view.remove_overlay("old")
    view.redraw()
    image = ImageExporter(view.plots["grad_norm"]).export(toBytes=True)
    assert colour_pixels(image, OVERLAY_COLOURS[0]) == 0


def test_a_constant_learning_rate_reads_as_its_value_not_zero(qtbot):
    view = PlotsView()
    qtbot.addWidget(view)
    view.resize(1200, 700)
    for i in range(1, 51):
        view.add_step(step(i))  # lr 1e-3 at every step
    view.redraw()
    lo, hi = view.plots["lr"].vb.viewRange()[1]
    assert lo < 1e-3 < hi and hi - lo < 1e-3  # pyqtgraph's own +-0.5 would label it "0"


def test_the_step_count_is_shown_whole_for_a_long_run(qtbot):
    view = PlotsView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    for i in range(1, 100_001):
        view.add_step(step(i))
    view.redraw()
    text = view.status.text()
    assert text == "100,000 steps"
    assert view.status.width() >= view.status.fontMetrics().horizontalAdvance(text)


def test_preference_runs_get_reward_and_accuracy_charts(qtbot):
    import dataclasses

    view = PlotsView()
    qtbot.addWidget(view)
    view.add_step(step(1))
    qtbot.waitUntil(lambda: drawn(view.curves["loss"]) == 1, timeout=10_000)
    assert not view.preference_shown and view.plots["rewards"].scene() is None  # sft: 6 charts
    for i in range(2, 12):
        view.add_step(dataclasses.replace(step(i), rewards_chosen=0.1 * i,
                                          rewards_rejected=-0.1 * i, reward_margin=0.2 * i,
                                          reward_accuracy=min(1.0, 0.1 * i)))
    qtbot.waitUntil(lambda: drawn(view.curves["reward_margin"]) == 10, timeout=10_000)
    assert view.preference_shown and view.plots["rewards"].scene() is not None
    x, y = view.curves["reward_margin"].getData()
    assert list(x) == list(range(2, 12)) and y[-1] == pytest.approx(2.2)
    assert view.points("reward_accuracy") == 10 and view.points("kl") == 0
    assert "margin" in view.plots["rewards"].titleLabel.text
    view.clear()  # the next run is sft again
    assert not view.preference_shown and view.plots["rewards"].scene() is None


def test_empty_charts_say_what_to_do_until_a_run_draws(qtbot):
    view = PlotsView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    assert view.hint.isVisible() and "Press Start" in view.hint.text()
    hint = view.hint.geometry()  # centred over the charts, inside them
    assert view.graphics.rect().contains(hint) and abs(hint.center().x()
                                                       - view.graphics.rect().center().x()) < 2
    view.add_step(step(1))
    view.redraw()
    assert not view.hint.isVisible()
    view.clear()
    view.redraw()
    assert view.hint.isVisible()


def test_a_run_starting_while_the_charts_are_built_leaves_them_one_per_turn(qtbot):
    # The tour's Train page starts its run at once: building every chart then froze the window
    # for 0.3 s. The charts built later still get the run's step axis.
    view = PlotsView()
    qtbot.addWidget(view)

    def built() -> int:
        return len(view.graphics.ci.items)  # the grid's charts so far

    assert built() == 1
    view.clear()
    view.add_step(step(1))  # total_steps=100: the step axes end at 100 (+2%)
    assert built() == 1
    qtbot.waitUntil(lambda: built() == 6, timeout=10_000)
    for key, plot in view.plots.items():
        assert plot.vb.viewRange()[0] == pytest.approx([0, 102]), key


def test_the_chart_area_paints_once_every_chart_is_built(qtbot):
    # each chart built per turn laid out and painted the whole grid again (3x the callbacks)
    view = PlotsView()
    qtbot.addWidget(view)
    view.show()
    assert not view.graphics.updatesEnabled()
    qtbot.waitUntil(view.graphics.updatesEnabled, timeout=10_000)
    assert len(view.graphics.ci.items) == 6  # the grid's charts (the others join with a run)
    other = PlotsView()
    qtbot.addWidget(other)
    assert other.plots and other.graphics.updatesEnabled()  # built at once when asked for
