"""The pre-run memory estimate (device detection and memory sampling: telemetry.py, re-exported
here).

Import-light on purpose: the model panel calls `estimate_memory` on every form change, so
nothing here imports torch at module level.

The estimate (all sizes in MiB; "params" = parameter counts from `param_counts`):

  weights     frozen base params x bytes of the load dtype (fp32 on CPU; bf16/fp16 on a GPU)
              + trainable params x 4 (adapters / master weights are fp32).
              full / freeze keep every weight in fp32 (the trainer's choice, autocast computes).
              qlora: base linear layers at ~0.53 bytes (NF4 4-bit + double-quantized scales);
              the other base params are cast to fp32 by prepare_model_for_kbit_training.
  autocast    trainable x 2 under bf16 / fp16: autocast caches a 16-bit copy of each fp32
              weight that trains for the whole step (full: the whole model again at 2 bytes)
  gradients   trainable x 4
  optimizer   trainable x 8 for AdamW (two fp32 moments), x 2 for the 8-bit AdamW variants
  activations tokens x (8.5 h + 4 i + 2 kv) x act_bytes x grad_layers x method factor
              (tokens = batch_size x (max_length + virtual tokens); h hidden, i intermediate,
              kv the key/value width; act_bytes 2 under 16-bit precision, else 4). Measured with
              saved-tensor hooks on Llama blocks here: within ~5% for full fine-tuning.
              Frozen linear layers save less (their inputs are not needed for a weight
              gradient) but adapters add their own: the method's activation factor (1.0 for
              LoRA-style methods (measured), 0.8 IA3, 0.75 prompt methods).
              grad_layers: all layers, or only the trained last N for freeze.
              Each method's part of this (parameter count, activation factor, added positions,
              layers that backpropagate) is declared in core/methods/registry.py.
              With gradient checkpointing only each layer's input is kept (tokens x h x
              act_bytes per layer) plus one layer's activations while it is recomputed.
  logits      the trainer's fast loss runs the head on label positions only (head_loss_bytes):
              a plain head fused with its loss (train/linear_ce.py), one chunk of
              loss.fused_chunk_rows(vocab) rows at a time: rows x vocab x 4 (fp32 logits,
              softmax made in place) + tokens x hidden x 4 (the hidden states' gradient);
              under 16-bit autocast + rows x vocab x 2, and a 16-bit copy of a head kept in
              fp32 (full, freeze, qlora); + the head's fp32 gradient when it trains (full).
              A head with an adapter runs chunked under checkpointing:
              min(tokens, chunk_rows) x vocab x 8. The model's own
              forward (prompt methods, AdaLoRA): tokens x vocab x (act_bytes + 8).
  mask        packing only: a (T, T) fp32 attention mask per layer, T = batch x max_length.
  attention   GPUs without flash attention (pre-Ampere: T4, V100, RTX 20xx; or fp32): the
              (rows, heads, T, T) attention probabilities per layer at act_bytes (device.py,
              attention_kernel; an upper bound where the memory-efficient kernel runs).
  overhead    500 MiB on a GPU (CUDA context, kernels) or 480 MiB on a CPU (Python, torch,
              transformers, tokenizer, data), plus 10% of everything above (fragmentation);
              on a CPU also CPU_HEAP_RETENTION x activations: freed activations glibc's heaps
              keep resident (train/host_memory.py).

Several processes (config processes > 1) get a per-GPU figure, each GPU holding one process:
  ddp         the whole model on every GPU, as above, plus one flat copy of the trainable
              gradients (the buffer they are summed across processes in: gradients x 2)
  fsdp        weights, autocast copies, gradients and optimizer state divided by the process
              count, plus what is gathered whole while it computes: the causal LM's own
              parameters (embeddings, head, final norm) and two decoder layers (the one
              computing and the next, prefetched) at the weights' bytes; the loss then runs
              through the model's own forward (full-vocabulary logits, see "logits")

Sequences are counted at max_length (packing fills rows; padding only shortens them), so this
is an upper bound for the usual run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Optional

from studio.core.model.telemetry import (  # re-exported: the app and the bench use them here
    DeviceInfo,
    MemorySample,
    detect_device,
    sample_memory,
)

__all__ = ["DeviceInfo", "MemorySample", "detect_device", "sample_memory", "MemoryEstimate",
           "ModelDims", "model_dims", "method_params", "estimate_memory", "dims_config",
           "should_checkpoint"]

MB = 2 ** 20
NF4_BYTES = 0.53          # 4 bits + double-quantized absmax per 64-value block
CPU_OVERHEAD_MB = 480      # Python, torch, transformers, tokenizer, data, thread pools (measured)
# glibc's heaps keep freed activations resident on the CPU (train/host_memory.py): measured
# 0.6x the activations above the estimate on a 12 x 768 body (docs/performance.md)
CPU_HEAP_RETENTION = 0.6
HEADROOM = 0.95            # plan to use at most 95% of the device: the desktop needs some


@dataclass(frozen=True)
class MemoryEstimate:
    weights_mb: float
    gradients_mb: float
    optimizer_mb: float
    activations_mb: float
    overhead_mb: float
    total_mb: float
    fits: Optional[bool]            # None: device size unknown
    suggestions: list = field(default_factory=list)
    logits_mb: float = 0.0
    autocast_mb: float = 0.0        # 16-bit copies of the trained fp32 weights under autocast
    trainable_params: int = 0
    total_params: int = 0
    checkpointing: bool = False     # gradient checkpointing assumed in this estimate
    precision: str = "fp32"
    device_kind: str = "cpu"
    device_total_mb: Optional[float] = None


# --- model shape ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelDims:
    """The numbers of a decoder-only (Llama-style) config that memory depends on."""
    model_type: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool
    qkv_bias: bool
    o_bias: bool
    mlp_bias: bool

    @property
    def kv_width(self) -> int:
        return self.kv_heads * self.head_dim

    def linears(self) -> dict[str, tuple[int, int]]:
        """Per-layer linear layers: name -> (in_features, out_features)."""
        h, q, kv, i = self.hidden, self.heads * self.head_dim, self.kv_width, self.intermediate
        return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}

    def layer_params(self) -> int:
        lin = self.linears()
        n = sum(a * b for a, b in lin.values()) + 2 * self.hidden  # + two RMSNorms
        if self.qkv_bias:
            n += lin["q_proj"][1] + 2 * self.kv_width
        if self.o_bias:
            n += self.hidden
        if self.mlp_bias:
            n += 2 * self.intermediate + self.hidden
        return n

    def linear_params(self) -> int:
        """Weights bitsandbytes quantizes for QLoRA (every decoder linear, not the head)."""
        return self.layers * sum(a * b for a, b in self.linears().values())

    def base_params(self) -> int:
        emb = self.vocab * self.hidden
        return emb + (0 if self.tied else emb) + self.layers * self.layer_params() + self.hidden


def model_dims(config: dict) -> ModelDims:
    c = config.get("text_config") or config  # multimodal configs nest the language model
    hidden = int(c.get("hidden_size") or c.get("n_embd") or c.get("d_model") or 0)
    layers = int(c.get("num_hidden_layers") or c.get("n_layer") or c.get("num_layers") or 0)
    heads = int(c.get("num_attention_heads") or c.get("n_head") or 0)
    if not (hidden and layers and heads and c.get("vocab_size")):
        from studio.core.errors import ModelError

        raise ModelError("the model config lacks hidden_size / num_hidden_layers / "
                         "num_attention_heads / vocab_size: cannot estimate its memory")
    model_type = str(c.get("model_type") or "")
    attention_bias = bool(c.get("attention_bias", False))
    return ModelDims(
        model_type=model_type, hidden=hidden, layers=layers, heads=heads,
        kv_heads=int(c.get("num_key_value_heads") or heads),
        head_dim=int(c.get("head_dim") or hidden // heads),
        intermediate=int(c.get("intermediate_size") or c.get("n_inner") or 4 * hidden),
        vocab=int(c["vocab_size"]),
        tied=bool(c.get("tie_word_embeddings", config.get("tie_word_embeddings", False))),
        qkv_bias=attention_bias or model_type == "qwen2",  # Qwen2 always biases q, k, v
        o_bias=attention_bias, mlp_bias=bool(c.get("mlp_bias", False)))


def method_params(cfg: Any, dims: ModelDims) -> tuple[int, int]:
    """(trainable, total) parameters for cfg.method on this shape, counted the way peft
    builds the adapters (the method registry's counter; tests compare it with the real model)."""
    return cfg.method_spec.memory.count_params(cfg, dims)


# --- the estimate --------------------------------------------------------------------------

def read_config(model_config: Any) -> dict:
    """A config.json dict from a dict, a folder, a config.json path or a hub id."""
    return _load_config(model_config)


def _load_config(model_config: Any) -> dict:
    if isinstance(model_config, dict):
        return model_config
    from studio.core.model.load import read_model_config  # light: json + pathlib at import

    return read_model_config(model_config)


CURRENT_GPU = (8, 0)  # planning for a GPU this machine does not have: assume an Ampere one


def _device(cfg: Any, device_kind: Optional[str]) -> tuple[str, Optional[tuple]]:
    """(kind, compute capability) of the device the run is planned for."""
    if device_kind is None:
        device_kind = cfg.device if cfg.device != "auto" else detect_device().kind
    if device_kind != "cuda":
        return device_kind, None
    here = detect_device()
    if here.kind == "cuda":
        return device_kind, here.capability or (CURRENT_GPU if here.bf16 else (7, 0))
    return device_kind, CURRENT_GPU


def estimate_memory(cfg: Any, model_config: Any, device_total_mb: Optional[float] = None, *,
                    device_kind: Optional[str] = None,
                    param_counts: Optional[tuple[int, int]] = None,
                    suggest: bool = True,
                    capability: Optional[tuple] = None) -> MemoryEstimate:
    """Peak training memory for `cfg` on the model described by `model_config` (a config.json
    dict, a folder, a config.json path or a hub id). See the module docstring for the formula.

    device_kind: "cuda" | "cpu"; default: cfg.device, or the detected device for auto.
    param_counts: exact (trainable, total) from the parameter map, when the caller has them.
    capability: the CUDA compute capability planned for (default: this machine's GPU, or an
    Ampere one when it has none).
    """
    from studio.core import device as policy

    dims = model_dims(_load_config(model_config))
    kind, here = _device(cfg, device_kind)
    capability = (capability or here) if kind == "cuda" else None
    flags = policy.cpu_flags() if kind == "cpu" and cfg.precision in ("", "auto") else ()
    precision = policy.training_precision(cfg.precision, kind, capability, cpu_flags=flags,
                                          params=dims.base_params(),
                                          full_weights=not cfg.method_spec.is_peft)
    attention = policy.attention_kernel(capability, precision)
    est = _estimate(cfg, dims, kind, precision, device_total_mb, param_counts,
                    _checkpointing(cfg, dims, kind, precision, device_total_mb, param_counts,
                                   attention), attention)
    if suggest and est.fits is False:
        est = replace(est, suggestions=_suggestions(cfg, dims, kind, device_total_mb, est,
                                                    capability))
    return est


def _checkpointing(cfg: Any, dims: ModelDims, kind: str, precision: str,
                   device_total_mb: Optional[float], counts: Any, attention: str) -> bool:
    from studio.core.train.checkpointing import want_checkpointing  # light: no torch

    if cfg.gradient_checkpointing != "auto" or device_total_mb is None:
        return want_checkpointing(cfg.gradient_checkpointing, cfg.method, fits=True)
    plain = _estimate(cfg, dims, kind, precision, device_total_mb, counts, False, attention)
    return want_checkpointing("auto", cfg.method, fits=plain.fits is not False)


def _estimate(cfg: Any, dims: ModelDims, kind: str, precision: str,
              device_total_mb: Optional[float], counts: Optional[tuple[int, int]],
              checkpointing: bool, attention: str = "cpu") -> MemoryEstimate:
    trainable, total = counts or method_params(cfg, dims)
    base = dims.base_params()
    added = max(0, total - base)
    half = precision in ("bf16", "fp16")
    wbytes = 2 if half else 4
    spec = cfg.method_spec
    if not spec.is_peft:
        weights = total * 4.0
    elif spec.quantized_base:
        linear = dims.linear_params()
        weights = linear * NF4_BYTES + (base - linear) * 4.0 + added * 4.0
    else:
        weights = base * wbytes + added * 4.0
    # autocast keeps a 16-bit copy of every fp32 weight that trains, for the whole step
    autocast = trainable * 2.0 if half else 0.0
    grads = trainable * 4.0
    optimizer = trainable * (2.0 if _optimizer(cfg, kind).endswith("8bit") else 8.0)

    act_bytes = 2 if half else 4
    tokens = cfg.batch_size * (cfg.max_length + spec.memory.extra_positions(cfg))
    per_layer = (tokens * (8.5 * dims.hidden + 4 * dims.intermediate + 2 * dims.kv_width)
                 * act_bytes * spec.memory.activation_factor)
    grad_layers = spec.memory.backprop_layers(cfg, dims.layers)
    if checkpointing:
        activations = grad_layers * tokens * dims.hidden * act_bytes + per_layer
    else:
        activations = grad_layers * per_layer
    from studio.core.train.loss import PLAIN_HEAD_TYPES  # light: torch is lazy there

    weights, autocast, grads, optimizer = _per_device(cfg, dims, weights, autocast, grads,
                                                      optimizer, wbytes)
    fsdp = getattr(cfg, "processes", 1) > 1 and cfg.distributed == "fsdp"
    fast = dims.model_type in PLAIN_HEAD_TYPES and not spec.own_forward and not fsdp
    logits = (head_loss_bytes(cfg, dims, tokens, half) if fast
              else tokens * dims.vocab * (act_bytes + 8.0))
    # A packed micro-batch is one row of T = tokens: SDPA then keeps a (T, T) float mask for
    # every layer that saves activations (measured with saved-tensor hooks).
    mask = ((2 if checkpointing else grad_layers) * tokens ** 2 * 4.0
            if cfg.packing and not spec.virtual_tokens else 0.0)
    if attention == "math":  # no flash kernel (pre-Ampere): (rows, heads, T, T) probabilities
        rows, t = (1, tokens) if cfg.packing and not spec.virtual_tokens else (cfg.batch_size,
                                                                  tokens // cfg.batch_size)
        activations += ((1 if checkpointing else grad_layers) * rows * dims.heads * t * t
                        * act_bytes)

    subtotal = weights + autocast + grads + optimizer + activations + logits + mask
    overhead = (500 if kind == "cuda" else CPU_OVERHEAD_MB) * MB + 0.10 * subtotal
    if kind == "cpu":  # freed activations the heaps keep
        overhead += CPU_HEAP_RETENTION * activations
    total_b = subtotal + overhead
    fits = None if device_total_mb is None else total_b / MB <= device_total_mb * HEADROOM
    return MemoryEstimate(
        weights_mb=weights / MB, gradients_mb=grads / MB, optimizer_mb=optimizer / MB,
        activations_mb=activations / MB, overhead_mb=overhead / MB, total_mb=total_b / MB,
        fits=fits, logits_mb=logits / MB, autocast_mb=autocast / MB,
        trainable_params=int(trainable), total_params=int(total), checkpointing=checkpointing,
        precision=precision, device_kind=kind, device_total_mb=device_total_mb)


def head_loss_bytes(cfg: Any, dims: ModelDims, tokens: int, half: bool) -> float:
    """What the label-only output layer + loss holds at its peak (train/loss.py).

    A plain head runs fused (train/linear_ce.py): one chunk's float32 logits, under autocast
    its 16-bit product and gradient beside them and a 16-bit copy of the head; the gradient
    for every label row's hidden state; and the head's own float32 gradient when it trains.
    A head with an adapter runs chunked and checkpointed: a chunk's float32 logits and their
    softmax gradient."""
    from studio.core.train.loss import chunk_rows, fused_chunk_rows

    adapted_head = "lm_head" in str(getattr(cfg, "target_modules", ""))
    if cfg.method_spec.is_peft and adapted_head:
        return min(tokens, chunk_rows(dims.vocab)) * dims.vocab * 8.0
    rows = min(tokens, fused_chunk_rows(dims.vocab))
    held = rows * dims.vocab * 4.0 + tokens * dims.hidden * 4.0
    if half:  # the 16-bit product / gradient; a 16-bit copy of a head kept in float32
        spec = cfg.method_spec
        fp32_head = not spec.is_peft or spec.quantized_base
        held += rows * dims.vocab * 2.0 + (dims.vocab * dims.hidden * 2.0 if fp32_head else 0.0)
    head_trains = cfg.method == "full"  # freeze trains the last layers and the norm only
    return held + (dims.vocab * dims.hidden * 4.0 if head_trains else 0.0)


def _per_device(cfg: Any, dims: ModelDims, weights: float, autocast: float, grads: float,
                optimizer: float, wbytes: int) -> tuple[float, float, float, float]:
    """(weights, autocast, gradients, optimizer) bytes on one GPU of a several-process run."""
    procs = getattr(cfg, "processes", 1)
    if procs <= 1:
        return weights, autocast, grads, optimizer
    if cfg.distributed != "fsdp":
        return weights, autocast, grads * 2, optimizer  # + the flat all-reduce buffer
    root = dims.base_params() - dims.layers * dims.layer_params()  # embeddings, head, norm
    gathered = (root + 2 * dims.layer_params()) * (4 if not cfg.method_spec.is_peft else wbytes)
    return weights / procs + gathered, autocast / procs, grads / procs, optimizer / procs


def _optimizer(cfg: Any, kind: str) -> str:
    from studio.core.train.optim import choose_optimizer  # light: stdlib + config

    return choose_optimizer(cfg, kind)


def _suggestions(cfg: Any, dims: ModelDims, kind: str, device_total_mb: float,
                 est: MemoryEstimate, capability: Optional[tuple]) -> list[str]:
    """Concrete changes that lower the estimate, each with its new total; '(fits)' marks the
    ones that are enough alone."""
    changes: list[tuple[str, dict]] = []
    if not cfg.method_spec.quantized_base:
        changes.append(("method: qlora (4-bit base weights)", {"method": "qlora"}))
    if not cfg.method_spec.is_peft:
        changes.append(("method: lora (train small adapters only)", {"method": "lora"}))
    if not est.checkpointing:
        changes.append(("gradient_checkpointing: on (about 20-30% slower)",
                        {"gradient_checkpointing": "on"}))
    if cfg.batch_size > 1:
        per_process = cfg.batch_size * cfg.grad_accum
        changes.append((f"batch_size: 1 with grad_accum: {per_process} "
                        "(same effective batch)",
                        {"batch_size": 1, "grad_accum": per_process}))
    if getattr(cfg, "processes", 1) > 1 and cfg.distributed == "ddp":
        changes.append(("distributed: fsdp (the model shared out across the GPUs)",
                        {"distributed": "fsdp"}))
    if cfg.max_length > 256:
        changes.append((f"max_length: {cfg.max_length // 2} (longer samples are truncated)",
                        {"max_length": cfg.max_length // 2}))
    out: list[str] = []
    combined: dict = {}
    for text, change in changes:
        alt = estimate_memory(cfg.replace(**change), dims_config(dims), device_total_mb,
                              device_kind=kind, suggest=False, capability=capability)
        for key, value in change.items():
            combined.setdefault(key, value)  # the first (strongest) method change wins
        if alt.total_mb < est.total_mb:
            out.append(f"{text}: ~{alt.total_mb:,.0f} MB" + (" (fits)" if alt.fits else ""))
    if out and not any(s.endswith("(fits)") for s in out):
        alt = estimate_memory(cfg.replace(**combined), dims_config(dims), device_total_mb,
                              device_kind=kind, suggest=False, capability=capability)
        out.append(f"all of these together: ~{alt.total_mb:,.0f} MB"
                   + (" (fits)" if alt.fits else "; still too big: choose a smaller model"))
    return out


def dims_config(dims: ModelDims) -> dict:
    """A config dict that model_dims() reads back as `dims` (for re-estimating)."""
    return {"model_type": dims.model_type, "hidden_size": dims.hidden,
            "num_hidden_layers": dims.layers, "num_attention_heads": dims.heads,
            "num_key_value_heads": dims.kv_heads, "head_dim": dims.head_dim,
            "intermediate_size": dims.intermediate, "vocab_size": dims.vocab,
            "tie_word_embeddings": dims.tied, "attention_bias": dims.o_bias,
            "mlp_bias": dims.mlp_bias}


def should_checkpoint(cfg: Any, model_config: Any, device_total_mb: Optional[float],
                      *, device_kind: Optional[str] = None,
                      capability: Optional[tuple] = None) -> bool:
    """gradient_checkpointing: on/off as set; auto -> on only when the run would not fit in
    `device_total_mb` (pass the memory budget: free plus what the run already holds)."""
    if cfg.gradient_checkpointing != "auto":
        from studio.core.train.checkpointing import want_checkpointing

        return want_checkpointing(cfg.gradient_checkpointing, cfg.method, fits=True)
    return estimate_memory(cfg, model_config, device_total_mb, device_kind=device_kind,
                           suggest=False, capability=capability).checkpointing
