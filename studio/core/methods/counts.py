"""Parameter counts of each method on a model shape, without building anything.

Each counter takes a RunConfig and a memory.ModelDims (Llama-style blocks: q, k, v, o, gate, up,
down projections) and returns (trainable, total) the way peft builds the adapters; the tests
compare every counter with the real model. The memory estimate (core/model/memory.py) reads
them through the method registry. Plain arithmetic: nothing is imported.
"""

from __future__ import annotations

from typing import Any


def linear_targets(dims: Any, target_modules: str) -> list[str]:
    """The per-layer linear names that `target_modules` selects."""
    names = list(dims.linears())
    if target_modules.strip() in ("", "all-linear"):
        return names
    wanted = {t.strip().split(".")[-1] for t in target_modules.split(",")}
    return [n for n in names if n in wanted]


def full(cfg: Any, dims: Any) -> tuple[int, int]:
    base = dims.base_params()
    return base, base


def freeze(cfg: Any, dims: Any) -> tuple[int, int]:
    # the last N decoder layers and the final norm
    trained = min(cfg.freeze_trainable_layers, dims.layers) * dims.layer_params() + dims.hidden
    return trained, dims.base_params()


def lora(cfg: Any, dims: Any) -> tuple[int, int]:
    # A (r x in) and B (out x r) per targeted linear layer
    lin = dims.linears()
    added = dims.layers * sum(cfg.lora_r * (lin[t][0] + lin[t][1])
                              for t in linear_targets(dims, cfg.target_modules))
    return added, dims.base_params() + added


def dora(cfg: Any, dims: Any) -> tuple[int, int]:
    # LoRA plus a magnitude per output feature
    lin = dims.linears()
    magnitudes = dims.layers * sum(lin[t][1] for t in linear_targets(dims, cfg.target_modules))
    trainable, total = lora(cfg, dims)
    return trainable + magnitudes, total + magnitudes


def adalora(cfg: Any, dims: Any) -> tuple[int, int]:
    # LoRA plus, per matrix, r singular values E (trainable) and one ranknum (frozen)
    n_targets = len(linear_targets(dims, cfg.target_modules))
    trainable, total = lora(cfg, dims)
    singular = dims.layers * cfg.lora_r * n_targets
    return trainable + singular, total + singular + dims.layers * n_targets


def ia3_targets(dims: Any, target_modules: str) -> list[str]:
    # peft's defaults (utils/constants.py): Qwen2 scales q, v, down; Llama-style k, v, down
    if target_modules.strip() in ("", "all-linear"):
        if dims.model_type == "qwen2":
            return ["q_proj", "v_proj", "down_proj"]
        return ["k_proj", "v_proj", "down_proj"]
    return linear_targets(dims, target_modules)


def ia3(cfg: Any, dims: Any) -> tuple[int, int]:
    # one vector per target: the input width of feed-forward layers, else the output width
    lin = dims.linears()
    added = dims.layers * sum(lin[t][0] if t == "down_proj" else lin[t][1]
                              for t in ia3_targets(dims, cfg.target_modules))
    return added, dims.base_params() + added


def prompt_tuning(cfg: Any, dims: Any) -> tuple[int, int]:
    added = cfg.num_virtual_tokens * dims.hidden
    return added, dims.base_params() + added


def prefix_tuning(cfg: Any, dims: Any) -> tuple[int, int]:
    # a key and a value vector per virtual token per layer
    added = cfg.num_virtual_tokens * dims.layers * 2 * dims.kv_width
    return added, dims.base_params() + added


def p_tuning(cfg: Any, dims: Any) -> tuple[int, int]:
    # embeddings + a 3-layer MLP as wide as the model
    added = cfg.num_virtual_tokens * dims.hidden + 3 * (dims.hidden * dims.hidden + dims.hidden)
    return added, dims.base_params() + added
