"""The label-only loss equals the standard full-logits loss, chunked or not, packed or padded."""

import pytest
import torch

from studio.core import config
from studio.core.methods.registry import apply_method
from studio.core.model import load as model_mod
from studio.core.train import batching, loss


@pytest.fixture(scope="module")
def lora_model(tiny_model_dir):
    torch.manual_seed(0)
    m = model_mod.load_model(tiny_model_dir, device="cpu", dtype=torch.float32)
    cfg = config.from_dict({"model": str(tiny_model_dir), "dataset": "x", "method": "lora"})
    m = apply_method(m, cfg, 10)
    with torch.no_grad():  # LoRA B starts at zero: give the adapter a real effect
        for n, p in m.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    return m.eval()


def _seqs():
    g = torch.Generator().manual_seed(1)
    out = []
    for length in (7, 12, 5):
        ids = torch.randint(10, 2000, (length,), generator=g).tolist()
        labels = [-100] * 3 + ids[3:]  # a masked "prompt", then trained tokens
        out.append((ids, labels))
    return out


def _reference(model, seqs):
    """Each sequence alone through the model's own forward with labels (HF's loss)."""
    total, n = 0.0, 0
    for ids, labels in seqs:
        out = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels]))
        k = sum(1 for x in labels[1:] if x != -100)
        total, n = total + float(out.loss) * k, n + k
    return total, n


def test_fast_loss_matches_the_models_own_loss(lora_model):
    seqs = _seqs()
    ref, n_ref = _reference(lora_model, seqs)
    with torch.no_grad():
        fast, n = loss.fast_loss_sum(lora_model, batching.collate_padded(seqs, pad_id=0))
        std, n_std = loss.standard_loss_sum(lora_model, batching.collate_padded(seqs, pad_id=0))
    assert n == n_std == n_ref == batching.count_label_tokens(seqs)
    assert float(fast) == pytest.approx(ref, rel=1e-5)
    assert float(std) == pytest.approx(ref, rel=1e-5)


def test_packed_sequences_never_see_each_other(lora_model):
    seqs = _seqs()
    ref, _ = _reference(lora_model, seqs)
    with torch.no_grad():
        packed, n = loss.fast_loss_sum(lora_model, batching.collate_packed(seqs))
    assert n == batching.count_label_tokens(seqs)
    assert float(packed) == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize("path", ["fused", "checkpointed"])
def test_chunked_head_gives_the_same_loss_and_gradients(lora_model, monkeypatch, path):
    """Both chunked paths (fused head + loss with gradients made in forward; the head under
    activation checkpointing) against the model's own full-logits loss, 3 rows per chunk."""
    seqs = _seqs()
    batch = batching.collate_padded(seqs, pad_id=0)

    def grads(fn):
        lora_model.zero_grad()
        value, _ = fn(lora_model, batch)
        value.backward()
        return float(value), {n: p.grad.clone() for n, p in lora_model.named_parameters()
                              if p.requires_grad}

    whole, g1 = grads(loss.standard_loss_sum)
    monkeypatch.setattr(loss, "fused_chunk_rows", lambda vocab: 3)
    monkeypatch.setattr(loss, "chunk_rows", lambda vocab: 3)
    if path == "checkpointed":
        monkeypatch.setattr(loss, "fused_head", lambda head: False)
    chunked, g2 = grads(loss.fast_loss_sum)
    assert chunked == pytest.approx(whole, rel=1e-6)
    for k in g1:
        torch.testing.assert_close(g1[k], g2[k], rtol=1e-4, atol=2e-6)  # summation order


def test_plain_head_types_only():
    class Cfg:
        model_type = "gemma2"
        final_logit_softcapping = 30.0

    class M:
        config = Cfg()

    assert not loss.supports_fast_loss(M(), "lora")
    assert not loss.supports_fast_loss(M(), "prompt_tuning")
