"""Embedding view with real vectors: MiniLM's king/queen/man/woman (PCA, analogy axes,
nearest tokens, arithmetic), dataset samples coloured by split or loss, drift arrows on a
trained run, optional UMAP / t-SNE with progress and cancel."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studio.core.probes.attention import resolve_target
from studio.paths import resource
from studio.ui.inspect.embedding_view import LOSS_BINS, EmbeddingView, group_brushes

WORDS = "king, queen, man, woman, prince, princess, apple, banana"
SAMPLES = resource("samples", "alpaca_shaped.json")  # 200 alpaca rows


@pytest.fixture
def view(qtbot, service):
    v = EmbeddingView(service)
    qtbot.addWidget(v)
    v.resize(1300, 850)
    v.show()
    return v


def _method(view, key):
    view.method.setCurrentIndex(view.method.findData(key))


def _wait(view):
    assert view.service.wait_idle(180)
    assert view.ready(), view.status.text()


def test_pca_of_words_with_labels_and_nearest_tokens(view, minilm_dir, tmp_path):
    view.set_target(resolve_target(minilm_dir))
    assert view.layer.count() == 1 + 7  # input embeddings + layers 0..6
    view.words.setText(WORDS)
    view.run()
    _wait(view)
    pts = view.canvas.points.getData()
    assert len(pts[0]) == 8 and len(view.canvas.labels) == 8
    assert "PCA" in view.status.text()
    view.query.setText("king - man + woman")
    view.find_neighbours()
    _wait(view)
    assert view.neighbours.item(0).text().startswith("queen")
    path = tmp_path / "embeddings_pca.png"
    assert view.grab().save(str(path)) and path.stat().st_size > 10_000


def test_analogy_axes_place_man_and_woman_at_the_ends(view, minilm_dir):
    view.set_target(resolve_target(minilm_dir))
    view.words.setText(WORDS)
    _method(view, "axis")
    assert view.axis_box.isVisibleTo(view)
    view.run()
    _wait(view)
    r = view.result
    xy = dict(zip(r.labels, r.coords))
    assert xy["man"][0] == pytest.approx(-1, abs=1e-4) and xy["woman"][0] == pytest.approx(1,
                                                                                         abs=1e-4)
    assert xy["king"][1] == pytest.approx(1, abs=1e-4)
    assert xy["queen"][0] > xy["king"][0] and xy["queen"][1] > xy["woman"][1]
    assert r.axis_names[0] == "man → woman"


def test_clicking_a_point_lists_its_neighbours(view, minilm_dir):
    view.set_target(resolve_target(minilm_dir))
    view.words.setText("paris, london")
    view.run()
    _wait(view)
    spot = view.canvas.points.points()[0]
    view._on_point_clicked(view.canvas.points, [spot])
    _wait(view)
    assert view.query.text() == "paris"
    shown = [view.neighbours.item(i).text().split()[0] for i in range(view.neighbours.count())]
    assert "france" in shown


def test_one_brush_per_group_not_per_point():
    groups = ("train",) * 500 + ("eval",) * 50
    brushes, legend = group_brushes(groups, None)
    assert len(brushes) == 550 and len({id(b) for b in brushes}) == 2
    assert [name for name, _ in legend] == ["train", "eval"]
    brushes, legend = group_brushes((), np.linspace(0, 5, 1000))
    assert len({id(b) for b in brushes}) == LOSS_BINS and len(legend) == 2


def test_dataset_samples_by_split_and_by_loss(view, trained_run, tmp_path):
    view.set_target(resolve_target(trained_run("lora")))
    view.src_samples.setChecked(True)
    view.dataset.setText(str(SAMPLES))
    view.rows.setValue(40)
    view.run()
    _wait(view)
    r = view.result
    assert len(r.labels) == 40 and set(r.groups) == {"train", "eval"}
    assert r.values is not None and np.isfinite(r.values).all()
    assert not view.canvas.labels  # samples are not labelled one by one
    view.colour_by.setCurrentIndex(1)  # by loss
    brushes = view.canvas.points.data["brush"]
    assert 1 < len({id(b) for b in brushes}) <= LOSS_BINS
    assert view.grab().save(str(tmp_path / "embeddings_samples.png"))


def test_drift_arrows_from_base_on_a_trained_run(view, trained_run):
    view.set_target(resolve_target(trained_run("lora")))
    assert view.compare.isEnabled()
    view.words.setText("one, two, three, plus, It")
    view.layer.setCurrentIndex(view.layer.count() - 1)  # last layer: LoRA changes hidden states
    view.compare.setChecked(True)
    view.run()
    _wait(view)
    x, y = view.canvas.arrows.getData()
    assert len(x) == 10  # one line (two ends) per word
    assert "drift" in view.status.text()


def test_3d_is_disabled_offscreen_with_a_note(view):
    assert not view.dims.model().item(1).isEnabled()
    assert "OpenGL" in view.note_3d.text()


def test_bad_words_and_missing_model_are_reported(view, minilm_dir):
    view.run()
    assert "model" in view.status.text().lower()
    view.set_target(resolve_target(minilm_dir))
    view.words.setText(" , ")
    view.run()
    assert "no words" in view.status.text()
    _method(view, "axis")
    view.words.setText("cat")
    view.axis_x[1].setText("")
    view.run()
    assert "two words" in view.status.text()


@pytest.mark.skipif(importlib.util.find_spec("openTSNE") is None, reason="openTSNE not installed")
def test_tsne_in_the_background_with_progress_and_cancel(view, minilm_dir, qtbot):
    view.set_target(resolve_target(minilm_dir))
    view.words.setText(WORDS + ", boy, girl, car, train, cat, dog")
    _method(view, "tsne")
    view.run()
    assert view.cancel_button.isVisible() and not view.run_button.isEnabled()
    _wait(view)
    assert view.result.method == "tsne" and view.result.coords.shape == (14, 2)
    assert not view.cancel_button.isVisible()
    view.run()
    view.cancel_button.click()
    view.service.wait_idle(120)
    assert view.status.text() == "cancelled" and view.run_button.isEnabled()


GL_SCRIPT = """
# The engine host is a spawned process: it imports this script again (as __mp_main__),
# where opening a window and probing must not happen, hence the main guard.
import os, sys


