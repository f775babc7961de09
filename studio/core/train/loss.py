"""Causal-LM loss computed only where it is needed.

The standard recipe runs the LM head on every position, padding and masked prompt tokens
included, and keeps (B, T, V) float32 logits alive for backward. Here the decoder returns hidden
states, only the positions that carry a label go through the head, and for long inputs the
head + cross-entropy runs in chunks so the full-vocabulary logits are never stored: for a
plain output layer fused with its gradients (linear_ce.py: one pass, no recompute, 16-bit
matmuls under autocast, float32 softmax), else under activation checkpointing. Result: the sum
of token losses and the token count, so gradient accumulation can weight every token of an
optimizer step equally.
"""

from __future__ import annotations

from typing import Any

IGNORE = -100
# Architectures whose logits are exactly lm_head(final hidden state): no soft-capping or scaling.
PLAIN_HEAD_TYPES = {"llama", "qwen2", "qwen3", "mistral", "phi3"}
CHUNK_BYTES = 256 << 20  # float32 logits computed at once in the chunked path (~256 MB)
# The fused path (linear_ce.py) holds one chunk of float32 logits (softmax made in place):
# 256 MB is ~440 rows at a 152k vocabulary: the matmuls ran 1.11x faster than with 220 rows
# and no slower than with 880 (bench/fused_chunks.py), a fourteenth of the full logits.
FUSED_CHUNK_BYTES = 256 << 20


def chunk_rows(vocab: int) -> int:
    """Rows of (rows, vocab) float32 logits per chunk: ~1.7k rows for a 152k vocabulary."""
    return max(128, CHUNK_BYTES // (4 * max(1, vocab)))


def fused_chunk_rows(vocab: int) -> int:
    """Rows per chunk of the fused head + loss: ~440 at a 152k vocabulary."""
    return max(64, FUSED_CHUNK_BYTES // (4 * max(1, vocab)))


def fused_head(head: Any) -> bool:
    """The fused path reads the head's weight directly: only a plain bias-free Linear (a
    head with a LoRA adapter or a modules_to_save copy keeps the chunked path)."""
    import torch

    return type(head) is torch.nn.Linear and head.bias is None


def unwrap_causal_lm(model: Any) -> Any:
    """The transformers *ForCausalLM inside a PEFT wrapper (adapters stay injected)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def supports_fast_loss(model: Any, method: str = "") -> bool:
    """Can the label-only head run on this model? `method` "" (evaluating a model that no run
    describes) reads it off the PEFT wrapper instead of the registry."""
    # Prompt-learning methods prepend virtual tokens inside PeftModel.forward, and AdaLoRA adds an
    # orthogonality term there: both need the wrapper's own forward (the registry says which).
    from studio.core.methods.registry import find

    spec = find(method) if method else None
    if spec.own_forward if spec is not None else _needs_own_forward(model):
        return False
    lm = unwrap_causal_lm(model)
    cfg = getattr(lm, "config", None)
    if cfg is None or getattr(cfg, "model_type", None) not in PLAIN_HEAD_TYPES:
        return False
    return all(not getattr(cfg, k, None) for k in ("final_logit_softcapping", "logit_scale"))


def _head_ce_sum(head: Any, hidden: Any, targets: Any) -> Any:
    import torch.nn.functional as F

    logits = head(hidden).float()  # (N, V)
    return F.cross_entropy(logits, targets, reduction="sum")


def fast_loss_sum(model: Any, batch: dict) -> tuple[Any, int]:
    """(sum of token losses, number of label tokens) without full-vocabulary logits."""
    import torch
    from torch.utils.checkpoint import checkpoint

    lm = unwrap_causal_lm(model)
    decoder = getattr(lm, lm.base_model_prefix)
    head = lm.get_output_embeddings()
    kwargs = {k: v for k, v in batch.items() if k in ("attention_mask", "position_ids")}
    hidden = decoder(input_ids=batch["input_ids"], use_cache=False, **kwargs).last_hidden_state
    targets = batch["labels"][:, 1:]                 # (B, T-1): token t+1 is predicted at t
    keep = targets != IGNORE
    h = hidden[:, :-1][keep]                         # (N, H): only positions with a label
    y = targets[keep]                                # (N,)
    n = int(y.numel())
    if n == 0:
        return hidden.sum() * 0.0, 0
    if fused_head(head):
        from studio.core.train.linear_ce import linear_ce_sum

        return linear_ce_sum(h, head.weight, y, fused_chunk_rows(head.weight.shape[0])), n
    rows = chunk_rows(head.weight.shape[0])
    if n <= rows:
        return _head_ce_sum(head, h, y), n
    total = hidden.new_zeros((), dtype=torch.float32)
    for s in range(0, n, rows):
        if torch.is_grad_enabled():  # recompute each chunk's logits in backward, store none
            part = checkpoint(_head_ce_sum, head, h[s:s + rows], y[s:s + rows],
                              use_reentrant=False)
        else:
            part = _head_ce_sum(head, h[s:s + rows], y[s:s + rows])
        total = total + part
    return total, n


def _needs_own_forward(model: Any) -> bool:
    configs = getattr(model, "peft_config", None) or {}
    return any(getattr(c, "is_prompt_learning", False) or type(c).__name__ == "AdaLoraConfig"
               for c in configs.values())


def standard_loss_sum(model: Any, batch: dict, method: str = "") -> tuple[Any, int]:
    """Through the model's own forward (PEFT prompt methods, AdaLoRA, unknown architectures)."""
    import torch.nn.functional as F

    from studio.core.methods.registry import get

    kwargs = {k: v for k, v in batch.items() if k in ("attention_mask", "position_ids")}
    labels = batch["labels"]
    targets = labels[:, 1:]
    keep = targets != IGNORE
    n = int(keep.sum())
    if method and get(method).model_loss:
        # e.g. AdaLoRA adds its orthogonality regulariser to the loss only when labels are
        # passed; the model's loss is a token mean, so scale it back to a sum.
        out = model(input_ids=batch["input_ids"], labels=labels, use_cache=False, **kwargs)
        return out.loss * n, n
    out = model(input_ids=batch["input_ids"], use_cache=False, **kwargs)
    logits = out.logits                              # (B, n_virtual + T, V)
    n_virtual = logits.shape[1] - labels.shape[1]    # prompt tuning prepends virtual tokens
    if n_virtual > 0:
        logits = logits[:, n_virtual:]
    loss = F.cross_entropy(logits[:, :-1][keep].float(), targets[keep], reduction="sum")
    return loss, n


def loss_sum(model: Any, batch: dict, fast: bool, method: str = "") -> tuple[Any, int]:
    return fast_loss_sum(model, batch) if fast else standard_loss_sum(model, batch, method)
