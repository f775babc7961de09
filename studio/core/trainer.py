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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from studio.core import batching, checkpoint, optim, runs
from studio.core import config as config_mod
from studio.core.config import PROMPT_METHODS, RunConfig
from studio.core.errors import ConfigError, DataError
from studio.core.events import (EvalMetrics, MultiReporter, NullReporter, Reporter, RunEvent,
                                StepMetrics)
from studio.core.faults import fault_at

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


@dataclass
class Setup:
    """Everything a run needs, built before the run directory exists."""
    cfg: RunConfig
    device: Any
    precision: str
    model: Any
    tokenizer: Any
    train: list
    eval: list
    total_steps: int
    fast_loss: bool
    packing: bool
    optimizer: Any = None
    optimizer_name: str = ""
    data_info: dict = field(default_factory=dict)


# --- public entry points ---------------------------------------------------------------------

def train(cfg: RunConfig, reporter: Optional[Reporter] = None,
          stop: Optional[threading.Event] = None) -> RunResult:
    _check_output_dir(cfg)
    setup = prepare(cfg)
    run = runs.create(cfg)
    return _run(setup, run, reporter, stop, ckpt=None)


def resume(run_dir: str | Path, reporter: Optional[Reporter] = None,
           stop: Optional[threading.Event] = None, overrides: Optional[dict] = None) -> RunResult:
    run = runs.open_run(run_dir)
    cfg = runs.load_config(run)
    if overrides:
        bad = [k for k in overrides if k not in RESUMABLE_OVERRIDES]
        if bad:
            raise ConfigError(f"'{bad[0]}' cannot change on resume (only "
                              f"{', '.join(RESUMABLE_OVERRIDES)})")
        new = cfg.replace(**overrides)
        if new.effective_batch != cfg.effective_batch:
            raise ConfigError(f"resume must keep the effective batch batch_size x grad_accum = "
                              f"{cfg.effective_batch}; got {new.effective_batch}")
        cfg = new
        runs.atomic_write_text(run.config_file, config_mod.to_yaml(cfg))
    removed = runs.clean_temporaries(run)
    ckpt = runs.latest_checkpoint(run)
    if runs.effective_status(run.path) == "finished" and ckpt is not None:
        done = checkpoint.read_state(ckpt)
        if done.step >= _total_steps(cfg, done.total_steps):
            raise ConfigError(f"run {run.path} already finished at step {done.step}; "
                              "raise max_steps with --set to train further")
    setup = prepare(cfg)
    setup.data_info["cleaned_temporaries"] = len(removed)
    return _run(setup, run, reporter, stop, ckpt=ckpt)


# --- setup -------------------------------------------------------------------------------------

def _check_output_dir(cfg: RunConfig) -> None:
    out = Path(cfg.output_dir).expanduser()
    if out.is_dir() and any(out.iterdir()) and not cfg.overwrite:
        if runs.holds_run(out):
            raise ConfigError(f"output_dir {out} already holds a run; use `python main.py resume "
                              f"{out}` or --set overwrite=true")
        raise ConfigError(f"output_dir {out} is not empty and holds no run; choose an empty or "
                          "new folder")


def pick_device(cfg: RunConfig) -> Any:
    import torch

    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda was asked for, but no CUDA GPU is available here")
    if cfg.device == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def pick_precision(cfg: RunConfig, device: Any) -> str:
    import torch

    if cfg.precision != "auto":
        if cfg.precision in ("bf16", "fp16") and device.type == "cpu":
            raise ConfigError(f"precision {cfg.precision} needs a GPU here; use fp32 or auto")
        return cfg.precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def _total_steps(cfg: RunConfig, steps_per_epoch_or_total: int) -> int:
    return cfg.max_steps if cfg.max_steps else steps_per_epoch_or_total


