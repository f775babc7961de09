"""The training loop: setup, train, cleanup. Reads top to bottom.

`train(cfg)` starts a run; `resume(run_dir)` continues one from its newest complete checkpoint.
Both block (the app calls them from a worker thread) and report every step through a Reporter,
which here always includes the run's metrics.jsonl. A `stop` event is honoured within one step
and leaves a checkpoint. Bad input raises UserError *before* the run directory is created.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from studio.core import config as config_mod
from studio.core import files, runs
from studio.core.config import RunConfig
from studio.core.device import is_out_of_memory
from studio.core.errors import ConfigError, DataError
from studio.core.events import (
    EvalMetrics,
    MultiReporter,
    NullReporter,
    Reporter,
    RunEvent,
    StepMetrics,
)
from studio.core.faults import fault_at
from studio.core.train import (
    batching,
    checkpoint,
    distributed,
    endings,
    oom,
    optim,
    saving,
    tracking,
)
from studio.core.train.endings import RunResult
from studio.core.train.setup import Setup, check_output_dir, prepare, total_steps_of

# Keys a resume may change: how the same work is split and how long it runs, not what it is.
RESUMABLE_OVERRIDES = ("batch_size", "grad_accum", "max_steps", "epochs", "save_steps",
                       "eval_steps", "logging_steps", "save_total_limit", "gradient_checkpointing",
                       "device", "precision", "processes", "distributed")


# --- public entry points ---------------------------------------------------------------------

def train(cfg: RunConfig, reporter: Optional[Reporter] = None,
          stop: Optional[threading.Event] = None) -> RunResult:
    distributed.check(cfg)
    world = distributed.start(cfg)
    try:
        if world.is_main:
            check_output_dir(cfg)
            files.check_writable(cfg.output_dir, "output_dir", ConfigError)  # before loading
        tracking.check(cfg)
        setup = prepare(cfg, world)
        try:
            run = _create_run(cfg, world)
            distributed.shard(setup)
            return _run(setup, run, reporter, stop, ckpt=None)
        finally:
            _release(setup)
    finally:
        distributed.finish(world)


def _create_run(cfg: RunConfig, world: distributed.World) -> runs.RunDir:
    """Rank 0 makes the run directory; the other processes open it once it is there."""
    run = runs.create(cfg) if world.is_main else None
    world.barrier()
    return run or runs.open_run(cfg.output_dir)


def resume(run_dir: str | Path, reporter: Optional[Reporter] = None,
           stop: Optional[threading.Event] = None, overrides: Optional[dict] = None) -> RunResult:
    """Continue from the newest intact checkpoint. Nothing in the run directory changes until
    that checkpoint is loaded into the set-up model: a resume that fails before (bad override,
    damaged files, no space) leaves run.json and config.yaml byte-identical."""
    run = runs.open_run(run_dir)
    cfg = resume_config(runs.load_config(run), overrides)
    distributed.check(cfg)
    world = distributed.start(cfg)
    try:
        return _resume(run, cfg, world, reporter, stop, overrides)
    finally:
        distributed.finish(world)


def _resume(run: runs.RunDir, cfg: RunConfig, world: distributed.World,
            reporter: Optional[Reporter], stop: Optional[threading.Event],
            overrides: Optional[dict]) -> RunResult:
    files.check_writable(run.path, "the run directory")
    ckpt, skipped = checkpoint.newest_intact(run)
    if ckpt is None and skipped:
        raise DataError(f"no intact checkpoint in {run.path}: {'; '.join(skipped)}")
    if runs.effective_status(run.path) == "finished" and ckpt is not None:
        done = checkpoint.read_state(ckpt)
        if done.step >= total_steps_of(cfg, done.total_steps):
            raise ConfigError(f"run {run.path} already finished at step {done.step}; "
                              "raise max_steps with --set to train further")
    tracking.check(cfg)
    setup = prepare(_same_optimizer(cfg, ckpt), world)
    try:
        at = _restore(setup, ckpt) if ckpt is not None else Progress()
        checkpoint.check_space(run, setup.model, with_final_model=not cfg.is_peft)
        distributed.shard(setup)  # fsdp: after the full checkpoint is in the whole model
        # the resume really starts here: from now on the run's files say what happens
        removed = runs.clean_temporaries(run) if world.is_main else []
        if overrides and world.is_main:  # config.yaml says how it really ran from here on
            runs.atomic_write_text(run.config_file, config_mod.to_yaml(cfg))
        world.barrier()
        setup.data_info["cleaned_temporaries"] = len(removed)
        if skipped:
            setup.data_info["skipped_checkpoints"] = skipped
        return _run(setup, run, reporter, stop, ckpt=ckpt, at=at)
    finally:
        _release(setup)


def _restore(s: Setup, ckpt: Path) -> Progress:
    """Load a checkpoint into the set-up model, optimizer and (fp16) gradient scaler; where
    the run stands."""
    st = checkpoint.load(ckpt, s.model, s.optimizer, s.device, s.scaler)
    if st.data_fingerprint != s.data_info["fingerprint"]:
        raise DataError(f"the dataset {s.cfg.dataset} changed since this run started; "
                        "resume needs the same file (start a new run instead)")
    return Progress(st.step, st.epoch, st.step_in_epoch, st.tokens_seen, st.step,
                    skipped=st.skipped_steps)


def _same_optimizer(cfg: RunConfig, ckpt: Optional[Path]) -> RunConfig:
    """`auto` picks the optimizer by device (paged 8-bit AdamW for QLoRA on CUDA, else AdamW):
    a run resumed on another device keeps the one its checkpoint's state belongs to."""
    if ckpt is None or cfg.optimizer != "auto":
        return cfg
    saved = checkpoint.read_state(ckpt).optimizer
    return cfg.replace(optimizer=saved) if saved else cfg


