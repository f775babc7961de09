"""The trainer's device-dependent paths, reproduced on the CPU: out of memory at every place,
fp16 with a gradient scaler and bf16 (CPU autocast has both), the optimizer a resume loads its
state into, prefix tuning with gradient checkpointing, and 4-bit models freed without a
garbage collection."""

import gc
import json
import sys
from pathlib import Path

import pytest
import yaml

from studio.core import config, runs
from studio.core.errors import ConfigError
from studio.core.events import NullReporter
from studio.core.train import oom, trainer


@pytest.fixture()
def chat_data(tmp_path):
    p = tmp_path / "chat.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"What is {i} plus one?"},
                          {"role": "assistant", "content": f"It is {i + 1}."}]}
            for i in range(32)]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return p


def make_cfg(tmp_path, model, data, **kw):
    base = {"model": str(model), "dataset": str(data), "output_dir": str(tmp_path / "run"),
            "method": "lora", "max_steps": 6, "batch_size": 4, "learning_rate": 5e-3,
            "eval_split": 0.0, "save_steps": 2, "warmup_ratio": 0.0, "max_length": 64,
            "lr_scheduler": "constant", "lora_r": 4, "lora_alpha": 8}
    base.update(kw)
    return config.from_dict(base)


class Events(NullReporter):
    def __init__(self):
        self.steps, self.events = [], []

    def on_step(self, m):
        self.steps.append(m)

    def on_event(self, e):
        self.events.append(e)


# fault, where, the checkpoints kept, words of the remedy
OOM_PLACES = [
    ("oom@4", "forward", [2, 3], "batch_size=2"),
    ("oom_cublas@4", "forward", [2, 3], "batch_size=2"),   # a RuntimeError, not OutOfMemoryError
    ("oom_backward@4", "backward", [2, 3], "batch_size=2"),
    ("oom_optimizer@4", "optimizer step", [2], "paged_adamw_8bit"),  # weights may be half-moved
    ("oom_eval@3", "evaluation", [2, 3], "batch_size=2"),
    ("oom_checkpoint@4", "checkpoint", [2], "close other programs"),
    ("oom_final_save", "final save", [4, 6], "close other programs"),  # save_total_limit 2
]


@pytest.mark.parametrize("fault,where,kept,remedy", OOM_PLACES, ids=[p[0] for p in OOM_PLACES])
def test_out_of_memory_anywhere_keeps_the_work_names_the_remedy_and_resumes(
        tmp_path, tiny_model_dir, chat_data, monkeypatch, fault, where, kept, remedy):
    monkeypatch.setenv("STUDIO_FAULTS", fault)
    cfg = make_cfg(tmp_path, tiny_model_dir, chat_data, eval_split=0.2, eval_steps=3)
    rec = Events()
    result = trainer.train(cfg, rec)
    assert result.status == "failed"
    end = rec.events[-1]
    assert end.data == {"kind": "oom", "where": where}
    assert f"({where})" in result.reason and remedy in result.reason
    assert f"the last good checkpoint is step {kept[-1]}" in result.reason
    run = runs.RunDir(result.run_dir)
    assert runs.checkpoint_steps(run) == kept
    assert not run.adapter_dir.exists() and not list(run.path.glob(f"{runs.TMP_PREFIX}*"))
    monkeypatch.delenv("STUDIO_FAULTS")
    again = trainer.resume(run.path)
    assert again.status == "finished" and again.step == 6 and run.adapter_dir.is_dir()


