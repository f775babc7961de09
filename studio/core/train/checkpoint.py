"""Checkpoints: complete or absent.

A checkpoint holds what a resume needs to continue as if never stopped:
  trainable.safetensors  the trainable parameters only (adapter, unfrozen layers, or all for full)
  optimizer.pt           optimizer state (tensors + numbers; read back with weights_only=True)
  rng.pt                 torch CPU / CUDA generator states
  scaler.pt              the fp16 gradient scaler's state (fp16 runs only)
  trainer_state.json     step, data position (epoch, step_in_epoch), tokens seen, data fingerprint
It is written into a temporary folder, fsynced, and renamed to checkpoints/step-N (runs.py);
trainer_state.json goes last, and a folder without it is never taken as complete.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from studio.core import files, runs
from studio.core.errors import UserError

STATE_FILE = "trainer_state.json"
SCALER_FILE = "scaler.pt"
SPACE_MARGIN = 1.5  # free space wanted, as a multiple of one checkpoint (+ the final save)


class SaveError(UserError):
    """A checkpoint or the final weights could not be written (disk full, read-only, ...).
    The previous checkpoint is untouched."""


@dataclass(frozen=True)
class TrainerState:
    step: int                 # optimizer steps done
    epoch: int                # data position: the next step group is (epoch, step_in_epoch)
    step_in_epoch: int
    total_steps: int
    tokens_seen: int
    data_fingerprint: str
    batch_size: int
    grad_accum: int
    optimizer: str = ""       # its name: a resume loads the saved state into the same class
    skipped_steps: int = 0    # fp16: steps the gradient scaler skipped (overflow) so far
    processes: int = 1        # how many processes trained it (the effective batch includes them)


def trainable_state(model: Any) -> dict:
    # clone(): tied or shared tensors would make safetensors refuse the dict
    return {n: p.detach().to("cpu").clone().contiguous()
            for n, p in model.named_parameters() if p.requires_grad}


def _fsync_dir(path: Path) -> None:
    for f in path.iterdir():
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())


def checkpoint_bytes(model: Any, with_final_model: bool = False) -> int:
    """Bytes one checkpoint takes: trainable weights + two AdamW moments, all float32; plus
    the whole model when the run will also write full weights at the end (full / freeze)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = trainable * 4 * 3
    if with_final_model:
        total += sum(p.numel() * p.element_size() for p in model.parameters())
    return total


def check_space(run: runs.RunDir, model: Any, with_final_model: bool = False) -> None:
    """Refuse early, with the figures, when the run folder cannot hold what comes next."""
    need = int(checkpoint_bytes(model, with_final_model) * SPACE_MARGIN) + (16 << 20)
    free = shutil.disk_usage(run.path).free
    if free < need:
        raise SaveError(f"not enough free space in {run.path}: {free / 2**20:.0f} MB free, a "
                        f"checkpoint needs about {need / 2**20:.0f} MB")


def write_errors() -> tuple[type, ...]:
    """What a failed write raises. Not only OSError: safetensors raises its own error with the
    OS error in its text, and torch.save on a full disk a RuntimeError ("unexpected pos ...")."""
    from safetensors import SafetensorError

    return OSError, RuntimeError, SafetensorError


