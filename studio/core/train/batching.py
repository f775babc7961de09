"""Which samples train together, in what order, and how they become tensors.

The plan is a pure function of (lengths, seed, epoch, effective batch), so a resumed run rebuilds
exactly the order it had and continues at (epoch, step_in_epoch): nothing trained twice or skipped.
Each optimizer step takes one *step group* of `effective_batch` sample indices; the group is split
into micro-batches of `batch_size`. Because groups are fixed by the effective batch alone, a resume
with a smaller micro-batch and more accumulation (the out-of-memory remedy) keeps the same order.

Padding waste is avoided by grouping similar lengths: samples are shuffled, cut into mega-batches
of `effective_batch * MEGA` samples, sorted by length inside each mega-batch, cut into step groups,
and the groups shuffled again. Or, with packing, a micro-batch is one row with no padding at all.
"""

from __future__ import annotations

import random
from typing import Sequence

IGNORE = -100
MEGA = 16  # step groups per length-sorted mega-batch: bigger = less padding, less randomness


def steps_per_epoch(n_samples: int, effective_batch: int) -> int:
    return max(1, -(-n_samples // effective_batch))


def epoch_plan(lengths: Sequence[int], effective_batch: int, seed: int, epoch: int,
               group_by_length: bool = True) -> list[list[int]]:
    """Step groups (lists of sample indices) for one epoch; deterministic."""
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if not group_by_length:
        return [order[i:i + effective_batch] for i in range(0, len(order), effective_batch)]
    mega = effective_batch * MEGA
    groups: list[list[int]] = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start:start + mega], key=lambda i: -lengths[i])
        groups += [chunk[i:i + effective_batch] for i in range(0, len(chunk), effective_batch)]
    rng.shuffle(groups)
    return groups


def micro_batches(group: list[int], batch_size: int) -> list[list[int]]:
    return [group[i:i + batch_size] for i in range(0, len(group), batch_size)]


def collate_padded(seqs: list[tuple[list[int], list[int]]], pad_id: int):
    """Right-padded batch. seqs: [(input_ids, labels)] -> dict of tensors (B, T_max)."""
    import torch  # lazy: this module is also planned without torch in tests of the plan

    t_max = max(len(ids) for ids, _ in seqs)
    n = len(seqs)
    input_ids = torch.full((n, t_max), pad_id, dtype=torch.long)
    labels = torch.full((n, t_max), IGNORE, dtype=torch.long)
    attention = torch.zeros((n, t_max), dtype=torch.long)
    for row, (ids, lab) in enumerate(seqs):
        input_ids[row, :len(ids)] = torch.tensor(ids)
        labels[row, :len(lab)] = torch.tensor(lab)
        attention[row, :len(ids)] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention}


def collate_packed(seqs: list[tuple[list[int], list[int]]]):
    """All sequences of a micro-batch in one row (1, sum T_i), no padding.

    position_ids restart at 0 for each sequence and no attention_mask is passed: transformers
    then builds a block-diagonal causal mask (architecture.md), so sequences never attend to each
    other. The first token of each sequence gets no label, so nothing predicts across a boundary.
    """
    import torch

    ids, labels, positions = [], [], []
    for seq_ids, seq_labels in seqs:
        ids += seq_ids
        labels += [IGNORE] + list(seq_labels[1:])
        positions += range(len(seq_ids))
    return {"input_ids": torch.tensor([ids]), "labels": torch.tensor([labels]),
            "position_ids": torch.tensor([positions])}


def count_label_tokens(seqs: list[tuple[list[int], list[int]]]) -> int:
    """Tokens that carry loss after the causal shift (label at position 0 never counts)."""
    return sum(sum(1 for x in lab[1:] if x != IGNORE) for _, lab in seqs)
