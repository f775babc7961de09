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