def why_write_failed(e: BaseException, folder: Path) -> str:
    """The OS's reason for a failed write, in its words ("No space left on device"), found
    from the error or, when the library hid it, from the state of the folder's filesystem."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    m = re.search(r"\(os error (\d+)\)", str(e))
    if m:
        return os.strerror(int(m.group(1)))
    try:
        st = os.statvfs(folder)
        if st.f_flag & os.ST_RDONLY:
            return os.strerror(errno.EROFS)
        if st.f_bavail * st.f_frsize < (1 << 20) or (st.f_files and not st.f_favail):
            return os.strerror(errno.ENOSPC)
    except OSError:
        pass
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def save(run: runs.RunDir, model: Any, optimizer: Any, state: TrainerState, keep: int,
         hook: Any = None, scaler: Any = None, gathered: Any = None) -> Path:
    """Write a checkpoint atomically; old ones are rotated out only after the new one is in.
    Any write failure (disk full, read-only folder) raises SaveError and leaves no trace; an
    out-of-memory passes through as itself (the trainer ends every one the same way).
    `gathered`: (trainable weights, optimizer state dict) already gathered from the processes
    of an fsdp run, written instead of the model's and optimizer's own."""
    from studio.core.device import is_out_of_memory

    try:
        run.checkpoints.mkdir(parents=True, exist_ok=True)
        check_space(run, model)
        return _write(run, model, optimizer, state, keep, hook, scaler, gathered)
    except write_errors() as e:
        if is_out_of_memory(e):
            raise
        raise SaveError(f"could not write checkpoint step-{state.step}: "
                        f"{why_write_failed(e, run.path)}") from None


def _write(run: runs.RunDir, model: Any, optimizer: Any, state: TrainerState, keep: int,
           hook: Any, scaler: Any, gathered: Any = None) -> Path:
    import torch
    from safetensors.torch import save_file

    tmp = runs.temp_checkpoint_path(run, state.step)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        weights, opt_state = gathered or (trainable_state(model), optimizer.state_dict())
        save_file(weights, str(tmp / "trainable.safetensors"))
        torch.save(opt_state, tmp / "optimizer.pt")
        rng = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        torch.save(rng, tmp / "rng.pt")
        if scaler is not None:
            torch.save(scaler.state_dict(), tmp / SCALER_FILE)
        if hook:  # fault-injection point for tests: a kill or a full disk mid-write
            hook(tmp)
        (tmp / STATE_FILE).write_text(json.dumps(asdict(state), indent=2))
        _fsync_dir(tmp)
        return runs.commit_checkpoint(run, tmp, state.step, keep)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # never leave a half checkpoint behind
        raise


def read_state(path: Path) -> TrainerState:
    state_file = path / STATE_FILE
    try:
        return TrainerState(**json.loads(files.read_text(state_file, "checkpoint state")))
    except (ValueError, TypeError) as e:
        raise files.damaged(state_file, str(e).splitlines()[0]) from None


def verify(path: Path) -> TrainerState:
    """Check that every file of a checkpoint is whole without loading it: the weights by their
    safetensors header, the optimizer and RNG state by their zip directories (milliseconds
    for any size). Raises UserError naming the damaged file."""
    state = read_state(path)
    files.check_safetensors(path / "trainable.safetensors")
    files.check_torch_file(path / "optimizer.pt")
    files.check_torch_file(path / "rng.pt")
    return state


def newest_intact(run: runs.RunDir) -> tuple[Path | None, list[str]]:
    """The newest complete checkpoint whose files all load, and one line per newer one that
    was skipped ("step-6: <file> is damaged: ...")."""
    skipped = []
    for step in reversed(runs.checkpoint_steps(run)):
        path = runs.checkpoint_path(run, step)
        try:
            verify(path)
        except UserError as e:
            skipped.append(f"{path.name}: {e}")
            continue
        return path, skipped
    return None, skipped


def load(path: Path, model: Any, optimizer: Any, device: Any,
         scaler: Any = None) -> TrainerState:
    """Restore parameters, optimizer, gradient scaler and RNG from a checkpoint into a freshly
    set-up run."""
    import torch

    from studio.core.device import rng_devices

    state = read_state(path)
    weights = files.load_safetensors(path / "trainable.safetensors")
    params = dict(model.named_parameters())
    missing = [n for n in weights if n not in params]
    if missing:
        raise UserError(f"checkpoint {path} does not match the model (e.g. {missing[0]}); "
                        "was the config changed?")
    with torch.no_grad():
        for name, tensor in weights.items():
            params[name].copy_(tensor.to(params[name].device, params[name].dtype))
    opt_state = files.torch_load(path / "optimizer.pt", map_location=device)
    optimizer.load_state_dict(opt_state)
    if scaler is not None and (path / SCALER_FILE).is_file():
        scaler.load_state_dict(files.torch_load(path / SCALER_FILE))
    rng = files.torch_load(path / "rng.pt")
    torch.set_rng_state(rng["cpu"])
    saved = rng.get("cuda") or []
    # one state per GPU that was visible at the save and is visible now (set_rng_state_all
    # raised IndexError when a run resumed with fewer GPUs)
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    for i in range(rng_devices(len(saved), visible)):
        torch.cuda.set_rng_state(saved[i], i)
    return state
