"""What a run writes while it trains: checkpoints, eval_data scores and the final adapter or
model. With several processes only rank 0 writes; an fsdp run first gathers the full state
from every rank (a collective all of them join), and the others wait at a barrier until the
files are in place, so no rank runs ahead of a checkpoint that might still fail."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from studio.core import runs
from studio.core.device import is_out_of_memory
from studio.core.events import Reporter, RunEvent
from studio.core.faults import fault_at
from studio.core.train import checkpoint, distributed


def save(s: Any, run: runs.RunDir, rep: Reporter, at: Any) -> None:
    state = checkpoint.TrainerState(step=at.step, epoch=at.epoch, step_in_epoch=at.in_epoch,
                                    total_steps=s.total_steps, tokens_seen=at.tokens_seen,
                                    data_fingerprint=s.data_info["fingerprint"],
                                    batch_size=s.cfg.batch_size, grad_accum=s.cfg.grad_accum,
                                    optimizer=s.optimizer_name, skipped_steps=at.skipped,
                                    processes=s.world.size)
    at.phase = "checkpoint"
    gathered = None
    if s.world.fsdp:  # every rank gathers its shards; rank 0 keeps them
        gathered = ({n: distributed.full(p.detach()).to("cpu").clone().contiguous()
                     for n, p in s.model.named_parameters() if p.requires_grad},
                    distributed.full_optimizer_state(s.optimizer))
    path = runs.checkpoint_path(run, at.step)
    if s.world.is_main:
        path = checkpoint.save(run, s.model, s.optimizer, state, s.cfg.save_total_limit,
                               hook=lambda tmp: checkpoint_faults(at.step), scaler=s.scaler,
                               gathered=gathered)
    s.world.barrier()
    at.phase = ""
    at.last_saved = at.step
    rep.on_event(RunEvent(step=at.step, event="checkpoint", detail=str(path)))
    fault_at("pause_after_checkpoint", at.step)
    if s.cfg.eval_data:
        score_eval_data(s, run, at, path.name)


def score_eval_data(s: Any, run: runs.RunDir, at: Any, checkpoint_name: str) -> None:
    """eval_data scored on the model as it is now, one record in eval.jsonl."""
    from studio.core.eval import run_eval

    cfg = s.cfg
    path = run_eval.data_path(cfg.eval_data, s.tokenizer, run.path)
    metric = run_eval.pick_metric(cfg.eval_data, cfg.eval_metric)
    # "base" is the model before tuning: for prompt / prefix tuning the step-0 model already
    # has a (random) prompt, so the adapter is switched off, as `eval RUN` scores the base.
    off = s.model.disable_adapter() if checkpoint_name == "base" and cfg.is_peft \
        else contextlib.nullcontext()
    with off:
        result = run_eval.evaluate(s.model, s.tokenizer, path, metric, cfg.max_length)
    run_eval.append_record(run.path, run_eval.record(at.step, checkpoint_name, cfg.eval_data,
                                                     result))


def checkpoint_faults(step: int) -> None:
    import errno

    fault_at("kill_in_checkpoint", step)
    fault_at("oom_checkpoint", step)
    if fault_at("disk_full", step, raise_=False):
        raise OSError(errno.ENOSPC, "No space left on device (injected)")


def final_dir(s: Any, run: runs.RunDir) -> Path:
    return run.adapter_dir if s.cfg.is_peft else run.model_dir


def save_final(s: Any, run: runs.RunDir, at: Any) -> None:
    """adapter/ (PEFT layout) or model/ (full weights + tokenizer), renamed into place whole."""
    state = distributed.full_model_state(s) if s.world.fsdp else None
    if s.world.is_main:
        _write_final(s, run, at, state)
    s.world.barrier()


def _write_final(s: Any, run: runs.RunDir, at: Any, state: Any) -> None:
    import shutil

    final = final_dir(s, run)
    tmp = run.path / f"{runs.TMP_PREFIX}{final.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    at.phase = "final save"
    extra = {"state_dict": state} if state is not None else {}
    try:
        s.model.save_pretrained(str(tmp), safe_serialization=True, **extra)
        fault_at("oom_final_save", 0)
        s.tokenizer.save_pretrained(str(tmp))
    except checkpoint.write_errors() as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if is_out_of_memory(e):
            raise
        raise checkpoint.SaveError(f"could not write {final.name}/: "
                                   f"{checkpoint.why_write_failed(e, run.path)}") from None
    fault_at("kill_in_final_save", 0)
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    at.phase = ""
