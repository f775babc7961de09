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
from studio.core import runs
from studio.core.config import RunConfig
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
from studio.core.gc_policy import collect_garbage
from studio.core.train import batching, checkpoint, optim
from studio.core.train.setup import Setup, check_output_dir, prepare, total_steps_of

# Keys a resume may change: how the same work is split and how long it runs, not what it is.
RESUMABLE_OVERRIDES = ("batch_size", "grad_accum", "max_steps", "epochs", "save_steps",
                       "eval_steps", "logging_steps", "save_total_limit", "gradient_checkpointing",
                       "device", "precision")


@dataclass(frozen=True)
class RunResult:
    status: str          # finished | stopped | failed
    run_dir: Path
    step: int
    reason: str = ""


# --- public entry points ---------------------------------------------------------------------

def train(cfg: RunConfig, reporter: Optional[Reporter] = None,
          stop: Optional[threading.Event] = None) -> RunResult:
    check_output_dir(cfg)
    setup = prepare(cfg)
    run = runs.create(cfg)
    return _run(setup, run, reporter, stop, ckpt=None)


def resume(run_dir: str | Path, reporter: Optional[Reporter] = None,
           stop: Optional[threading.Event] = None, overrides: Optional[dict] = None) -> RunResult:
    run = runs.open_run(run_dir)
    cfg = resume_config(runs.load_config(run), overrides)
    removed = runs.clean_temporaries(run)
    ckpt = runs.latest_checkpoint(run)
    if runs.effective_status(run.path) == "finished" and ckpt is not None:
        done = checkpoint.read_state(ckpt)
        if done.step >= total_steps_of(cfg, done.total_steps):
            raise ConfigError(f"run {run.path} already finished at step {done.step}; "
                              "raise max_steps with --set to train further")
    setup = prepare(cfg)
    if overrides:  # the run's config.yaml says how it really ran from here on
        runs.atomic_write_text(run.config_file, config_mod.to_yaml(cfg))
    setup.data_info["cleaned_temporaries"] = len(removed)
    return _run(setup, run, reporter, stop, ckpt=ckpt)


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
        raise ConfigError(f"resume must keep the effective batch batch_size x grad_accum = "
                          f"{cfg.effective_batch}; got {new.effective_batch}")
    return new


