"""Stage grpo end to end on the tiny starter: it samples, scores, steps and reports; resume is
exact (sampling included); a reward that raises stops the run with a checkpoint, naming it and
the row; an untrusted reward file stops nothing but the start; NaN ends the run as for SFT."""

import json
import threading

import pytest
import torch
from safetensors.torch import load_file

from studio.core import config, runs
from studio.core.errors import ConfigError
from studio.core.train import trainer
from studio.core.train.grpo.rewards import file_sha256

QA = [("What colour is the sky?", "blue"), ("猫喜欢吃什么？", "鱼"),
      ("What do bees make?", "honey"), ("What is frozen water?", "ice")]
ROWS = [{"prompt": f"{q} Reply as: Answer: <word>", "answer": a} for q, a in QA]


@pytest.fixture()
def prompts_file(tmp_path):
    p = tmp_path / "prompts.jsonl"
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS), encoding="utf-8")
    return p


def cfg_of(tmp_path, model, data, **kw):
    base = {"model": str(model), "dataset": str(data), "output_dir": str(tmp_path / "run"),
            "stage": "grpo", "method": "lora", "max_steps": 3, "batch_size": 1, "grad_accum": 2,
            "learning_rate": 1e-2, "save_steps": 100, "warmup_ratio": 0.0, "max_length": 64,
            "lr_scheduler": "constant", "grpo_group_size": 4, "grpo_max_completion": 6,
            "grpo_rewards": "format:1,length:0.1,ends_turn:0.2"}
    base.update(kw)
    return config.from_dict(base)


def _steps(run_dir):
    return [r for r in runs.read_metrics(run_dir) if r.type == "step"]


def _completions(run_dir):
    lines = (run_dir / "completions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(x) for x in lines]


class StopAt:
    def __init__(self, step, event):
        self.step, self.event = step, event

    def on_step(self, m):
        if m.step == self.step:
            self.event.set()

    def on_eval(self, m):
        pass

    def on_event(self, e):
        pass


def test_a_lora_run_reports_rewards_kl_lengths_and_its_groups(tmp_path, tiny_model_dir,
                                                              prompts_file):
    result = trainer.train(cfg_of(tmp_path, tiny_model_dir, prompts_file, max_steps=2,
                                  report_to="tensorboard"))
    assert result.status == "finished" and (result.run_dir / "adapter").is_dir()
    steps = _steps(result.run_dir)
    assert [m.step for m in steps] == [1, 2]
    for m in steps:
        assert set(m.rewards) == {"format", "length", "ends_turn"}
        total = m.rewards["format"]["mean"] + 0.1 * m.rewards["length"]["mean"] \
            + 0.2 * m.rewards["ends_turn"]["mean"]
        assert m.reward == pytest.approx(total, abs=1e-6)
        assert 1 <= m.completion_length <= 6 and m.kl >= 0 and 0 <= m.clip_fraction <= 1
    assert steps[0].kl == pytest.approx(0.0, abs=1e-6)  # adapter off = the policy at first
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(result.run_dir / "tensorboard"))
    acc.Reload()
    assert [e.value for e in acc.Scalars("grpo/reward_format")] == pytest.approx(
        [m.rewards["format"]["mean"] for m in steps], rel=1e-6)
    assert [e.value for e in acc.Scalars("grpo/reward")] == pytest.approx(
        [m.reward for m in steps], rel=1e-6)
    groups = _completions(result.run_dir)
    assert [g["step"] for g in groups] == [1, 2]
    assert len(groups[0]["completions"]) == 4 and groups[0]["prompt"].endswith("<word>")
    first = groups[0]["completions"][0]
    assert set(first) == {"text", "tokens", "ended", "rewards", "total", "advantage"}