def _release(s: Setup) -> None:
    """Give the run's memory back as soon as it ends: break bitsandbytes' 4-bit reference
    cycles (freed by reference counting, not at the next garbage collection, which the app
    runs only in its GUI thread), drop the model and optimizer, empty the device's cache."""
    from studio.core.model.load import release

    release(s.model)
    s.model = s.optimizer = s.scaler = s.grpo = None
    oom.give_back_memory(s.device)


def resume_config(cfg: RunConfig, overrides: Optional[dict]) -> RunConfig:
    """The config a resume runs with: `cfg` changed by `overrides`. ConfigError names a key
    that may not change or a value that is out of range. Needs no torch: the app's resume
    dialog checks the user's values with it before anything starts."""
    if not overrides:
        return cfg
    bad = [k for k in overrides if k not in RESUMABLE_OVERRIDES]
    if bad:
        raise ConfigError(f"'{bad[0]}' cannot change on resume (only "
                          f"{', '.join(RESUMABLE_OVERRIDES)})")
    new = cfg.replace(**overrides)
    # the data order is planned per effective batch: changing it would retrain or skip rows
    if new.effective_batch != cfg.effective_batch:
        raise ConfigError(f"resume must keep the effective batch batch_size x grad_accum x "
                          f"processes = {cfg.effective_batch}; got {new.effective_batch}")
    return new


smaller_micro_batch = oom.smaller_micro_batch  # the resume dialog and older callers use it here
MIN_LOSS_SCALE = 1.0  # fp16: gradients that overflow even unscaled mean divergence


# --- the loop ------------------------------------------------------------------------------------

@dataclass
class Progress:
    """Where the run stands; a checkpoint stores exactly this (plus weights and optimizer)."""
    step: int = 0
    epoch: int = 0
    in_epoch: int = 0           # step groups of `epoch` already trained
    tokens_seen: int = 0
    last_saved: int = -1
    last_eval: int = -1
    skipped: int = 0            # fp16: optimizer steps the gradient scaler skipped
    phase: str = ""             # what the run is doing now (the out-of-memory report names it)