if __name__ == "__main__":
    os.environ.pop("QT_QPA_PLATFORM", None)
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from studio.core.probes.attention import resolve_target
    from studio.services.probe_worker import ProbeService
    from studio.ui.inspect.embedding_view import EmbeddingView, opengl_problem
    assert opengl_problem() == "", opengl_problem()
    svc = ProbeService()
    view = EmbeddingView(svc)
    view.resize(1200, 800)
    view.show()
    view.set_target(resolve_target(sys.argv[1]))
    view.words.setText("king, queen, man, woman, apple, banana")
    view.dims.setCurrentIndex(1)
    view.run()
    assert svc.wait_idle(120)
    for _ in range(10):
        app.processEvents()
    img = view.gl_view.grabFramebuffer()  # widget.grab() misses the GL content
    img.save(sys.argv[2])
    dark = sum(img.pixelColor(x, y).lightness() < 128 for x in range(0, img.width(), 4)
               for y in range(0, img.height(), 4))
    print("3d", view.result.coords.shape[1], len(view.gl_labels), dark, view.canvas.isVisible())
    svc.shutdown()
"""


@pytest.mark.slow  # starts an X server and a GL context (~15 s)
@pytest.mark.skipif(shutil.which("xvfb-run") is None or importlib.util.find_spec("OpenGL") is None,
                    reason="3D needs xvfb-run and PyOpenGL (GLViewWidget fails offscreen)")
def test_3d_view_under_xvfb(minilm_dir, tmp_path):
    script = tmp_path / "gl.py"
    script.write_text(GL_SCRIPT, encoding="utf-8")
    png = tmp_path / "embeddings_3d.png"
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[3])
    r = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1400x900x24", sys.executable,
                        str(script), str(minilm_dir), str(png)], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    dims, labels, dark, flat_visible = r.stdout.split()[-4:]
    assert (dims, labels, flat_visible) == ("3", "6", "False")
    assert int(dark) > 20  # points and labels were drawn
