"""Stages dpo and kto end to end on the tiny starter: preferences are learned (margin rises,
accuracy above 0.5), every loss trains, the reference is stored for full weights, and stop /
resume / NaN / out-of-memory behave as for SFT."""

import json
import threading

import pytest
import torch
from safetensors.torch import load_file

from studio.core import config, runs
from studio.core.errors import ConfigError
from studio.core.train import trainer
from studio.core.train.preference import REFERENCE_FILE

PROMPTS = ["Say hello.", "你好吗？", "Name a colour.", "1 加 1 等于几？", "Tell me a fact.",
           "写一个词。", "What is the sky?", "Help me please."]
GOOD = "Sure! Here is a kind and careful answer."
BAD = "no."


def _pairs(n_copies=3):
    return [{"conversations": [{"from": "human", "value": p}],
             "chosen": {"from": "gpt", "value": GOOD}, "rejected": {"from": "gpt", "value": BAD}}
            for p in PROMPTS] * n_copies


@pytest.fixture()
def pairs_file(tmp_path):
    p = tmp_path / "dpo.json"
    p.write_text(json.dumps(_pairs(), ensure_ascii=False), encoding="utf-8")
    return p


@pytest.fixture()
def kto_file(tmp_path):
    rows = [{"prompt": p, "completion": GOOD if i % 2 else BAD, "label": bool(i % 2)}
            for i, p in enumerate(PROMPTS * 3)]
    p = tmp_path / "kto.jsonl"
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return p


def cfg_of(tmp_path, model, data, **kw):
    base = {"model": str(model), "dataset": str(data), "output_dir": str(tmp_path / "run"),
            "stage": "dpo", "method": "lora", "target_modules": "all-linear,lm_head",
            "max_steps": 6, "batch_size": 2, "grad_accum": 2, "learning_rate": 1e-2,
            "eval_split": 0.0, "save_steps": 100, "warmup_ratio": 0.0, "max_length": 128,
            "lr_scheduler": "constant", "pref_beta": 0.5}
    base.update(kw)
    return config.from_dict(base)


def _lines(run_dir, kind):
    return [r for r in runs.read_metrics(run_dir) if r.type == kind]


