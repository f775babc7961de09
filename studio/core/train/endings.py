"""How a run ends early: stopped by the user, diverged, out of memory, a failed save, a lost
process. Each ends with run.json saying why in one line (the CLI prints it, the app shows it)
and the last good checkpoint named."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core import runs
from studio.core.device import is_out_of_memory
from studio.core.events import Reporter, RunEvent
from studio.core.train import oom, saving


@dataclass(frozen=True)
class RunResult:
    status: str          # finished | stopped | failed
    run_dir: Path
    step: int
    reason: str = ""


def write_status(s: Any, run: runs.RunDir, status: str, **fields: Any) -> None:
    """run.json is rank 0's to write, except that a process failing on its own (out of memory
    on its GPU) says why; the first failure written is kept (the others only lost a peer)."""
    if not s.world.is_main and status != "failed":
        return
    if s.world.active and status == "failed" and \
            runs.read_status(run.path).get("status") == "failed":
        return
    runs.write_status(run, status, **fields)


def end(s: Any, run: runs.RunDir, rep: Reporter, status: str, step: int, reason: str,
        kind: str, **data: Any) -> RunResult:
    write_status(s, run, status, step=step, total_steps=s.total_steps, reason=reason)
    rep.on_event(RunEvent(step=step, event=status, detail=reason, data={"kind": kind, **data}))
    return RunResult(status, run.path, step, reason)


def stopped(s: Any, run: runs.RunDir, rep: Reporter, at: Any) -> RunResult:
    if at.last_saved != at.step:
        saving.save(s, run, rep, at)
    return end(s, run, rep, "stopped", at.step, "stopped by the user; continue with: "
                f"python main.py resume {run.path}", "stop")


def reward_failed(s: Any, run: runs.RunDir, rep: Reporter, at: Any, e: Exception) -> RunResult:
    """A grpo reward function raised (before the step's first gradient): keep what trained."""
    s.optimizer.zero_grad(set_to_none=True)
    if at.last_saved != at.step:
        saving.save(s, run, rep, at)
    return end(s, run, rep, "failed", at.step, f"{e} at step {at.step + 1}; {kept(at)}", "reward")


def kept(at: Any) -> str:
    return (f"the last good checkpoint is step {at.last_saved}" if at.last_saved >= 0
            else "no checkpoint was written before it")


def diverged(s: Any, run: runs.RunDir, rep: Reporter, at: Any, loss: float,
              grad_norm: float) -> RunResult:
    # The poisoned step was never applied (optimizer.step skipped) and is never checkpointed.
    what, value = ("loss", loss) if not math.isfinite(loss) else ("gradient norm", grad_norm)
    reason = (f"{what} became {value} at step {at.step + 1}: training diverged (try a lower "
              f"learning_rate than {s.cfg.learning_rate:g}); {kept(at)}")
    return end(s, run, rep, "failed", at.step, reason, "diverged")


def out_of_memory(s: Any, run: runs.RunDir, rep: Reporter, at: Any) -> RunResult:
    where = at.phase or "forward"
    s.optimizer.zero_grad(set_to_none=True)
    oom.give_back_memory(s.device)
    # with several processes a save is a step all of them take together: this one stops alone
    if where in oom.WEIGHTS_WHOLE and at.step > 0 and at.last_saved != at.step and \
            not s.world.active:
        save_if_memory_allows(s, run, rep, at)
    in_step = where in ("forward", "backward", "optimizer step")
    step = at.step + 1 if in_step else at.step
    on = f" on {s.device}" if s.world.active else ""
    reason = (f"out of memory at step {step} ({where}){on}; {kept(at)}; "
              + "; or ".join(oom.remedies(s.cfg, run.path, where)))
    return end(s, run, rep, "failed", at.step, reason, "oom", where=where)


def save_if_memory_allows(s: Any, run: runs.RunDir, rep: Reporter, at: Any) -> None:
    try:
        saving.save(s, run, rep, at)
    except Exception as e:
        if not is_out_of_memory(e):
            raise  # the last good checkpoint stays, and the report names it


def save_failed(s: Any, run: runs.RunDir, rep: Reporter, at: Any,
                 e: Exception) -> RunResult:
    reason = f"{e} at step {at.step}; {kept(at)}: free some space, then python main.py " \
             f"resume {run.path}"
    try:
        return end(s, run, rep, "failed", at.step, reason, "disk")
    except OSError:  # the disk is too full even for run.json: say it where we can
        return RunResult("failed", run.path, at.step, reason)
