"""The Inspect page's Changes (LoRA spectrum / weight change) and Evaluation (per checkpoint,
forgetting beside the training loss) tabs, on real runs; the pictures are saved for a look."""

import shutil

from studio.ui.inspect.changes_view import ChangesView, short_layer
from studio.ui.inspect.eval_view import EvalView, curves


def test_short_layer_names():
    assert short_layer("model.layers.3.self_attn.q_proj") == "3.q_proj"
    assert short_layer("lm_head") == "lm_head"


def test_changes_view_draws_the_spectrum_per_checkpoint(qtbot, trained_run, tmp_path):
    view = ChangesView()
    qtbot.addWidget(view)
    view.resize(1100, 500)
    view.show()
    view.set_run(trained_run("lora"))                     # lora_r=4
    qtbot.waitUntil(view.ready, timeout=60_000)
    assert view.result.kind == "spectrum" and view.result.rank == 4
    assert "rank 4" in view.summary.text() and "effective" in view.summary.text()
    assert [view.checkpoint.itemData(i) for i in range(view.checkpoint.count())] == [-1, 2, 4]
    assert len(view.lines.listDataItems()) == len(view.result.spectra)
    view.grab().save(str(tmp_path / "changes-lora.png"))
    view.checkpoint.setCurrentIndex(1)
    view.run()
    qtbot.waitUntil(lambda: view.ready() and view.result.step == 2, timeout=60_000)
    view.set_run(trained_run("full"))
    qtbot.waitUntil(lambda: view.ready() and view.result.kind == "norm", timeout=60_000)
    assert "weight matrices changed" in view.summary.text()
    view.grab().save(str(tmp_path / "changes-full.png"))


def test_eval_view_scores_the_held_out_corpus_per_checkpoint(qtbot, trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run("lora"), run)             # scoring writes eval.jsonl
    view = EvalView()
    qtbot.addWidget(view)
    view.resize(1100, 600)
    view.show()
    view.set_run(run)
    qtbot.waitUntil(view.ready, timeout=60_000)
    assert len(view.result["loss"]) == 4 and view.result["eval"] == []
    assert "No evaluation yet" in view.status.text()
    view.score("corpus")
    qtbot.waitUntil(lambda: view.ready() and bool(view.result["eval"]), timeout=180_000)
    points = curves(view.result["eval"])[("corpus", "perplexity")]
    assert [s for s, _ in points] == [0, 2, 4]
    assert view.table.rowCount() == 3
    assert "held-out corpus: perplexity" in view.status.text()
    view.grab().save(str(tmp_path / "eval.png"))