def test_dpo_learns_the_preference(tmp_path, tiny_model_dir, pairs_file):
    result = trainer.train(cfg_of(tmp_path, tiny_model_dir, pairs_file, max_steps=12,
                                  eval_split=0.25, eval_steps=12))
    assert result.status == "finished"
    first, last = _lines(result.run_dir, "eval")[0], _lines(result.run_dir, "eval")[-1]
    assert first.reward_margin == pytest.approx(0.0, abs=1e-6)  # the model is its reference
    assert last.reward_margin > 0.5 and last.reward_accuracy > 0.5
    assert last.eval_loss < first.eval_loss
    # the chosen reply's log-probability rose relative to the rejected one's
    assert last.logps_chosen - last.logps_rejected > first.logps_chosen - first.logps_rejected
    steps = _lines(result.run_dir, "step")
    assert steps[-1].reward_margin > steps[0].reward_margin
    raw = json.loads((result.run_dir / "metrics.jsonl").read_text().splitlines()[-3])
    assert {"rewards_chosen", "rewards_rejected", "reward_margin", "reward_accuracy",
            "logps_chosen", "logps_rejected"} <= raw.keys()
    assert (result.run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert not (result.run_dir / REFERENCE_FILE).exists()  # PEFT: the adapter switched off


@pytest.mark.parametrize("loss", ["ipo", "hinge", "orpo", "simpo"])
def test_every_pair_loss_trains_towards_the_chosen_reply(tmp_path, tiny_model_dir, pairs_file,
                                                         loss):
    # IPO's squared loss overshoots its target margin at 1e-2 on the tiny model (it oscillates):
    # 3e-3 is its stable rate there
    result = trainer.train(cfg_of(tmp_path, tiny_model_dir, pairs_file, pref_loss=loss,
                                  max_steps=8, pref_beta=2.0 if loss == "simpo" else 0.5,
                                  learning_rate=3e-3 if loss == "ipo" else 1e-2))
    steps = _lines(result.run_dir, "step")
    assert result.status == "finished" and steps[-1].loss < steps[0].loss
    assert steps[-1].reward_accuracy > 0.5 and steps[-1].reward_margin > steps[0].reward_margin


def test_kto_learns_good_and_bad_replies(tmp_path, tiny_model_dir, kto_file):
    result = trainer.train(cfg_of(tmp_path, tiny_model_dir, kto_file, stage="kto",
                                  max_steps=10, eval_split=0.25, eval_steps=10))
    steps, evals = _lines(result.run_dir, "step"), _lines(result.run_dir, "eval")
    assert result.status == "finished" and steps[-1].loss < steps[0].loss
    assert evals[0].reward_margin == pytest.approx(0.0, abs=1e-6)
    assert evals[-1].reward_margin > 0.5 and evals[-1].eval_loss < evals[0].eval_loss
    assert all(s.kl is not None and s.reward_accuracy is None for s in steps)  # no pairs
    assert all(e.kl is not None and e.reward_accuracy is None for e in evals)


def test_full_weights_store_the_reference_and_resume_exactly(tmp_path, tiny_model_dir,
                                                             pairs_file):
    kw = {"method": "full", "learning_rate": 2e-3, "target_modules": "all-linear"}
    straight = trainer.train(cfg_of(tmp_path / "a", tiny_model_dir, pairs_file, **kw))
    ref = json.loads((straight.run_dir / REFERENCE_FILE).read_text())
    assert len(ref["train"]) == len(_pairs()) and all(c < 0 and r < 0 for c, r in ref["train"])
    cfg = cfg_of(tmp_path / "b", tiny_model_dir, pairs_file, **kw)
    stop = threading.Event()

    class StopAt3:
        def on_step(self, m):
            if m.step == 3:
                stop.set()

        def on_eval(self, m):
            pass

        def on_event(self, e):
            pass

    assert trainer.train(cfg, StopAt3(), stop).status == "stopped"
    resumed = trainer.resume(cfg.output_dir)
    assert resumed.status == "finished" and resumed.step == 6
    a = load_file(str(straight.run_dir / "model" / "model.safetensors"))
    b = load_file(str(resumed.run_dir / "model" / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    for x, y in zip(_lines(straight.run_dir, "step"), _lines(resumed.run_dir, "step")):
        assert (x.loss, x.reward_margin) == pytest.approx((y.loss, y.reward_margin), rel=1e-5)


def test_the_micro_batch_split_does_not_change_the_step(tmp_path, tiny_model_dir, pairs_file):
    """Loss and metrics are means over the step's pairs, so 2 x 2 and 4 x 1 train alike (the
    out-of-memory remedy keeps the run)."""
    a = trainer.train(cfg_of(tmp_path / "a", tiny_model_dir, pairs_file, max_steps=2))
    b = trainer.train(cfg_of(tmp_path / "b", tiny_model_dir, pairs_file, max_steps=2,
                             batch_size=1, grad_accum=4))
    for x, y in zip(_lines(a.run_dir, "step"), _lines(b.run_dir, "step")):
        assert (x.loss, x.reward_margin, x.grad_norm) == pytest.approx(
            (y.loss, y.reward_margin, y.grad_norm), rel=1e-4, abs=1e-6)


def test_nan_and_out_of_memory_end_the_run_as_for_sft(tmp_path, tiny_model_dir, pairs_file,
                                                      monkeypatch):
    monkeypatch.setenv("STUDIO_FAULTS", "nan@3")
    result = trainer.train(cfg_of(tmp_path / "n", tiny_model_dir, pairs_file, save_steps=2))
    assert result.status == "failed" and "loss became nan at step 3" in result.reason
    monkeypatch.setenv("STUDIO_FAULTS", "oom@2")
    result = trainer.train(cfg_of(tmp_path / "o", tiny_model_dir, pairs_file))
    assert result.status == "failed" and "out of memory at step 2" in result.reason
    assert "batch_size=1 --set grad_accum=4" in result.reason
    monkeypatch.delenv("STUDIO_FAULTS")
    again = trainer.resume(result.run_dir, overrides={"batch_size": 1, "grad_accum": 4})
    assert again.status == "finished" and again.step == 6


def test_prompt_methods_are_refused_for_preference_stages(tmp_path, tiny_model_dir,
                                                          pairs_file):
    with pytest.raises(ConfigError, match="stage dpo compares replies"):
        trainer.train(cfg_of(tmp_path, tiny_model_dir, pairs_file, method="prompt_tuning"))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["dpo", "kto"])
def test_the_examples_run_as_is_from_the_repository_root(tmp_path, tiny_model_dir, pairs_file,
                                                         kto_file, name):
    """`python main.py train examples/NAME.yaml --set model=DIR --set dataset=FILE --set
    output_dir=DIR` (here two steps, so the test stays short)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    data = pairs_file if name == "dpo" else kto_file
    r = subprocess.run([sys.executable, "main.py", "train", f"examples/{name}.yaml",
                        "--set", f"model={tiny_model_dir}", "--set", f"dataset={data}",
                        "--set", f"output_dir={tmp_path / 'out'}", "--set", "max_steps=2",
                        "--set", "eval_steps=2"], cwd=root, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    assert runs.read_status(tmp_path / "out")["status"] == "finished"
    assert _lines(tmp_path / "out", "step")[-1].rewards_chosen is not None
    assert ("  margin " if name == "dpo" else "  kl ") in r.stdout  # on the console too
