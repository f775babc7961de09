"""Every training option trained end to end on the tiny model, each checked by its effect:
the learning-rate curve, epochs, packing, the pretrain stage, train_on_prompt, gradient
checkpointing, clipping, weight decay, logging_steps and the 8-bit optimizers."""

import json
import math
import threading

import pytest
import torch
from safetensors.torch import load_file

from studio.core import config, runs
from studio.core.train import trainer
from studio.core.train.setup import prepare

ROWS = [{"instruction": f"Question {i}: what comes after {i}?", "input": "",
         "output": f"The number {i + 1} comes after {i}."} for i in range(12)]


@pytest.fixture()
def data(tmp_path):
    p = tmp_path / "train.json"
    p.write_text(json.dumps(ROWS), encoding="utf-8")
    return p


def cfg_of(tmp_path, model, data, **kw):
    base = {"model": str(model), "dataset": str(data), "output_dir": str(tmp_path / "run"),
            "method": "lora", "max_steps": 4, "batch_size": 4, "learning_rate": 1e-2,
            "eval_split": 0.0, "save_steps": 100, "warmup_ratio": 0.0, "max_length": 64,
            "lr_scheduler": "constant", "lora_r": 4, "lora_alpha": 8}
    base.update(kw)
    return config.from_dict(base)


def step_lines(run_dir):
    return [r for r in runs.read_metrics(run_dir) if r.type == "step"]


def adapter(run_dir):
    return load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))


def one_step_delta(cfg):
    """(weights before, weights after) of the trainable tensors after one real optimizer step."""
    s = prepare(cfg)
    params = {n: p for n, p in s.model.named_parameters() if p.requires_grad}
    before = {n: p.detach().clone() for n, p in params.items()}
    group = list(range(min(cfg.batch_size, len(s.train))))  # indices into s.train
    _, grad_norm, _, _ = trainer._train_step(s, group, list(params.values()), trainer.Progress())
    return before, {n: p.detach().clone() for n, p in params.items()}, grad_norm, s


# --- the learning-rate schedule ----------------------------------------------------------------

@pytest.mark.parametrize("scheduler", ["cosine", "linear"])
def test_warmup_then_decay_is_the_logged_and_applied_curve(tmp_path, tiny_model_dir, data,
                                                           scheduler):
    peak = 1e-2
    cfg = cfg_of(tmp_path, tiny_model_dir, data, max_steps=8, warmup_ratio=0.25,
                 lr_scheduler=scheduler, learning_rate=peak)
    result = trainer.train(cfg)
    lrs = [m.lr for m in step_lines(result.run_dir)]
    # 2 warm-up steps climbing to the peak, then 6 steps from the peak down
    decay = [(k / 6) for k in range(6)]
    shape = [0.5 * (1 + math.cos(math.pi * p)) for p in decay] if scheduler == "cosine" \
        else [1 - p for p in decay]
    assert lrs == pytest.approx([peak / 3, 2 * peak / 3] + [peak * f for f in shape])
    assert lrs[1] < lrs[2] == pytest.approx(peak) and lrs[-1] < lrs[3]


@pytest.mark.slow
def test_resume_is_exact_with_warmup_and_cosine(tmp_path, tiny_model_dir, data):
    kw = dict(max_steps=8, warmup_ratio=0.25, lr_scheduler="cosine", lora_dropout=0.1)
    straight = trainer.train(cfg_of(tmp_path / "a", tiny_model_dir, data, **kw))
    cfg = cfg_of(tmp_path / "b", tiny_model_dir, data, **kw)
    stop = threading.Event()

    class StopAt:
        def on_step(self, m):
            if m.step >= 3:
                stop.set()

        def on_eval(self, m):
            pass

        def on_event(self, e):
            pass

    assert trainer.train(cfg, StopAt(), stop).status == "stopped"
    resumed = trainer.resume(cfg.output_dir)
    assert resumed.status == "finished"
    a, b = adapter(straight.run_dir), adapter(resumed.run_dir)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    want = step_lines(straight.run_dir)
    got = {m.step: m for m in step_lines(resumed.run_dir)}  # lines after the resume win
    assert [got[i].lr for i in range(1, 9)] == pytest.approx([m.lr for m in want], rel=1e-9)
    assert [got[i].loss for i in range(1, 9)] == pytest.approx([m.loss for m in want], rel=1e-5)
    assert want[0].lr < want[1].lr < want[2].lr > want[3].lr  # warm-up, then the decay


