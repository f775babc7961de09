"""The parameter map: every module of a model as a block, trainable vs frozen, with counts.

This is the lecture's "robot that adjusts some of its parts": the UI draws one block per
weight-holding module (embedding, attention projections, MLP projections, norms, head) and
marks what the chosen method trains. Adapter weights (LoRA A/B, DoRA magnitudes, AdaLoRA E,
IA3 vectors) appear as `added` blocks attached to the module they modify; prompt / prefix /
P-tuning weights appear as `added` virtual-token blocks.

`parameter_map_for_config` builds the model on the meta device from its config.json only (no
weight is read), so the map of a 7B model is ready in well under a second; its counts equal
those of the real loaded model.

torch / transformers / peft are imported inside the functions (the UI imports this module).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

KINDS = ("embedding", "attention", "mlp", "norm", "head", "adapter", "virtual_tokens", "other")
_LAYER = re.compile(r"(?:^|\.)(?:layers|h|blocks|layer)\.(\d+)(?:\.|$)")
_ATTN = ("self_attn", "attn", "attention", "cross_attn")
_MLP = ("mlp", "feed_forward", "ffn", "block_sparse_moe", "experts")


@dataclass(frozen=True)
class ModuleBlock:
    name: str                     # e.g. "model.layers.0.self_attn.q_proj" (no peft prefixes)
    kind: str                     # one of KINDS
    layer: Optional[int]          # decoder layer index, None outside the layers
    params: int                   # logical parameter count (4-bit weights count in full)
    trainable: int                # how many of them receive gradients
    quantized: bool = False       # weights stored in 4-bit (QLoRA base)
    added: bool = False           # not part of the base model: adapter or virtual tokens
    attached_to: Optional[str] = None  # added blocks: the module they modify
    shape: tuple = ()             # logical shape of the main weight, e.g. (out, in)
    tied_to: Optional[str] = None  # a weight shared with another block (counted there)

    @property
    def frozen(self) -> bool:
        return self.trainable == 0


def parameter_map(model: Any, *, assume_quantized: bool = False) -> list:
    """Blocks of a (possibly PEFT-wrapped) model, in module order; virtual tokens last.

    assume_quantized: mark the linear layers bitsandbytes would quantize (all but the output
    head) as 4-bit; used for a meta-device QLoRA map, where nothing is really quantized.
    Sum of `params` == count_parameters(model)[1]; of `trainable` == [0].
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    tuned = _tuner_layer_names(base) if hasattr(model, "peft_config") else set()
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    owners: dict[int, str] = {}  # id(param) -> block that counted it (tied weights)
    blocks: dict[str, dict] = {}
    for name, module in base.named_modules():
        own = list(module.parameters(recurse=False))
        if not own:
            continue
        block_name, parent = _block_name(name, tuned)
        info = blocks.get(block_name)
        if info is None:
            info = blocks[block_name] = _new_block(block_name, parent, module, head,
                                                   assume_quantized)
        _add_params(info, own, owners, block_name)
    for name, module in _outside_base(model, base):  # prompt encoders
        own = list(module.parameters(recurse=False))
        if own:
            block_name = _virtual_name(name)
            info = blocks.get(block_name)
            if info is None:
                info = blocks[block_name] = _virtual_block(block_name, module, model, base)
            _add_params(info, own, owners, block_name)
    return [ModuleBlock(**info) for info in blocks.values()]


def _tuner_layer_names(base: Any) -> set[str]:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return {n for n, m in base.named_modules() if isinstance(m, BaseTunerLayer)}


def _block_name(name: str, tuned: set[str]) -> tuple[str, Optional[str]]:
    """(block name, the module an adapter is attached to or None).

    Inside a PEFT layer "x.q_proj": "x.q_proj.base_layer" is the original weight (block
    "x.q_proj"); "x.q_proj.lora_A.default" is an adapter (block "x.q_proj.lora_A").
    """
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        parent = ".".join(parts[:i])
        if parent in tuned:
            segment = parts[i]
            if segment == "base_layer":
                return parent, None
            return f"{parent}.{segment}", parent
    return name, None


def _new_block(name: str, parent: Optional[str], module: Any, head: Any,
               assume_quantized: bool) -> dict:
    import torch

    layer = _layer_index(name)
    if parent is not None:
        return dict(name=name, kind="adapter", layer=layer, params=0, trainable=0,
                    added=True, attached_to=parent, shape=_shape(module))
    quantized = _is_quantized(module) or (
        assume_quantized and isinstance(module, torch.nn.Linear) and module is not head)
    return dict(name=name, kind=_kind(name, module, head), layer=layer, params=0,
                trainable=0, quantized=quantized, shape=_shape(module))


def _add_params(info: dict, params: list, owners: dict, block_name: str) -> None:
    from studio.core.model.load import param_numel

    for p in params:
        if id(p) in owners:  # tied: counted where it was first seen
            info["tied_to"] = owners[id(p)]
            continue
        owners[id(p)] = block_name
        n = param_numel(p)
        info["params"] += n
        if p.requires_grad:
            info["trainable"] += n


