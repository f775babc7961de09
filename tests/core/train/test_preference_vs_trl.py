"""Each preference loss and its reward statistics equal TRL's (1.16) on the same model and batch.

TRL tokenizes and collates the rows; the studio's packed forward (all sides in one row, no
padding) and its losses then run on exactly those token ids. The policy is the tiny starter with
its weights moved a little, the reference the starter itself, so rewards are not all zero.
"""

import copy
from types import SimpleNamespace

import pytest

trl = pytest.importorskip("trl")
torch = pytest.importorskip("torch")

from studio.core.data.types import TokenizedSample  # noqa: E402
from studio.core.train.pref_loss import kto_loss, pair_loss  # noqa: E402
from studio.core.train.preference import sequence_logps  # noqa: E402

TOL = 1e-5
N = 4


@pytest.fixture(scope="module")
def models(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    ref = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    policy = copy.deepcopy(ref)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    return tok, policy.eval(), ref.eval()


def _pairs():
    return [{"prompt": [{"role": "user", "content": f"Question {i}: 你好?"}],
             "chosen": [{"role": "assistant", "content": "A good answer. " * (i + 1)}],
             "rejected": [{"role": "assistant", "content": "bad " * (3 - i) + "坏"}]}
            for i in range(N)]


def _seqs(input_ids, mask, completion):
    """TRL's padded rows -> the studio's sequences (labels on the completion tokens only)."""
    out = []
    for ids, m, c in zip(input_ids.tolist(), mask.tolist(), completion.tolist()):
        keep = [k for k, v in enumerate(m) if v]
        out.append(TokenizedSample(0, [ids[k] for k in keep],
                                   [ids[k] if c[k] else -100 for k in keep]))
    return out


def _dpo_trainer(tmp_path, tok, policy, ref, **kw):
    from datasets import Dataset

    args = trl.DPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=N,
                         report_to="none", use_cpu=True, max_length=None, bf16=False,
                         **kw)  # fp32, as the studio trains on the CPU
    return trl.DPOTrainer(model=policy, ref_model=ref, args=args,
                          train_dataset=Dataset.from_list(_pairs()), processing_class=tok)


@pytest.mark.parametrize("kind,sft_weight", [("sigmoid", 0.0), ("ipo", 0.0), ("hinge", 0.0),
                                             ("sigmoid", 0.7)])
def test_dpo_losses_match_trl(tmp_path, models, kind, sft_weight):
    tok, policy, ref = models
    beta = 0.3
    losses = [kind] + (["sft"] if sft_weight else [])
    trainer = _dpo_trainer(tmp_path, tok, policy, ref, beta=beta, loss_type=losses,
                           loss_weights=[1.0] + ([sft_weight] if sft_weight else []))
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(N)])
    with torch.no_grad():
        trl_loss = float(trainer._compute_loss(policy, batch, False))
    m = {k: v[-1] for k, v in trainer._metrics["eval"].items()}  # the model is in eval mode

    seqs = _seqs(batch["input_ids"], batch["attention_mask"], batch["completion_mask"])
    with torch.no_grad():
        sums, counts = sequence_logps(policy, seqs, torch.device("cpu"), fast=True)
        ref_sums, _ = sequence_logps(ref, seqs, torch.device("cpu"), fast=True)
    out = pair_loss(kind, sums[:N], sums[N:], counts[:N], counts[N:], beta=beta,
                    ref_chosen=ref_sums[:N], ref_rejected=ref_sums[N:])
    ours = float(out.losses.mean())
    if sft_weight:  # mean token NLL of the chosen replies
        ours += sft_weight * float(-sums[:N].sum() / counts[:N].sum())
    assert ours == pytest.approx(trl_loss, abs=TOL)
    assert float(out.chosen_rewards.mean()) == pytest.approx(m["rewards/chosen"], abs=TOL)
    assert float(out.rejected_rewards.mean()) == pytest.approx(m["rewards/rejected"], abs=TOL)
    margin = out.chosen_rewards - out.rejected_rewards
    assert float(margin.mean()) == pytest.approx(m["rewards/margins"], abs=TOL)
    accuracy = (out.chosen_rewards > out.rejected_rewards).float().mean()
    assert float(accuracy) == pytest.approx(m["rewards/accuracies"], abs=TOL)
    assert float(sums[:N].mean()) == pytest.approx(m["logps/chosen"], rel=TOL)
    assert float(sums[N:].mean()) == pytest.approx(m["logps/rejected"], rel=TOL)
    assert abs(m["rewards/margins"]) > 1e-3  # the policy really differs from the reference


def _padded(seqs, pad_id):
    from studio.core.train.batching import collate_padded

    return collate_padded([(s.input_ids, s.labels) for s in seqs], pad_id)


