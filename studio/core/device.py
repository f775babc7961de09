"""The device and precision policy, decided in one place.

Every decision that depends on the accelerator is a pure function of its properties (compute
capability, memory, UUID, the number of visible GPUs), so it is tested on a CPU with the real
values of a T4, a V100, an RTX 3090, an A100, an H100 / H200, a MIG slice and two GPUs
(tests/core/test_device.py). The few functions that read the properties (`gpu_props`,
`available`) import torch inside; nothing here imports torch at module level.

Why not `torch.cuda.is_bf16_supported()`: by default it answers True where bf16 is only
*emulated* (pre-Ampere cards: T4, V100, RTX 20xx), so "bf16 if supported, else fp16" never
chose fp16 on CUDA. bf16 is native from compute capability 8.0 (Ampere) on.

Apple Silicon (`mps`) is a device choice and part of `auto` where present; operations it lacks
fall back to the CPU (PYTORCH_ENABLE_MPS_FALLBACK=1, set by studio/__main__.py on macOS before
torch loads). Untested on a Mac here.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any, Collection, Optional, Sequence

from studio.core.errors import ConfigError

DEVICES = ("auto", "cuda", "mps", "cpu")
PRECISIONS = ("bf16", "fp16", "fp32")
AMPERE = (8, 0)   # native bf16, flash attention in PyTorch's SDPA
# What an out-of-memory looks like when it does not arrive as torch.OutOfMemoryError: cuBLAS /
# cuDNN failing to allocate their workspace raise a plain RuntimeError with these words.
OOM_MARKERS = ("out of memory", "cublas_status_alloc_failed", "cudnn_status_not_enough_workspace",
               "cudnn_status_alloc_failed", "mps backend out of memory",
               "can't allocate memory")  # the CPU allocator's words
# Dense 16-bit tensor-core peak (TFLOP/s, no sparsity) by device-name fragment; the first match
# wins, so the more specific names come first ("H100 NVL" before "H100"). Cards without native
# bf16 list their fp16 peak, which is what they train in.
PEAK_TFLOPS = (
    ("GH200", 989.0), ("H200 NVL", 835.0), ("H200", 989.0), ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0), ("H100", 989.0), ("A100", 312.0), ("A30", 165.0), ("L40S", 362.0),
    ("L40", 181.0), ("L4", 121.0), ("A10G", 70.0), ("A10", 125.0), ("RTX 4090", 165.0),
    ("RTX 3090", 71.0), ("RTX A6000", 155.0), ("V100", 125.0), ("T4", 65.0),
)
# Compute slices of a whole GPU when split by MIG ("1g.10gb" is 1 of 7 on A100 / H100 / H200).
MIG_SLICES = {"A30": 4}
MIG_SLICES_DEFAULT = 7
# CPU instruction sets that compute bf16 matmuls in hardware (Linux /proc/cpuinfo flag names;
# torch's own checks report the same two): AVX512-BF16 (Cooper Lake, Zen 4 and later) and AMX
# (Sapphire Rapids and later). Without them bf16 is emulated and slower than fp32.
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
# Below this many parameters a CPU step is mostly fixed costs and small matmuls, where bf16's
# casts cost more than its faster matmuls save (docs/performance.md, "bf16 on the CPU": the
# tiny starter ran slower in bf16, LoRA on the 40M-parameter Qwen2.5-vocabulary model faster).
CPU_BF16_MIN_PARAMS = 20_000_000


@dataclass(frozen=True)
class GpuProps:
    """What the policy needs to know about one GPU (torch.cuda.get_device_properties)."""
    name: str
    capability: tuple[int, int]
    total_mb: float
    uuid: str = ""            # "GPU-..." or "MIG-..." (or bare hex, as torch prints it)

    @property
    def mig(self) -> bool:
        return self.uuid.upper().startswith("MIG-") or " MIG " in f" {self.name} "

    @property
    def native_bf16(self) -> bool:
        return native_bf16(self.capability)


# --- choices ---------------------------------------------------------------------------------

def native_bf16(capability: Sequence[int]) -> bool:
    """bf16 arithmetic in hardware: Ampere (8.0) and later. Earlier cards emulate it slowly."""
    return tuple(capability) >= AMPERE


def pick_device(requested: Optional[str], cuda: bool, mps: bool = False) -> str:
    """"cuda" | "mps" | "cpu" for what the user asked ("auto", "" or None: the best present).
    Asking for a device that is not here is a ConfigError."""
    req = (requested or "auto").strip().lower()
    if req.startswith("cuda:"):
        req = "cuda"
    if req not in DEVICES:
        raise ConfigError(f"unknown device {requested!r}; choose {', '.join(DEVICES)}")
    if req == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if req == "cuda" and not cuda:
        raise ConfigError("device: cuda was asked for, but no CUDA GPU is available here")
    if req == "mps" and not mps:
        raise ConfigError("device: mps was asked for, but Apple's Metal (MPS) backend is not "
                          "available here")
    return req


def cpu_bf16_units(cpu_flags: Collection[str]) -> bool:
    """Does a CPU with these instruction-set flags compute bf16 in hardware?"""
    have = {f.lower() for f in cpu_flags}
    return any(f in have for f in CPU_BF16_FLAGS)


def cpu_auto_precision(cpu_flags: Collection[str], params: int,
                       full_weights: bool = False) -> str:
    """What `precision: auto` trains in on a CPU: bf16 where the CPU has bf16 units, the model
    is large enough for its matmuls to dominate the step (CPU_BF16_MIN_PARAMS) and the base
    is frozen (LoRA-style methods: it loads in bf16, half the memory); else fp32. Training
    the full weights keeps fp32 master weights plus autocast's bf16 copies: measured no faster
    and 10% more memory here (performance.md), so fp32. bf16 keeps the loss within 3% of fp32
    because the softmax over the vocabulary stays float32 (train/linear_ce.py;
    tests/core/train/test_cpu_bf16.py checks both)."""
    if cpu_bf16_units(cpu_flags) and params >= CPU_BF16_MIN_PARAMS and not full_weights:
        return "bf16"
    return "fp32"


def auto_precision(kind: str, capability: Optional[Sequence[int]] = None,
                   cpu_flags: Collection[str] = (), params: int = 0,
                   full_weights: bool = False) -> str:
    """The training precision `auto` means: bf16 on GPUs with native bf16, fp16 on older GPUs
    (with a gradient scaler), on the CPU `cpu_auto_precision` (its instruction-set flags and
    the model's parameter count), fp32 on MPS (untested here: keep the safe one)."""
    if kind == "cuda":
        return "bf16" if capability is not None and native_bf16(capability) else "fp16"
    if kind == "cpu":
        return cpu_auto_precision(cpu_flags, params, full_weights)
    return "fp32"


def training_precision(requested: str, kind: str,
                       capability: Optional[Sequence[int]] = None,
                       cpu_flags: Collection[str] = (), params: int = 0,
                       full_weights: bool = False) -> str:
    """The precision a run trains in. bf16 / fp16 are honoured everywhere (CPU autocast has
    both; slower than fp32 on CPUs without bf16 units, but it is what the user asked for)."""
    if requested in (None, "", "auto"):
        return auto_precision(kind, capability, cpu_flags, params, full_weights)
    if requested not in PRECISIONS:
        raise ConfigError(f"unknown precision {requested!r}; choose auto, "
                          f"{', '.join(PRECISIONS)}")
    return requested


def weights_precision(precision: str, full_weights: bool) -> str:
    """The dtype a run loads its weights in: trained weights (full / freeze) stay fp32 master
    weights (autocast computes in 16 bits); a PEFT base is frozen, so it loads at `precision`."""
    return "fp32" if full_weights else precision


def qlora_compute(kind: str, precision: str,
                  capability: Optional[Sequence[int]] = None) -> str:
    """bitsandbytes' 4-bit compute dtype: fp32 on the CPU; on a GPU the run's 16-bit precision,
    else the GPU's native 16-bit type."""
    if kind == "cpu":
        return "fp32"
    if precision in ("bf16", "fp16"):
        return precision
    return "bf16" if capability is not None and native_bf16(capability) else "fp16"


def export_precision(base_dtype: Optional[str], kind: str,
                     capability: Optional[Sequence[int]] = None) -> str:
    """The dtype a merged export is made and written in: the base model's own (its config's
    torch_dtype: a bf16 base gives a bf16 model of the base's size), so the merge rounds
    base + delta once, to the dtype the model ships in. A bf16 base on a GPU without native
    bf16 merges in fp32 instead (exact, twice the size). Unknown: fp32."""
    names = {"bfloat16": "bf16", "bf16": "bf16", "float16": "fp16", "fp16": "fp16",
             "half": "fp16", "float32": "fp32", "fp32": "fp32", "float": "fp32"}
    own = names.get(str(base_dtype or "").replace("torch.", "").lower(), "fp32")
    if own == "bf16" and kind == "cuda" and not (capability and native_bf16(capability)):
        return "fp32"
    return own


def needs_grad_scaler(precision: str) -> bool:
    """fp16 gradients underflow (5 exponent bits): scale the loss. bf16 has fp32's range."""
    return precision == "fp16"


def rng_devices(saved: int, visible: int) -> int:
    """How many saved CUDA generator states a resume can restore: one per GPU that is both
    in the checkpoint and visible now (fewer GPUs than at the save, or more)."""
    return max(0, min(saved, visible))


def is_out_of_memory(exc: BaseException) -> bool:
    """Any out-of-memory of the framework: torch.OutOfMemoryError (CUDA, MPS) and the plain
    RuntimeErrors of cuBLAS / cuDNN that failed to allocate their workspace."""
    if type(exc).__name__ == "OutOfMemoryError" or isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(m in text for m in OOM_MARKERS)


def attention_kernel(capability: Optional[Sequence[int]], precision: str) -> str:
    """The SDPA kernel the estimate plans for: "flash" (Ampere+, 16-bit: no T x T tensor),
    "math" on older GPUs (the T x T scores and probabilities are materialised per head and
    kept for backward; an upper bound where the memory-efficient kernel runs instead), and
    "cpu" (PyTorch's fused CPU kernel, measured on this machine's estimates)."""
    if capability is None:
        return "cpu"
    if native_bf16(capability) and precision in ("bf16", "fp16"):
        return "flash"
    return "math"


def memory_budget_mb(free_mb: float, held_by_us_mb: float = 0.0) -> float:
    """What a run in this process may use: free device memory (other processes, the desktop
    and other apps take theirs) plus what this process already holds (the loaded model)."""
    return max(0.0, free_mb) + max(0.0, held_by_us_mb)


def peak_tflops(name: str) -> Optional[float]:
    """Dense 16-bit peak of a device by its name; a MIG slice gets its share ("1g" of 7)."""
    for fragment, tflops in PEAK_TFLOPS:
        if fragment.lower() in name.lower():
            m = re.search(r"\bMIG\s+(\d+)g\.", name, re.IGNORECASE)
            if m:
                return tflops * int(m.group(1)) / MIG_SLICES.get(fragment, MIG_SLICES_DEFAULT)
            return tflops
    return None


# --- which NVML device is the training device -------------------------------------------------

def bare_uuid(uuid: str) -> str:
    """"GPU-abc..." / "MIG-abc..." / "abc..." -> "abc..." (lower case) for comparing."""
    u = str(uuid).strip().lower()
    for prefix in ("gpu-", "mig-"):
        if u.startswith(prefix):
            return u[len(prefix):]
    return u


def nvml_match(torch_uuid: str, nvml_uuids: Sequence[str]) -> Optional[int]:
    """Index into `nvml_uuids` (every GPU and every MIG instance NVML lists) of the device torch
    trains on, matched by UUID: NVML's order is the PCI bus, CUDA's is fastest-first, and
    CUDA_VISIBLE_DEVICES renumbers, so indices do not match. None when no UUID matches."""
    want = bare_uuid(torch_uuid)
    if not want:
        return None
    for i, u in enumerate(nvml_uuids):
        if bare_uuid(u) == want:
            return i
    return None


def visible_first(visible_devices: Optional[str], nvml_uuids: Sequence[str],
                  whole_gpus: int) -> Optional[int]:
    """The NVML entry (index into `nvml_uuids`) a process started with CUDA_VISIBLE_DEVICES =
    `visible_devices` trains on (its cuda:0), for a process that has not started CUDA (the app
    watching a background run). The first `whole_gpus` entries are the GPUs in NVML order.
    An index is taken in PCI order (set CUDA_DEVICE_ORDER=PCI_BUS_ID to make that exact)."""
    first = (visible_devices or "").split(",")[0].strip()
    if visible_devices is not None and not first:
        return None  # CUDA_VISIBLE_DEVICES="" hides every GPU
    if not first:
        return 0 if nvml_uuids else None
    if first.isdigit():
        n = int(first)
        return n if n < whole_gpus else None
    want = bare_uuid(first)  # a UUID, or a unique prefix of one (CUDA accepts both)
    hits = [i for i, u in enumerate(nvml_uuids) if bare_uuid(u).startswith(want)]
    return hits[0] if len(hits) == 1 else None


# --- reading the properties (these import torch) ----------------------------------------------

def available() -> tuple[bool, bool]:
    """(CUDA, MPS) present here."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available(), bool(mps is not None and mps.is_available())


def resolve(requested: Optional[str]) -> str:
    """pick_device with what this machine has."""
    cuda, mps = available()
    return pick_device(requested, cuda, mps)


def gpu_props(index: int = 0) -> GpuProps:
    import torch

    p = torch.cuda.get_device_properties(index)
    return GpuProps(p.name, (p.major, p.minor), p.total_memory / 2**20,
                    str(getattr(p, "uuid", "")))


_CPU_FLAGS: Optional[frozenset] = None


def cpu_flags() -> frozenset:
    """This CPU's instruction-set flags (lower case), read once: /proc/cpuinfo's on Linux;
    elsewhere what torch's own checks report, when torch is already imported (the memory
    estimate runs in the GUI thread, which must not import torch: without it the estimate
    plans for fp32, the larger of the two)."""
    global _CPU_FLAGS
    if _CPU_FLAGS is None:
        flags = _proc_cpuinfo_flags()
        torch = sys.modules.get("torch")
        if not flags and torch is not None:
            checks = {"avx512_bf16": "_is_avx512_bf16_supported",
                      "amx_tile": "_is_amx_tile_supported"}
            flags = {flag for flag, name in checks.items()
                     if callable(getattr(torch.cpu, name, None)) and getattr(torch.cpu, name)()}
        if not flags and torch is None:
            return frozenset()  # not cached: asked again once torch is there
        _CPU_FLAGS = frozenset(f.lower() for f in flags)
    return _CPU_FLAGS


def _proc_cpuinfo_flags() -> set:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def capability_of(kind: str, index: int = 0) -> Optional[tuple[int, int]]:
    return gpu_props(index).capability if kind == "cuda" else None


def torch_dtype(precision: str) -> Any:
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]
