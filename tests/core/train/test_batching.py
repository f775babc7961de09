import torch

from studio.core.train import batching


def test_plan_is_deterministic_covers_every_sample_once():
    lengths = [(i * 37) % 101 + 1 for i in range(203)]
    a = batching.epoch_plan(lengths, 8, seed=1, epoch=0)
    assert a == batching.epoch_plan(lengths, 8, seed=1, epoch=0)
    assert sorted(i for g in a for i in g) == list(range(203))
    assert a != batching.epoch_plan(lengths, 8, seed=1, epoch=1)


def test_length_grouping_cuts_padding():
    import random

    rng = random.Random(0)
    lengths = [rng.randint(10, 500) for _ in range(800)]

    def padded(plan):
        return sum(max(lengths[i] for i in g) * len(g) for g in plan)

    grouped = padded(batching.epoch_plan(lengths, 8, 0, 0, group_by_length=True))
    plain = padded(batching.epoch_plan(lengths, 8, 0, 0, group_by_length=False))
    assert grouped < 0.8 * plain
    assert grouped / sum(lengths) < 1.1


def test_micro_batches_keep_step_groups_whatever_the_split():
    group = list(range(8))
    assert batching.micro_batches(group, 4) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert sum(batching.micro_batches(group, 2), []) == group


def test_packed_rows_restart_positions_and_never_predict_across_samples():
    seqs = [([1, 2, 3], [-100, 2, 3]), ([4, 5], [4, 5])]
    b = batching.collate_packed(seqs)
    assert b["input_ids"].tolist() == [[1, 2, 3, 4, 5]]
    assert b["position_ids"].tolist() == [[0, 1, 2, 0, 1]]
    assert b["labels"].tolist() == [[-100, 2, 3, -100, 5]]
    assert "attention_mask" not in b
    assert batching.count_label_tokens(seqs) == 3


def test_padded_batch_masks_padding():
    b = batching.collate_padded([([1, 2, 3], [1, 2, 3]), ([4], [4])], pad_id=0)
    assert b["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert b["labels"][1].tolist() == [4, -100, -100]
    assert b["input_ids"].dtype == torch.long
