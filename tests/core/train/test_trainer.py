"""The training loop on the real tiny model: every method learns, stop / resume / NaN / OOM."""

import json
import threading

import pytest
import torch
from safetensors.torch import load_file

from studio.core import config, runs
from studio.core.errors import ConfigError, DataError
from studio.core.events import NullReporter
from studio.core.train import trainer

ROWS = [
    {"instruction": "把这句话翻译成英文：今天天气很好。", "input": "",
     "output": "The weather is nice today."},
    {"instruction": "Name a primary colour.", "input": "", "output": "Red is a primary colour."},
    {"instruction": "1 加 1 等于几？", "input": "", "output": "1 加 1 等于 2。"},
    {"instruction": "Say hello.", "input": "", "output": "Hello! How can I help you today?"},
    {"instruction": "写一个关于猫的短句。", "input": "", "output": "小猫在阳光下睡觉。"},
    {"instruction": "What is the capital of France?", "input": "", "output": "Paris."},
    {"instruction": "Reverse the word.", "input": "stone", "output": "enots"},
    {"instruction": "用一个词形容大海。", "input": "", "output": "辽阔。"},
]


@pytest.fixture()
def small_data(tmp_path):
    p = tmp_path / "train.json"
    p.write_text(json.dumps(ROWS * 4, ensure_ascii=False), encoding="utf-8")
    return p


def make_cfg(tmp_path, model, data, **kw):
    base = {"model": str(model), "dataset": str(data), "output_dir": str(tmp_path / "run"),
            "method": "lora", "max_steps": 6, "batch_size": 4, "learning_rate": 5e-3,
            "eval_split": 0.0, "save_steps": 2, "warmup_ratio": 0.0, "max_length": 128,
            "lr_scheduler": "constant"}
    base.update(kw)
    return config.from_dict(base)


class Recorder(NullReporter):
    def __init__(self, stop_at=None, stop=None):
        self.steps, self.evals, self.events = [], [], []
        self.stop_at, self.stop = stop_at, stop

    def on_step(self, m):
        self.steps.append(m)
        if self.stop_at is not None and m.step >= self.stop_at:
            self.stop.set()

    def on_eval(self, m):
        self.evals.append(m)

    def on_event(self, e):
        self.events.append(e)


def _losses(run_dir):
    return [r.loss for r in runs.read_metrics(run_dir) if r.type == "step"]


LR = {"lora": 5e-3, "qlora": 5e-3, "dora": 5e-3, "adalora": 2e-2, "ia3": 3e-2,
      "prompt_tuning": 3e-2, "prefix_tuning": 3e-2, "p_tuning": 3e-2, "full": 2e-3,
      "freeze": 2e-3}


@pytest.mark.parametrize("method", list(LR))
def test_every_method_trains_and_loss_falls(tmp_path, tiny_model_dir, small_data, method):
    # The same 8 rows repeated, so the eval rows are rows it trains on: a method that learns
    # anything pulls their loss down. Eval at step 0 and at the end: same rows, no noise.
    cfg = make_cfg(tmp_path, tiny_model_dir, small_data, method=method, max_steps=12,
                   learning_rate=LR[method], save_steps=100, eval_split=0.25, eval_steps=100)
    rec = Recorder()
    result = trainer.train(cfg, rec)
    assert result.status == "finished", result.reason
    assert len(rec.steps) == 12
    before, after = rec.evals[0], rec.evals[-1]
    assert (before.step, after.step) == (0, 12)
    # Deterministic (same rows, eval mode), so any fall is learning. Adapters on a random-weight
    # base learn slowly (its frozen head bounds the logits): IA3 / prompt methods move ~0.3-1%.
    assert after.eval_loss < before.eval_loss * 0.998, \
        f"{method}: eval loss {before.eval_loss:.4f} -> {after.eval_loss:.4f}"
    final = result.run_dir / ("adapter" if cfg.is_peft else "model")
    assert final.is_dir() and any(final.glob("*.safetensors"))
    status = runs.read_status(result.run_dir)
    assert status["status"] == "finished" and status["step"] == 12


