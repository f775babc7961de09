"""What a training run reports, and to whom. Standard library only.

The engine calls a `Reporter` once per step / eval / event. The same records are the lines of
metrics.jsonl (contract.md), so a run followed from its file and a run watched live look alike.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Optional, Protocol, Union

EVENT_KINDS = ("started", "checkpoint", "stopped", "resumed", "finished", "failed")


@dataclass(frozen=True)
class StepMetrics:
    step: int
    loss: float
    lr: float
    grad_norm: float
    tokens: int                 # real (non-padding) tokens trained in this optimizer step
    tokens_per_s: float
    mem_mb: float               # peak accelerator memory, else process RSS
    time: float = field(default_factory=time.time)
    total_steps: int = 0        # planned last step (for progress and ETA)
    epoch: float = 0.0
    skipped_steps: Optional[int] = None  # fp16 only: steps skipped on gradient overflow so far
    type: str = "step"
    # stage dpo / kto (absent otherwise): means over the step's pairs or replies
    rewards_chosen: Optional[float] = None     # beta x log-ratio of the chosen (good) replies
    rewards_rejected: Optional[float] = None   # ... of the rejected (bad) replies
    reward_margin: Optional[float] = None      # rewards_chosen - rewards_rejected
    reward_accuracy: Optional[float] = None    # share of pairs whose chosen reward is higher
    logps_chosen: Optional[float] = None       # log-probability of the chosen replies
    logps_rejected: Optional[float] = None
    kl: Optional[float] = None                 # kto: the KL estimate; grpo: mean token KL
    # stage grpo (absent otherwise): over the step's completions
    reward: Optional[float] = None             # mean weighted total reward
    reward_std: Optional[float] = None
    rewards: Optional[dict] = None             # {reward name: {"mean": x, "std": y}}
    completion_length: Optional[float] = None  # mean completion tokens
    clip_fraction: Optional[float] = None      # share of completion tokens whose ratio clipped


@dataclass(frozen=True)
class EvalMetrics:
    step: int
    eval_loss: float
    perplexity: float
    time: float = field(default_factory=time.time)
    type: str = "eval"
    # stage dpo / kto: eval_loss is the preference loss, perplexity that of the chosen replies
    rewards_chosen: Optional[float] = None
    rewards_rejected: Optional[float] = None
    reward_margin: Optional[float] = None
    reward_accuracy: Optional[float] = None
    logps_chosen: Optional[float] = None
    logps_rejected: Optional[float] = None
    kl: Optional[float] = None


@dataclass(frozen=True)
class RunEvent:
    step: int
    event: str                  # one of EVENT_KINDS
    detail: str = ""
    time: float = field(default_factory=time.time)
    type: str = "event"
    # started: total_steps, trainable/total params; checkpoint: path; failed: reason kind
    data: Optional[dict] = None


Record = Union[StepMetrics, EvalMetrics, RunEvent]


class Reporter(Protocol):
    def on_step(self, m: StepMetrics) -> None: ...
    def on_eval(self, m: EvalMetrics) -> None: ...
    def on_event(self, e: RunEvent) -> None: ...


class NullReporter:
    def on_step(self, m: StepMetrics) -> None:
        pass

    def on_eval(self, m: EvalMetrics) -> None:
        pass

    def on_event(self, e: RunEvent) -> None:
        pass


class MultiReporter:
    """Fan one report out to several reporters (file + UI + console)."""

    def __init__(self, *reporters: Reporter):
        self.reporters = [r for r in reporters if r is not None]

    def on_step(self, m: StepMetrics) -> None:
        for r in self.reporters:
            r.on_step(m)

    def on_eval(self, m: EvalMetrics) -> None:
        for r in self.reporters:
            r.on_eval(m)

    def on_event(self, e: RunEvent) -> None:
        for r in self.reporters:
            r.on_event(e)


# --- metrics.jsonl lines -------------------------------------------------------------------------

def _clean(v: Any) -> Any:
    # JSON has no NaN/inf: write them as null so every line stays parseable everywhere.
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def to_json_line(record: Record) -> str:
    d = {k: _clean(v) for k, v in asdict(record).items() if v is not None}
    return json.dumps(d, ensure_ascii=False, separators=(",", ":"))


def _opt_int(v: Any) -> Optional[int]:
    return None if v is None else int(v)


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


PREFERENCE_FIELDS = ("rewards_chosen", "rewards_rejected", "reward_margin", "reward_accuracy",
                     "logps_chosen", "logps_rejected", "kl")


def _preference(d: dict) -> dict:
    """The optional preference fields present in a line (null reads as NaN)."""
    return {k: _num(d[k]) for k in PREFERENCE_FIELDS if k in d}


GRPO_FIELDS = ("reward", "reward_std", "completion_length", "clip_fraction")


def _grpo(d: dict) -> dict:
    """The optional grpo fields of a step line; `rewards` kept only when it is well formed."""
    out: dict = {k: _num(d[k]) for k in GRPO_FIELDS if k in d}
    parts = d.get("rewards")
    if isinstance(parts, dict):
        out["rewards"] = {str(name): {"mean": _num(v.get("mean")), "std": _num(v.get("std"))}
                          for name, v in parts.items() if isinstance(v, dict)}
    return out


def from_json(d: dict) -> Optional[Record]:
    """One parsed metrics.jsonl object -> record; None for lines of an unknown type."""
    kind = d.get("type")
    try:
        if kind == "step":
            return StepMetrics(step=int(d["step"]), loss=_num(d.get("loss")), lr=_num(d.get("lr")),
                               grad_norm=_num(d.get("grad_norm")), tokens=int(d.get("tokens") or 0),
                               tokens_per_s=_num(d.get("tokens_per_s")),
                               mem_mb=_num(d.get("mem_mb")), time=float(d.get("time", 0.0)),
                               total_steps=int(d.get("total_steps") or 0),
                               epoch=float(d.get("epoch") or 0.0),
                               skipped_steps=_opt_int(d.get("skipped_steps")), **_preference(d),
                               **_grpo(d))
        if kind == "eval":
            return EvalMetrics(step=int(d["step"]), eval_loss=_num(d.get("eval_loss")),
                               perplexity=_num(d.get("perplexity")),
                               time=float(d.get("time", 0.0)), **_preference(d))
        if kind == "event":
            return RunEvent(step=int(d.get("step", 0)), event=str(d.get("event", "")),
                            detail=str(d.get("detail", "")), time=float(d.get("time", 0.0)),
                            data=d.get("data"))
    except (KeyError, TypeError, ValueError):
        return None
    return None


def parse_lines(lines: Iterable[str]) -> list[Record]:
    """Parse metrics.jsonl text lines, skipping blank, partial or foreign lines."""
    out: list[Record] = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written by another process right now
        if isinstance(d, dict):
            rec = from_json(d)
            if rec is not None:
                out.append(rec)
    return out