def prepare(cfg: RunConfig) -> Setup:
    """Load data and model and attach the method. Raises UserError on any bad input."""
    import torch

    from studio.core import data
    from studio.core import model as model_mod

    if cfg.stage == "pretrain" and cfg.method in PROMPT_METHODS:
        raise ConfigError(f"{cfg.method} trains virtual tokens for instructions; use stage: sft")
    device = pick_device(cfg)
    precision = pick_precision(cfg, device)
    path = model_mod.resolve_model(cfg.model, trust_remote_code=cfg.trust_remote_code,
                                   allow_pickle=cfg.allow_pickle)
    tokenizer = model_mod.load_tokenizer(path, trust_remote_code=cfg.trust_remote_code)
    samples, report = data.load_samples(cfg.dataset, cfg.format, stage=cfg.stage,
                                        skip_bad_rows=cfg.skip_bad_rows)
    tokenized, dropped = data.tokenize_dataset(samples, tokenizer, cfg.max_length, stage=cfg.stage,
                                               train_on_prompt=cfg.train_on_prompt)
    if not tokenized:
        raise DataError(f"no sample of {cfg.dataset} has tokens to learn from after the chat "
                        f"template and max_length {cfg.max_length}"
                        + (f" ({dropped[0]})" if dropped else ""))
    train_set, eval_set = data.split_train_eval(tokenized, cfg.eval_split, cfg.seed)
    per_epoch = batching.steps_per_epoch(len(train_set), cfg.effective_batch)
    total = cfg.max_steps or max(1, math.ceil(cfg.epochs * per_epoch))

    torch.manual_seed(cfg.seed)  # adapter initialisation is part of the run's identity
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]
    if not cfg.is_peft:
        dtype = torch.float32  # full / freeze keep fp32 master weights; autocast does the rest
    model = model_mod.load_model(path, device=str(device), dtype=dtype,
                                 quantize_4bit=cfg.method == "qlora",
                                 trust_remote_code=cfg.trust_remote_code,
                                 allow_pickle=cfg.allow_pickle)
    model = model_mod.apply_method(model, cfg, total)
    if _want_checkpointing(cfg, path, device):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
    model.train()
    from studio.core.loss import supports_fast_loss

    truncated = sum(1 for t in tokenized if t.truncated)
    info = {"rows": report.total_rows, "good_rows": report.good_rows,
            "bad_rows": report.bad_rows, "dropped_no_labels": len(dropped),
            "truncated": truncated, "train_samples": len(train_set),
            "eval_samples": len(eval_set), "fingerprint": data_fingerprint(cfg.dataset)}
    setup = Setup(cfg=cfg, device=device, precision=precision, model=model, tokenizer=tokenizer,
                  train=train_set, eval=eval_set, total_steps=total,
                  fast_loss=supports_fast_loss(model, cfg.method),
                  packing=cfg.packing and cfg.method not in PROMPT_METHODS, data_info=info)
    setup.optimizer, setup.optimizer_name = optim.build_optimizer(model, cfg, device.type)
    return setup


def _want_checkpointing(cfg: RunConfig, path: Path, device: Any) -> bool:
    if cfg.gradient_checkpointing != "auto":
        return cfg.gradient_checkpointing == "on"
    if device.type != "cuda":
        return False  # CPU RAM is the limit there, and the estimate is for accelerators
    from studio.core import memory

    total_mb = memory.detect_device().total_mb
    return bool(memory.should_checkpoint(cfg, path / "config.json", total_mb))


