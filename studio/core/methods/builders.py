"""Fine-tuning methods: one builder per method, turning a RunConfig into a trainable model.

PEFT methods (lora, qlora, dora, adalora, ia3, prompt_tuning, prefix_tuning, p_tuning) wrap the
model in a peft.PeftModel whose base weights are frozen. `full` trains every weight; `freeze`
trains only the last `freeze_trainable_layers` decoder layers and the final norm.

Each builder is `(model, cfg, total_steps, meta) -> model to train`; registry.py names the
builder of each method and `registry.apply_method` dispatches to it.

`meta=True` builds the same structure on a model that lives on the meta device (no weights):
the parameter map uses it to show what a method trains before anything is loaded. On meta,
QLoRA skips quantization (it needs real weights); the counts are the same.

peft / torch are imported inside the functions: the registry (read by the config and the UI)
imports this module without wanting torch.
"""

from __future__ import annotations

from typing import Any

from studio.core.errors import ConfigError, ModelError, first_line

# Linear layers that IA3 treats as feed-forward (it scales their input, not their output).
FEEDFORWARD_NAMES = ("down_proj", "fc2", "w2", "dense_4h_to_h", "wo")


def after_optimizer_step(model: Any, step: int) -> None:
    """Call after optimizer.step() and before zero_grad() (it reads the gradients).

    AdaLoRA re-allocates its rank budget from the gradient-based importance of each singular
    value; every other method needs nothing here.
    """
    # A transformers model also has a `base_model` (its body); only AdaLoRA's has this method.
    update = getattr(getattr(model, "base_model", None), "update_and_allocate", None)
    if update is not None:
        update(step)


# --- builders --------------------------------------------------------------------------------

def _peft(model: Any, peft_config: Any) -> Any:
    from peft import get_peft_model

    try:
        return get_peft_model(model, peft_config)
    except ValueError as e:  # e.g. target modules that match nothing
        raise ModelError(f"cannot attach {type(peft_config).__name__}: "
                         f"{first_line(e)}") from None


def _lora(model: Any, cfg: Any, use_dora: bool) -> Any:
    from peft import LoraConfig

    return _peft(model, LoraConfig(
        task_type="CAUSAL_LM", r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout, target_modules=lora_targets(model, cfg.target_modules),
        use_dora=use_dora))


def lora(model: Any, cfg: Any, total_steps: int, meta: bool) -> Any:
    return _lora(model, cfg, use_dora=False)


def dora(model: Any, cfg: Any, total_steps: int, meta: bool) -> Any:
    return _lora(model, cfg, use_dora=True)


def qlora(model: Any, cfg: Any, total_steps: int, meta: bool) -> Any:
    if not meta:
        if not getattr(model, "is_loaded_in_4bit", False):
            raise ModelError("qlora needs the base model loaded in 4-bit "
                             "(load_model(..., quantize_4bit=True))")
        from peft import prepare_model_for_kbit_training

        # Freezes the base and casts non-quantized weights to fp32 for stable training.
        # Gradient checkpointing is the trainer's choice (gradient_checkpointing key), not
        # forced on here.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return _lora(model, cfg, use_dora=False)