def smaller_micro_batch(batch_size: int, grad_accum: int) -> Optional[tuple[int, int]]:
    """The out-of-memory remedy: (batch_size, grad_accum) with the micro-batch about halved and
    the effective batch kept (the largest divisor up to half, so 5 -> 1 x 5, 6 -> 3 x 2).
    None when the micro-batch is already 1."""
    if batch_size <= 1:
        return None
    smaller = max(d for d in range(1, batch_size // 2 + 1) if batch_size % d == 0)
    return smaller, grad_accum * (batch_size // smaller)


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


def _run(s: Setup, run: runs.RunDir, reporter: Optional[Reporter],
         stop: Optional[threading.Event], ckpt: Optional[Path]) -> RunResult:
    writer = runs.MetricsWriter(run)
    rep = MultiReporter(writer, reporter or NullReporter())
    stop = stop or threading.Event()
    at = Progress()
    try:
        if ckpt is not None:
            st = checkpoint.load(ckpt, s.model, s.optimizer, s.device)
            if st.data_fingerprint != s.data_info["fingerprint"]:
                raise DataError(f"the dataset {s.cfg.dataset} changed since this run started; "
                                "resume needs the same file (start a new run instead)")
            at = Progress(st.step, st.epoch, st.step_in_epoch, st.tokens_seen, st.step)
        extra = {"method": s.cfg.method, "device": str(s.device), "precision": s.precision,
                 "data": s.data_info, "optimizer": s.optimizer_name}
        runs.write_status(run, "running", step=at.step, total_steps=s.total_steps, **extra)
        rep.on_event(RunEvent(step=at.step, event="resumed" if ckpt else "started",
                              detail=_start_detail(s, ckpt),
                              data={"total_steps": s.total_steps, **_param_counts(s.model)}))
        if s.cfg.log_samples:
            runs.append_samples(run, {"resumed_from": at.step} if ckpt else {"started": 0})
        return _loop(s, run, rep, stop, at)
    except checkpoint.SaveError as e:
        return _save_failed(s, run, rep, at, e)
    except BaseException as e:
        reason = "interrupted" if isinstance(e, KeyboardInterrupt) else \
            f"{type(e).__name__}: {e}".splitlines()[0]
        runs.write_status(run, "failed", step=at.step, total_steps=s.total_steps, reason=reason)
        rep.on_event(RunEvent(step=at.step, event="failed", detail=reason))
        raise
    finally:
        writer.close()


def _loop(s: Setup, run: runs.RunDir, rep: Reporter, stop: threading.Event,
          at: Progress) -> RunResult:
    import torch

    cfg = s.cfg
    lengths = [len(t.input_ids) for t in s.train]
    plan = batching.epoch_plan(lengths, cfg.effective_batch, cfg.seed, at.epoch)
    params = [p for p in s.model.parameters() if p.requires_grad]
    # before the first step, not after an hour of training
    checkpoint.check_space(run, s.model, with_final_model=not cfg.is_peft)
    if s.eval and at.step == 0:
        _evaluate(s, rep, at)  # the untrained model's eval loss: where the curve starts from
    if s.cfg.eval_data and at.step == 0:
        _score_eval_data(s, run, at, "base")

    while at.step < s.total_steps:
        if at.in_epoch >= len(plan):  # next epoch: a new, equally deterministic order
            at.epoch, at.in_epoch = at.epoch + 1, 0
            plan = batching.epoch_plan(lengths, cfg.effective_batch, cfg.seed, at.epoch)
        indices = plan[at.in_epoch]
        group = [(s.train[i].input_ids, s.train[i].labels) for i in indices]
        t0 = time.perf_counter()
        try:
            fault_at("oom", at.step + 1)
            loss, grad_norm = _train_step(s, group, params, at.step)
        except torch.OutOfMemoryError:
            return _out_of_memory(s, run, rep, at)
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            return _diverged(s, run, rep, at, loss, grad_norm)
        at.step, at.in_epoch = at.step + 1, at.in_epoch + 1
        real_tokens = sum(len(ids) for ids, _ in group)
        at.tokens_seen += real_tokens
        dt = max(time.perf_counter() - t0, 1e-9)
        if cfg.log_samples:
            runs.append_samples(run, {"step": at.step, "epoch": at.epoch,
                                      "samples": [s.train[i].row for i in indices]})
        if at.step % cfg.logging_steps == 0 or at.step == s.total_steps:
            rep.on_step(StepMetrics(step=at.step, loss=loss, grad_norm=grad_norm,
                                    lr=optim.lr_at(at.step - 1, cfg, s.total_steps),
                                    tokens=real_tokens, tokens_per_s=real_tokens / dt,
                                    mem_mb=_memory_mb(s.device), total_steps=s.total_steps,
                                    epoch=at.epoch + at.in_epoch / max(1, len(plan))))
        if s.eval and at.step % cfg.eval_steps == 0:
            _evaluate(s, rep, at)
        if at.step % cfg.save_steps == 0:
            _save(s, run, rep, at)
        if stop.is_set() and at.step < s.total_steps:
            return _stopped(s, run, rep, at)

    if s.eval and at.last_eval != at.step:
        _evaluate(s, rep, at)
    if at.last_saved != at.step:
        _save(s, run, rep, at)
    _save_final(s, run)
    runs.write_status(run, "finished", step=at.step, total_steps=s.total_steps)
    rep.on_event(RunEvent(step=at.step, event="finished", detail=str(_final_dir(s, run))))
    return RunResult("finished", run.path, at.step)


def _save(s: Setup, run: runs.RunDir, rep: Reporter, at: Progress) -> None:
    state = checkpoint.TrainerState(step=at.step, epoch=at.epoch, step_in_epoch=at.in_epoch,
                                    total_steps=s.total_steps, tokens_seen=at.tokens_seen,
                                    data_fingerprint=s.data_info["fingerprint"],
                                    batch_size=s.cfg.batch_size, grad_accum=s.cfg.grad_accum)
    path = checkpoint.save(run, s.model, s.optimizer, state, s.cfg.save_total_limit,
                           hook=lambda tmp: _checkpoint_faults(at.step))
    at.last_saved = at.step
    rep.on_event(RunEvent(step=at.step, event="checkpoint", detail=str(path)))
    if s.cfg.eval_data:
        _score_eval_data(s, run, at, path.name)


def _score_eval_data(s: Setup, run: runs.RunDir, at: Progress, checkpoint_name: str) -> None:
    """eval_data scored on the model as it is now, one record in eval.jsonl."""
    from studio.core.eval import run_eval

    cfg = s.cfg
    path = run_eval.data_path(cfg.eval_data, s.tokenizer, run.path)
    metric = run_eval.pick_metric(cfg.eval_data, cfg.eval_metric)
    result = run_eval.evaluate(s.model, s.tokenizer, path, metric, cfg.max_length)
    run_eval.append_record(run.path, run_eval.record(at.step, checkpoint_name, cfg.eval_data,
                                                     result))


def _checkpoint_faults(step: int) -> None:
    import errno

    fault_at("kill_in_checkpoint", step)
    if fault_at("disk_full", step, raise_=False):
        raise OSError(errno.ENOSPC, "No space left on device (injected)")


def _collate(s: Setup, mb: list) -> dict:
    pad_id = s.tokenizer.pad_token_id if s.tokenizer.pad_token_id is not None else 0
    batch = batching.collate_packed(mb) if s.packing else batching.collate_padded(mb, pad_id)
    return {k: v.to(s.device) for k, v in batch.items()}


def _train_step(s: Setup, group: list, params: list, step: int) -> tuple[float, float]:
    """One optimizer step over a step group: (mean token loss, gradient norm before clipping)."""
    import torch

    from studio.core.methods import builders as methods
    from studio.core.train.loss import loss_sum

    cfg, model = s.cfg, s.model
    n_step = batching.count_label_tokens(group)  # every label token of the step weighs the same
    total = 0.0
    for mb in batching.micro_batches(group, cfg.batch_size):
        batch = _collate(s, mb)
        with _autocast(s):
            lsum, _ = loss_sum(model, batch, s.fast_loss, cfg.method)
        if fault_at("nan", step + 1, raise_=False):
            lsum = lsum * float("nan")
        (lsum / max(1, n_step)).backward()
        total += float(lsum.detach())
    clip = cfg.max_grad_norm if cfg.max_grad_norm > 0 else float("inf")
    grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
    loss = total / max(1, n_step)
    if math.isfinite(loss) and math.isfinite(grad_norm):
        optim.set_lr(s.optimizer, optim.lr_at(step, cfg, s.total_steps))
        s.optimizer.step()
        methods.after_optimizer_step(model, step + 1)
    s.optimizer.zero_grad(set_to_none=True)  # a poisoned step leaves no trace in the weights
    return loss, grad_norm


def _autocast(s: Setup) -> Any:
    import contextlib

    import torch

    if s.precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if s.precision == "bf16" else torch.float16
        return torch.autocast(device_type=s.device.type, dtype=dtype)
    return contextlib.nullcontext()


def _evaluate(s: Setup, rep: Reporter, at: Progress) -> float:
    import torch

    from studio.core.train.loss import loss_sum

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
    eval_loss = total / max(1, count)
    ppl = math.exp(eval_loss) if eval_loss < 50 else float("inf")
    rep.on_eval(EvalMetrics(step=at.step, eval_loss=eval_loss, perplexity=ppl))
    at.last_eval = at.step
    return eval_loss


def _final_dir(s: Setup, run: runs.RunDir) -> Path:
    return run.adapter_dir if s.cfg.is_peft else run.model_dir


def _save_final(s: Setup, run: runs.RunDir) -> None:
    """adapter/ (PEFT layout) or model/ (full weights + tokenizer), renamed into place whole."""
    import shutil

    final = _final_dir(s, run)
    tmp = run.path / f"{runs.TMP_PREFIX}{final.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        s.model.save_pretrained(str(tmp), safe_serialization=True)
        s.tokenizer.save_pretrained(str(tmp))
    except checkpoint.write_errors() as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise checkpoint.SaveError(f"could not write {final.name}/: "
                                   f"{checkpoint.why_write_failed(e, run.path)}") from None
    fault_at("kill_in_final_save", 0)
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


# --- how a run ends early ----------------------------------------------------------------------

def _end(s: Setup, run: runs.RunDir, rep: Reporter, status: str, step: int, reason: str,
         kind: str) -> RunResult:
    runs.write_status(run, status, step=step, total_steps=s.total_steps, reason=reason)
    rep.on_event(RunEvent(step=step, event=status, detail=reason, data={"kind": kind}))
    return RunResult(status, run.path, step, reason)


def _stopped(s: Setup, run: runs.RunDir, rep: Reporter, at: Progress) -> RunResult:
    if at.last_saved != at.step:
        _save(s, run, rep, at)
    return _end(s, run, rep, "stopped", at.step, "stopped by the user; continue with: "
                f"python main.py resume {run.path}", "stop")


def _kept(at: Progress) -> str:
    return (f"the last good checkpoint is step {at.last_saved}" if at.last_saved >= 0
            else "no checkpoint was written before it")


def _diverged(s: Setup, run: runs.RunDir, rep: Reporter, at: Progress, loss: float,
              grad_norm: float) -> RunResult:
    # The poisoned step was never applied (optimizer.step skipped) and is never checkpointed.
    what, value = ("loss", loss) if not math.isfinite(loss) else ("gradient norm", grad_norm)
    reason = (f"{what} became {value} at step {at.step + 1}: training diverged (try a lower "
              f"learning_rate than {s.cfg.learning_rate:g}); {_kept(at)}")
    return _end(s, run, rep, "failed", at.step, reason, "diverged")


def _out_of_memory(s: Setup, run: runs.RunDir, rep: Reporter, at: Progress) -> RunResult:

    import torch

    s.optimizer.zero_grad(set_to_none=True)
    collect_garbage()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if at.step > 0 and at.last_saved != at.step:
        _save(s, run, rep, at)  # the weights are whole: the failed step never reached the optimizer
    cfg = s.cfg
    tips = []
    smaller = smaller_micro_batch(cfg.batch_size, cfg.grad_accum)
    if smaller is not None:
        tips.append(f"resume with a smaller micro-batch, same effective batch: python main.py "
                    f"resume {run.path} --set batch_size={smaller[0]} "
                    f"--set grad_accum={smaller[1]}")
    tips.append(f"a shorter max_length than {cfg.max_length}")
    if cfg.method != "qlora":
        tips.append("method: qlora (4-bit base weights)")
    tips.append("gradient_checkpointing: on")
    reason = f"out of memory at step {at.step + 1}; " + "; or ".join(tips)
    return _end(s, run, rep, "failed", at.step, reason, "oom")


def _save_failed(s: Setup, run: runs.RunDir, rep: Reporter, at: Progress,
                 e: Exception) -> RunResult:
    reason = f"{e} at step {at.step}; {_kept(at)}: free some space, then python main.py " \
             f"resume {run.path}"
    try:
        return _end(s, run, rep, "failed", at.step, reason, "disk")
    except OSError:  # the disk is too full even for run.json: say it where we can
        return RunResult("failed", run.path, at.step, reason)


# --- small helpers -------------------------------------------------------------------------------

def _memory_mb(device: Any) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import psutil

    return psutil.Process().memory_info().rss / 2**20


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
    return "; ".join(parts)
