"""report_to: tensorboard writes event files that TensorBoard's own reader reads back with the
same values as metrics.jsonl."""

import json
import sys

import pytest

from studio.core import config
from studio.core.errors import ConfigError
from studio.core.train import trainer


def _cfg(tmp_path, tiny_model_dir, **keys):
    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": f"What is {i} plus one?"},
        {"role": "assistant", "content": f"It is {i + 1}."}]}) + "\n" for i in range(12)))
    return config.from_dict(dict(model=str(tiny_model_dir), dataset=str(data), method="lora",
                                 output_dir=str(tmp_path / "run"), max_steps=3, batch_size=4,
                                 max_length=64, eval_split=0.25, eval_steps=2, lora_r=4,
                                 report_to="tensorboard", **keys), check_required=True)


def test_tensorboard_event_files_hold_the_metrics_values(tmp_path, tiny_model_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = trainer.train(_cfg(tmp_path, tiny_model_dir))
    assert result.status == "finished"
    lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    acc = EventAccumulator(str(result.run_dir / "tensorboard"))
    acc.Reload()
    loss = [(e.step, e.value) for e in acc.Scalars("train/loss")]
    assert loss == [(x["step"], pytest.approx(x["loss"], rel=1e-6))
                    for x in lines if x["type"] == "step"]
    evals = [(e.step, e.value) for e in acc.Scalars("eval/loss")]
    assert evals == [(x["step"], pytest.approx(x["eval_loss"], rel=1e-6))
                     for x in lines if x["type"] == "eval"]
    assert len(evals) == 3  # before training, at step 2, at the end


def test_a_missing_tensorboard_is_refused_before_the_run_folder_exists(tmp_path, tiny_model_dir,
                                                                       monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if it were not installed
    with pytest.raises(ConfigError, match="pip install tensorboard"):
        trainer.train(_cfg(tmp_path, tiny_model_dir))
    assert not (tmp_path / "run").exists()


def test_mlflow_holds_the_metrics_and_params_and_a_resume_continues_its_run(tmp_path,
                                                                          tiny_model_dir):
    from mlflow.tracking import MlflowClient

    from studio.core.train.tracking_mlflow import default_uri

    cfg = _cfg(tmp_path, tiny_model_dir).replace(report_to="mlflow", max_steps=2)
    result = trainer.train(cfg)
    assert result.status == "finished"
    trainer.resume(result.run_dir, overrides={"max_steps": 3})
    lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    run_id = json.loads((result.run_dir / "mlflow" / "run.json").read_text())["run_id"]
    client = MlflowClient(tracking_uri=default_uri(result.run_dir))  # MLflow's own reader
    loss = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "train/loss"))
    assert loss == [(x["step"], pytest.approx(x["loss"], rel=1e-6))
                    for x in lines if x["type"] == "step"]
    assert [s for s, _ in loss] == [1, 2, 3]
    evals = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "eval/loss"))
    assert evals == sorted((x["step"], pytest.approx(x["eval_loss"], rel=1e-6))
                           for x in lines if x["type"] == "eval")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert run.data.params["method"] == "lora" and run.data.params["max_steps"] == "2"
    assert float(run.data.params["learning_rate"]) == cfg.learning_rate
    assert run.data.tags["resumed_with.max_steps"] == "3"  # MLflow params cannot change
    assert len(client.search_runs([run.info.experiment_id])) == 1  # the resume reused it


@pytest.mark.parametrize("blocked", ["mlflow", "sqlalchemy"])
def test_a_missing_mlflow_is_refused_in_one_line(tmp_path, tiny_model_dir, monkeypatch,
                                                 blocked):
    monkeypatch.setitem(sys.modules, blocked, None)  # as if it were not installed
    cfg = _cfg(tmp_path, tiny_model_dir).replace(report_to="mlflow")
    with pytest.raises(ConfigError, match=f"needs {blocked}.*pip install mlflow-skinny") as e:
        trainer.train(cfg)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "run").exists()


def test_mlflow_s_folder_store_is_refused_with_the_way_out(tmp_path, tiny_model_dir,
                                                          monkeypatch):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    cfg = _cfg(tmp_path, tiny_model_dir).replace(report_to="mlflow",
                                                 mlflow_tracking_uri=str(tmp_path / "mlruns"))
    with pytest.raises(ConfigError, match="sqlite:///"):
        trainer.train(cfg)
    assert not (tmp_path / "run").exists()