def adalora(model: Any, cfg: Any, total_steps: int, meta: bool) -> Any:
    from peft import AdaLoraConfig

    if total_steps < 1:
        raise ConfigError("adalora needs the number of training steps (total_steps >= 1)")
    # Rank budget: start at lora_r per matrix, prune to half of it on average. Warm up for the
    # first 10% of steps, keep the final budget for the last 20%; prune in ~10 rounds between.
    tinit = total_steps // 10
    tfinal = total_steps // 5
    delta = max(1, (total_steps - tinit - tfinal) // 10)
    return _peft(model, AdaLoraConfig(
        task_type="CAUSAL_LM", init_r=cfg.lora_r, target_r=max(1, cfg.lora_r // 2),
        lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
        target_modules=lora_targets(model, cfg.target_modules),
        total_step=total_steps, tinit=tinit, tfinal=tfinal, deltaT=delta))


def ia3(model: Any, cfg: Any, total_steps: int, meta: bool) -> Any:
    from peft import IA3Config

    targets, feedforward = ia3_targets(model, cfg.target_modules)
    return _peft(model, IA3Config(task_type="CAUSAL_LM", target_modules=targets,
                                  feedforward_modules=feedforward))


def prompt_tuning(model: Any, cfg: Any, total_steps: int, meta: bool) -> Any:
    from peft import PromptTuningConfig

    # SAMPLE_VOCAB starts the virtual tokens at real token embeddings (right scale); RANDOM
    # would start them at N(0, 1), far from the embeddings the model knows.
    return _peft(model, PromptTuningConfig(
        task_type="CAUSAL_LM", num_virtual_tokens=cfg.num_virtual_tokens,
        prompt_tuning_init="SAMPLE_VOCAB"))


def prefix_tuning(model: Any, cfg: Any, total_steps: int, meta: bool) -> Any:
    from peft import PrefixTuningConfig

    return _peft(model, PrefixTuningConfig(task_type="CAUSAL_LM",
                                           num_virtual_tokens=cfg.num_virtual_tokens))


def p_tuning(model: Any, cfg: Any, total_steps: int, meta: bool) -> Any:
    from peft import PromptEncoderConfig

    # The MLP that produces the virtual tokens is as wide as the model's hidden size.
    return _peft(model, PromptEncoderConfig(
        task_type="CAUSAL_LM", num_virtual_tokens=cfg.num_virtual_tokens,
        encoder_hidden_size=model.config.hidden_size))


def full(model: Any, cfg: Any, total_steps: int, meta: bool) -> Any:
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def freeze(model: Any, cfg: Any, total_steps: int, meta: bool) -> Any:
    layers = decoder_layers(model)
    n = cfg.freeze_trainable_layers
    if n > len(layers):
        raise ConfigError(f"freeze_trainable_layers is {n} but the model has only "
                          f"{len(layers)} decoder layers")
    for p in model.parameters():
        p.requires_grad_(False)
    for layer in layers[len(layers) - n:]:
        for p in layer.parameters():
            p.requires_grad_(True)
    norm = final_norm(model)
    if norm is not None:
        for p in norm.parameters():
            p.requires_grad_(True)
    return model


# --- finding modules -----------------------------------------------------------------------

def decoder_layers(model: Any) -> list:
    """The model's stack of decoder blocks (the longest ModuleList of blocks)."""
    import torch

    best: list = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and name.split(".")[-1] in (
                "layers", "h", "blocks", "layer") and len(module) > len(best):
            best = list(module)
    if not best:
        raise ModelError(f"cannot find the decoder layers of {type(model).__name__}")
    return best


def final_norm(model: Any) -> Any:
    """The norm after the last decoder layer (model.norm for Llama / Qwen2), or None."""
    import torch

    layers = {id(m) for layer in decoder_layers(model) for m in layer.modules()}
    candidates = [m for name, m in model.named_modules()
                  if id(m) not in layers and name and (
                      "norm" in type(m).__name__.lower()
                      or name.split(".")[-1] in ("norm", "ln_f", "final_layernorm"))
                  and any(True for _ in m.parameters(recurse=False))]
    candidates = [m for m in candidates if not isinstance(m, torch.nn.Embedding)]
    return candidates[-1] if candidates else None


def linear_names(model: Any) -> list[str]:
    """Leaf names of the Linear layers that adapters can target (the output head excluded)."""
    import torch

    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names: list[str] = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and module is not head and name:
            leaf = name.split(".")[-1]
            if leaf not in names and leaf != "base_layer":
                names.append(leaf)
    return names


def lora_targets(model: Any, target_modules: str) -> Any:
    """"all-linear" (peft: every Linear except the head) or a checked list of names, where
    "all-linear" may be one item: "all-linear,lm_head" also adapts the output layer (what a
    model that must learn new token statistics, e.g. a random-weight starter, needs)."""
    if target_modules.strip() in ("", "all-linear"):
        return "all-linear"
    wanted = [t.strip() for t in target_modules.split(",") if t.strip()]
    if "all-linear" in wanted:
        wanted = linear_names(model) + [t for t in wanted if t != "all-linear"]
    full_names = [n for n, _ in model.named_modules()]
    missing = [t for t in wanted if not any(n == t or n.endswith("." + t) for n in full_names)]
    if missing:
        raise ConfigError(f"target_modules {', '.join(missing)} not found in the model; its "
                          f"linear layers are {', '.join(linear_names(model))} (or all-linear)")
    return wanted


def ia3_targets(model: Any, target_modules: str) -> tuple[list[str], list[str]]:
    """(target_modules, feedforward_modules) for IA3.

    all-linear picks peft's standard IA3 layers for the model type (Llama: k_proj, v_proj,
    down_proj; Qwen2: q_proj, v_proj, down_proj) or, for an unknown type, every linear layer.
    IA3 rescales the output of attention projections and the input of feed-forward layers.
    """
    from peft.utils.constants import (
        TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING,
        TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING,
    )

    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if target_modules.strip() in ("", "all-linear"):
        if model_type in TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING:
            return (list(TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING[model_type]),
                    list(TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING[model_type]))
        targets = linear_names(model)
    else:
        targets = lora_targets(model, target_modules)
    return targets, [t for t in targets if t.split(".")[-1] in FEEDFORWARD_NAMES]
