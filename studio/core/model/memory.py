"""Device detection, memory sampling and the pre-run memory estimate.

Import-light on purpose: the UI status bar calls `detect_device` / `sample_memory` from a worker
and the model panel calls `estimate_memory` on every form change, so nothing here imports torch
at module level; on a Linux machine without an NVIDIA / AMD device node, `detect_device` never
imports torch at all.

The estimate (all sizes in MiB; "params" = parameter counts from `param_counts`):

  weights     frozen base params x bytes of the load dtype (fp32 on CPU; bf16/fp16 on a GPU)
              + trainable params x 4 (adapters / master weights are fp32).
              full / freeze keep every weight in fp32 (the trainer's choice, autocast computes).
              qlora: base linear layers at ~0.53 bytes (NF4 4-bit + double-quantized scales);
              the other base params are cast to fp32 by prepare_model_for_kbit_training.
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
  logits      the trainer's fast loss runs the head on label positions only, in chunks of
              loss.chunk_rows(vocab) rows (~256 MB): min(tokens, rows) x vocab x 8 (fp32
              logits + their softmax gradient);
              the model's own forward (prompt methods, AdaLoRA): tokens x vocab x (act_bytes + 8).
  mask        packing only: a (T, T) fp32 attention mask per layer, T = batch x max_length.
  overhead    500 MiB on a GPU (CUDA context, kernels) or 480 MiB on a CPU (Python, torch,
              transformers, tokenizer, data), plus 10% of everything above (fragmentation).

Sequences are counted at max_length (packing fills rows; padding only shortens them), so this
is an upper bound for the usual run.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

MB = 2 ** 20
NF4_BYTES = 0.53          # 4 bits + double-quantized absmax per 64-value block
CPU_OVERHEAD_MB = 480      # Python, torch, transformers, tokenizer, data, thread pools (measured)
HEADROOM = 0.95            # plan to use at most 95% of the device: the desktop needs some


@dataclass(frozen=True)
class DeviceInfo:
    kind: str          # "cuda" | "cpu"
    name: str
    total_mb: float
    bf16: bool         # can train in bfloat16 (CPU: trained in fp32 here, so False)


@dataclass(frozen=True)
class MemorySample:
    allocated_mb: float   # tensors alive now (GPU) / process RSS (CPU)
    reserved_mb: float    # held by the CUDA caching allocator (GPU) / RSS (CPU)
    peak_mb: float        # peak allocated since the last reset (GPU) / peak RSS (CPU)
    rss_mb: float         # this process's resident memory
    device_used_mb: Optional[float] = None  # whole GPU, all processes (NVML when installed)


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
    trainable_params: int = 0
    total_params: int = 0
    checkpointing: bool = False     # gradient checkpointing assumed in this estimate
    precision: str = "fp32"
    device_kind: str = "cpu"
    device_total_mb: Optional[float] = None


# --- devices and sampling ------------------------------------------------------------------

_DEVICE: Optional[DeviceInfo] = None


def detect_device(refresh: bool = False) -> DeviceInfo:
    """The device training would use by default (GPU 0 when there is one). Cached."""
    global _DEVICE
    if _DEVICE is None or refresh:
        _DEVICE = _detect()
    return _DEVICE


def _detect() -> DeviceInfo:
    if _gpu_possible():
        import torch  # lazy: ~1 s; only where a GPU device node exists

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            return DeviceInfo("cuda", props.name, props.total_memory / MB,
                              bool(torch.cuda.is_bf16_supported()))
    import psutil

    return DeviceInfo("cpu", f"{_cpu_name()} ({os.cpu_count()} cores)",
                      psutil.virtual_memory().total / MB, False)


def _gpu_possible() -> bool:
    if "torch" in sys.modules or not sys.platform.startswith("linux"):
        return True  # cannot tell without torch (or it is loaded anyway)
    return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd",
                                           "/dev/dxg"))


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


def sample_memory() -> MemorySample:
    """Memory now. GPU numbers when torch is loaded and has used CUDA; else process RSS."""
    import psutil

    rss = psutil.Process().memory_info().rss / MB
    torch = sys.modules.get("torch")  # never import torch just to sample
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        return MemorySample(torch.cuda.memory_allocated() / MB,
                            torch.cuda.memory_reserved() / MB,
                            torch.cuda.max_memory_allocated() / MB, rss, _nvml_used_mb())
    return MemorySample(rss, rss, max(rss, _peak_rss_mb()), rss)


def _peak_rss_mb() -> float:
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB else


def _nvml_used_mb() -> Optional[float]:
    try:
        import pynvml  # optional (nvidia-ml-py)

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        return pynvml.nvmlDeviceGetMemoryInfo(handle).used / MB
    except Exception:  # not installed, no driver: the sample simply lacks this number
        return None


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

def _load_config(model_config: Any) -> dict:
    if isinstance(model_config, dict):
        return model_config
    from studio.core.model.load import read_model_config  # light: json + pathlib at import

    return read_model_config(model_config)


def _precision(cfg: Any, kind: str, bf16: bool) -> str:
    if cfg.precision != "auto":
        return cfg.precision
    if kind == "cuda":
        return "bf16" if bf16 else "fp16"
    return "fp32"


def _device(cfg: Any, device_kind: Optional[str]) -> tuple[str, bool]:
    """(kind, bf16) of the device the run is planned for."""
    if device_kind is None:
        device_kind = cfg.device if cfg.device != "auto" else detect_device().kind
    if device_kind != "cuda":
        return device_kind, False
    here = detect_device()
    # Planning for a GPU this machine does not have: assume a current one (bf16).
    return device_kind, here.bf16 if here.kind == "cuda" else True


def estimate_memory(cfg: Any, model_config: Any, device_total_mb: Optional[float] = None, *,
                    device_kind: Optional[str] = None,
                    param_counts: Optional[tuple[int, int]] = None,
                    suggest: bool = True) -> MemoryEstimate:
    """Peak training memory for `cfg` on the model described by `model_config` (a config.json
    dict, a folder, a config.json path or a hub id). See the module docstring for the formula.

    device_kind: "cuda" | "cpu"; default: cfg.device, or the detected device for auto.
    param_counts: exact (trainable, total) from the parameter map, when the caller has them.
    """
    dims = model_dims(_load_config(model_config))
    kind, bf16 = _device(cfg, device_kind)
    precision = _precision(cfg, kind, bf16)
    est = _estimate(cfg, dims, kind, precision, device_total_mb, param_counts,
                    _checkpointing(cfg, dims, kind, precision, device_total_mb, param_counts))
    if suggest and est.fits is False:
        est = replace(est, suggestions=_suggestions(cfg, dims, kind, device_total_mb, est))
    return est


def _checkpointing(cfg: Any, dims: ModelDims, kind: str, precision: str,
                   device_total_mb: Optional[float], counts: Any) -> bool:
    if cfg.gradient_checkpointing != "auto":
        return cfg.gradient_checkpointing == "on"
    if device_total_mb is None:
        return False
    plain = _estimate(cfg, dims, kind, precision, device_total_mb, counts, False)
    return plain.fits is False


def _estimate(cfg: Any, dims: ModelDims, kind: str, precision: str,
              device_total_mb: Optional[float], counts: Optional[tuple[int, int]],
              checkpointing: bool) -> MemoryEstimate:
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
    from studio.core.train.loss import PLAIN_HEAD_TYPES, chunk_rows  # light: torch is lazy there

    fast = dims.model_type in PLAIN_HEAD_TYPES and not spec.own_forward
    logits = (min(tokens, chunk_rows(dims.vocab)) * dims.vocab * 8.0 if fast
              else tokens * dims.vocab * (act_bytes + 8.0))
    # A packed micro-batch is one row of T = tokens: SDPA then keeps a (T, T) float mask for
    # every layer that saves activations (measured with saved-tensor hooks).
    mask = ((2 if checkpointing else grad_layers) * tokens ** 2 * 4.0
            if cfg.packing and not spec.virtual_tokens else 0.0)

    subtotal = weights + grads + optimizer + activations + logits + mask
    overhead = (500 if kind == "cuda" else CPU_OVERHEAD_MB) * MB + 0.10 * subtotal
    total_b = subtotal + overhead
    fits = None if device_total_mb is None else total_b / MB <= device_total_mb * HEADROOM
    return MemoryEstimate(
        weights_mb=weights / MB, gradients_mb=grads / MB, optimizer_mb=optimizer / MB,
        activations_mb=activations / MB, overhead_mb=overhead / MB, total_mb=total_b / MB,
        fits=fits, logits_mb=logits / MB, trainable_params=int(trainable),
        total_params=int(total), checkpointing=checkpointing, precision=precision,
        device_kind=kind, device_total_mb=device_total_mb)


def _optimizer(cfg: Any, kind: str) -> str:
    from studio.core.train.optim import choose_optimizer  # light: stdlib + config

    return choose_optimizer(cfg, kind)


def _suggestions(cfg: Any, dims: ModelDims, kind: str, device_total_mb: float,
                 est: MemoryEstimate) -> list[str]:
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
        changes.append((f"batch_size: 1 with grad_accum: {cfg.effective_batch} "
                        "(same effective batch)",
                        {"batch_size": 1, "grad_accum": cfg.effective_batch}))
    if cfg.max_length > 256:
        changes.append((f"max_length: {cfg.max_length // 2} (longer samples are truncated)",
                        {"max_length": cfg.max_length // 2}))
    out: list[str] = []
    combined: dict = {}
    for text, change in changes:
        alt = estimate_memory(cfg.replace(**change), dims_config(dims), device_total_mb,
                              device_kind=kind, suggest=False)
        for key, value in change.items():
            combined.setdefault(key, value)  # the first (strongest) method change wins
        if alt.total_mb < est.total_mb:
            out.append(f"{text}: ~{alt.total_mb:,.0f} MB" + (" (fits)" if alt.fits else ""))
    if out and not any(s.endswith("(fits)") for s in out):
        alt = estimate_memory(cfg.replace(**combined), dims_config(dims), device_total_mb,
                              device_kind=kind, suggest=False)
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
                      *, device_kind: Optional[str] = None) -> bool:
    """gradient_checkpointing: on/off as set; auto -> on only when the run would not fit."""
    if cfg.gradient_checkpointing != "auto":
        return cfg.gradient_checkpointing == "on"
    return estimate_memory(cfg, model_config, device_total_mb, device_kind=device_kind,
                           suggest=False).checkpointing