def _run(s: Setup, run: runs.RunDir, reporter: Optional[Reporter],
         stop: Optional[threading.Event], ckpt: Optional[Path],
         at: Optional[Progress] = None) -> RunResult:
    main = s.world.is_main  # only rank 0 writes metrics (the others train the same steps)
    writer = runs.MetricsWriter(run) if main else None
    trackers = tracking.open_reporters(s.cfg, run) if main else []
    rep = MultiReporter(*([writer] if writer else []), *trackers,
                        (reporter if main else None) or NullReporter())
    stop = stop or threading.Event()
    at = at or Progress()
    oom.reset_peak_memory(s.device)  # this run's peak, not an earlier run's in this process
    try:
        if s.cfg.is_preference:  # stored reference log-probs: computed now, or read on resume
            from studio.core.train import preference

            preference.prepare_reference(s, run, resuming=ckpt is not None)
        if s.cfg.is_grpo:  # rewards (a trusted user file loads now), the reference model
            from studio.core.train.grpo import step as grpo

            grpo.prepare(s, run)
        import torch

        # cpu_threads: torch's intra-op pool (the queue runner splits the cores with --parallel)
        extra = {"method": s.cfg.method, "device": str(s.device), "precision": s.precision,
                 "data": s.data_info, "optimizer": s.optimizer_name,
                 "cpu_threads": torch.get_num_threads()}
        endings.write_status(s, run, "running", step=at.step, total_steps=s.total_steps, **extra)
        rep.on_event(RunEvent(step=at.step, event="resumed" if ckpt else "started",
                              detail=_start_detail(s, ckpt),
                              data={"total_steps": s.total_steps, **_param_counts(s.model)}))
        if s.cfg.log_samples and main:
            runs.append_samples(run, {"resumed_from": at.step} if ckpt else {"started": 0})
        return _loop(s, run, rep, stop, at)
    except checkpoint.SaveError as e:
        return endings.save_failed(s, run, rep, at, e)
    except BaseException as e:
        lost = distributed.failure_reason(e, s.world, at.step, endings.kept(at), run.path)
        if lost:  # not this process's fault: a failed run, not a bug
            return endings.end(s, run, rep, "failed", at.step, lost, "process_lost")
        reason = "interrupted" if isinstance(e, KeyboardInterrupt) else \
            f"{type(e).__name__}: {e}".splitlines()[0]
        endings.write_status(s, run, "failed", step=at.step, total_steps=s.total_steps,
                             reason=reason)
        rep.on_event(RunEvent(step=at.step, event="failed", detail=reason))
        raise
    finally:
        if writer:
            writer.close()
        for t in trackers:
            t.close()


def _loop(s: Setup, run: runs.RunDir, rep: Reporter, stop: threading.Event,
          at: Progress) -> RunResult:
    from studio.core.train.grpo.rewards import RewardError

    try:
        return _steps(s, run, rep, stop, at)
    except RewardError as e:  # raised before the step's first gradient: the weights are whole
        return endings.reward_failed(s, run, rep, at, e)
    except Exception as e:
        if not is_out_of_memory(e):
            raise
    # Handled after the except block: by now the exception and its traceback, which held the
    # failed step's activations, are gone, so emptying the cache really frees them.
    return endings.out_of_memory(s, run, rep, at)


def _steps(s: Setup, run: runs.RunDir, rep: Reporter, stop: threading.Event,
           at: Progress) -> RunResult:
    cfg = s.cfg
    lengths = [t.length for t in s.train]
    plan = batching.epoch_plan(lengths, cfg.effective_batch, cfg.seed, at.epoch)
    params = [p for p in s.model.parameters() if p.requires_grad]
    # before the first step, not after an hour of training
    checkpoint.check_space(run, s.model, with_final_model=not cfg.is_peft)
    if s.eval and at.step == 0:
        _evaluate(s, rep, at)  # the untrained model's eval loss: where the curve starts from
    if s.cfg.eval_data and at.step == 0:
        saving.score_eval_data(s, run, at, "base")

    while at.step < s.total_steps:
        if at.in_epoch >= len(plan):  # next epoch: a new, equally deterministic order
            at.epoch, at.in_epoch = at.epoch + 1, 0
            plan = batching.epoch_plan(lengths, cfg.effective_batch, cfg.seed, at.epoch)
        indices = plan[at.in_epoch]
        t0 = time.perf_counter()
        loss, grad_norm, applied, extra = _train_step(s, indices, params, at)
        if not math.isfinite(loss) or (s.scaler is None and not math.isfinite(grad_norm)):
            return endings.diverged(s, run, rep, at, loss, grad_norm)
        if not applied:  # fp16: a gradient overflowed; the scaler halved its scale
            at.skipped += 1
            if s.scaler.get_scale() < MIN_LOSS_SCALE:
                return endings.diverged(s, run, rep, at, loss, grad_norm)
        at.step, at.in_epoch = at.step + 1, at.in_epoch + 1
        # grpo: the sampled sequences, prompt + completion, are what trained
        real_tokens = extra.pop("tokens", None) or sum(lengths[i] for i in indices)
        at.tokens_seen += real_tokens
        dt = max(time.perf_counter() - t0, 1e-9)
        if cfg.log_samples:
            _log_samples(s, run, at, indices)
        if at.step % cfg.logging_steps == 0 or at.step == s.total_steps:
            rep.on_step(StepMetrics(step=at.step, loss=loss, grad_norm=grad_norm,
                                    lr=optim.lr_at(at.step - 1, cfg, s.total_steps),
                                    tokens=real_tokens, tokens_per_s=real_tokens / dt,
                                    mem_mb=oom.memory_mb(s.device), total_steps=s.total_steps,
                                    epoch=at.epoch + at.in_epoch / max(1, len(plan)),
                                    skipped_steps=at.skipped if s.scaler else None, **extra))
        if s.eval and at.step % cfg.eval_steps == 0:
            _evaluate(s, rep, at)
        if at.step % cfg.save_steps == 0:
            _save(s, run, rep, at)
        if s.world.any(stop.is_set()) and at.step < s.total_steps:  # every rank stops here
            return endings.stopped(s, run, rep, at)

    if s.eval and at.last_eval != at.step:
        _evaluate(s, rep, at)
    if at.last_saved != at.step:
        _save(s, run, rep, at)
    saving.save_final(s, run, at)
    endings.write_status(s, run, "finished", step=at.step, total_steps=s.total_steps)
    rep.on_event(RunEvent(step=at.step, event="finished", detail=str(saving.final_dir(s, run))))
    return RunResult("finished", run.path, at.step)


