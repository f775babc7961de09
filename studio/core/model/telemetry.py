"""Which device training would use, and how much memory is in use now.

Import-light on purpose: the UI status bar calls `detect_device` from a worker and
`sample_memory` once a second, so nothing here imports torch at module level; on a Linux machine
without an NVIDIA / AMD device node, `detect_device` never imports torch at all. With
nvidia-ml-py installed, a sample includes the whole training GPU (every process, a run in the
background too; a MIG slice's own memory), found by UUID once per process.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

MB = 2 ** 20


@dataclass(frozen=True)
class DeviceInfo:
    kind: str          # "cuda" | "mps" | "cpu"
    name: str
    total_mb: float
    bf16: bool         # native bfloat16 (Ampere+; CPU / MPS: trained in fp32 here, so False)
    capability: Optional[tuple] = None  # CUDA compute capability, e.g. (7, 5) on a T4


@dataclass(frozen=True)
class MemorySample:
    allocated_mb: float   # tensors alive now (GPU) / process RSS (CPU)
    reserved_mb: float    # held by the CUDA caching allocator (GPU) / RSS (CPU)
    peak_mb: float        # peak allocated since the last reset (GPU) / peak RSS (CPU)
    rss_mb: float         # this process's resident memory
    # The training GPU as a whole, every process included (a background run, the desktop):
    # NVML (nvidia-ml-py) when installed, matched by UUID, a MIG slice's own memory on MIG.
    device_used_mb: Optional[float] = None
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

        from studio.core import device as policy

        if torch.cuda.is_available():
            gpu = policy.gpu_props(0)
            _nvml_handle(init=True)  # here, in a worker: NVML's start-up is not the GUI's
            return DeviceInfo("cuda", gpu.name, gpu.total_mb, gpu.native_bf16, gpu.capability)
        if policy.available()[1]:
            import psutil  # Apple silicon: the GPU shares the machine's memory

            return DeviceInfo("mps", "Apple MPS", psutil.virtual_memory().total / MB, False)
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


def sample_memory(init_nvml: bool = False) -> MemorySample:
    """Memory now. GPU allocator numbers when torch is loaded and has used CUDA; else process
    RSS. The whole training GPU from NVML when it is available (found by detect_device, or
    here with init_nvml: NVML starts once per process, never in the GUI thread's sampling)."""
    import psutil

    rss = psutil.Process().memory_info().rss / MB
    used, total = _nvml_memory_mb(init_nvml)
    torch = sys.modules.get("torch")  # never import torch just to sample
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        return MemorySample(torch.cuda.memory_allocated() / MB,
                            torch.cuda.memory_reserved() / MB,
                            torch.cuda.max_memory_allocated() / MB, rss, used, total)
    return MemorySample(rss, rss, max(rss, _peak_rss_mb()), rss, used, total)


def _peak_rss_mb() -> float:
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB else


_NVML: dict = {}  # "handle": the training GPU's NVML handle, None when there is none


def _nvml_handle(init: bool) -> Any:
    """The NVML handle of the GPU training runs on, looked up once per process."""
    if "handle" not in _NVML and init:
        _NVML["handle"] = _find_nvml_handle()
    return _NVML.get("handle")


def _nvml_memory_mb(init: bool) -> tuple[Optional[float], Optional[float]]:
    handle = _nvml_handle(init)
    if handle is None:
        return None, None
    try:
        import pynvml

        info = pynvml.nvmlDeviceGetMemoryInfo(handle)
        return info.used / MB, info.total / MB
    except Exception:  # a driver hiccup: this sample simply lacks the numbers
        return None, None


def gpus_memory_mb() -> list[tuple[float, float]]:
    """(used, total) MiB of every GPU of the machine (NVML, once detect_device or a sample with
    init_nvml found it); [] without NVML. A status-bar tick: plain NVML reads, no torch."""
    out = []
    for handle in _NVML.get("all", []):
        try:
            import pynvml

            info = pynvml.nvmlDeviceGetMemoryInfo(handle)
            out.append((info.used / MB, info.total / MB))
        except Exception:  # a driver hiccup: this GPU lacks numbers in this sample
            out.append((float("nan"), float("nan")))
    return out


def _find_nvml_handle() -> Any:
    try:
        import pynvml  # optional (nvidia-ml-py)

        pynvml.nvmlInit()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i)
                   for i in range(pynvml.nvmlDeviceGetCount())]
        whole = len(handles)
        _NVML["all"] = handles[:whole]  # every GPU: a run of several processes uses several
        handles += [m for h in handles[:whole] for m in _mig_handles(pynvml, h)]
        uuids = [_text(pynvml.nvmlDeviceGetUUID(h)) for h in handles]
    except Exception:  # not installed, no driver, no permission: no device-wide numbers
        return None
    from studio.core import device as policy

    index = policy.nvml_match(_torch_uuid(), uuids)
    if index is None:
        index = policy.visible_first(os.environ.get("CUDA_VISIBLE_DEVICES"), uuids, whole)
    return None if index is None else handles[index]


def _mig_handles(pynvml: Any, gpu: Any) -> list:
    try:
        if not pynvml.nvmlDeviceGetMigMode(gpu)[0]:
            return []
        count = pynvml.nvmlDeviceGetMaxMigDeviceCount(gpu)
    except Exception:  # no MIG on this GPU / driver
        return []
    out = []
    for i in range(count):
        try:
            out.append(pynvml.nvmlDeviceGetMigDeviceHandleByIndex(gpu, i))
        except Exception:  # an empty slot
            continue
    return out


def _torch_uuid() -> str:
    """The UUID of cuda:0 when this process has started CUDA (reading it would start it)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return ""
    from studio.core import device as policy

    return policy.gpu_props(0).uuid


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
