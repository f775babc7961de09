"""Device detection, memory sampling and the pre-run estimate: parameter counts equal the real
model's, activations match what autograd really saves, and the advice is concrete."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.core.config import METHODS, RunConfig
from studio.core.errors import ModelError
from studio.core.model import memory

ROOT = Path(__file__).resolve().parents[3]
MB = 2 ** 20
LLAMA_7B = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008,
            "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
            "vocab_size": 32000, "tie_word_embeddings": False}
GPU_NODE = any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd"))


def _cfg(**kw):
    return RunConfig(model="m", **kw)


def test_device_and_sample_without_importing_torch():
    if GPU_NODE:
        pytest.skip("a GPU device node exists: detect_device imports torch by design")
    code = ("import sys; from studio.core.model import memory as m; from studio.core.config import "
            "RunConfig; d = m.detect_device(); s = m.sample_memory(); "
            f"e = m.estimate_memory(RunConfig(model='x'), {LLAMA_7B!r}, 16000); "
            "print(d.kind, d.total_mb > 100, s.rss_mb > 1, e.total_mb > 1000, "
            "[k for k in ('torch', 'transformers', 'peft') if k in sys.modules])")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["cpu", "True", "True", "True", "[]"]


def test_sample_memory_reports_the_process():
    import psutil

    s = memory.sample_memory()
    rss = psutil.Process().memory_info().rss / MB
    assert s.rss_mb == pytest.approx(rss, rel=0.2)
    assert s.peak_mb >= s.rss_mb * 0.9
    d = memory.detect_device()
    assert d.kind in ("cpu", "cuda") and d.total_mb > 0


@pytest.mark.parametrize("method", METHODS)
def test_formula_counts_equal_the_real_models(tiny_model_dir, tiny_qwen_dir, method):
    from studio.core.methods.registry import apply_method
    from studio.core.model.load import count_parameters, load_model

    for folder in (tiny_model_dir, tiny_qwen_dir):
        cfg = RunConfig(model=str(folder), method=method)
        model = apply_method(load_model(folder, quantize_4bit=method == "qlora"), cfg, 100)
        dims = memory.model_dims(json.loads((folder / "config.json").read_text()))
        assert memory.method_params(cfg, dims) == count_parameters(model)


def test_qlora_lora_full_order_and_documented_sizes():
    est = {m: memory.estimate_memory(_cfg(method=m), LLAMA_7B, device_kind="cuda")
           for m in ("qlora", "lora", "full")}
    assert est["qlora"].weights_mb < est["lora"].weights_mb < est["full"].weights_mb
    assert est["qlora"].total_mb < est["lora"].total_mb < est["full"].total_mb
    full = est["full"]
    n = full.total_params
    assert 6.7e9 < n < 6.8e9
    assert full.weights_mb == pytest.approx(n * 4 / MB)        # fp32 master weights
    assert full.gradients_mb == pytest.approx(n * 4 / MB)
    assert full.optimizer_mb == pytest.approx(n * 8 / MB)      # AdamW: two fp32 moments
    lora = est["lora"]
    assert lora.precision == "bf16"
    assert lora.weights_mb == pytest.approx((n * 2 + lora.trainable_params * 4) / MB)
    assert est["qlora"].optimizer_mb == pytest.approx(lora.optimizer_mb / 4)  # paged 8-bit
    # fp32 on a CPU (auto chooses bf16 only on CPUs with bf16 units: test_cpu_bf16.py)
    cpu = memory.estimate_memory(_cfg(method="lora", precision="fp32"), LLAMA_7B,
                                 device_kind="cpu")
    assert cpu.precision == "fp32" and cpu.weights_mb > lora.weights_mb * 1.9


def _saved_activation_bytes(model, ids):
    """Bytes autograd keeps for backward in the decoder body (parameters excluded)."""
    import torch

    seen = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        base.model(input_ids=ids, use_cache=False)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    return sum(n for ptr, n in seen.items() if ptr not in params)


@pytest.mark.parametrize("method", ["full", "lora", "freeze"])
def test_activation_estimate_matches_what_autograd_saves(tmp_path, method):
    import torch

    from studio.core.methods.registry import apply_method
    from studio.core.model.load import load_model
    from studio.core.model.starter import new_model

    folder = new_model(tmp_path / "small", size="small")  # 4 layers x 256: activations dominate
    cfg = RunConfig(model=str(folder), method=method, batch_size=2, max_length=128,
                    gradient_checkpointing="off", device="cpu")
    model = apply_method(load_model(folder), cfg, 10)
    model.train()
    measured = _saved_activation_bytes(model, torch.randint(10, 2000, (2, 128))) / MB
    est = memory.estimate_memory(cfg, folder, device_kind="cpu")
    assert 0.8 < measured / est.activations_mb < 1.25, (measured, est.activations_mb)


def test_checkpointing_cuts_activations_and_auto_turns_it_on_only_when_needed():
    big = _cfg(method="lora", batch_size=4, max_length=2048)
    off = memory.estimate_memory(big.replace(gradient_checkpointing="off"), LLAMA_7B,
                                 device_kind="cuda")
    on = memory.estimate_memory(big.replace(gradient_checkpointing="on"), LLAMA_7B,
                                device_kind="cuda")
    assert on.checkpointing and not off.checkpointing
    assert on.activations_mb < off.activations_mb / 5
    assert memory.should_checkpoint(big, LLAMA_7B, 24_000, device_kind="cuda")
    assert not memory.should_checkpoint(big, LLAMA_7B, 200_000, device_kind="cuda")
    assert not memory.should_checkpoint(big, LLAMA_7B, None, device_kind="cuda")
    assert memory.should_checkpoint(big.replace(gradient_checkpointing="on"), LLAMA_7B, None)
    assert not memory.should_checkpoint(big.replace(gradient_checkpointing="off"), LLAMA_7B,
                                        1000, device_kind="cuda")


def test_too_big_gets_concrete_suggestions():
    cfg = _cfg(method="lora", batch_size=4, max_length=1024)
    est = memory.estimate_memory(cfg, LLAMA_7B, 16_000, device_kind="cuda")
    assert est.fits is False and est.total_mb > 16_000 * memory.HEADROOM
    qlora = [s for s in est.suggestions if s.startswith("method: qlora")]
    assert qlora and qlora[0].endswith("(fits)")
    assert any(s.startswith("batch_size: 1 with grad_accum: 4") for s in est.suggestions)
    assert any(s.startswith("max_length: 512") for s in est.suggestions)
    fitting = memory.estimate_memory(cfg, LLAMA_7B, 80_000, device_kind="cuda")
    assert fitting.fits is True and fitting.suggestions == []
    assert memory.estimate_memory(cfg, LLAMA_7B, device_kind="cuda").fits is None


def test_hopeless_case_says_so():
    cfg = _cfg(method="full", batch_size=8, max_length=4096)
    est = memory.estimate_memory(cfg, LLAMA_7B, 3_000, device_kind="cuda")
    assert est.fits is False
    assert est.suggestions[-1].startswith("all of these together")
    assert "smaller model" in est.suggestions[-1]


def test_model_config_as_dict_folder_or_file(tiny_model_dir):
    cfg = _cfg(method="lora")
    as_dict = json.loads((tiny_model_dir / "config.json").read_text())
    a = memory.estimate_memory(cfg, as_dict, device_kind="cpu")
    b = memory.estimate_memory(cfg, tiny_model_dir, device_kind="cpu")
    c = memory.estimate_memory(cfg, tiny_model_dir / "config.json", device_kind="cpu")
    assert a == b == c
    with pytest.raises(ModelError, match="hidden_size"):
        memory.estimate_memory(cfg, {"model_type": "mystery"}, device_kind="cpu")


def test_exact_counts_can_be_passed_in():
    cfg = _cfg(method="lora")
    exact = memory.estimate_memory(cfg, LLAMA_7B, device_kind="cuda",
                                   param_counts=(1_000_000, 6_739_000_000))
    assert exact.trainable_params == 1_000_000
    assert exact.optimizer_mb == pytest.approx(1_000_000 * 8 / MB)


def test_the_readme_16gb_figures():
    """README: on 16 GB (bf16, batch 4 x 512, checkpointing on) QLoRA 7B ~7 GB, LoRA 3B ~8 GB,
    LoRA 7B does not fit (~16 GB)."""
    qwen_3b = {"model_type": "qwen2", "hidden_size": 2048, "intermediate_size": 11008,
               "num_attention_heads": 16, "num_hidden_layers": 36, "num_key_value_heads": 2,
               "vocab_size": 151936, "tie_word_embeddings": True}
    gb = {}
    for name, method, model in (("qlora7", "qlora", LLAMA_7B), ("lora7", "lora", LLAMA_7B),
                                ("lora3", "lora", qwen_3b)):
        cfg = _cfg(method=method, precision="bf16", gradient_checkpointing="on")
        est = memory.estimate_memory(cfg, model, 16 * 1024, device_kind="cuda")
        gb[name] = (round(est.total_mb / 1024), est.fits)
    assert gb == {"qlora7": (7, True), "lora3": (8, True), "lora7": (16, False)}


def test_several_processes_get_per_gpu_figures():
    """ddp: every GPU holds the whole run plus the flat gradient buffer; fsdp: the sharded
    states divided by the process count plus what is gathered whole (root + two layers)."""
    one = memory.estimate_memory(_cfg(method="full"), LLAMA_7B, 81920, device_kind="cuda")
    ddp = memory.estimate_memory(_cfg(method="full", processes=8), LLAMA_7B, 81920,
                                 device_kind="cuda")
    fsdp = memory.estimate_memory(_cfg(method="full", processes=8, distributed="fsdp"),
                                  LLAMA_7B, 81920, device_kind="cuda")
    assert ddp.weights_mb == one.weights_mb and ddp.optimizer_mb == one.optimizer_mb
    assert ddp.gradients_mb == pytest.approx(2 * one.gradients_mb)
    assert fsdp.optimizer_mb == pytest.approx(one.optimizer_mb / 8)
    assert fsdp.gradients_mb == pytest.approx(one.gradients_mb / 8)
    dims = memory.model_dims(LLAMA_7B)
    gathered = (dims.base_params() - 30 * dims.layer_params()) * 4 / MB  # root + 2 layers
    assert fsdp.weights_mb == pytest.approx(one.weights_mb / 8 + gathered)
    # a 7B full fine-tune: too big for one 80 GB card with or without ddp, fits 8 with fsdp
    assert one.fits is False and ddp.fits is False and fsdp.fits is True
    assert any(s.startswith("distributed: fsdp") and s.endswith("(fits)")
               for s in ddp.suggestions)
