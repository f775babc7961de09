"""GRPO's advantages and loss against TRL's GRPOTrainer on the same group of completions.

TRL's `_compute_loss` runs as it is (unbound, on an object holding the attributes it reads);
its log-probability forward is replaced by the fixed per-token log-probabilities of the test,
so both sides see the same numbers. The advantages follow TRL's code with its own `nanstd`.
"""

from types import SimpleNamespace

import pytest
import torch

trl_grpo = pytest.importorskip("trl.trainer.grpo_trainer")
from trl.trainer.utils import nanstd  # noqa: E402

from studio.core.train.grpo import objective  # noqa: E402

G, PROMPTS, T = 4, 2, 6
BETA, EPS = 0.04, 0.2


def _inputs(seed: int):
    g = torch.Generator().manual_seed(seed)
    B = G * PROMPTS
    lengths = torch.tensor([6, 3, 5, 1, 4, 6, 2, 5])                  # completion tokens
    mask = (torch.arange(T)[None, :] < lengths[:, None]).float()       # (B, T)
    old = -torch.rand(B, T, generator=g) * 3                          # (B, T) sampling policy
    new = old + torch.randn(B, T, generator=g) * 0.3                   # moved past the clip
    ref = old + torch.randn(B, T, generator=g) * 0.2
    rewards = torch.tensor([1.0, 0.0, 0.5, 0.5, 0.2, 0.2, 0.9, 0.0])
    return new, old, ref, mask, rewards


def _trl_advantages(rewards: torch.Tensor) -> torch.Tensor:
    # grpo_trainer.py, multi_objective_aggregation "sum_then_normalize", scale_rewards "group"
    mean = torch.nanmean(rewards.view(-1, G), dim=1).repeat_interleave(G, dim=0)
    std = nanstd(rewards.view(-1, G), dim=1).repeat_interleave(G, dim=0)
    return (rewards - mean) / (std + 1e-4)


class _Accelerator:
    def reduce(self, t, reduction="sum"):
        return t

    def gather(self, t):
        return t

    def gather_for_metrics(self, t):
        return t


def _trl_loss(new, old, ref, mask, adv):
    """TRL's _compute_loss, loss_type grpo, one process, no gradient accumulation."""
    from collections import defaultdict

    new_leaf = new.clone().requires_grad_(True)
    trainer = SimpleNamespace(
        top_entropy_quantile=1.0, off_policy_mask_threshold=None,
        importance_sampling_level="token", beta=BETA, loss_type="grpo",
        epsilon_low=EPS, epsilon_high=EPS, use_vllm=False, model=SimpleNamespace(training=True),
        current_gradient_accumulation_steps=1, _entropy_bonus_enabled=False,
        aux_loss_enabled=False, accelerator=_Accelerator(),
        args=SimpleNamespace(use_bias_correction_kl=False, delta=None),
        _metrics={"train": defaultdict(list)},
        _get_per_token_logps_and_entropies=lambda *a, **k: (new_leaf, torch.zeros_like(new),
                                                            None))
    B = new.shape[0]
    inputs = {"prompt_ids": torch.zeros(B, 1, dtype=torch.long), "prompt_mask": torch.ones(B, 1),
              "completion_ids": torch.zeros(B, T, dtype=torch.long),
              "completion_mask": mask, "advantages": adv, "old_per_token_logps": old,
              "ref_per_token_logps": ref}
    loss = trl_grpo.GRPOTrainer._compute_loss(trainer, None, inputs)
    loss.backward()
    m = trainer._metrics["train"]
    return loss.detach(), new_leaf.grad, m["kl"][0], m["clip_ratio/region_mean"][0]


def _ours(new, old, ref, mask, rewards):
    adv = objective.advantages(rewards, G)
    keep = mask.bool()
    who = torch.arange(new.shape[0])[:, None].expand_as(new)[keep]     # (N,)
    new_leaf = new.clone().requires_grad_(True)
    out = objective.clipped_objective(new_leaf[keep], old[keep], ref[keep], adv, who,
                                      new.shape[0], beta=BETA, eps=EPS)
    loss = out.per_sequence.mean()
    loss.backward()
    n = keep.sum()
    return adv, loss.detach(), new_leaf.grad, float(out.kl.sum() / n), \
        float(out.clipped.float().sum() / n)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_advantages_loss_and_gradients_equal_trl(seed):
    new, old, ref, mask, rewards = _inputs(seed)
    adv_trl = _trl_advantages(rewards)
    loss_trl, grad_trl, kl_trl, clip_trl = _trl_loss(new, old, ref, mask, adv_trl)
    adv, loss, grad, kl, clip = _ours(new, old, ref, mask, rewards)

    assert torch.allclose(adv, adv_trl, atol=1e-5)
    assert abs(float(loss) - float(loss_trl)) < 1e-5
    assert torch.allclose(grad * mask, grad_trl * mask, atol=1e-5)
    assert abs(kl - kl_trl) < 1e-5
    assert abs(clip - clip_trl) < 1e-5
    assert clip_trl > 0  # the inputs do reach the clip range: that branch is compared too


def test_equal_rewards_give_zero_advantage_as_in_trl():
    rewards = torch.tensor([0.5] * G + [1.0, 1.0, 0.0, 0.0])
    adv = objective.advantages(rewards, G)
    assert torch.allclose(adv, _trl_advantages(rewards), atol=1e-5)
    assert torch.all(adv[:G] == 0)


def test_first_update_without_old_logps_is_on_policy():
    """grpo_iterations 1: old = new.detach(); TRL does the same when it skips them."""
    new, _, ref, mask, rewards = _inputs(3)
    adv = _trl_advantages(rewards)
    loss_trl, grad_trl, _, _ = _trl_loss(new, new.detach(), ref, mask, adv)
    keep = mask.bool()
    who = torch.arange(new.shape[0])[:, None].expand_as(new)[keep]
    leaf = new.clone().requires_grad_(True)
    out = objective.clipped_objective(leaf[keep], None, ref[keep], objective.advantages(rewards, G),
                                      who, new.shape[0], beta=BETA, eps=EPS)
    out.per_sequence.mean().backward()
    assert abs(float(out.per_sequence.mean().detach()) - float(loss_trl)) < 1e-5
    assert torch.allclose(leaf.grad * mask, grad_trl * mask, atol=1e-5)