def _save(s: Setup, run: runs.RunDir, rep: Reporter, at: Progress) -> None:
    saving.save(s, run, rep, at)


def _log_samples(s: Setup, run: runs.RunDir, at: Progress, indices: list) -> None:
    """samples.jsonl: the step's rows, and with several processes the rows each one trained
    (gathered from the ranks themselves: the audit that every row trains once)."""
    ranks = s.world.gather([s.train[i].row for i in s.world.rows_of(indices)])
    if not s.world.is_main:
        return
    record = {"step": at.step, "epoch": at.epoch, "samples": [s.train[i].row for i in indices]}
    if s.world.active:
        record["ranks"] = ranks
    runs.append_samples(run, record)


def _collate(s: Setup, mb: list) -> dict:
    pad_id = s.tokenizer.pad_token_id if s.tokenizer.pad_token_id is not None else 0
    batch = batching.collate_packed(mb) if s.packing else batching.collate_padded(mb, pad_id)
    return {k: v.to(s.device) for k, v in batch.items()}


def _train_step(s: Setup, indices: list, params: list,
                at: Progress) -> tuple[float, float, bool, dict]:
    """One optimizer step over a step group: (loss, gradient norm before clipping, whether the
    optimizer applied it (fp16's scaler skips a step whose gradients overflowed), the extra
    metrics of a preference stage)."""
    cfg, step = s.cfg, at.step
    poison = fault_at("nan", step + 1, raise_=False)
    at.phase = "forward"
    fault_at("oom", step + 1)
    if s.world.rank == 1:  # one process of a distributed run fails alone
        fault_at("kill_rank1", step + 1)
        fault_at("oom_rank1", step + 1)
    fault_at("oom_cublas", step + 1)
    if cfg.is_preference:
        from studio.core.train import preference

        tally = preference.train_step(s, indices, poison)
        loss, extra = tally.loss, tally.metrics()
    elif cfg.is_grpo:
        from studio.core.train.grpo import step as grpo

        loss, extra = grpo.train_step(s, indices, step, poison,
                                      lambda: _optimizer_step(s, params, step, 0.0))
    else:
        loss, extra = _sft_backward(s, [(s.train[i].input_ids, s.train[i].labels)
                                        for i in indices], poison, at), {}
    s.world.sync_gradients(params)  # ddp: the gradients of all ranks' rows, summed
    if fault_at("overflow", step + 1, raise_=False):
        params[0].grad.fill_(float("inf"))
    at.phase = "optimizer step"
    grad_norm, applied = _optimizer_step(s, params, step, loss)
    at.phase = ""
    return loss, grad_norm, applied, extra


