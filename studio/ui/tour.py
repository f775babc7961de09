"""The tour: the real app driven unattended through the default workflow.

The pretrained starter (copied in a worker) and the identity sample the project ships; then
each page in workflow order, live LoRA training for N steps on the Train page (the model learns
its name, so the Chat page's base and tuned answers differ in a way anyone reads), a PNG of
every page, and the GUI event-loop delay measured while training ran.

Pages take part through two optional methods, so later pages join without changing this file:
  page.tour_prepare(tour)  called when the tour arrives (e.g. the chat page asks a question);
  page.tour_ready() -> bool  polled until True (max TOUR_PAGE_TIMEOUT_S) before the screenshot.
`tour.model_dir`, `tour.dataset`, `tour.question` and `tour.session` are there for them to use.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from studio.paths import resource
from studio.services.latency import LatencyProbe
from studio.services.stall_sampler import StallSampler
from studio.services.workers import run_task
from studio.ui import prefs

SAMPLES = resource("samples")
SAMPLE_DATASET = SAMPLES / "demo_zh_en.jsonl"
IDENTITY_DATASET = SAMPLES / "identity_zh_en.json"
TOUR_QUESTION = "Who are you?"  # the base model answers from its corpus, the tuned one its name
TOUR_PAGE_TIMEOUT_S = 60.0
# Pages shown before training and after it, in this order, when present.
BEFORE_TRAINING = ("welcome", "data", "model")
AFTER_TRAINING = ("inspect", "chat", "export")

Wait = Union[float, Callable[[], bool]]  # seconds to wait, or a condition to poll


def _make_starter(out: Path) -> Path:
    # Lazy: this runs in a worker thread.
    from studio.core.model.pretrained import copy_shipped

    if (out / "model.safetensors").is_file():
        return out  # copied by an earlier tour
    return copy_shipped(out, overwrite=True)


class Tour(QObject):
    sig_done = Signal(int)  # exit code: 0 when the training ran through

    def __init__(self, studio: Any, steps: int = 60, screenshots: Optional[Path] = None,
                 workdir: Optional[Path] = None, quit_when_done: bool = False,
                 stalls: Optional[Path] = None):
        super().__init__(studio.window)
        self.studio, self.window, self.session = studio, studio.window, studio.session
        self.steps = steps
        self.screenshots = Path(screenshots) if screenshots else None
        self.workdir = Path(workdir) if workdir else prefs.runs_root()
        self.model_dir = self.workdir / "starter-pretrained"
        self.dataset = IDENTITY_DATASET
        self.question = TOUR_QUESTION
        self.quit_when_done = quit_when_done
        self.probe = LatencyProbe(parent=self)  # the whole tour: loads, training, every page
        self.training_ticks = (0, 0)  # the probe's ticks while the run trained: [start, end)
        self.sampler = StallSampler(self.probe, stalls) if stalls else None
        self.saved: list[Path] = []
        self.running = False
        self.exit_code = 1
        self._script: Optional[Iterator[Wait]] = None
        self._poll = QTimer(self)
        self._poll.setInterval(50)
        self._poll.timeout.connect(self._check)
        self._until: Optional[Callable[[], bool]] = None
        self._result: dict[str, Any] = {}
        self._finished: dict[str, str] = {}

    # --- the driver: the script yields waits; a timer resumes it ----------------------------
    def start(self) -> None:
        self.running = True
        self.probe.start()
        if self.sampler is not None:
            self.sampler.start()
        self._script = self._steps()
        self._advance()

    def _advance(self) -> None:
        try:
            wait = next(self._script)
        except StopIteration:
            self._finish()
            return
        if callable(wait):
            self._until = wait
            self._poll.start()
        else:
            QTimer.singleShot(int(wait * 1000), self._advance)

    def _check(self) -> None:
        if self._until is not None and self._until():
            self._poll.stop()
            self._until = None
            self._advance()

    # --- the script ----------------------------------------------------------------------------
    def _steps(self) -> Iterator[Wait]:
        self._say(QCoreApplication.translate("Tour", "Tour: creating a starter model…"))
        task = run_task(_make_starter, self.model_dir, parent=self,
                        on_result=lambda p: self._result.update(model=p),
                        on_error=lambda r, d: self._result.update(error=(r, d)))
        for key in BEFORE_TRAINING[:1]:
            yield from self._visit(key)
        yield lambda: not task.running
        if "error" in self._result:
            self._fail(*self._result["error"])
            return
        run_dir = self.workdir / f"tour-{time.strftime('%Y%m%d-%H%M%S')}"
        self.session.draft.update(
            # LoRA on its default targets (the output layer stays frozen): the pretrained
            # starter already knows words, so the adapter only has to teach it its name. The
            # held-out corpus is scored before and after (eval_data): what it forgot.
            model=str(self._result["model"]), dataset=str(self.dataset), method="lora",
            target_modules="all-linear",
            max_steps=self.steps, batch_size=4, max_length=256, learning_rate=5e-3,
            eval_split=0.1, eval_steps=max(1, self.steps // 3), save_steps=self.steps,
            eval_data="corpus", logging_steps=1, output_dir=str(run_dir))
        self.window.open_path(str(self.dataset))  # as if dropped: the data page opens it
        for key in BEFORE_TRAINING[1:]:
            yield from self._visit(key)
        self.window.show_page("train")
        finished = self._finished
        self.session.sig_finished.connect(self._on_finished)
        first = len(self.probe.delays_ms)
        if not self.studio.train.start():
            self._fail(self.studio.train.message.text(), "")
            return
        yield lambda: bool(finished)
        self.training_ticks = (first, len(self.probe.delays_ms))
        self.session.sig_finished.disconnect(self._on_finished)
        yield 0.3  # one more redraw of the curves
        yield from self._visit("train")
        if finished["status"] != "finished":
            self._fail(finished.get("reason", "") or finished["status"], "")
            return
        yield from self._visit("experiments")  # the board: what the tour ran, its answer
        for key in AFTER_TRAINING:
            yield from self._visit(key)
        self.exit_code = 0

    def _on_finished(self, status: str, reason: str) -> None:
        self._finished.update(status=status, reason=reason)

    def _visit(self, key: str) -> Iterator[Wait]:
        page = self.window.page(key)
        if page is None:
            return
        self.window.show_page(key)
        if hasattr(page, "tour_prepare"):
            page.tour_prepare(self)
        if hasattr(page, "tour_ready"):
            deadline = time.monotonic() + TOUR_PAGE_TIMEOUT_S
            yield lambda: page.tour_ready() or time.monotonic() > deadline
        yield 0.25  # let layouts settle and timers redraw
        self._shoot(key)

    def _shoot(self, key: str) -> None:
        if self.screenshots is None:
            return
        self.screenshots.mkdir(parents=True, exist_ok=True)
        path = self.screenshots / f"{len(self.saved) + 1:02d}-{key}.png"
        self.window.grab().save(str(path))
        self.saved.append(path)
        if self.quit_when_done:
            print(f"screenshot: {path}", flush=True)

    def _say(self, text: str) -> None:
        self.window.status.showMessage(text, 10000)

    def _fail(self, reason: str, details: str) -> None:
        self.exit_code = 1
        if self.quit_when_done:
            print(f"error: {reason}", file=sys.stderr, flush=True)
            if details:
                print(details, file=sys.stderr, flush=True)
        else:
            from studio.ui.errors import show_error

            show_error(self.window, reason, details)

    def _finish(self) -> None:
        self.running = False
        self.probe.stop()
        if self.sampler is not None:
            self.sampler.stop()
        run = self.session.run_dir
        if self.quit_when_done:
            if run is not None:
                print(f"run: {run}", flush=True)
            if self.sampler is not None:
                print(self.sampler.report(), flush=True)
            print(f"training: {self.probe.line(*self.training_ticks)}", flush=True)
            print(self.probe.line(), flush=True)
        else:
            self._say(QCoreApplication.translate("Tour", "Tour finished: {line}").format(
                line=self.probe.line()))
        self.sig_done.emit(self.exit_code)