def test_full_weights_resume_exactly_sampling_included(tmp_path, tiny_model_dir, prompts_file):
    """full with beta > 0 keeps a frozen copy of the base as the reference; stopped at step 2
    and resumed, the run samples the same completions and ends with the same weights."""
    kw = {"method": "full", "learning_rate": 2e-3, "max_steps": 4, "grpo_beta": 0.1,
          "grpo_iterations": 2}
    straight = trainer.train(cfg_of(tmp_path / "a", tiny_model_dir, prompts_file, **kw))
    cfg = cfg_of(tmp_path / "b", tiny_model_dir, prompts_file, **kw)
    stop = threading.Event()
    assert trainer.train(cfg, StopAt(2, stop), stop).status == "stopped"
    resumed = trainer.resume(cfg.output_dir)
    assert resumed.status == "finished" and resumed.step == 4
    a = load_file(str(straight.run_dir / "model" / "model.safetensors"))
    b = load_file(str(resumed.run_dir / "model" / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    texts = [[c["text"] for c in g["completions"]] for g in _completions(straight.run_dir)]
    assert texts == [[c["text"] for c in g["completions"]] for g in
                     _completions(resumed.run_dir)]
    for x, y in zip(_steps(straight.run_dir), _steps(resumed.run_dir)):
        assert (x.loss, x.reward, x.kl) == pytest.approx((y.loss, y.reward, y.kl), rel=1e-5,
                                                         abs=1e-7)
    assert _steps(straight.run_dir)[-1].kl > 0  # the reference stayed the base


def test_a_raising_reward_stops_with_a_checkpoint_naming_it_and_the_row(tmp_path,
                                                                        tiny_model_dir,
                                                                        prompts_file):
    f = tmp_path / "rewards.py"
    f.write_text("def picky(completion, prompt, reference):\n"
                 "    if reference == 'honey':\n"
                 "        raise KeyError('no judge for bees')\n"
                 "    return 0.0\n", encoding="utf-8")
    cfg = cfg_of(tmp_path, tiny_model_dir, prompts_file, grpo_rewards="picky,ends_turn",
                 grpo_reward_file=str(f), grpo_reward_file_sha256=file_sha256(f),
                 max_steps=6, grad_accum=1, save_steps=1)
    result = trainer.train(cfg)
    assert result.status == "failed"
    assert "reward picky raised KeyError: 'no judge for bees' (row 3" in result.reason
    assert runs.read_status(result.run_dir)["status"] == "failed"
    steps = runs.checkpoint_steps(runs.open_run(result.run_dir))
    assert steps and steps[-1] == result.step  # the weights up to the failed step are kept
    assert f"the last good checkpoint is step {result.step}" in result.reason


def test_an_untrusted_reward_file_refuses_the_start_without_running_it(tmp_path,
                                                                       tiny_model_dir,
                                                                       prompts_file):
    marker = tmp_path / "ran"
    f = tmp_path / "rewards.py"
    f.write_text(f"open({str(marker)!r}, 'w').close()\ndef mine(**kw):\n    return 1.0\n")
    with pytest.raises(ConfigError, match=file_sha256(f)):
        trainer.train(cfg_of(tmp_path, tiny_model_dir, prompts_file, grpo_rewards="mine",
                             grpo_reward_file=str(f)))
    assert not marker.exists() and not (tmp_path / "run").exists()


def test_nan_and_oom_end_the_run_and_prompt_methods_are_refused(tmp_path, tiny_model_dir,
                                                        prompts_file, monkeypatch):
    monkeypatch.setenv("STUDIO_FAULTS", "nan@2")
    result = trainer.train(cfg_of(tmp_path / "n", tiny_model_dir, prompts_file))
    assert result.status == "failed" and "loss became nan at step 2" in result.reason
    monkeypatch.setenv("STUDIO_FAULTS", "oom@2")
    result = trainer.train(cfg_of(tmp_path / "o", tiny_model_dir, prompts_file))
    assert result.status == "failed" and "out of memory at step 2" in result.reason
    assert "smaller grpo_group_size than 4" in result.reason
    monkeypatch.delenv("STUDIO_FAULTS")
    with pytest.raises(ConfigError, match="stage grpo scores sampled replies"):
        trainer.train(cfg_of(tmp_path / "p", tiny_model_dir, prompts_file,
                             method="prompt_tuning"))
