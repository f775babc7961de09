"""The Data page's tokenizer work, run in the engine host (services/engine_host.py): load a
model's tokenizer into the caller's lane, measure token lengths over the rows, render one row's
tokens. The window's side is services/data_worker.py (DataDoctor), one lane per doctor.

Why in the host: loading a tokenizer imports transformers (and torch), and tokenizing thousands
of rows through a chat template is pure Python; either, in a thread of the window's process,
makes the GUI thread wait for the GIL. No Qt here.

The lane's state holds the tokenizer with its lock: a fast tokenizer must not be used from two
threads at once, and a preview runs beside a length pass (serial=False), not behind it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Optional

from studio.core.errors import Cancelled

TOKENIZER = "tokenizer"  # the lane's state: (source, tokenizer, lock)


@dataclass(frozen=True)
class TokenizerInfo:
    """What the window knows of a tokenizer loaded in the host (the tokenizer stays there)."""

    source: str          # the model folder or hub id it is the tokenizer of
    folder: str          # the local folder it was read from
    vocab_size: int
    chat_template: str   # "" when it has none: text rows only, chat rows fail one by one


def load(ctx: Any, source: str) -> None:
    """Load `source`'s tokenizer into the lane; emit("download", message) while a hub id's
    files arrive, then emit("tokenizer", TokenizerInfo)."""
    # Never measure with the previous model's tokenizer, whatever happens to this load.
    ctx.state.pop(TOKENIZER, None)
    folder, tokenizer = _read(source, ctx)
    ctx.state[TOKENIZER] = (source, tokenizer, threading.Lock())
    template = getattr(tokenizer, "chat_template", None)
    ctx.emit("tokenizer", TokenizerInfo(source, str(folder), len(tokenizer),
                                        template if isinstance(template, str) else ""))


def loaded_tokenizer(ctx: Any, source: str) -> tuple[Any, threading.Lock]:
    """The lane's tokenizer of `source` and its lock. Read again when the lane has none (a new
    host after the old one died): the window still believes it loaded. Cancelled when the
    lane holds another model's: the window asked for that one since, and drops this result."""
    loaded = ctx.state.get(TOKENIZER)
    if loaded is None:
        _, tokenizer = _read(source, ctx)
        # setdefault: a load of a newer model that finished meanwhile keeps its place
        loaded = ctx.state.setdefault(TOKENIZER, (source, tokenizer, threading.Lock()))
    if loaded[0] != source:
        raise Cancelled("the tokenizer was changed")
    return loaded[1], loaded[2]


def _read(source: str, ctx: Any) -> tuple[Any, Any]:
    from studio.core.model.load import load_tokenizer, resolve_model
    from studio.services.engine_import import import_engine

    import_engine()  # once per host: torch's import with the collector paused
    # A hub id fetches its config and tokenizer files first (progress in the busy label).
    folder = resolve_model(source, tokenizer_only=True, cancelled=ctx.cancelled,
                           progress=lambda done, total, message: ctx.emit("download", message))
    return folder, load_tokenizer(folder)


def measure(ctx: Any, source: str, index: Any, fmt: Any, stage: str,
            train_on_prompt: bool) -> None:
    """Token lengths of the rows of `index` read as `fmt`: emit("lengths", LengthSample),
    partial while measuring, then the whole one (not when cancelled)."""
    from studio.core.data.view import measure_lengths

    tokenizer, lock = loaded_tokenizer(ctx, source)
    result = measure_lengths(index, fmt, tokenizer, stage=stage,
                             train_on_prompt=train_on_prompt, lock=lock, cancel=ctx.cancelled,
                             progress=lambda partial: ctx.emit("lengths", partial))
    if not ctx.cancelled():
        ctx.emit("lengths", result)


def preview(ctx: Any, source: str, sample: Any, max_length: Optional[int], stage: str,
            train_on_prompt: bool) -> None:
    """One sample's tokens: emit("preview", TokenView), or emit("preview_error", (row,
    reason)) when the chat template refuses it."""
    from studio.core.data.view import token_view
    from studio.core.errors import DataError

    tokenizer, lock = loaded_tokenizer(ctx, source)
    try:
        ctx.emit("preview", token_view(sample, tokenizer, max_length, stage=stage,
                                       train_on_prompt=train_on_prompt, lock=lock))
    except DataError as e:
        ctx.emit("preview_error", (sample.row, e.one_line()))