# --- how long, and on what -----------------------------------------------------------------------

def test_epochs_train_every_row_once_per_epoch(tmp_path, tiny_model_dir, data):
    cfg = cfg_of(tmp_path, tiny_model_dir, data, max_steps=None, epochs=2, log_samples=True)
    result = trainer.train(cfg)
    lines = step_lines(result.run_dir)
    assert [m.step for m in lines] == list(range(1, 7))  # 12 rows / 4 per step = 3 per epoch
    assert lines[-1].epoch == pytest.approx(2.0) and lines[2].epoch == pytest.approx(1.0)
    trained = runs.trained_samples(result.run_dir)
    first = sorted(r for e in trained[:3] for r in e["samples"])
    second = sorted(r for e in trained[3:] for r in e["samples"])
    assert first == second == sorted(set(first)) and len(first) == 12


def test_packing_trains_exactly_like_padding(tmp_path, tiny_model_dir, data):
    padded = trainer.train(cfg_of(tmp_path / "a", tiny_model_dir, data, packing=False))
    packed = trainer.train(cfg_of(tmp_path / "b", tiny_model_dir, data, packing=True))
    assert [m.loss for m in step_lines(packed.run_dir)] == \
        pytest.approx([m.loss for m in step_lines(padded.run_dir)], rel=1e-4)
    a, b = adapter(padded.run_dir), adapter(packed.run_dir)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-5)


def test_pretrain_stage_trains_every_token(tmp_path, tiny_model_dir):
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(f"第 {i} 行：注意力让每个词看见前面的词。" for i in range(8)),
                    encoding="utf-8")
    cfg = cfg_of(tmp_path, tiny_model_dir, text, stage="pretrain")
    s = prepare(cfg)
    assert s.train and all(list(t.labels) == list(t.input_ids) for t in s.train)
    assert trainer.train(cfg).status == "finished"


@pytest.mark.parametrize("on_prompt", [False, True])
def test_train_on_prompt_puts_loss_on_the_prompt(tmp_path, tiny_model_dir, data, on_prompt):
    cfg = cfg_of(tmp_path, tiny_model_dir, data, train_on_prompt=on_prompt, max_steps=2)
    s = prepare(cfg)
    tok = s.tokenizer
    for t in s.train:
        trained = tok.decode([i for i, lab in zip(t.input_ids, t.labels) if lab != -100])
        assert "comes after" in trained  # the answer always trains
        assert ("Question" in trained) is on_prompt
    result = trainer.train(cfg)
    assert result.status == "finished"
    # the loss is a mean over more (and easier to predict) tokens when the prompt trains
    assert step_lines(result.run_dir)[0].tokens > 0


def test_gradient_checkpointing_gives_the_same_training(tmp_path, tiny_model_dir, data):
    on = cfg_of(tmp_path / "a", tiny_model_dir, data, gradient_checkpointing="on")
    assert prepare(on).model.is_gradient_checkpointing
    off = cfg_of(tmp_path / "b", tiny_model_dir, data, gradient_checkpointing="off")
    a, b = trainer.train(on), trainer.train(off)
    assert [m.loss for m in step_lines(a.run_dir)] == \
        pytest.approx([m.loss for m in step_lines(b.run_dir)], rel=1e-5)
    for k, v in adapter(a.run_dir).items():
        torch.testing.assert_close(v, adapter(b.run_dir)[k], rtol=1e-5, atol=1e-6)


# --- the optimizer step --------------------------------------------------------------------------

