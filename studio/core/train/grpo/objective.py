"""GRPO's group-relative advantages and clipped policy objective, as pure tensor functions.

Matches TRL 1.16 GRPOTrainer with loss_type "grpo", scale_rewards "group", token-level
importance sampling and the k3 KL estimator (tests/core/train/test_grpo_objective.py compares
them on the same group).

Tokens come flat, as the packed forward returns them: (N,) values over every completion token
of a micro-batch, `who` (N,) the completion each belongs to. A completion's loss is the mean of
its tokens' losses; the step's loss is the mean over its completions, so the result does not
depend on how the completions are split into micro-batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

STD_EPS = 1e-4  # TRL's: a group whose rewards are all equal gets advantage 0, not a division by 0


def advantages(rewards: Any, group_size: int) -> Any:
    """(B,) total rewards, groups of group_size in order -> (B,) (r - group mean) / (group std
    + 1e-4), the std unbiased (torch.std's default, as TRL's nanstd)."""
    grouped = rewards.view(-1, group_size)                       # (prompts, G)
    mean = grouped.mean(dim=1, keepdim=True)
    std = grouped.std(dim=1, keepdim=True)
    return ((grouped - mean) / (std + STD_EPS)).reshape(-1)


@dataclass
class TokenLoss:
    per_sequence: Any   # (S,) mean token loss of each completion (has grad)
    kl: Any             # (N,) per-token k3 KL to the reference, detached (zeros without one)
    clipped: Any        # (N,) bool: the ratio was clipped against the advantage's sign


def clipped_objective(new: Any, old: Optional[Any], ref: Optional[Any], adv: Any, who: Any,
                      n_seqs: int, *, beta: float, eps: float) -> TokenLoss:
    """new / old / ref: (N,) log-probabilities of each completion token under the policy being
    trained, the policy that sampled it (None: the same weights, old = new.detach()) and the
    reference (None when beta is 0). adv: (S,) advantage per completion."""
    import torch

    old = new.detach() if old is None else old
    a = adv[who]                                                 # (N,)
    ratio = torch.exp(new - old)
    clamped = torch.clamp(ratio, 1 - eps, 1 + eps)
    per_token = -torch.min(ratio * a, clamped * a)
    kl = torch.zeros_like(new)
    if beta != 0.0 and ref is not None:
        kl = torch.exp(ref - new) - (ref - new) - 1
        per_token = per_token + beta * kl
    sums = torch.zeros(n_seqs, device=new.device, dtype=per_token.dtype).index_add(0, who,
                                                                                    per_token)
    counts = torch.bincount(who, minlength=n_seqs).clamp(min=1).to(sums.dtype)
    clipped = ((ratio < 1 - eps) & (a < 0)) | ((ratio > 1 + eps) & (a > 0))
    return TokenLoss(sums / counts, kl.detach(), clipped.detach())
