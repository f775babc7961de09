"""Perplexity of a model on a file: exp(mean token loss).

A plain-text file (or {"text": ...} rows) is scored on every token, long rows in max_length
windows, as pre-training reads it; a chat file (alpaca / sharegpt / messages) on the assistant
tokens only, as fine-tuning learns them. Both go through the same tokenizer pipeline and loss
as training, so an evaluation's perplexity and a run's eval perplexity mean the same thing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.errors import DataError


@dataclass(frozen=True)
class Perplexity:
    loss: float          # mean token loss (nats)
    perplexity: float
    tokens: int          # tokens scored
    samples: int
    scored_on: str       # "all tokens" (text) or "assistant tokens" (chat)


def tokenized_file(path: str | Path, tokenizer: Any, max_length: int = 512) -> tuple[list, str]:
    """The file's samples as TokenizedSamples, and what they are scored on."""
    from studio.core.data import doctor

    samples, _ = doctor.load_samples(path, stage="pretrain")
    text = all(s.is_text for s in samples)
    stage = "pretrain" if text else "sft"
    tokenized, _ = doctor.tokenize_dataset(samples, tokenizer, max_length, stage=stage)
    if not tokenized:
        raise DataError(f"{Path(path).name}: no row has tokens to score within max_length "
                        f"{max_length}")
    return tokenized, "all tokens" if text else "assistant tokens"


def perplexity(model: Any, tokenizer: Any, path: str | Path, *, max_length: int = 512,
               batch_size: int = 8) -> Perplexity:
    tokenized, scored_on = tokenized_file(path, tokenizer, max_length)
    loss, n = mean_loss(model, tokenizer, [(t.input_ids, t.labels) for t in tokenized],
                        batch_size)
    return Perplexity(loss=loss, perplexity=math.exp(loss) if loss < 50 else float("inf"),
                      tokens=n, samples=len(tokenized), scored_on=scored_on)


def mean_loss(model: Any, tokenizer: Any, seqs: list[tuple[list[int], list[int]]],
              batch_size: int = 8) -> tuple[float, int]:
    """(mean loss over the label tokens of `seqs`, number of label tokens); no gradients."""
    import torch

    from studio.core.train import batching
    from studio.core.train.loss import loss_sum, supports_fast_loss

    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    fast = supports_fast_loss(model, "")
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i][0]))  # similar lengths: less padding
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                batch = batching.collate_padded([seqs[i] for i in order[start:start + batch_size]],
                                                pad)
                lsum, n = loss_sum(model, {k: v.to(device) for k, v in batch.items()}, fast)
                total, count = total + float(lsum), count + n
    finally:
        model.train(was_training)
    return total / max(1, count), count


def unigram_perplexity(train_ids: list[list[int]], held_ids: list[list[int]],
                       vocab_size: int) -> float:
    """Perplexity on `held_ids` of the add-one (Laplace) unigram model of `train_ids`: the
    baseline a language model must beat to have learned more than word frequencies."""
    from collections import Counter

    counts = Counter(t for seq in train_ids for t in seq)
    total = sum(counts.values())
    n = sum(len(seq) for seq in held_ids)
    logp = sum(math.log((counts[t] + 1) / (total + vocab_size)) for seq in held_ids for t in seq)
    return math.exp(-logp / max(1, n))
