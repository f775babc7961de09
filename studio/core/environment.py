"""The first-run check of this machine: torch build and CUDA, the GPU, bitsandbytes, free disk
in the runs folder, and which standard recipes fit (from the memory estimate).

`check(runs_root)` imports torch (~1 s) and bitsandbytes: the app calls it in a worker at start
(studio/ui/status_bar.py), never on the GUI thread. Each problem comes with its fix, in words.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

MB = 2 ** 20
LOW_DISK_MB = 5 * 1024  # a 7B LoRA run's checkpoints and a merged export need several GB
# Llama-2-7B's shape: the yardstick of "what fits on this machine" (README's figures).
LLAMA_7B = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008,
            "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
            "vocab_size": 32000, "tie_word_embeddings": False}
FIT_RECIPES = (("LoRA on 7B", "lora"), ("QLoRA on 7B", "qlora"))
GPU_NODES = ("/dev/nvidiactl", "/dev/nvidia0")


@dataclass(frozen=True)
class Problem:
    what: str  # what is wrong, one line
    fix: str   # what to do about it, one line


@dataclass(frozen=True)
class Fit:
    recipe: str       # "QLoRA on 7B"
    needs_mb: float   # the memory estimate's peak
    fits: Optional[bool]


@dataclass(frozen=True)
class Environment:
    torch_version: str
    cuda_build: Optional[str]        # torch.version.cuda: None on a CPU-only build
    device_kind: str                 # "cuda" | "mps" | "cpu"
    device_name: str
    device_total_mb: float
    bitsandbytes: Optional[str]      # its version when it loads, else None
    free_disk_mb: Optional[float]
    runs_root: str
    fits: list = field(default_factory=list)      # [Fit]
    problems: list = field(default_factory=list)  # [Problem]


def check(runs_root: str | Path) -> Environment:
    """Everything the welcome page and the status bar show about this machine."""
    problems: list[Problem] = []
    try:
        import torch
    except Exception as e:  # a broken install must not stop the window from opening
        problem = Problem(f"PyTorch does not load ({type(e).__name__}: {e})",
                          "reinstall it: pip install --force-reinstall torch")
        return Environment("", None, "cpu", "unknown", 0.0, None, free_disk_mb(runs_root),
                           str(runs_root), problems=[problem])
    from studio.core.model.memory import detect_device

    dev = detect_device()
    problems += _gpu_problems(torch.version.cuda, dev.kind)
    bnb, bnb_problem = _bitsandbytes()
    problems += [bnb_problem] if bnb_problem else []
    free = free_disk_mb(runs_root)
    if free is not None and free < LOW_DISK_MB:
        problems.append(Problem(f"only {free / 1024:.1f} GB free where runs are saved "
                                f"({runs_root})",
                                "free some space or pick another folder in Settings › Runs "
                                "folder…"))
    # str(): torch.__version__ is torch's own str subclass, and unpickling it in the window
    # (the check runs in the engine host) would import torch there
    return Environment(str(torch.__version__), torch.version.cuda, dev.kind, dev.name, dev.total_mb,
                       bnb, free, str(runs_root), fits=fits(dev.kind, dev.total_mb),
                       problems=problems)


def _gpu_problems(cuda_build: Optional[str], kind: str) -> list[Problem]:
    nvidia = any(os.path.exists(p) for p in GPU_NODES)
    if nvidia and cuda_build is None:
        return [Problem("an NVIDIA GPU is present but this PyTorch is the CPU-only build",
                        "install the CUDA build: make setup TORCH_SPEC=\"torch --index-url "
                        "https://download.pytorch.org/whl/cu126\" (or pip install torch from "
                        "that index)")]
    if nvidia and kind != "cuda":
        return [Problem("an NVIDIA GPU is present but CUDA is not usable (driver too old "
                        "or not loaded?)",
                        "update the NVIDIA driver (nvidia-smi must list the GPU), then "
                        "restart the studio")]
    return []


def _bitsandbytes() -> tuple[Optional[str], Optional[Problem]]:
    try:
        import bitsandbytes
    except Exception as e:
        return None, Problem(f"bitsandbytes does not load ({type(e).__name__}): QLoRA and "
                             "8-bit optimizers are unavailable",
                             "pip install -U bitsandbytes")
    return getattr(bitsandbytes, "__version__", "?"), None


def free_disk_mb(folder: str | Path) -> Optional[float]:
    """Free space on the disk that holds `folder` (or its nearest existing parent)."""
    p = Path(folder).expanduser().resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free / MB
    except OSError:
        return None


def fits(kind: str, total_mb: float) -> list[Fit]:
    """The memory estimate of each FIT_RECIPES recipe (default batch, length and precision)
    against this device's memory."""
    from studio.core.config import RunConfig
    from studio.core.model.memory import estimate_memory

    out = []
    for label, method in FIT_RECIPES:
        est = estimate_memory(RunConfig(model="llama-7b", method=method), LLAMA_7B,
                              total_mb or None, device_kind=kind, suggest=False)
        out.append(Fit(label, est.total_mb, est.fits))
    return out