def test_metrics_lines_follow_the_contract(tmp_path, tiny_model_dir, small_data):
    cfg = make_cfg(tmp_path, tiny_model_dir, small_data, eval_split=0.25, eval_steps=3)
    trainer.train(cfg)
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [x for x in lines if x["type"] == "step"]
    assert [x["step"] for x in steps] == [1, 2, 3, 4, 5, 6]
    for key in ("loss", "lr", "grad_norm", "tokens", "tokens_per_s", "mem_mb", "time"):
        assert all(key in x for x in steps), key
    assert all(x["tokens"] > 0 for x in steps)
    evals = [x for x in lines if x["type"] == "eval"]
    assert [x["step"] for x in evals] == [0, 3, 6]
    assert all(abs(x["perplexity"] - 2.718281828 ** x["eval_loss"]) < 1e-3 * x["perplexity"]
               for x in evals)
    events = [x["event"] for x in lines if x["type"] == "event"]
    assert events[0] == "started" and events[-1] == "finished" and "checkpoint" in events
    assert runs.checkpoint_steps(runs.RunDir(tmp_path / "run")) == [4, 6]  # limit 2 kept


def test_stop_checkpoints_and_resume_continues_to_the_planned_step(tmp_path, tiny_model_dir,
                                                                   small_data):
    cfg = make_cfg(tmp_path, tiny_model_dir, small_data, save_steps=100)
    stop = threading.Event()
    result = trainer.train(cfg, Recorder(stop_at=3, stop=stop), stop)
    assert result.status == "stopped" and result.step == 3
    run = runs.RunDir(result.run_dir)
    assert runs.checkpoint_steps(run) == [3]
    assert runs.read_status(run.path)["status"] == "stopped"
    rec = Recorder()
    again = trainer.resume(run.path, rec)
    assert again.status == "finished" and again.step == 6
    assert [m.step for m in rec.steps] == [4, 5, 6]  # continues, never restarts
    assert rec.events[0].event == "resumed"