@pytest.mark.parametrize("clip", [0.0, 1e-3])
def test_clipping_bounds_the_gradient_the_optimizer_sees(tmp_path, tiny_model_dir, data, clip):
    # plain SGD (a real torch optimizer) makes the update proportional to the gradient it saw
    cfg = cfg_of(tmp_path, tiny_model_dir, data, max_grad_norm=clip, learning_rate=0.5)
    s = prepare(cfg)
    params = [p for p in s.model.parameters() if p.requires_grad]
    s.optimizer = torch.optim.SGD(params, lr=0.5)
    before = [p.detach().clone() for p in params]
    group = list(range(min(4, len(s.train))))  # indices into s.train
    _, grad_norm, applied, _ = trainer._train_step(s, group, params, trainer.Progress())
    moved = math.sqrt(sum(float((p.detach() - b).pow(2).sum()) for p, b in zip(params, before)))
    seen = moved / 0.5  # the norm of the gradient SGD applied
    assert applied and grad_norm > 1e-2  # reported before clipping
    assert seen == pytest.approx(grad_norm if clip == 0 else clip, rel=1e-3)


def test_weight_decay_shrinks_matrices_not_vectors(tmp_path, tiny_model_dir, data):
    lr, wd = 1e-2, 0.5
    full = dict(method="full", learning_rate=lr)
    b0, a0, _, _ = one_step_delta(cfg_of(tmp_path / "a", tiny_model_dir, data, **full))
    b1, a1, _, _ = one_step_delta(cfg_of(tmp_path / "b", tiny_model_dir, data,
                                         weight_decay=wd, **full))
    for name in b0:
        torch.testing.assert_close(b0[name], b1[name])  # the same start (seeded)
        # AdamW is decoupled: the decayed run lands lr * wd * w lower, the rest is the same
        shrink = lr * wd * b0[name] if b0[name].ndim >= 2 else torch.zeros_like(b0[name])
        torch.testing.assert_close(a0[name] - a1[name], shrink, rtol=1e-3, atol=1e-7)


def test_logging_steps_writes_every_nth_step_and_the_last(tmp_path, tiny_model_dir, data):
    cfg = cfg_of(tmp_path, tiny_model_dir, data, max_steps=7, logging_steps=3)
    result = trainer.train(cfg)
    assert [m.step for m in step_lines(result.run_dir)] == [3, 6, 7]
    assert runs.read_status(result.run_dir)["step"] == 7


@pytest.mark.slow
@pytest.mark.parametrize("name", ["adamw_8bit", "paged_adamw_8bit"])
def test_8bit_optimizers_keep_8bit_state_train_and_resume(tmp_path, tiny_model_dir, data, name):
    cfg = cfg_of(tmp_path, tiny_model_dir, data, optimizer=name, max_steps=6, save_steps=3,
                 lora_r=64, lora_alpha=64)  # bitsandbytes keeps 8-bit state from 4096 values
    result = trainer.train(cfg)
    assert result.status == "finished"
    losses = [m.loss for m in step_lines(result.run_dir)]
    assert losses[-1] < losses[0]
    # the checkpoint holds the 8-bit moments and reads back without pickle
    state = torch.load(result.run_dir / "checkpoints" / "step-6" / "optimizer.pt",
                       weights_only=True)["state"]
    moments = [st["__bnb_optimizer_quant_state__"][k] for st in state.values()
               for k in ("state1", "state2")]
    big = {m.dtype for m in moments if m.numel() >= 4096}  # smaller ones stay fp32 by design
    assert big == {torch.uint8}
    # stopped at 3 and resumed: the same weights as never stopped
    again = cfg_of(tmp_path / "b", tiny_model_dir, data, optimizer=name, max_steps=3,
                   save_steps=3, lora_r=64, lora_alpha=64)
    assert trainer.train(again).status == "finished"
    resumed = trainer.resume(again.output_dir, overrides={"max_steps": 6})
    a, b = adapter(result.run_dir), adapter(resumed.run_dir)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6)
