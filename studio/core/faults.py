"""Fault injection for the reliability tests: real faults at chosen moments.

Set STUDIO_FAULTS to a comma list of NAME or NAME@STEP, e.g. "oom@3,kill_in_checkpoint@4":
  oom@K                raise the framework's out-of-memory error in step K's forward pass
  oom_backward@K       ... in step K's backward pass
  oom_optimizer@K      ... in step K's optimizer step
  oom_eval@K           ... in the evaluation after step K (0: the one before training)
  oom_checkpoint@K     ... while checkpoint K is half written
  oom_final_save       ... while the final adapter / model is half written
  oom_cublas@K         cuBLAS failing to allocate its workspace in step K's forward pass (a
                       plain RuntimeError, as CUDA raises it)
  nan@K                make step K's loss NaN
  overflow@K           make step K's gradients overflow (inf), as fp16's do when the loss
                       scale is too high
  kill_in_checkpoint@K SIGKILL this process while checkpoint K is half written
  kill_in_final_save   SIGKILL this process while the final adapter / model is half written
  kill_in_export       SIGKILL this process when an export is written but not yet in place
  pause_after_checkpoint@K  sleep PAUSE_S (3 s) once checkpoint K is complete: a run caught
                       between steps (a Ctrl+C / SIGTERM meanwhile stops it right after)
  kill_runner@K        SIGKILL the queue runner once its run's checkpoint K is complete
  kill_rank1@K         SIGKILL process rank 1 of a several-process run as step K starts
  oom_rank1@K          out of memory in step K's forward pass on process rank 1 only
Unset (always, for users) it costs one dict lookup.
"""

from __future__ import annotations

import os
import signal
import time

ENV = "STUDIO_FAULTS"
PAUSE_S = 3.0


def _armed() -> dict[str, int | None]:
    spec = os.environ.get(ENV, "")
    out: dict[str, int | None] = {}
    for item in filter(None, (x.strip() for x in spec.split(","))):
        name, _, at = item.partition("@")
        out[name] = int(at) if at.isdigit() else None
    return out


def fault_at(name: str, step: int, raise_: bool = True) -> bool:
    """Trigger fault `name` if armed for `step` (or for any step). Returns True for faults the
    caller applies itself (nan)."""
    if ENV not in os.environ:
        return False
    armed = _armed()
    if name not in armed or (armed[name] is not None and armed[name] != step):
        return False
    if name.startswith("kill"):
        os.kill(os.getpid(), signal.SIGKILL)
    if name.startswith("pause"):
        time.sleep(PAUSE_S)
    if name == "oom_cublas" and raise_:
        raise RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling "
                           f"`cublasCreate(handle)` (injected at step {step})")
    if name.startswith("oom") and raise_:
        import torch

        raise torch.OutOfMemoryError(f"injected out-of-memory fault ({name}) at step {step}")
    return True
