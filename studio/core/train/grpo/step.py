"""Stage grpo inside the training loop: one step = sample, score, advantages, update(s).

For the step's prompts (effective_batch of them, in the data plan's order):
  1. sample grpo_group_size completions of each with the model as it is (rollout.py);
  2. score every completion with every reward (rewards.py): a reward that raises stops here,
     before any gradient, with RewardError naming it and the row;
  3. advantages relative to each prompt's group (objective.py);
  4. reference log-probabilities (grpo_beta > 0): the same model with its adapter switched off
     (PEFT methods), or a frozen copy of the base model (full / freeze);
  5. grpo_iterations times: forward the completions (packed, batch_size prompts' groups at a
     time), the clipped objective + beta x KL, backward; all but the last update are applied
     here through `apply_update`, the last by the loop like any stage's step.

The current step's first group (prompt, completions, their rewards and advantages) is appended
to the run's completions.jsonl: the Train page shows it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from studio.core.data.types import TokenizedSample
from studio.core.train.grpo import objective, rollout
from studio.core.train.grpo.completions import FILE as COMPLETIONS_FILE
from studio.core.train.grpo.rewards import Completion, Scorer

IGNORE = -100


@dataclass
class GrpoState:
    """What stage grpo keeps for the whole run."""
    scorer: Scorer
    end_ids: list[int]
    completions_file: Optional[Path] = None
    reference: Any = None     # full / freeze with beta > 0: a frozen copy of the base model


def check(cfg: Any) -> None:
    """Settings a grpo run needs, before anything loads (ConfigError): the rewards, and that a
    user reward file is trusted."""
    from studio.core.errors import ConfigError
    from studio.core.train.grpo import rewards

    if cfg.method_spec.virtual_tokens:
        raise ConfigError(f"stage grpo scores sampled replies token by token; {cfg.method} adds "
                          "virtual tokens: use lora, qlora, dora, adalora, ia3, full or freeze")
    rewards.check_settings(cfg)
    if cfg.grpo_reward_file and any(n not in rewards.BUILT_IN for n, _ in
                                    rewards.parse_rewards(cfg.grpo_rewards)):
        rewards.check_trusted(cfg.grpo_reward_file, cfg.grpo_reward_file_sha256)


def prepare(s: Any, run: Any) -> None:
    """The run's rewards (a trusted user file is loaded now), end-of-turn ids, and the
    reference model of full / freeze."""
    from studio.core.chat.engine import end_of_turn_ids

    cfg = s.cfg
    state = GrpoState(Scorer(cfg), end_of_turn_ids(s.tokenizer,
                                                     getattr(s.model, "generation_config", None)))
    state.completions_file = Path(run.path) / COMPLETIONS_FILE
    if cfg.grpo_beta > 0 and not cfg.is_peft:
        state.reference = _load_reference(s)
    s.grpo = state


def _load_reference(s: Any) -> Any:
    """The base model again, frozen: the weights being trained are no longer the reference."""
    from studio.core import device as policy
    from studio.core.model import load as model_mod

    cfg = s.cfg
    path = model_mod.resolve_model(cfg.model, trust_remote_code=cfg.trust_remote_code,
                                   allow_pickle=cfg.allow_pickle)
    ref = model_mod.load_model(path, device=str(s.device),
                               dtype=policy.weights_precision(s.precision, full_weights=False),
                               trust_remote_code=cfg.trust_remote_code,
                               allow_pickle=cfg.allow_pickle)
    ref.eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    return ref


# --- one step ------------------------------------------------------------------------------------

@dataclass
class Rollout:
    """The step's completions, flat: group k of prompt i is completions[i*G:(i+1)*G]."""
    seqs: list[TokenizedSample] = field(default_factory=list)
    scores: list[dict] = field(default_factory=list)
    totals: list[float] = field(default_factory=list)
    sampled: list[rollout.Sampled] = field(default_factory=list)


def train_step(s: Any, indices: Sequence[int], step: int, poison: bool,
               apply_update: Callable[[], None]) -> tuple[float, dict]:
    """Gradients of the step's objective (the loop applies the last update); returns (the
    objective, the metrics-line fields)."""
    import torch

    cfg, state = s.cfg, s.grpo
    items = [s.train[i] for i in indices]
    roll = _sample_and_score(s, items, step)
    totals = torch.tensor(roll.totals, dtype=torch.float32)
    adv = objective.advantages(totals, cfg.grpo_group_size).to(s.device)       # (S,)
    ref = _reference_logps(s, roll.seqs) if cfg.grpo_beta > 0 else None
    old = _policy_logps(s, roll.seqs) if cfg.grpo_iterations > 1 else None
    loss, kl, clipped, tokens = 0.0, 0.0, 0.0, 0
    for it in range(cfg.grpo_iterations):
        if it:
            apply_update()
        loss, kl, clipped, tokens = _backward(s, roll.seqs, adv, old, ref, poison)
    _log_group(state, step, items[0], roll, adv, cfg.grpo_group_size)
    return loss, _metrics(state.scorer.names, roll, kl, clipped, tokens)


