"""The fused output layer + cross-entropy (linear_ce.py) against autograd through the full
logits: the loss and the gradients of the hidden states and of a trained (tied) head, in
float32 and under bf16 autocast."""

import pytest
import torch
import torch.nn.functional as F

from studio.core.train.linear_ce import linear_ce_sum


def _case(n=37, hidden=24, vocab=301, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, hidden, generator=g)
    w = torch.randn(vocab, hidden, generator=g) * 0.3
    y = torch.randint(0, vocab, (n,), generator=g)
    return h, w, y


def _reference(h, w, y):
    h, w = h.clone().requires_grad_(), w.clone().requires_grad_()
    value = F.cross_entropy((h @ w.T).float(), y, reduction="sum")
    (value * 0.5).backward()  # an incoming gradient other than 1 (the step's 1 / tokens)
    return float(value), h.grad, w.grad


@pytest.mark.parametrize("rows", [5, 37, 100])
def test_fp32_equals_full_logits_autograd(rows):
    h, w, y = _case()
    ref, gh_ref, gw_ref = _reference(h, w, y)
    hh, ww = h.clone().requires_grad_(), w.clone().requires_grad_()
    value = linear_ce_sum(hh, ww, y, rows)
    (value * 0.5).backward()
    assert float(value) == pytest.approx(ref, rel=1e-6)
    torch.testing.assert_close(hh.grad, gh_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ww.grad, gw_ref, rtol=1e-5, atol=1e-6)


def test_frozen_head_gets_no_gradient_and_eval_makes_none():
    h, w, y = _case()
    hh = h.clone().requires_grad_()
    linear_ce_sum(hh, w, y, 8).backward()
    assert hh.grad is not None and w.grad is None
    ref = _reference(h, w, y)[0]
    with torch.no_grad():
        assert float(linear_ce_sum(h, w.requires_grad_(), y, 8)) == pytest.approx(ref, rel=1e-6)


def test_bf16_autocast_keeps_the_loss_and_gradient_direction():
    """bf16 matmuls, float32 softmax: the loss within 0.5% and the gradients pointing the same
    way (cosine > 0.999) at a vocabulary where fp16-style logits would lose digits."""
    h, w, y = _case(n=64, hidden=64, vocab=5000)
    ref, gh_ref, gw_ref = _reference(h, w, y)
    hh, ww = h.clone().requires_grad_(), w.clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = linear_ce_sum(hh, ww, y, 16)
    assert value.dtype == torch.float32
    (value * 0.5).backward()
    assert hh.grad.dtype == ww.grad.dtype == torch.float32
    assert float(value) == pytest.approx(ref, rel=5e-3)
    for got, want in ((hh.grad, gh_ref), (ww.grad, gw_ref)):
        assert F.cosine_similarity(got.flatten(), want.flatten(), dim=0) > 0.999
