"""QLoRA on both kinds of CPU, whatever CPU runs the test.

bitsandbytes decides per Linear4bit layer, at construction, whether the CPU has AVX512-BF16
(`support_avx512bf16_for_cpu`); with it, an eval-mode forward without grad repacks the weight
into an inference-only layout (output size must divide by 32; no gradient afterwards). The
fixture below makes bitsandbytes believe either answer, so both code paths run here.
"""

import json

import pytest
import torch

from studio.core import config
from studio.core.chat.engine import ChatEngine, GenSettings
from studio.core.events import NullReporter
from studio.core.export.folder import export
from studio.core.model import load as model_mod
from studio.core.model.run_model import load_run_model
from studio.core.train import trainer


@pytest.fixture(params=["avx512bf16", "plain"])
def cpu_kind(request, monkeypatch):
    """Linear4bit layers built in this test see a CPU with (or without) AVX512-BF16."""
    import bitsandbytes.nn.modules as bnb_modules

    has = request.param == "avx512bf16"
    monkeypatch.setattr(bnb_modules, "has_avx512bf16", lambda: has)
    return request.param


def test_the_fixture_reaches_the_layers(cpu_kind):
    import bitsandbytes as bnb

    layer = bnb.nn.Linear4bit(64, 172, compute_dtype=torch.float32)
    assert layer.support_avx512bf16_for_cpu is (cpu_kind == "avx512bf16")


def test_4bit_loads_use_the_portable_kernel(cpu_kind, tiny_model_dir):
    model = model_mod.load_model(tiny_model_dir, quantize_4bit=True)
    layers = [m for m in model.modules() if hasattr(m, "support_avx512bf16_for_cpu")]
    assert layers  # the decoder's linear layers are 4-bit
    assert not any(m.support_avx512bf16_for_cpu for m in layers)


def test_gradients_reach_the_first_layer_after_an_evaluation(cpu_kind, tiny_model_dir):
    from studio.core.config import RunConfig
    from studio.core.methods.registry import apply_method

    model = model_mod.load_model(tiny_model_dir, quantize_4bit=True)
    model = apply_method(model, RunConfig(model="m", dataset="d", method="qlora"),
                         total_steps=1)
    ids = torch.randint(0, 100, (2, 16))
    model.eval()
    with torch.no_grad():  # an evaluation: the step that repacks weights on AVX512-BF16
        model(input_ids=ids)
    model.train()
    model(input_ids=ids, labels=ids).loss.backward()
    # lora_B starts at zero, so lora_A's gradient is zero: lora_B's is what the base passes on
    first = [p.grad for n, p in model.named_parameters() if ".layers.0." in n and "lora_B" in n]
    assert first and all(g is not None and g.abs().sum() > 0 for g in first)


@pytest.mark.slow
def test_qlora_trains_evaluates_chats_and_exports(cpu_kind, tiny_model_dir, tmp_path):
    data = tmp_path / "chat.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"What is {i} plus one?"},
                          {"role": "assistant", "content": f"It is {i + 1}."}]}
            for i in range(16)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = config.from_dict(dict(
        model=str(tiny_model_dir), dataset=str(data), method="qlora", max_steps=4,
        batch_size=4, save_steps=2, eval_steps=2, eval_split=0.25, max_length=64,
        learning_rate=1e-2, output_dir=str(tmp_path / "run")))
    evals = []

    class Evals(NullReporter):
        def on_eval(self, m):
            evals.append(m)

    result = trainer.train(cfg, Evals())
    assert result.status == "finished", result.reason
    assert [e.step for e in evals] == [0, 2, 4]  # the step-0 evaluation is where it failed
    assert all(torch.isfinite(torch.tensor(e.eval_loss)) for e in evals)

    rm = load_run_model(result.run_dir)
    reply = ChatEngine(rm.model, rm.tokenizer).reply(
        [{"role": "user", "content": "What is 3 plus one?"}],
        GenSettings(max_new_tokens=4, temperature=0.0))
    assert reply.tokens > 0

    # reloaded on a fresh 4-bit base, logits compared (test_export covers the merged path)
    adapter = export(result.run_dir, tmp_path / "adapter", fmt="adapter")
    assert adapter.max_abs_diff is not None and adapter.max_abs_diff < 1e-3