@pytest.mark.parametrize("kind,smoothing", [("simpo", 0.0), ("simpo", 0.2), ("orpo", 0.0)])
def test_reference_free_losses_match_trl(tmp_path, models, kind, smoothing):
    """SimPO is TRL's CPOTrainer with loss_type simpo, ORPO its ORPOTrainer: their loss
    functions on their log-probabilities of the same padded batch."""
    from trl.experimental.cpo import CPOTrainer
    from trl.experimental.orpo import ORPOTrainer

    tok, policy, ref = models
    beta, gamma = 0.4, 0.6
    trainer = _dpo_trainer(tmp_path, tok, policy, ref)  # only to tokenize the rows as TRL does
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(N)])
    seqs = _seqs(batch["input_ids"], batch["attention_mask"], batch["completion_mask"])
    padded = _padded(seqs, tok.pad_token_id)
    with torch.no_grad():
        logits = policy(input_ids=padded["input_ids"],
                        attention_mask=padded["attention_mask"]).logits
        avg = CPOTrainer.get_batch_logps(logits, padded["labels"], average_log_prob=True)
        sums, counts = sequence_logps(policy, seqs, torch.device("cpu"), fast=True)
    out = pair_loss(kind, sums[:N], sums[N:], counts[:N], counts[N:], beta=beta, gamma=gamma,
                    label_smoothing=smoothing)
    fake = SimpleNamespace(alpha=0.0, loss_type=kind, simpo_gamma=gamma, beta=beta,
                           label_smoothing=smoothing, accelerator=SimpleNamespace(device="cpu"))
    if kind == "simpo":
        losses, chosen_r, rejected_r = CPOTrainer.cpo_loss(fake, avg[:N], avg[N:])
        ours, theirs = out.losses.mean(), losses.mean()
    else:
        losses, chosen_r, rejected_r, _, _ = ORPOTrainer.odds_ratio_loss(fake, avg[:N], avg[N:])
        nll = torch.nn.functional.cross_entropy(
            logits[:N, :-1].reshape(-1, logits.shape[-1]), padded["labels"][:N, 1:].reshape(-1))
        theirs = nll - losses.mean()
        ours = out.losses.mean() - sums[:N].sum() / counts[:N].sum()  # + the SFT term
    assert float(ours) == pytest.approx(float(theirs), abs=TOL)
    assert torch.allclose(out.chosen_rewards, chosen_r, atol=TOL)
    assert torch.allclose(out.rejected_rewards, rejected_r, atol=TOL)


def test_kto_loss_matches_trl(tmp_path, models):
    from datasets import Dataset

    tok, first, second = models
    beta = 0.25
    rows = [{"prompt": p["prompt"], "completion": p["chosen"] if i % 2 else p["rejected"],
             "label": bool(i % 2)} for i, p in enumerate(_pairs())]
    args = trl.KTOConfig(output_dir=str(tmp_path), per_device_train_batch_size=N,
                         report_to="none", use_cpu=True, beta=beta, max_length=None,
                         bf16=False)
    cpu = torch.device("cpu")

    def kl_of(policy, ref, kl_seqs):
        with torch.no_grad():
            return (sequence_logps(policy, kl_seqs, cpu, fast=True)[0]
                    - sequence_logps(ref, kl_seqs, cpu, fast=True)[0]).mean()

    def trainer_for(policy, ref):
        trainer = trl.KTOTrainer(model=policy, ref_model=ref, args=args,
                                 train_dataset=Dataset.from_list(rows), processing_class=tok)
        return trainer, trainer.data_collator([trainer.train_dataset[i] for i in range(N)])

    trainer, batch = trainer_for(first, second)
    kl_seqs = _seqs(batch["KL_input_ids"], batch["KL_attention_mask"],
                    batch["KL_completion_mask"])
    policy, ref = first, second
    if kl_of(first, second, kl_seqs) <= 0.01:  # the KL term is clamped at 0: take the order
        policy, ref = second, first            # where it is above 0, so it is really compared
        trainer, batch = trainer_for(policy, ref)
    with torch.no_grad():
        trl_loss = float(trainer._compute_loss(policy, batch, False))
    m = {k: v[-1] for k, v in trainer._metrics["eval"].items()}

    seqs = _seqs(batch["input_ids"], batch["attention_mask"], batch["completion_mask"])
    with torch.no_grad():
        sums, _ = sequence_logps(policy, seqs, cpu, fast=True)
        ref_sums, _ = sequence_logps(ref, seqs, cpu, fast=True)
    kl = kl_of(policy, ref, kl_seqs).clamp(min=0)
    good = torch.tensor([r["label"] for r in rows])
    losses, rewards = kto_loss(sums, ref_sums, good, kl, beta)
    assert float(losses.mean()) == pytest.approx(trl_loss, abs=TOL)
    assert float(kl) == pytest.approx(m["kl"], abs=TOL) and m["kl"] > 0.01
    assert float(rewards[good].mean()) == pytest.approx(m["rewards/chosen"], abs=TOL)
    assert float(rewards[~good].mean()) == pytest.approx(m["rewards/rejected"], abs=TOL)
    assert float(sums[good].mean()) == pytest.approx(m["logps/chosen"], rel=TOL)


def test_the_slow_path_gives_the_same_log_probabilities(models):
    """Architectures without the hidden-state shortcut go through the model's own logits."""
    tok, policy, _ = models
    ids = tok("Hello there, 你好 world")["input_ids"]
    seqs = [TokenizedSample(0, ids, [-100] * 3 + ids[3:]), TokenizedSample(0, ids[:6], ids[:6])]
    with torch.no_grad():
        fast = sequence_logps(policy, seqs, torch.device("cpu"), fast=True)
        slow = sequence_logps(policy, seqs, torch.device("cpu"), fast=False)
        alone = sequence_logps(policy, seqs[1:], torch.device("cpu"), fast=True)
    assert torch.allclose(fast[0], slow[0], atol=1e-4) and torch.equal(fast[1], slow[1])
    assert float(fast[0][1]) == pytest.approx(float(alone[0][0]), abs=1e-4)  # packing is exact
