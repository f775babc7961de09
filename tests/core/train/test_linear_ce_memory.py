"""What the fused head + loss holds at its peak, measured (the process's resident high-water
mark, reset through /proc/self/clear_refs) against the memory estimate's term for it
(memory.head_loss_bytes) and against the standard recipe's full logits."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from studio.core import config
from studio.core.model import memory
from studio.core.train.linear_ce import linear_ce_sum
from studio.core.train.loss import fused_chunk_rows

pytestmark = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(),
                                reason="needs Linux's /proc/self/clear_refs")
VOCAB, HIDDEN, TOKENS = 65_536, 64, 2048  # two chunks of 1024 rows
MB = 2 ** 20


def _peak_mb(step) -> float:
    """Resident peak above the level before `step`, in MB."""
    def hwm():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    Path("/proc/self/clear_refs").write_text("5")
    base = hwm()
    step()
    return hwm() - base


def _tensors(train_head: bool):
    g = torch.Generator().manual_seed(0)
    h = torch.randn(TOKENS, HIDDEN, generator=g).requires_grad_()
    w = (torch.randn(VOCAB, HIDDEN, generator=g) * 0.02).requires_grad_(train_head)
    y = torch.randint(0, VOCAB, (TOKENS,), generator=g)
    return h, w, y


def _estimate_mb(method: str, precision: str) -> float:
    cfg = config.from_dict(dict(model="m", dataset="d", method=method, precision=precision))
    dims = memory.model_dims({"model_type": "qwen2", "hidden_size": HIDDEN,
                              "intermediate_size": 4 * HIDDEN, "num_attention_heads": 4,
                              "num_hidden_layers": 1, "num_key_value_heads": 4,
                              "vocab_size": VOCAB, "tie_word_embeddings": True})
    return memory.head_loss_bytes(cfg, dims, TOKENS, precision == "bf16") / MB


@pytest.mark.parametrize("method,precision", [("lora", "fp32"), ("full", "fp32"),
                                              ("full", "bf16")])
def test_the_estimate_holds_the_fused_paths_peak(method, precision):
    h, w, y = _tensors(train_head=method == "full")
    bf16 = precision == "bf16"
    rows = fused_chunk_rows(VOCAB)

    def fused():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            linear_ce_sum(h, w, y, rows).backward()

    fused()  # warm-up: allocator pools and thread buffers
    h.grad = w.grad = None
    peak = _peak_mb(fused)
    est = _estimate_mb(method, precision)
    assert 0.75 * est <= peak <= 1.15 * est, (peak, est)


def test_the_fused_path_holds_a_fraction_of_the_full_logits():
    h, w, y = _tensors(train_head=False)

    def standard():
        F.cross_entropy(h @ w.T, y, reduction="sum").backward()

    def fused():
        linear_ce_sum(h, w, y, fused_chunk_rows(VOCAB)).backward()

    standard(), fused()
    full, chunked = _peak_mb(standard), _peak_mb(fused)
    assert full >= 2 * TOKENS * VOCAB * 4 / MB * 0.9  # logits and their gradient
    assert chunked <= 0.25 * full, (chunked, full)
