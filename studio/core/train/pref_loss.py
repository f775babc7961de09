"""Preference losses on sequence log-probabilities: DPO (sigmoid), IPO, hinge, ORPO, SimPO, KTO.

Pure tensor functions, one value per pair (or per KTO reply), so the trainer can sum them over
micro-batches and divide by the pairs of the optimizer step. Every formula and reward statistic
matches TRL 1.16 (DPOTrainer, CPOTrainer for SimPO, ORPOTrainer, KTOTrainer): the tests compare
them on the same model and batch.

Inputs (B,) per pair: `chosen` / `rejected` are summed log-probabilities of the reply tokens,
`chosen_n` / `rejected_n` their token counts, `ref_*` the reference model's sums (None for the
reference-free ORPO and SimPO).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

LN_HALF = -math.log(2.0)


@dataclass
class PairLoss:
    losses: Any             # (B,) per-pair loss, without the SFT term
    chosen_rewards: Any     # (B,) detached
    rejected_rewards: Any   # (B,) detached


def log1mexp(x: Any) -> Any:
    """log(1 - exp(x)) for x < 0, without cancellation on either side of -ln 2."""
    import torch

    return torch.where(x < LN_HALF, torch.log1p(-torch.exp(x)), torch.log(-torch.expm1(x)))


def pair_loss(kind: str, chosen: Any, rejected: Any, chosen_n: Any, rejected_n: Any, *,
              beta: float, ref_chosen: Optional[Any] = None, ref_rejected: Optional[Any] = None,
              gamma: float = 0.0, label_smoothing: float = 0.0) -> PairLoss:
    """The per-pair loss of `kind` (sigmoid | ipo | hinge | orpo | simpo) and its rewards."""
    import torch.nn.functional as F

    if kind in ("orpo", "simpo"):  # reference-free: length-normalised log-probabilities
        c_avg, r_avg = chosen / chosen_n.clamp(min=1), rejected / rejected_n.clamp(min=1)
        rewards = (beta * c_avg.detach(), beta * r_avg.detach())
        if kind == "simpo":
            logits = (c_avg - r_avg) - gamma / beta
            return PairLoss(_smoothed(logits, beta, label_smoothing), *rewards)
        c_avg, r_avg = c_avg.float(), r_avg.float()
        log_odds = (c_avg - r_avg) - (log1mexp(c_avg) - log1mexp(r_avg))
        return PairLoss(-beta * F.logsigmoid(log_odds), *rewards)

    c_ratio, r_ratio = chosen - ref_chosen, rejected - ref_rejected
    rewards = (beta * c_ratio.detach(), beta * r_ratio.detach())
    if kind == "sigmoid":
        losses = _smoothed(c_ratio - r_ratio, beta, label_smoothing)
    elif kind == "hinge":
        losses = (1 - beta * (c_ratio - r_ratio)).clamp(min=0)
    elif kind == "ipo":  # per-token log-ratios, as the IPO authors (and TRL) normalise them
        delta = c_ratio / chosen_n.clamp(min=1) - r_ratio / rejected_n.clamp(min=1)
        losses = (delta - 1 / (2 * beta)) ** 2
    else:
        raise ValueError(f"unknown preference loss {kind!r}")
    return PairLoss(losses, *rewards)


def _smoothed(logits: Any, beta: float, eps: float) -> Any:
    """-log sigmoid(beta x), with a share eps of the labels assumed flipped (cDPO)."""
    import torch.nn.functional as F

    loss = -F.logsigmoid(beta * logits) * (1 - eps)
    return loss - F.logsigmoid(-beta * logits) * eps if eps else loss


def kto_loss(logps: Any, ref_logps: Any, good: Any, kl: Any, beta: float) -> tuple[Any, Any]:
    """(per-reply loss, reward) of KTO: a good reply's log-ratio is pushed above the KL
    estimate `kl` (a detached scalar, clamped at 0), a bad one's below it. good: (B,) bool."""
    import torch

    ratio = logps - ref_logps
    losses = torch.where(good, 1 - torch.sigmoid(beta * (ratio - kl)),
                         1 - torch.sigmoid(beta * (kl - ratio)))
    return losses, beta * ratio.detach()
