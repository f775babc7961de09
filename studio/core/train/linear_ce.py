"""Output layer + cross-entropy in one pass, its gradients computed in the forward.

At a real vocabulary (151,936 rows for Qwen2.5) the output layer and the softmax over it are
most of a small model's step. The chunked path in loss.py stores no (N, V) logits, but it pays
for that with a recompute: forward, the same forward again in backward, then the backward
matmul. Here each chunk of rows is visited once: logits = h W^T, the loss from a float32
log-sum-exp, and at once the gradient of the summed loss with respect to the logits
(softmax - one-hot), which gives dL/dh = G W (and dL/dW = G^T h when the head trains). Only
those gradients are kept (N x H, and V x H when the head trains) until backward scales them by
the incoming gradient. Two matmuls per chunk instead of three, one softmax instead of two.

Memory: a chunk of `rows` label rows is one (rows, V) float32 buffer, made and freed in one call
(`_chunk`): the log-sum-exp and the softmax gradient are made in place in it.

Precision: the matmuls run in `compute_dtype` (bf16 under bf16 autocast: on CPUs with bf16
units and on GPUs that is several times faster than fp32), and everything that sums over the
vocabulary runs in float32 (the logits are widened before the log-sum-exp, the softmax is taken
in float32), so the loss and its gradient keep fp32 accuracy apart from the rounding of h and W.
"""

from __future__ import annotations

from typing import Any

import torch


def compute_dtype(device_type: str, weight: Any) -> Any:
    """The matmul dtype: autocast's 16-bit type when autocast is on, else the weight's."""
    if torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return weight.dtype


def _chunk(hs: Any, w: Any, ys: Any, dtype: Any, grads: bool) -> tuple[Any, Any]:
    """One chunk of rows: (summed CE, d(sum CE)/d logits in `dtype` or None).

    hs: (n, H) in `dtype`, w: (V, H) in `dtype`, ys: (n,). A function of its own so that the
    chunk's (n, V) buffers are freed when it returns, before the next chunk allocates its own;
    the log-sum-exp and the softmax are made in place over the one float32 logits buffer
    (torch.logsumexp and softmax would each allocate another (n, V))."""
    logits = hs @ w.T                                    # (n, V) in dtype
    if logits.dtype != torch.float32:
        logits = logits.float()                          # the 16-bit product is freed here
    picked = logits.gather(1, ys[:, None])               # (n, 1)
    top = logits.amax(dim=-1, keepdim=True)              # (n, 1)
    probs = logits.sub_(top).exp_()                      # exp(z - max), in place
    norm = probs.sum(dim=-1, keepdim=True)               # (n, 1)
    loss = (norm.log() + top - picked).sum()
    if not grads:
        return loss, None
    # d(sum CE)/d logits = softmax - one_hot, still in the same buffer
    probs.div_(norm)
    probs[torch.arange(len(ys), device=ys.device), ys] -= 1.0
    return loss, probs.to(dtype)                         # no copy when dtype is float32


class LinearCrossEntropy(torch.autograd.Function):
    """sum_i CE(h_i W^T, y_i) with its gradients made in forward (see the module docstring)."""

    @staticmethod
    def forward(ctx, h, weight, targets, rows: int, dtype):  # noqa: D401 (autograd API)
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        with torch.autocast(h.device.type, enabled=False):
            w = weight.detach().to(dtype)                        # (V, H): one copy if cast
            grad_h = torch.empty_like(h) if need_h else None     # (N, H)
            grad_w = torch.zeros(weight.shape, dtype=torch.float32,
                                 device=weight.device) if need_w else None
            total = torch.zeros((), dtype=torch.float32, device=h.device)
            for s in range(0, h.shape[0], rows):
                hs = h[s:s + rows].detach().to(dtype)            # (n, H)
                loss, g = _chunk(hs, w, targets[s:s + rows], dtype, need_h or need_w)
                total += loss
                if need_h:
                    grad_h[s:s + rows] = g @ w                   # (n, H)
                if need_w and g.dtype == grad_w.dtype:           # no (V, H) temporary
                    grad_w.addmm_(g.T, hs)
                elif need_w:
                    grad_w += g.T @ hs                           # (V, H), summed in float32
                del g
        ctx.save_for_backward(*(t for t in (grad_h, grad_w) if t is not None))
        ctx.has = (need_h, need_w)
        ctx.weight_dtype, ctx.h_dtype = weight.dtype, h.dtype
        return total

    @staticmethod
    def backward(ctx, grad_out):
        need_h, need_w = ctx.has
        saved = list(ctx.saved_tensors)
        gh = (saved.pop(0) * grad_out).to(ctx.h_dtype) if need_h else None
        gw = (saved.pop(0) * grad_out).to(ctx.weight_dtype) if need_w else None
        return gh, gw, None, None, None


def linear_ce_sum(h: Any, weight: Any, targets: Any, rows: int) -> Any:
    """Summed cross-entropy of the logits h @ weight.T against `targets` (float32 scalar),
    `rows` rows of logits at a time. h: (N, H), weight: (V, H), targets: (N,) class ids (no
    ignored entries)."""
    if not torch.is_grad_enabled():  # evaluation: the loss only, no gradients made
        h, weight = h.detach(), weight.detach()
    return LinearCrossEntropy.apply(h, weight, targets, rows,
                                    compute_dtype(h.device.type, weight))