def test_resume_is_exact(tmp_path, tiny_model_dir, small_data):
    """Stopped at step 3 and resumed == never stopped: same weights, same losses."""
    straight = trainer.train(make_cfg(tmp_path / "a", tiny_model_dir, small_data, save_steps=100,
                                      lora_dropout=0.1))
    cfg = make_cfg(tmp_path / "b", tiny_model_dir, small_data, save_steps=100, lora_dropout=0.1)
    stop = threading.Event()
    trainer.train(cfg, Recorder(stop_at=3, stop=stop), stop)
    resumed = trainer.resume(cfg.output_dir)
    a = load_file(str(straight.run_dir / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(resumed.run_dir / "adapter" / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    assert _losses(straight.run_dir) == pytest.approx(_losses(resumed.run_dir), rel=1e-5)


def test_nan_stops_the_run_as_failed_and_keeps_the_good_checkpoint(tmp_path, tiny_model_dir,
                                                                   small_data, monkeypatch):
    monkeypatch.setenv("STUDIO_FAULTS", "nan@5")
    cfg = make_cfg(tmp_path, tiny_model_dir, small_data, save_steps=2)
    result = trainer.train(cfg)
    assert result.status == "failed"
    assert "step 5" in result.reason and "loss" in result.reason
    run = runs.RunDir(result.run_dir)
    assert runs.checkpoint_steps(run) == [2, 4]
    status = runs.read_status(run.path)
    assert status["status"] == "failed" and "step 5" in status["reason"]
    weights = load_file(str(runs.latest_checkpoint(run) / "trainable.safetensors"))
    assert all(torch.isfinite(t).all() for t in weights.values())


def test_out_of_memory_saves_and_resumes_with_a_smaller_micro_batch(tmp_path, tiny_model_dir,
                                                                    small_data, monkeypatch):
    monkeypatch.setenv("STUDIO_FAULTS", "oom@4")
    cfg = make_cfg(tmp_path, tiny_model_dir, small_data, save_steps=100)
    result = trainer.train(cfg)
    assert result.status == "failed" and "out of memory at step 4" in result.reason
    assert "batch_size=2" in result.reason and "grad_accum=2" in result.reason
    run = runs.RunDir(result.run_dir)
    assert runs.checkpoint_steps(run) == [3]  # the work done before the fault is kept
    monkeypatch.delenv("STUDIO_FAULTS")
    rec = Recorder()
    again = trainer.resume(run.path, rec, overrides={"batch_size": 2, "grad_accum": 2})
    assert again.status == "finished" and [m.step for m in rec.steps] == [4, 5, 6]
    with pytest.raises(ConfigError, match="effective batch"):
        trainer.resume(run.path, overrides={"batch_size": 1})


def test_the_smaller_micro_batch_keeps_the_effective_batch(tmp_path):
    assert trainer.smaller_micro_batch(4, 1) == (2, 2)
    assert trainer.smaller_micro_batch(6, 3) == (3, 6)
    assert trainer.smaller_micro_batch(5, 2) == (1, 10)  # an odd size: the next divisor down
    assert trainer.smaller_micro_batch(1, 8) is None
    cfg = make_cfg(tmp_path, "m", "d.json", batch_size=6, grad_accum=3)
    b, a = trainer.smaller_micro_batch(cfg.batch_size, cfg.grad_accum)
    assert trainer.resume_config(cfg, {"batch_size": b, "grad_accum": a}).effective_batch == 18
    with pytest.raises(ConfigError, match="cannot change on resume"):
        trainer.resume_config(cfg, {"learning_rate": 1e-3})


def test_bad_input_leaves_no_run_directory(tmp_path, tiny_model_dir):
    cfg = make_cfg(tmp_path, tiny_model_dir, tmp_path / "missing.json")
    with pytest.raises(DataError):
        trainer.train(cfg)
    assert not (tmp_path / "run").exists()


def test_an_existing_run_is_never_overwritten_silently(tmp_path, tiny_model_dir, small_data):
    cfg = make_cfg(tmp_path, tiny_model_dir, small_data, max_steps=2)
    trainer.train(cfg)
    before = (tmp_path / "run" / "metrics.jsonl").read_text()
    with pytest.raises(ConfigError, match="already holds a run"):
        trainer.train(cfg)
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == before
    with pytest.raises(ConfigError, match="already finished"):
        trainer.resume(tmp_path / "run")


def test_disk_full_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, tiny_model_dir,
                                                                     small_data, monkeypatch):
    monkeypatch.setenv("STUDIO_FAULTS", "disk_full@4")
    cfg = make_cfg(tmp_path, tiny_model_dir, small_data, save_steps=2)
    result = trainer.train(cfg)
    assert result.status == "failed"
    assert "No space left" in result.reason and "step 2" in result.reason
    run = runs.RunDir(result.run_dir)
    assert runs.checkpoint_steps(run) == [2]
    assert not any(p.name.startswith(".tmp-") for p in run.checkpoints.iterdir())
    monkeypatch.delenv("STUDIO_FAULTS")
    assert trainer.resume(run.path).status == "finished"


def test_too_little_free_space_is_refused_before_training(tmp_path, tiny_model_dir, small_data,
                                                          monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))
    result = trainer.train(make_cfg(tmp_path, tiny_model_dir, small_data))
    assert result.status == "failed" and "not enough free space" in result.reason
    assert runs.checkpoint_steps(runs.RunDir(result.run_dir)) == []


def test_sample_log_shows_every_row_trained_once_across_a_resume(tmp_path, tiny_model_dir,
                                                                  small_data):
    # 32 rows, effective batch 4 (2 x 2 accumulation): 8 steps an epoch; stop mid epoch 2.
    cfg = make_cfg(tmp_path, tiny_model_dir, small_data, max_steps=16, batch_size=2,
                   grad_accum=2, log_samples=True, save_steps=3)
    stop = threading.Event()
    trainer.train(cfg, Recorder(stop_at=11, stop=stop), stop)
    # a kill after step 12 but before its checkpoint: the log holds a step the weights do not
    runs.append_samples(runs.RunDir(tmp_path / "run"), {"step": 12, "epoch": 1, "samples": [1]})
    trainer.resume(tmp_path / "run", overrides={"batch_size": 1, "grad_accum": 4})
    log = runs.trained_samples(tmp_path / "run")
    assert [x["step"] for x in log] == list(range(1, 17))
    for epoch in (0, 1):
        rows = sorted(r for x in log if x["epoch"] == epoch for r in x["samples"])
        assert rows == list(range(1, 33)), f"epoch {epoch}"


def test_a_stopped_run_gives_its_memory_and_threads_back(tmp_path, tiny_model_dir, small_data):
    import gc

    import psutil

    def stopped_run(sub):
        stop = threading.Event()
        cfg = make_cfg(tmp_path / sub, tiny_model_dir, small_data, max_steps=50, save_steps=100,
                       method="full", learning_rate=1e-3)
        assert trainer.train(cfg, Recorder(stop_at=2, stop=stop), stop).status == "stopped"

    def models_alive():
        return sum(1 for o in gc.get_objects() if isinstance(o, torch.nn.Module)
                   and type(o).__name__.endswith("ForCausalLM"))

    stopped_run("warm")  # first use loads libraries and kernels for good: not the run's memory
    gc.collect()
    before = models_alive()
    proc = psutil.Process()
    rss, threads = proc.memory_info().rss, threading.active_count()
    for i in range(3):
        stopped_run(f"run{i}")
    gc.collect()
    grown_mb = (proc.memory_info().rss - rss) / 2**20
    assert grown_mb < 40, f"{grown_mb:.0f} MB still held after three stopped runs"
    assert threading.active_count() == threads
    # the tiny model is too small for RSS to prove much: no model object may outlive its run
    assert models_alive() == before
