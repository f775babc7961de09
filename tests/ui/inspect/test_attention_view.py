"""Attention view with real data: MiniLM's mosaic and heads, a trained tiny decoder's causal
triangle and its base-vs-tuned difference; rendered offscreen and grabbed as PNGs."""

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from studio.core.probes.attention import resolve_target
from studio.ui.inspect.attention_view import DIFF_MAP, AttentionView

SENTENCE = "The quick brown fox jumps over the lazy dog because it was bored."


@pytest.fixture
def view(qtbot, service):
    v = AttentionView(service)
    qtbot.addWidget(v)
    v.resize(1300, 850)
    v.show()
    return v


def _run(view, target, text, compare=False):
    view.set_target(target)
    view.text.setPlainText(text)
    view.compare.setChecked(compare)
    view.run()
    assert view.service.wait_idle(180)
    assert view.ready(), view.status.text()


def _click_view(plot, x, y, qtbot):
    """Click the plot at data coordinates (x, y)."""
    scene = plot.getPlotItem().vb.mapViewToScene(QPointF(x, y))
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton,
                     pos=plot.mapFromScene(scene))


def test_minilm_mosaic_click_opens_the_previous_token_head(view, minilm_dir, qtbot, tmp_path):
    _run(view, resolve_target(minilm_dir), SENTENCE)
    layers, heads, t = view.result.maps.shape
    assert "bidirectional" in view.status.text()
    img = view.mosaic_img.image
    step = view._tile + 2
    assert img.shape == (layers * step - 2, heads * step - 2)
    _click_view(view.mosaic, 2 * step + view._tile / 2, 0 * step + view._tile / 2, qtbot)
    assert (view.layer, view.head) == (0, 2)
    m = view.heat_img.image
    assert m.shape == (t, t)
    assert np.diagonal(m, offset=-1).mean() > 0.9  # each token looks at the one before
    path = tmp_path / "attention_minilm.png"
    assert view.grab().save(str(path))
    assert path.stat().st_size > 20_000


def test_head_summaries_and_token_lines(view, minilm_dir, qtbot):
    _run(view, resolve_target(minilm_dir), SENTENCE)
    view.show_head(1, 0)
    view.heads_mode.setCurrentIndex(1)  # mean over heads
    att = view.result.maps.attention
    np.testing.assert_allclose(view.heat_img.image, att[1].mean(axis=0), rtol=1e-5)
    view.heads_mode.setCurrentIndex(2)  # max
    np.testing.assert_allclose(view.heat_img.image, att[1].max(axis=0), rtol=1e-5)
    _click_view(view.heatmap, 3.5, 4.5, qtbot)  # a click on row 4 picks token 4 for the lines
    assert view.token == 4 and view.bottom_tabs.currentIndex() == 1
    np.testing.assert_allclose(view.lines.weights, att[1].max(axis=0)[4], rtol=1e-5)
    view.direction.setCurrentIndex(1)  # "is attended by": the column
    np.testing.assert_allclose(view.lines.weights, att[1].max(axis=0)[:, 4], rtol=1e-5)
    assert view.lines.grab().toImage().pixelColor(10, 10).isValid()


def test_tuned_decoder_shows_the_triangle_and_the_difference(view, trained_run, tmp_path):
    target = resolve_target(trained_run("lora"))
    assert view.compare.isEnabled() is False
    view.set_target(target)
    assert view.compare.isEnabled()
    _run(view, target, "What is 3 plus one? It is 4.", compare=True)
    assert "causal" in view.status.text()
    assert view.map_mode.isEnabled()
    tuned = view.heat_img.image
    assert np.triu(tuned, 1).max() == 0.0 and tuned.max() > 0
    view.map_mode.setCurrentIndex(2)  # difference
    diff = view.heat_img.image
    np.testing.assert_allclose(diff, view.result.diff[view.layer, view.head], atol=1e-7)
    assert np.abs(view.result.diff).max() > 1e-4  # four steps of LoRA moved the attention
    lo, hi = view.heat_img.levels
    assert lo == pytest.approx(-hi)  # diverging colours are centred on "no change"
    assert view.heat_img.getColorMap() is DIFF_MAP
    assert np.isnan(view.mosaic_img.image).any()  # gaps between tiles
    path = tmp_path / "attention_diff.png"
    assert view.grab().save(str(path))


def test_token_labels_under_the_square_map_do_not_overlap(view, tiny_model_dir, qtbot):
    view.resize(1300, 500)  # a wide, low view: the square map is narrower than the plot
    _run(view, resolve_target(tiny_model_dir), "one two three four five six " * 8)
    qtbot.wait(200)  # laid out: the labels follow the plot's final size
    vb = view.heatmap.getPlotItem().vb
    t = view.heat_img.image.shape[0]
    width = vb.mapViewToScene(QPointF(t, 0)).x() - vb.mapViewToScene(QPointF(0, 0)).x()
    shown = view.heatmap.getPlotItem().getAxis("bottom")._tickLevels[0]
    assert 1 < len(shown) < t
    assert (len(shown) - 1) * 45 <= width  # 45 px a label, as the view allows


def test_long_text_says_it_was_cut(view, tiny_model_dir):
    _run(view, resolve_target(tiny_model_dir), "word " * 600)
    assert view.result.maps.truncated and "cut" in view.status.text()
    assert view.heat_img.image.shape == (512, 512)
    assert view.mosaic_img.image.shape[1] <= 4 * (64 + 2)


def test_errors_show_in_the_status_line(view, tmp_path):
    view.run()
    assert "model" in view.status.text().lower()
    from studio.core.probes.attention import ProbeTarget

    view.set_target(ProbeTarget(model=tmp_path))
    view.text.setPlainText("hi")
    view.run()
    view.service.wait_idle(60)
    assert "could not" in view.status.text().lower()
