"""The parameter map: blocks add up to count_parameters, adapters attach to the modules they
modify, and the meta-device map (config.json only) equals the real loaded model's map."""

import json
import time

import pytest

from studio.core.config import METHODS, RunConfig
from studio.core.methods.registry import apply_method
from studio.core.model import memory
from studio.core.model.load import (
    count_parameters,
    load_model,
    parameter_map,
    parameter_map_for_config,
)
from studio.core.model.param_map import KINDS, summarize

LLAMA_7B = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
            "intermediate_size": 11008, "num_attention_heads": 32, "num_hidden_layers": 32,
            "num_key_value_heads": 32, "vocab_size": 32000, "tie_word_embeddings": False}
QWEN2_7B = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 3584,
            "intermediate_size": 18944, "num_attention_heads": 28, "num_hidden_layers": 28,
            "num_key_value_heads": 4, "vocab_size": 152064, "tie_word_embeddings": False}


def _real(folder, method):
    cfg = RunConfig(model=str(folder), method=method)
    model = load_model(folder, quantize_4bit=method == "qlora")
    return cfg, apply_method(model, cfg, total_steps=100)


@pytest.mark.parametrize("method", METHODS)
def test_blocks_add_up_and_meta_map_equals_real_map(tiny_model_dir, tiny_qwen_dir, method):
    for folder in (tiny_model_dir, tiny_qwen_dir):
        cfg, model = _real(folder, method)
        blocks = parameter_map(model)
        trainable, total = count_parameters(model)
        assert sum(b.params for b in blocks) == total
        assert sum(b.trainable for b in blocks) == trainable
        assert parameter_map_for_config(cfg) == blocks  # every field of every block
        assert {b.kind for b in blocks} <= set(KINDS)


def test_lora_blocks_attach_to_the_projections(tiny_model_dir):
    _, model = _real(tiny_model_dir, "lora")
    by_name = {b.name: b for b in parameter_map(model)}
    q = by_name["model.layers.0.self_attn.q_proj"]
    assert (q.kind, q.layer, q.params, q.trainable, q.added) == ("attention", 0, 64 * 64, 0, False)
    a = by_name["model.layers.0.self_attn.q_proj.lora_A"]
    b = by_name["model.layers.0.self_attn.q_proj.lora_B"]
    assert a.added and a.kind == "adapter" and a.attached_to == q.name and a.shape == (16, 64)
    assert b.shape == (64, 16) and b.trainable == b.params == 64 * 16
    assert by_name["model.layers.1.mlp.down_proj"].kind == "mlp"
    assert by_name["model.embed_tokens"].kind == "embedding"
    assert by_name["lm_head"].kind == "head" and by_name["model.norm"].kind == "norm"
    names = set(by_name)
    assert all(b.attached_to in names for b in by_name.values() if b.added)


def test_qlora_marks_quantized_linears_but_not_the_head(tiny_model_dir):
    _, model = _real(tiny_model_dir, "qlora")
    blocks = parameter_map(model)
    quantized = {b.name for b in blocks if b.quantized}
    assert "model.layers.0.mlp.up_proj" in quantized and len(quantized) == 2 * 7
    assert not any(b.quantized for b in blocks if b.kind in ("head", "embedding", "adapter"))


def test_tied_head_points_to_the_embedding(tiny_qwen_dir):
    _, model = _real(tiny_qwen_dir, "full")
    by_name = {b.name: b for b in parameter_map(model)}
    head = by_name["lm_head"]
    assert head.params == 0 and head.tied_to == "model.embed_tokens"
    assert by_name["model.embed_tokens"].params == model.lm_head.weight.numel()


@pytest.mark.parametrize("method, attached", [("prompt_tuning", "model.embed_tokens"),
                                              ("p_tuning", "model.embed_tokens"),
                                              ("prefix_tuning", "model.layers")])
def test_virtual_tokens_are_added_blocks(tiny_model_dir, method, attached):
    _, model = _real(tiny_model_dir, method)
    virtual = [b for b in parameter_map(model) if b.kind == "virtual_tokens"]
    assert virtual and all(b.added and b.attached_to == attached for b in virtual)
    assert sum(b.trainable for b in virtual) == count_parameters(model)[0]
    assert virtual[0].shape[0] == 20  # num_virtual_tokens rows


def test_freeze_map_shows_the_trained_layers(tiny_model_dir):
    _, model = _real(tiny_model_dir, "freeze")
    blocks = parameter_map(model)
    trained_layers = {b.layer for b in blocks if b.trainable}
    assert trained_layers == {0, 1, None}  # both layers (default 2) + the final norm
    assert {b.name for b in blocks if b.trainable and b.layer is None} == {"model.norm"}


@pytest.mark.parametrize("config", [LLAMA_7B, QWEN2_7B], ids=["llama-7b", "qwen2-7b"])
def test_7b_meta_map_is_fast_and_matches_the_formula(tmp_path, config):
    (tmp_path / "config.json").write_text(json.dumps(config))
    dims = memory.model_dims(config)
    for method in METHODS:
        cfg = RunConfig(model=str(tmp_path), method=method)
        blocks = parameter_map_for_config(cfg)
        s = summarize(blocks)
        assert (s["trainable"], s["params"]) == memory.method_params(cfg, dims), method
    cfg = RunConfig(model=str(tmp_path), method="lora", lora_r=8)  # not cached yet
    start = time.perf_counter()
    blocks = parameter_map_for_config(cfg)
    # ~0.6 s on a 2-core machine (no weights exist; shapes only), most of it peft's injection
    built = time.perf_counter() - start
    assert built < 30.0  # generous: only a hang fails here
    assert len([b for b in blocks if b.kind == "adapter"]) == 2 * 7 * config["num_hidden_layers"]
    start = time.perf_counter()
    assert parameter_map_for_config(cfg.replace(lora_alpha=8.0)) == blocks  # same structure
    assert time.perf_counter() - start < built / 5  # cached: a ratio in one run
    r4 = parameter_map_for_config(cfg.replace(lora_r=4))
    assert sum(b.trainable for b in r4) * 2 == sum(b.trainable for b in blocks)


def test_summary_share(tiny_model_dir):
    _, model = _real(tiny_model_dir, "lora")
    s = summarize(parameter_map(model))
    trainable, total = count_parameters(model)
    assert s["trainable_share"] == pytest.approx(trainable / total)
    assert s["added"] == trainable  # LoRA trains exactly what it added