def _kind(name: str, module: Any, head: Any) -> str:
    import torch

    leaf = name.split(".")[-1]
    if module is head:
        return "head"
    if isinstance(module, torch.nn.Embedding):
        return "embedding"
    if "norm" in type(module).__name__.lower() or "norm" in leaf or leaf.startswith("ln"):
        return "norm"
    parts = name.split(".")
    if any(p in _ATTN for p in parts):
        return "attention"
    if any(p in _MLP for p in parts):
        return "mlp"
    return "other"


def _is_quantized(module: Any) -> bool:
    return any(p.__class__.__name__ in ("Params4bit", "Int8Params")
               for p in module.parameters(recurse=False))


def _shape(module: Any) -> tuple:
    # Linear4bit keeps a packed (n, 1) uint8 weight: use the layer's logical (out, in).
    if hasattr(module, "out_features") and hasattr(module, "in_features"):
        return (int(module.out_features), int(module.in_features))
    w = getattr(module, "weight", None)
    if w is not None and hasattr(w, "shape"):
        return tuple(int(d) for d in w.shape)
    first = next(module.parameters(recurse=False))
    return tuple(int(d) for d in first.shape)


def _layer_index(name: str) -> Optional[int]:
    m = _LAYER.search(name)
    return int(m.group(1)) if m else None


def _outside_base(model: Any, base: Any) -> list:
    if model is base:
        return []
    inside = {id(m) for m in base.modules()}
    return [(n, m) for n, m in model.named_modules() if id(m) not in inside]


def _virtual_name(name: str) -> str:
    # "prompt_encoder.default.mlp_head.0" -> "prompt_encoder.mlp_head.0" (adapter name dropped)
    parts = name.split(".")
    if len(parts) > 1 and parts[0] == "prompt_encoder":
        parts = parts[:1] + parts[2:]
    return ".".join(parts)


def _virtual_block(name: str, module: Any, model: Any, base: Any) -> dict:
    peft_type = str(getattr(model, "active_peft_config", None) and
                    model.active_peft_config.peft_type)
    # Prefix tuning feeds keys/values to every attention layer; prompt and P-tuning put
    # vectors in front of the input embeddings.
    if "PREFIX" in peft_type:
        attached = _module_name(base, _layers_module(base))
    else:
        attached = _module_name(base, base.get_input_embeddings())
    return dict(name=name, kind="virtual_tokens", layer=None, params=0, trainable=0,
                added=True, attached_to=attached, shape=_shape(module))


def _layers_module(base: Any) -> Any:
    import torch

    best = None
    for name, m in base.named_modules():
        if isinstance(m, torch.nn.ModuleList) and (best is None or len(m) > len(best)):
            best = m
    return best


def _module_name(base: Any, target: Any) -> Optional[str]:
    for name, m in base.named_modules():
        if m is target:
            return name
    return None


# --- the map before loading anything -------------------------------------------------------

def _meta_model(folder: Path, cfg: Any, total_steps: int) -> Any:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from studio.core.errors import ModelError, first_line
    from studio.core.methods.registry import apply_method

    try:
        config = AutoConfig.from_pretrained(str(folder),
                                            trust_remote_code=cfg.trust_remote_code)
    except (OSError, ValueError, KeyError) as e:
        raise ModelError(f"cannot read the config of {cfg.model}: {first_line(e)}") from None
    # Meta tensors have shapes but no storage: building a 7B model costs no memory, and
    # ~0.1 s (+ ~0.5 s for LoRA's 224 adapters) on 2 cores.
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config,
                                                 trust_remote_code=cfg.trust_remote_code)
        return apply_method(model, cfg, total_steps, meta=True)


# The fields that change which weights exist or train (alpha, dropout, lr... do not).
_STRUCTURE_KEYS = ("method", "lora_r", "target_modules", "num_virtual_tokens",
                   "freeze_trainable_layers", "trust_remote_code")


def parameter_map_for_config(cfg: Any, total_steps: int = 1000) -> list:
    """The parameter map for cfg.model + cfg.method without loading any weight.

    total_steps only matters for AdaLoRA's schedule, not for the counts. Results are cached per
    config.json (path and modification time) and method settings, so a form that switches
    methods back and forth redraws at once.
    """
    from studio.core.model.load import resolve_model

    folder = resolve_model(cfg.model, trust_remote_code=cfg.trust_remote_code,
                           allow_pickle=cfg.allow_pickle, config_only=True)
    stamp = (folder / "config.json").stat().st_mtime_ns
    key = (str(folder), stamp) + tuple(getattr(cfg, k) for k in _STRUCTURE_KEYS)
    with _CACHE_LOCK:
        blocks = _CACHE.get(key)
    if blocks is None:
        model = _meta_model(folder, cfg, total_steps)
        blocks = tuple(parameter_map(model, assume_quantized=cfg.method_spec.quantized_base))
        with _CACHE_LOCK:  # the UI builds maps from worker threads
            if len(_CACHE) >= 32:
                _CACHE.pop(next(iter(_CACHE)))  # oldest first
            _CACHE[key] = blocks
    return list(blocks)


_CACHE: dict[tuple, tuple] = {}
_CACHE_LOCK = threading.Lock()


def summarize(blocks: list) -> dict:
    """Totals for a caption: params, trainable, added, trainable share (0..1)."""
    total = sum(b.params for b in blocks)
    trainable = sum(b.trainable for b in blocks)
    added = sum(b.params for b in blocks if b.added)
    return {"params": total, "trainable": trainable, "added": added,
            "trainable_share": trainable / total if total else 0.0}
