"""Progress on the terminal for train / resume, and Ctrl+C as a clean stop."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from typing import Callable, Iterator, TextIO

from studio.core.events import EvalMetrics, RunEvent, StepMetrics

_USER_STDERR: list[TextIO] = []


def user_stderr() -> TextIO:
    """Where the studio's own words to the user go (errors, chat figures): the real stderr,
    also while `library_noise_to_stdout` sends everything else written there to stdout."""
    return _USER_STDERR[-1] if _USER_STDERR else sys.stderr


@contextlib.contextmanager
def library_noise_to_stdout() -> Iterator[None]:
    """While a command runs, what libraries write to stderr (progress bars, kernel-loading
    notices, FutureWarnings) goes to stdout instead, so a user error is the one line on
    stderr. Writers that look sys.stderr up when they write or are created are covered:
    warnings, tqdm, logging handlers made after this point."""
    _USER_STDERR.append(sys.stderr)
    try:
        with contextlib.redirect_stderr(sys.stdout):
            yield
    finally:
        _USER_STDERR.pop()
        # out before the error line: where both streams go to one log (the app's launched
        # runs), its last line must stay the `error:` line
        sys.stdout.flush()


class ConsoleReporter:
    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.t0 = time.time()

    def on_step(self, m: StepMetrics) -> None:
        if self.quiet:
            return
        eta = ""
        if m.total_steps and m.step:
            left = (time.time() - self.t0) / m.step * (m.total_steps - m.step)
            eta = f"  eta {int(left // 60)}:{int(left % 60):02d}"
        print(f"step {m.step}/{m.total_steps}  loss {m.loss:.4f}{_preference(m)}  "
              f"lr {m.lr:.2e}  grad {m.grad_norm:.3f}  {m.tokens_per_s:.0f} tok/s  "
              f"mem {m.mem_mb:.0f} MB{eta}", flush=True)

    def on_eval(self, m: EvalMetrics) -> None:
        if not self.quiet:
            print(f"eval  step {m.step}  eval_loss {m.eval_loss:.4f}  "
                  f"perplexity {m.perplexity:.2f}{_preference(m)}", flush=True)

    def on_event(self, e: RunEvent) -> None:
        if e.event in ("started", "resumed"):
            self.t0 = time.time()
        if self.quiet and e.event not in ("failed", "finished", "stopped"):
            return
        print(f"[{e.event}] step {e.step}: {e.detail}", flush=True)


def _preference(m: StepMetrics | EvalMetrics) -> str:
    """Stage dpo / kto: the reward margin, accuracy and KL after the loss; grpo: the mean
    reward and completion length too ("" otherwise)."""
    grpo = (("reward", getattr(m, "reward", None)),
            ("len", getattr(m, "completion_length", None)))
    parts = [f"{name} {v:.3f}" for name, v in (("margin", m.reward_margin),
                                               ("acc", m.reward_accuracy), *grpo, ("kl", m.kl))
             if v is not None]
    return "  " + "  ".join(parts) if parts else ""


RUNNER_GONE = "SIGUSR1"  # the signal a queue runner's children get when it dies (runner.py)


def run_with_console(start: Callable, quiet: bool = False, summary: bool = True) -> int:
    """Run `start(reporter, stop_event)`; the first Ctrl+C / SIGTERM stops after the current
    step with a checkpoint, a second one aborts. `summary`: print the closing line (process
    rank 0 of a group does; the others are silent)."""
    stop = threading.Event()

    def on_signal(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping after this step (a checkpoint is saved); press Ctrl+C again to abort",
              file=user_stderr(), flush=True)

    def on_runner_gone(signum, frame):
        # The queue runner died (its parent-death signal, Linux): stop with a checkpoint. Never
        # an abort: the kernel sends it once for each runner thread that ends before the last.
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    if hasattr(signal, RUNNER_GONE):
        old[getattr(signal, RUNNER_GONE)] = signal.signal(getattr(signal, RUNNER_GONE),
                                                          on_runner_gone)
    try:
        result = start(ConsoleReporter(quiet), stop)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if summary:
        print(f"{result.status}: {result.run_dir} at step {result.step}"
              + (f" ({result.reason})" if result.reason else ""))
    return 0 if result.status in ("finished", "stopped") else 1
