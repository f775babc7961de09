"""The comparison board: runs under the runs folder, ticked -> the table (sortable, the same
numbers as compare), curves overlaid, CSV / Markdown / PNG export; the queue view and the
dialogs that fill the queue."""

import csv
import io
import shutil

import pytest

from studio.core import config
from studio.core.experiments import compare
from studio.core.experiments.queue import Queue
from studio.ui import prefs


@pytest.fixture()
def runs_root(tmp_path, trained_run):
    """A runs folder holding two finished runs (lora, full) inside one folder of runs."""
    root = tmp_path / "runs"
    for method in ("lora", "full"):
        shutil.copytree(trained_run(method), root / "methods" / method)
    prefs.set_runs_root(root)
    return root


def test_ticking_a_folder_of_runs_fills_the_table_and_chart(qtbot, runs_root, tmp_path):
    from studio.ui.experiments.board import ComparisonBoard

    board = ComparisonBoard()
    qtbot.addWidget(board)
    board.resize(1400, 800)
    board.show()
    qtbot.waitUntil(lambda: board.tree.topLevelItemCount() == 1, timeout=20000)
    folder = board.tree.topLevelItem(0)
    folder.setCheckState(0, folder.checkState(0).Checked)  # the whole folder
    qtbot.waitUntil(lambda: len(board.rows) == 2, timeout=60000)
    expected = {r["_path"]: r for r in compare.table([runs_root / "methods"])}
    shown = {board.table.item(i, 0).data(board_path_role()): i
             for i in range(board.table.rowCount())}
    assert set(shown) == set(expected)
    keys = board.column_keys()
    for path, i in shown.items():
        assert board.table.item(i, keys.index("eval_loss")).text() == \
            compare.cell("eval_loss", expected[path]["eval_loss"])
    board.sort_by("peak_mem_mb", descending=True)
    mems = [r["peak_mem_mb"] for r in board.rows_in_view_order()]
    assert mems == sorted(mems, reverse=True)
    board.export(tmp_path / "t.csv", "csv")
    parsed = list(csv.DictReader(io.StringIO((tmp_path / "t.csv").read_text())))
    assert [float(r["peak_mem_mb"]) for r in parsed] == mems  # in the order shown
    board.export(tmp_path / "t.md", "markdown")
    assert (tmp_path / "t.md").read_text().startswith("| run | method |")
    assert len(board.chart.getPlotItem().listDataItems()) == 2
    assert board.save_chart(tmp_path / "chart.png") and (tmp_path / "chart.png").stat().st_size
    board.answers.prompt.setText("What is 3 plus one?")
    board.answers.ask()
    qtbot.waitUntil(lambda: not board.answers.busy, timeout=120000)
    names = {board.answers.table.item(i, 0).text() for i in range(2)}
    assert names == {"lora", "full"} and board.answers.table.item(0, 1) is not None
    board.answers.prompt.setText("Who are you?")  # a second prompt: a column beside the first
    board.answers.ask()
    qtbot.waitUntil(lambda: not board.answers.busy, timeout=120000)
    heads = [board.answers.table.horizontalHeaderItem(c).text() for c in range(3)]
    assert heads[1:] == ["What is 3 plus one?", "Who are you?"]
    assert all(board.answers.table.item(r, c) is not None for r in range(2) for c in (1, 2))
    # every run here is finished and named by its method: those columns make room
    assert "method" not in keys and "status" not in keys and "eval_loss" in keys


def board_path_role():
    from studio.ui.experiments.board import PATH_ROLE

    return PATH_ROLE


def test_the_queue_view_shows_and_changes_the_queue_on_disk(qtbot, tmp_path, tiny_model_dir):
    from studio.ui.experiments.queue_view import QueueView

    root = tmp_path / "runs"
    q = Queue(root)
    base = config.from_dict(dict(model=str(tiny_model_dir), dataset="d.jsonl",
                                 output_dir=str(root / "a")))
    a = q.add(base)
    b = q.add(base.replace(output_dir=str(root / "b")))
    view = QueueView(root)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: view.tree.topLevelItemCount() == 2, timeout=10000)
    view.tree.setCurrentItem(view.tree.topLevelItem(1))
    view.buttons["up"].click()
    assert [e.id for e in q.read().entries] == [b.id, a.id]
    view.buttons["pause"].click()
    assert q.read().paused
    qtbot.waitUntil(lambda: view.tree.currentItem() is not None
                    and view.selected_id() == b.id, timeout=10000)
    view.buttons["cancel"].click()
    assert q.read().find(b.id).state == "cancelled"


def test_run_queue_starts_the_runner_with_the_chosen_parallel_runs(qtbot, tmp_path,
                                                                  tiny_model_dir, monkeypatch):
    from studio.ui.experiments.queue_view import QueueView

    started = []
    monkeypatch.setattr("studio.core.experiments.runner.start_background_runner",
                        lambda root, parallel=1: started.append((root, parallel)))
    root = tmp_path / "runs"
    Queue(root).add(config.from_dict(dict(model=str(tiny_model_dir), dataset="d.jsonl",
                                          output_dir=str(root / "a"))))
    view = QueueView(root)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: view.buttons["run"].isEnabled(), timeout=10000)
    view.parallel.setValue(2)
    view.buttons["run"].click()
    assert started == [(root, min(2, view.parallel.maximum()))]


def test_the_dialogs_queue_sweeps_and_methods(qtbot, tmp_path, tiny_model_dir, monkeypatch):
    from studio.ui.experiments import dialogs

    started = []
    monkeypatch.setattr("studio.core.experiments.runner.start_background_runner",
                        lambda root: started.append(root))  # no training in a dialog test
    root = tmp_path / "runs"
    base = config.from_dict(dict(model=str(tiny_model_dir), dataset="d.jsonl",
                                 output_dir=str(root / "sweep")))
    d = dialogs.SweepDialog(base, root)
    qtbot.addWidget(d)
    d.grid.setPlainText("lora_r=oops")
    assert not d.submit() and "lora_r" in d.problem.text()
    d.grid.setPlainText("learning_rate=1e-4,2e-4\nlora_r=4,8")
    assert d.submit() and d.queued == 4
    m = dialogs.CompareMethodsDialog(base, root)
    qtbot.addWidget(m)
    assert m.submit() and m.queued == 4
    entries = Queue(root).read().entries
    assert sorted(e.config["method"] for e in entries[4:]) == \
        ["full", "lora", "prompt_tuning", "qlora"]
    assert {e.config["learning_rate"] for e in entries[4:] if e.config["method"] == "full"} \
        == {2e-5}
    assert len(started) == 2