def test_memory_is_given_back_outside_the_except_and_each_run_has_its_own_peak(
        tmp_path, tiny_model_dir, chat_data, monkeypatch):
    # Inside the except, the traceback still holds the failed step's activations: emptying the
    # CUDA cache there frees nothing. And max_memory_allocated is per process: without a reset
    # a second run's memory curve starts at the first run's peak.
    handling, resets = [], []
    give_back, reset = oom.give_back_memory, oom.reset_peak_memory
    monkeypatch.setattr(oom, "give_back_memory",
                        lambda d: (handling.append(sys.exc_info()[0]), give_back(d)))
    monkeypatch.setattr(oom, "reset_peak_memory", lambda d: (resets.append(d), reset(d)))
    monkeypatch.setenv("STUDIO_FAULTS", "oom@2")
    assert trainer.train(make_cfg(tmp_path, tiny_model_dir, chat_data)).status == "failed"
    monkeypatch.delenv("STUDIO_FAULTS")
    assert trainer.resume(tmp_path / "run").status == "finished"
    assert len(handling) >= 3 and set(handling) == {None}  # the OOM, then each run's end
    assert len(resets) == 2


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_16_bit_training_on_the_cpu(tmp_path, tiny_model_dir, chat_data, precision):
    cfg = make_cfg(tmp_path, tiny_model_dir, chat_data, precision=precision, max_steps=8,
                   learning_rate=2e-2, target_modules="all-linear,lm_head")
    rec = Events()
    assert trainer.train(cfg, rec).status == "finished"
    losses = [m.loss for m in rec.steps]
    assert losses[-1] < losses[0]
    ckpt = runs.latest_checkpoint(runs.RunDir(Path(cfg.output_dir)))
    if precision == "fp16":  # loss scaling: skipped steps counted per step, state checkpointed
        skipped = [m.skipped_steps for m in rec.steps]
        assert all(isinstance(k, int) for k in skipped) and skipped == sorted(skipped)
        assert skipped[0] == 0 and skipped[-1] < 4  # the scale settles after a few overflows
        assert (ckpt / "scaler.pt").is_file()
    else:  # bf16 has fp32's exponent range: no scaler
        assert {m.skipped_steps for m in rec.steps} == {None}
        assert not (ckpt / "scaler.pt").exists()
    assert rec.events[0].detail.startswith(f"lora on cpu ({precision})")


def test_fp16_skips_an_overflowing_step_and_reports_it(tmp_path, tiny_model_dir, chat_data,
                                                       monkeypatch):
    monkeypatch.setenv("STUDIO_FAULTS", "overflow@3")
    cfg = make_cfg(tmp_path, tiny_model_dir, chat_data, precision="fp16")
    rec = Events()
    result = trainer.train(cfg, rec)
    assert result.status == "finished" and result.step == 6
    assert [m.skipped_steps for m in rec.steps] == [0, 0, 1, 1, 1, 1]
    lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [d.get("skipped_steps") for d in lines if d["type"] == "step"][2] == 1
    # the same overflow without a scaler (fp32) is divergence
    fp32 = make_cfg(tmp_path / "fp32", tiny_model_dir, chat_data)
    assert trainer.train(fp32).status == "failed"


def test_resume_loads_the_optimizer_state_into_the_class_that_saved_it(tmp_path, tiny_model_dir,
                                                                        chat_data):
    # A QLoRA run under `auto` uses paged 8-bit AdamW on CUDA and AdamW on the CPU: resumed on
    # the other device, `auto` would pick the other class. The same mismatch, on the CPU:
    cfg = make_cfg(tmp_path, tiny_model_dir, chat_data, optimizer="adamw_8bit", max_steps=2)
    assert trainer.train(cfg).status == "finished"
    run = runs.RunDir(Path(cfg.output_dir))
    saved = yaml.safe_load(run.config_file.read_text())
    saved["optimizer"] = "auto"
    run.config_file.write_text(yaml.safe_dump(saved))
    rec = Events()
    result = trainer.resume(run.path, rec, overrides={"max_steps": 4})
    assert result.status == "finished" and [m.step for m in rec.steps] == [3, 4]
    assert runs.read_status(run.path)["status"] == "finished"


def test_prefix_tuning_with_gradient_checkpointing_is_refused_before_the_run(
        tmp_path, tiny_model_dir, chat_data):
    # transformers drops the prefix's key/values inside checkpointed layers: a shape error on
    # the first step (a traceback) before this was refused
    cfg = make_cfg(tmp_path, tiny_model_dir, chat_data, method="prefix_tuning",
                   gradient_checkpointing="on", num_virtual_tokens=4)
    with pytest.raises(ConfigError, match="prefix_tuning"):
        trainer.train(cfg)
    assert not (tmp_path / "run").exists()
    auto = make_cfg(tmp_path, tiny_model_dir, chat_data, method="prefix_tuning",
                    gradient_checkpointing="auto", num_virtual_tokens=4, max_steps=2)
    assert trainer.train(auto).status == "finished"


def _linear4bit_alive() -> int:
    return sum(1 for o in gc.get_objects() if type(o).__name__ == "Linear4bit")


def test_a_finished_qlora_run_frees_its_4bit_layers_without_a_collection(
        tmp_path, tiny_model_dir, chat_data):
    gc.collect()
    before = _linear4bit_alive()
    cfg = make_cfg(tmp_path, tiny_model_dir, chat_data, method="qlora", max_steps=2)
    gc.disable()  # as in the app: cycles are collected only by the GUI thread's timer
    try:
        assert trainer.train(cfg).status == "finished"
        assert _linear4bit_alive() == before
    finally:
        gc.enable()
