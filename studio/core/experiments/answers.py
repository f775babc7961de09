"""Each run's answer to the same prompts: greedy replies from each run's final model, one run
loaded at a time (a 16 GB GPU holds one), so the comparison shows what each method learned
to say, not only its loss. Blocks: the app calls it in a worker thread.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Optional

from studio.core.errors import UserError

MAX_NEW_TOKENS = 64


def answers(run_dirs: list[str | Path], prompts: list[str], *,
            max_new_tokens: int = MAX_NEW_TOKENS, device: Optional[str] = None,
            cancel: Optional[threading.Event] = None) -> dict[str, list[str]]:
    """{run folder: [greedy answer to each prompt]}; a run without a final model (or one that
    cannot answer here) answers with the reason in parentheses."""
    from studio.core.chat.engine import GenSettings
    from studio.core.gc_policy import collect_garbage
    from studio.core.model.run_model import load_run_model

    if not prompts:
        raise UserError("give at least one prompt to answer")
    cancel = cancel or threading.Event()
    settings = GenSettings(temperature=0.0, max_new_tokens=max_new_tokens)
    out: dict[str, list[str]] = {}
    for run_dir in map(str, run_dirs):
        if cancel.is_set():
            break
        try:
            out[run_dir] = _answer_all(load_run_model(run_dir, device=device), prompts,
                                       settings, cancel)
        except UserError as e:
            out[run_dir] = [f"({e.one_line()})"] * len(prompts)
        except Exception as e:  # noqa: BLE001  one run that cannot answer (e.g. a 4-bit
            # kernel this CPU lacks) must not hide the others' answers: its reason is its cell
            first = str(e).splitlines()[0] if str(e) else ""
            out[run_dir] = [f"(could not answer: {type(e).__name__}: {first})"] * len(prompts)
        collect_garbage()  # one model in memory at a time
    return out


def _answer_all(rm: Any, prompts: list[str], settings: Any,
                cancel: threading.Event) -> list[str]:
    """Greedy replies of one loaded run (rm: a RunModel) to every prompt."""
    from studio.core.chat.engine import ChatEngine

    engine = ChatEngine(rm.model, rm.tokenizer)
    return [engine.reply([{"role": "user", "content": p}], settings, cancel=cancel).text.strip()
            for p in prompts]