def _sample_and_score(s: Any, items: list, step: int) -> Rollout:
    cfg = s.cfg
    roll = Rollout()
    was_training = s.model.training
    s.model.eval()  # no dropout while sampling
    try:
        for k, item in enumerate(items):
            group = rollout.sample_group(
                s.model, s.tokenizer, item, group_size=cfg.grpo_group_size,
                max_new_tokens=cfg.grpo_max_completion, temperature=cfg.grpo_temperature,
                end_ids=s.grpo.end_ids, seed=rollout.step_seed(cfg.seed, step, k),
                device=s.device)
            for c in group:
                scores = s.grpo.scorer.scores(Completion(c.text, len(c.ids), c.ended,
                                                         item.prompt, item.reference, item.row))
                roll.scores.append(scores)
                roll.totals.append(s.grpo.scorer.total(scores))
                roll.sampled.append(c)
                ids = item.prompt_ids + c.ids
                labels = [IGNORE] * len(item.prompt_ids) + c.ids
                roll.seqs.append(TokenizedSample(item.row, ids, labels))
    finally:
        s.model.train(was_training)
    return roll


def _chunks(s: Any, seqs: list) -> list[tuple[int, int]]:
    """(start, end) of each micro-batch: batch_size prompts' groups at a time."""
    size = s.cfg.batch_size * s.cfg.grpo_group_size
    return [(a, min(a + size, len(seqs))) for a in range(0, len(seqs), size)]


def _policy_logps(s: Any, seqs: list) -> list:
    """Per micro-batch: the sampling policy's token log-probabilities (N,), no grad."""
    import torch

    from studio.core.train.preference import packed_token_logps

    with torch.no_grad(), s.autocast():
        return [packed_token_logps(s.model, seqs[a:b], s.device, s.fast_loss)[0]
                for a, b in _chunks(s, seqs)]


def _reference_logps(s: Any, seqs: list) -> list:
    import torch

    from studio.core.train.preference import packed_token_logps

    if s.grpo.reference is not None:  # full / freeze: the stored base
        with torch.no_grad(), s.autocast():
            return [packed_token_logps(s.grpo.reference, seqs[a:b], s.device, False)[0]
                    for a, b in _chunks(s, seqs)]
    with torch.no_grad(), s.model.disable_adapter(), s.autocast():
        return [packed_token_logps(s.model, seqs[a:b], s.device, s.fast_loss)[0]
                for a, b in _chunks(s, seqs)]


def _backward(s: Any, seqs: list, adv: Any, old: Optional[list], ref: Optional[list],
              poison: bool) -> tuple[float, float, float, int]:
    """Backward of mean over completions of their mean token loss; (that loss, mean token KL,
    share of tokens clipped, completion tokens)."""
    from studio.core.train.preference import packed_token_logps

    cfg = s.cfg
    total, kl_sum, clip_sum, tokens = 0.0, 0.0, 0.0, 0
    for k, (a, b) in enumerate(_chunks(s, seqs)):
        with s.autocast():
            new, who = packed_token_logps(s.model, seqs[a:b], s.device, s.fast_loss)
        out = objective.clipped_objective(
            new, None if old is None else old[k], None if ref is None else ref[k], adv[a:b],
            who, b - a, beta=cfg.grpo_beta, eps=cfg.grpo_clip)
        part = out.per_sequence.sum() / len(seqs)
        if poison:
            part = part * float("nan")
        s.backward(part)
        total += float(part.detach())
        kl_sum += float(out.kl.sum())
        clip_sum += float(out.clipped.sum())
        tokens += int(new.shape[0])
    return total, kl_sum / max(1, tokens), clip_sum / max(1, tokens), tokens


# --- what the step reports ---------------------------------------------------------------------

def _mean_std(xs: list[float]) -> tuple[float, float]:
    m = sum(xs) / len(xs)
    var = sum((x - m) ** 2 for x in xs) / max(1, len(xs) - 1)
    return m, math.sqrt(var)


def _metrics(names: list[str], roll: Rollout, kl: float, clipped: float, tokens: int) -> dict:
    """The metrics-line fields of a grpo step (docs/contract.md)."""
    reward, reward_std = _mean_std(roll.totals)
    parts = {}
    for name in names:
        m, sd = _mean_std([sc[name] for sc in roll.scores])
        parts[name] = {"mean": m, "std": sd}
    return {"tokens": sum(len(sq.input_ids) for sq in roll.seqs),
            "reward": reward, "reward_std": reward_std, "rewards": parts, "kl": kl,
            "completion_length": tokens / max(1, len(roll.seqs)), "clip_fraction": clipped}


def _log_group(state: GrpoState, step: int, item: Any, roll: Rollout, adv: Any,
               g: int) -> None:
    """The step's first group (g completions), one line of completions.jsonl (the Train
    page's panel)."""
    if state.completions_file is None:
        return
    rows = [{"text": c.text, "tokens": len(c.ids), "ended": c.ended, "rewards": sc,
             "total": t, "advantage": float(a)}
            for c, sc, t, a in zip(roll.sampled[:g], roll.scores[:g], roll.totals[:g],
                                   adv[:g].tolist())]
    record = {"step": step + 1, "row": item.row, "prompt": item.prompt,
              "reference": item.reference, "completions": rows}
    with open(state.completions_file, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")

