"""The fine-tuning methods: every fact about a method in one declaration, with its builder.

Everything that differs between methods reads it here: the `method` config key's choices, the
Model page (description, which keys the form shows), the memory estimate, the optimizer and loss
special cases, the model card and the export rules. Adding a method is one `Method(...)` entry
passed to `register` plus its builder (builders.py) and its parameter counter (counts.py);
tests/core/methods/test_registry.py proves every consumer sees a new entry.

Light at import (the config, the forms and the CLI's --help read it before torch is loaded):
builders and counters import peft / torch inside their functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional

from studio.core.errors import ConfigError
from studio.core.methods import builders, counts

LORA_KEYS = ("lora_r", "lora_alpha", "lora_dropout", "target_modules")


def _all_layers(cfg: Any, n_layers: int) -> int:
    return n_layers


def _no_positions(cfg: Any) -> int:
    return 0


def _virtual_positions(cfg: Any) -> int:
    return cfg.num_virtual_tokens


@dataclass(frozen=True)
class MemoryModel:
    """How the pre-run estimate (core/model/memory.py) counts a method."""
    # (cfg, ModelDims) -> (trainable, total) parameters, as peft builds them (counts.py)
    count_params: Callable[[Any, Any], tuple[int, int]]
    # activations saved per layer relative to full fine-tuning (frozen layers keep less,
    # adapters add their own; measured with saved-tensor hooks)
    activation_factor: float = 1.0
    # (cfg) -> positions the method puts before every input (they cost activations and logits)
    extra_positions: Callable[[Any], int] = _no_positions
    # (cfg, decoder layers) -> layers that backpropagate (and so keep activations)
    backprop_layers: Callable[[Any, int], int] = _all_layers


@dataclass(frozen=True)
class Method:
    name: str                      # the `method` config value
    label: str                     # shown in the model card and the UI
    description: str               # the Model page text (English; zh_CN in studio/resources/i18n)
    # (model, cfg, total_steps, meta) -> the model to train; see builders.py
    build: Callable[[Any, Any, int, bool], Any]
    memory: MemoryModel
    learning_rate: float           # a peak learning rate that works on a pretrained model
    keys: tuple[str, ...] = ()     # config keys the method reads (form, model card)
    is_peft: bool = True           # wraps the model in a PeftModel; saves an adapter/
    virtual_tokens: bool = False   # adds learned tokens in front of the input: no packing, sft
    mergeable: bool = True         # its update folds into the weights (export --format merged)
    quantized_base: bool = False   # the base loads in 4-bit (bitsandbytes NF4)
    # the loss comes from the PEFT model's own forward with labels (it adds its own terms)
    model_loss: bool = False
    # can recompute activations (prefix tuning cannot: train/checkpointing.py says why)
    checkpointing: bool = True

    @property
    def own_forward(self) -> bool:
        """Needs the PEFT wrapper's forward: the trainer's fast head-only loss cannot be used."""
        return self.virtual_tokens or self.model_loss


_REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.name in _REGISTRY:
        raise ValueError(f"method {method.name!r} is registered already")
    _REGISTRY[method.name] = method
    return method


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def get(name: str) -> Method:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown method {name!r}; use one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def find(name: str) -> Optional[Method]:
    return _REGISTRY.get(name)


def all_methods() -> list[Method]:
    return list(_REGISTRY.values())


class _Names(Sequence):
    """The registered names, read live (a method registered later is a valid choice)."""

    def __getitem__(self, i: Any) -> Any:
        return tuple(_REGISTRY)[i]

    def __len__(self) -> int:
        return len(_REGISTRY)

    def __contains__(self, name: object) -> bool:
        return name in _REGISTRY

    def __repr__(self) -> str:
        return repr(tuple(_REGISTRY))


NAMES: Sequence = _Names()


def recommended_learning_rate(name: str) -> float:
    return get(name).learning_rate


def apply_method(model: Any, cfg: Any, total_steps: int, *, meta: bool = False) -> Any:
    """Attach cfg.method to `model` and return the model to train (a PeftModel for PEFT)."""
    return get(cfg.method).build(model, cfg, total_steps, meta)


# --- the methods ---------------------------------------------------------------------------
# Learning rates: IA3 and the prompt methods learn slowly at LoRA's rate and want 1e-2 to 3e-2.
# Activation factors: 1.0 for LoRA-style adapters (measured peak RSS matched full's,
# bench/memory_estimate), 0.8 for IA3, 0.75 for the prompt methods.

register(Method(
    "lora", "LoRA",
    "LoRA: every chosen linear layer W stays frozen; a small update B·A (rank r) is learned "
    "beside it.",
    builders.lora, MemoryModel(counts.lora), 2e-4, LORA_KEYS))
register(Method(
    "qlora", "QLoRA",
    "QLoRA: LoRA on a base model stored in 4-bit (NF4). Needs the least memory; a little "
    "slower.",
    builders.qlora, MemoryModel(counts.lora), 2e-4, LORA_KEYS, quantized_base=True))
register(Method(
    "dora", "DoRA",
    "DoRA: LoRA that also learns each output's magnitude; often closer to full fine-tuning.",
    builders.dora, MemoryModel(counts.dora), 2e-4, LORA_KEYS))
register(Method(
    "adalora", "AdaLoRA",
    "AdaLoRA: LoRA whose rank budget moves during training to the layers that need it most.",
    builders.adalora, MemoryModel(counts.adalora), 5e-4, LORA_KEYS, model_loss=True))
register(Method(
    "ia3", "IA3",
    "IA3: learns one scaling vector per chosen layer: the fewest trainable weights of all.",
    builders.ia3, MemoryModel(counts.ia3, activation_factor=0.8), 1e-2, ("target_modules",)))
register(Method(
    "prompt_tuning", "Prompt tuning",
    "Prompt tuning: the model is untouched; learned virtual tokens are put before every input.",
    builders.prompt_tuning,
    MemoryModel(counts.prompt_tuning, 0.75, extra_positions=_virtual_positions), 3e-2,
    ("num_virtual_tokens",), virtual_tokens=True, mergeable=False))
register(Method(
    "prefix_tuning", "Prefix tuning",
    "Prefix tuning: learned keys and values are put before the sequence in every layer.",
    builders.prefix_tuning, MemoryModel(counts.prefix_tuning, 0.75), 1e-2,
    ("num_virtual_tokens",), virtual_tokens=True, mergeable=False, checkpointing=False))
register(Method(
    "p_tuning", "P-tuning",
    "P-tuning: virtual tokens produced by a small learned network (prompt encoder).",
    builders.p_tuning,
    MemoryModel(counts.p_tuning, 0.75, extra_positions=_virtual_positions), 1e-2,
    ("num_virtual_tokens",), virtual_tokens=True, mergeable=False))
register(Method(
    "full", "Full fine-tuning",
    "Full fine-tuning: every weight trains. The most memory by far.",
    builders.full, MemoryModel(counts.full), 2e-5, is_peft=False))
register(Method(
    "freeze", "Freeze",
    "Freeze: only the last layers (and the final norm) train; the rest stays as it is.",
    builders.freeze,
    MemoryModel(counts.freeze,
                backprop_layers=lambda cfg, n: min(cfg.freeze_trainable_layers, n)),
    5e-5, ("freeze_trainable_layers",), is_peft=False))