def data_fingerprint(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


# --- the loop ------------------------------------------------------------------------------------

def _run(s: Setup, run: runs.RunDir, reporter: Optional[Reporter],
         stop: Optional[threading.Event], ckpt: Optional[Path]) -> RunResult:
    writer = runs.MetricsWriter(run)
    rep = MultiReporter(writer, reporter or NullReporter())
    stop = stop or threading.Event()
    cfg = s.cfg
    step, epoch, in_epoch, tokens_seen = 0, 0, 0, 0
    if ckpt is not None:
        st = checkpoint.load(ckpt, s.model, s.optimizer, s.device)
        if st.data_fingerprint != s.data_info["fingerprint"]:
            writer.close()
            raise DataError(f"the dataset {cfg.dataset} changed since this run started; "
                            "resume needs the same file (start a new run instead)")
        step, epoch, in_epoch, tokens_seen = st.step, st.epoch, st.step_in_epoch, st.tokens_seen
    extra = {"method": cfg.method, "device": str(s.device), "precision": s.precision,
             "data": s.data_info, "optimizer": s.optimizer_name}
    runs.write_status(run, "running", step=step, total_steps=s.total_steps, **extra)
    kind = "resumed" if ckpt is not None else "started"
    rep.on_event(RunEvent(step=step, event=kind, detail=_start_detail(s, ckpt),
                          data={"total_steps": s.total_steps, **_param_counts(s.model)}))
    try:
        result = _loop(s, run, rep, stop, step, epoch, in_epoch, tokens_seen)
    except BaseException as e:
        reason = f"{type(e).__name__}: {e}".splitlines()[0]
        if isinstance(e, KeyboardInterrupt):
            reason = "interrupted"
        runs.write_status(run, "failed", step=_last_step(run), total_steps=s.total_steps,
                          reason=reason)
        rep.on_event(RunEvent(step=_last_step(run), event="failed", detail=reason))
        raise
    finally:
        writer.close()
    return result


def _loop(s: Setup, run: runs.RunDir, rep: Reporter, stop: threading.Event, step: int,
          epoch: int, in_epoch: int, tokens_seen: int) -> RunResult:
    import torch

    cfg, model = s.cfg, s.model
    lengths = [len(t.input_ids) for t in s.train]
    plan = batching.epoch_plan(lengths, cfg.effective_batch, cfg.seed, epoch)
    params = [p for p in model.parameters() if p.requires_grad]
    last_saved, last_eval = -1, -1

    def save(at: int) -> None:
        nonlocal last_saved
        state = checkpoint.TrainerState(step=at, epoch=epoch, step_in_epoch=in_epoch,
                                        total_steps=s.total_steps, tokens_seen=tokens_seen,
                                        data_fingerprint=s.data_info["fingerprint"],
                                        batch_size=cfg.batch_size, grad_accum=cfg.grad_accum)
        path = checkpoint.save(run, model, s.optimizer, state, cfg.save_total_limit,
                               hook=lambda tmp: fault_at("kill_in_checkpoint", at))
        last_saved = at
        rep.on_event(RunEvent(step=at, event="checkpoint", detail=str(path)))

    while step < s.total_steps:
        if in_epoch >= len(plan):  # next epoch: a new, equally deterministic order
            epoch, in_epoch = epoch + 1, 0
            plan = batching.epoch_plan(lengths, cfg.effective_batch, cfg.seed, epoch)
        group = [(s.train[i].input_ids, s.train[i].labels) for i in plan[in_epoch]]
        t0 = time.perf_counter()
        try:
            fault_at("oom", step + 1)
            loss, grad_norm = _train_step(s, group, params, step)
        except torch.OutOfMemoryError:
            return _out_of_memory(s, run, rep, step, save, last_saved)
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            return _diverged(s, run, rep, step + 1, loss, grad_norm, last_saved)
        step, in_epoch = step + 1, in_epoch + 1
        real_tokens = sum(len(ids) for ids, _ in group)
        tokens_seen += real_tokens
        dt = max(time.perf_counter() - t0, 1e-9)
        if step % cfg.logging_steps == 0 or step == s.total_steps:
            rep.on_step(StepMetrics(step=step, loss=loss, grad_norm=grad_norm,
                                    lr=optim.lr_at(step - 1, cfg, s.total_steps),
                                    tokens=real_tokens, tokens_per_s=real_tokens / dt,
                                    mem_mb=_memory_mb(s.device), total_steps=s.total_steps,
                                    epoch=epoch + in_epoch / max(1, len(plan))))
        if s.eval and step % cfg.eval_steps == 0:
            _evaluate(s, rep, step)
            last_eval = step
        if step % cfg.save_steps == 0:
            save(step)
        if stop.is_set() and step < s.total_steps:
            if last_saved != step:
                save(step)
            runs.write_status(run, "stopped", step=step, total_steps=s.total_steps,
                              reason="stopped by the user")
            rep.on_event(RunEvent(step=step, event="stopped", detail="stopped by the user; "
                                  f"continue with: python main.py resume {run.path}"))
            return RunResult("stopped", run.path, step, "stopped by the user")

    if s.eval and last_eval != step:
        _evaluate(s, rep, step)
    if last_saved != step:
        save(step)
    _save_final(s, run)
    runs.write_status(run, "finished", step=step, total_steps=s.total_steps)
    rep.on_event(RunEvent(step=step, event="finished", detail=str(_final_dir(s, run))))
    return RunResult("finished", run.path, step)


def _train_step(s: Setup, group: list, params: list, step: int) -> tuple[float, float]:
    """One optimizer step over a step group: (mean token loss, gradient norm before clipping)."""
    import torch

    from studio.core import methods
    from studio.core.loss import loss_sum

    cfg, model = s.cfg, s.model
    n_step = batching.count_label_tokens(group)  # every label token of the step weighs the same
    pad_id = s.tokenizer.pad_token_id if s.tokenizer.pad_token_id is not None else 0
    total = 0.0
    for mb in batching.micro_batches(group, cfg.batch_size):
        batch = batching.collate_packed(mb) if s.packing else batching.collate_padded(mb, pad_id)
        batch = {k: v.to(s.device) for k, v in batch.items()}
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


def _evaluate(s: Setup, rep: Reporter, step: int) -> float:
    import torch

    from studio.core.loss import loss_sum

    s.model.eval()
    pad_id = s.tokenizer.pad_token_id if s.tokenizer.pad_token_id is not None else 0
    order = sorted(range(len(s.eval)), key=lambda i: len(s.eval[i].input_ids))  # less padding
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(order), s.cfg.batch_size):
            mb = [(s.eval[i].input_ids, s.eval[i].labels)
                  for i in order[start:start + s.cfg.batch_size]]
            batch = batching.collate_packed(mb) if s.packing else batching.collate_padded(mb, pad_id)
            batch = {k: v.to(s.device) for k, v in batch.items()}
            with _autocast(s):
                lsum, n = loss_sum(s.model, batch, s.fast_loss, s.cfg.method)
            total, count = total + float(lsum), count + n
    s.model.train()
    eval_loss = total / max(1, count)
    ppl = math.exp(eval_loss) if eval_loss < 50 else float("inf")
    rep.on_eval(EvalMetrics(step=step, eval_loss=eval_loss, perplexity=ppl))
    return eval_loss


