"""The Chat page's engine work, run in the engine host (services/engine_host.py).

ChatService (services/chat_worker.py) calls these in its own lane of the host, one call after
another, so the models `load` leaves in the lane's state are the ones `ask` answers with and
`free` releases. What they report goes back as events: ("state", "loading" | "generating"),
("progress", (done, total, message)) while a hub id downloads, ("chunk", (side, Chunk)) for each
new piece of a reply and ("reply", (side, Reply)) when one is complete. ctx.cancel (set by the
service's stop()) is the Event the engine checks after every token, and stops a download.

No Qt here (the host never imports it); torch and friends are imported lazily, in the host only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from studio.core.errors import UserError
from studio.core.gc_policy import collect_garbage

_MODELS = "models"  # the lane's state key: the loaded core.model.run_model.ChatModels


@dataclass(frozen=True)
class ChatSource:
    """What to chat with: a model folder, optionally an adapter folder, or a run (+ step)."""
    model: Optional[str] = None
    adapter: Optional[str] = None
    run: Optional[str] = None
    step: Optional[int] = None       # None: the run's final weights
    with_base: bool = True           # full / freeze runs: also load the base (a second copy)

    def describe(self) -> str:
        if self.run:
            where = f"step {self.step}" if self.step is not None else "final"
            return f"{Path(self.run).name} ({where})"
        if self.adapter:
            return Path(self.adapter).name
        return Path(self.model or "").name


@dataclass(frozen=True)
class Loaded:
    source: ChatSource
    label: str
    note: str
    has_tuned: bool
    shared: bool
    stage: str = ""           # a run's stage: dpo / kto runs compare with their reference


def _stage_of(src: ChatSource) -> str:
    """The stage a run trained with ("" for a model or adapter folder)."""
    if not src.run:
        return ""
    from studio.core import runs

    return runs.load_config(runs.open_run(src.run)).stage


def load(ctx: Any, src: ChatSource) -> Loaded:
    """Load `src` into the lane, in place of what was loaded there."""
    from studio.core.model.hub import fetch, is_hub_id
    from studio.core.model.run_model import load_chat_models
    from studio.services.engine_import import import_engine

    import_engine()
    ctx.emit("state", "loading")
    free(ctx)  # never two sets of weights at once
    if src.model and not src.run and is_hub_id(src.model):
        # the whole snapshot into the cache first, with progress and cancel (hub.py);
        # loading then finds it there
        fetch(src.model, progress=lambda done, total, message:
              ctx.emit("progress", (done, total, message)), cancelled=ctx.cancel.is_set)
    models = load_chat_models(model=src.model, adapter=src.adapter, run=src.run,
                              step=src.step, with_base=src.with_base)
    ctx.state[_MODELS] = models
    return Loaded(source=src, label=models.label, note=models.note,
                  has_tuned=models.tuned is not None, shared=models.shared, stage=_stage_of(src))


def ask(ctx: Any, sides: tuple[str, ...], messages: dict, settings: Any) -> None:
    """Answer on each side in turn (one at a time: base and tuned may share one PEFT model,
    adapter off / on); a cancel ends the reply being written and skips the sides left."""
    models = ctx.state.get(_MODELS)
    if models is None:
        raise UserError("no model is loaded yet: pick a run or a model and press Load")
    ctx.emit("state", "generating")
    for side in sides:
        if ctx.cancel.is_set():
            break
        reply = models.reply(side, messages[side], settings, cancel=ctx.cancel,
                             on_chunk=lambda chunk, s=side: ctx.emit("chunk", (s, chunk)))
        ctx.emit("reply", (side, reply))


def free(ctx: Any) -> None:
    """Release the lane's models now, and give their memory back to the device."""
    models = ctx.state.pop(_MODELS, None)
    if models is not None:
        from studio.core.model.load import release

        # 4-bit layers hold reference cycles: broken here, the weights go now, before the
        # next load, not at some later collection
        for engine in (models.base, models.tuned):
            if engine is not None:
                release(engine.model)
    del models
    collect_garbage()
    _empty_device_cache()


def _empty_device_cache() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is None:  # never imported: nothing was on a device
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        torch.mps.empty_cache()