def _optimizer_step(s: Setup, params: list, step: int, loss: float) -> tuple[float, bool]:
    """Clip, step and clear the gradients: (gradient norm before clipping, whether the
    optimizer applied them)."""
    import torch

    from studio.core.methods import builders as methods

    cfg, scaler = s.cfg, s.scaler
    if scaler is not None:
        scaler.unscale_(s.optimizer)  # the true gradients, for clipping and the reported norm
    clip = cfg.max_grad_norm if cfg.max_grad_norm > 0 else float("inf")
    grad_norm = float(distributed.full(torch.nn.utils.clip_grad_norm_(params, clip)))
    applied = False
    if math.isfinite(loss) and (math.isfinite(grad_norm) or scaler is not None):
        optim.set_lr(s.optimizer, optim.lr_at(step, cfg, s.total_steps))
        fault_at("oom_optimizer", step + 1)
        if scaler is not None:
            scaler.step(s.optimizer)  # skipped when unscale_ found an inf / NaN gradient
            scaler.update()
            applied = math.isfinite(grad_norm)
        else:
            s.optimizer.step()
            applied = True
        if applied:
            methods.after_optimizer_step(s.model, step + 1)
    s.optimizer.zero_grad(set_to_none=True)  # a poisoned step leaves no trace in the weights
    return grad_norm, applied


def _sft_backward(s: Setup, group: list, poison: bool, at: Progress) -> float:
    """Gradients of the step group's mean token loss (scaled under fp16); returns that loss."""
    from studio.core.train.loss import loss_sum

    # every label token of the step weighs the same, on whichever rank it is trained
    n_step = batching.count_label_tokens(group)
    total = 0.0
    for mb, weight in s.world.micro_batches(group, s.cfg.batch_size):  # this rank's rows
        at.phase = "forward"
        with _autocast(s):
            lsum, _ = loss_sum(s.model, _collate(s, mb), s.fast_loss, s.cfg.method)
        if poison:
            lsum = lsum * float("nan")
        at.phase = "backward"
        fault_at("oom_backward", at.step + 1)
        s.backward(lsum * (weight * s.world.loss_scale / max(1, n_step)))
        total += float(lsum.detach()) * weight
    return s.world.sum(total) / max(1, n_step)


def _autocast(s: Setup) -> Any:
    return s.autocast()


def _evaluate(s: Setup, rep: Reporter, at: Progress) -> float:
    import torch

    from studio.core.train.loss import loss_sum

    at.phase = "evaluation"
    fault_at("oom_eval", at.step)
    if s.cfg.is_preference:
        from studio.core.train import preference

        eval_loss, ppl, extra = preference.evaluate(s)
        rep.on_eval(EvalMetrics(step=at.step, eval_loss=eval_loss, perplexity=ppl, **extra))
        at.last_eval = at.step
        at.phase = ""
        return eval_loss
    s.model.eval()
    order = sorted(range(len(s.eval)), key=lambda i: len(s.eval[i].input_ids))  # less padding
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(order), s.cfg.batch_size):
            mb = [(s.eval[i].input_ids, s.eval[i].labels)
                  for i in order[start:start + s.cfg.batch_size]]
            with _autocast(s):
                lsum, n = loss_sum(s.model, _collate(s, mb), s.fast_loss, s.cfg.method)
            total, count = total + float(lsum), count + n
    s.model.train()
    at.phase = ""
    eval_loss = total / max(1, count)
    ppl = math.exp(eval_loss) if eval_loss < 50 else float("inf")
    rep.on_eval(EvalMetrics(step=at.step, eval_loss=eval_loss, perplexity=ppl))
    at.last_eval = at.step
    return eval_loss


# --- small helpers -------------------------------------------------------------------------------

def _param_counts(model: Any) -> dict:
    from studio.core.model import load as model_mod

    trainable, total = model_mod.count_parameters(model)
    return {"trainable_params": trainable, "total_params": total}


def _start_detail(s: Setup, ckpt: Optional[Path]) -> str:
    d = s.data_info
    parts = [f"{s.cfg.method} on {s.device} ({s.precision}), {s.total_steps} steps",
             f"{d['train_samples']} train / {d['eval_samples']} eval samples"]
    if d.get("bad_rows"):
        parts.append(f"{d['bad_rows']} bad rows skipped")
    if d.get("dropped_no_labels"):
        parts.append(f"{d['dropped_no_labels']} samples dropped: nothing to learn after truncation")
    if ckpt is not None:
        parts.append(f"from {ckpt.name}")
    for line in d.get("skipped_checkpoints", []):
        parts.append(f"skipped {line}")
    return "; ".join(parts)