# --- endings -------------------------------------------------------------------------------------

def _final_dir(s: Setup, run: runs.RunDir) -> Path:
    return run.adapter_dir if s.cfg.is_peft else run.model_dir


def _save_final(s: Setup, run: runs.RunDir) -> None:
    """adapter/ (PEFT layout) or model/ (full weights + tokenizer), renamed into place whole."""
    import shutil

    final = _final_dir(s, run)
    tmp = run.path / f"{runs.TMP_PREFIX}{final.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    s.model.save_pretrained(str(tmp), safe_serialization=True)
    s.tokenizer.save_pretrained(str(tmp))
    fault_at("kill_in_final_save", 0)
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def _diverged(s: Setup, run: runs.RunDir, rep: Reporter, step: int, loss: float,
              grad_norm: float, last_saved: int) -> RunResult:
    what = "loss" if not math.isfinite(loss) else "gradient norm"
    keep = f"; the last good checkpoint is step {last_saved}" if last_saved >= 0 else \
        "; no checkpoint was written before it"
    reason = (f"{what} became {loss if what == 'loss' else grad_norm} at step {step}: training "
              f"diverged (try a lower learning_rate than {s.cfg.learning_rate:g}){keep}")
    runs.write_status(run, "failed", step=step - 1, total_steps=s.total_steps, reason=reason)
    rep.on_event(RunEvent(step=step, event="failed", detail=reason, data={"kind": "diverged"}))
    return RunResult("failed", run.path, step - 1, reason)


def _out_of_memory(s: Setup, run: runs.RunDir, rep: Reporter, step: int, save: Any,
                   last_saved: int) -> RunResult:
    import gc

    import torch

    s.optimizer.zero_grad(set_to_none=True)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if step > 0 and last_saved != step:
        save(step)  # weights are whole: the failed step never reached optimizer.step
    cfg = s.cfg
    tips = []
    if cfg.batch_size > 1:
        half = cfg.batch_size // 2
        tips.append(f"resume with a smaller micro-batch keeping the effective batch: python main.py "
                    f"resume {run.path} --set batch_size={half} "
                    f"--set grad_accum={cfg.effective_batch // half}")
    tips.append(f"a shorter max_length than {cfg.max_length}")
    if cfg.method != "qlora":
        tips.append("method: qlora (4-bit base weights)")
    tips.append("gradient_checkpointing: on")
    reason = f"out of memory at step {step + 1}; " + "; or ".join(tips)
    runs.write_status(run, "failed", step=step, total_steps=s.total_steps, reason=reason)
    rep.on_event(RunEvent(step=step, event="failed", detail=reason, data={"kind": "oom"}))
    return RunResult("failed", run.path, step, reason)


# --- small helpers -------------------------------------------------------------------------------

def _memory_mb(device: Any) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _param_counts(model: Any) -> dict:
    from studio.core import model as model_mod

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


def _last_step(run: runs.RunDir) -> int:
    steps = runs.checkpoint_steps(run)
    return steps[-1] if steps else 0
