"""The preference stages (dpo, kto) inside the SFT loop: forward, reference, one step, eval.

One forward per micro-batch: every side of its pairs (chosen and rejected, or a KTO reply) is
packed into ONE row with position_ids restarting at each sequence and no attention mask, so
transformers keeps attention per sequence (architecture.md) and no padding is computed at all.
Only the reply tokens go through the LM head (chunked, as in loss.py); per-sequence sums of
their log-probabilities come back by a scatter-add over a sequence index.

The reference model is never a second copy in memory:
  - PEFT methods: the same model with the adapter switched off (`disable_adapter()`), no grad;
  - full / freeze: the reference log-probabilities of every row are computed once, before the
    first step (the model is still the base then), and kept in the run folder
    (`reference_logps.json`), so a resume reads them instead of needing the base again;
  - ORPO and SimPO need no reference.

KTO's KL estimate (TRL's recipe): each reply's prompt paired with the previous row's reply (a
mismatched completion, fixed per row so the reference can be precomputed), its policy-minus-
reference log-ratio averaged over the optimizer step's rows, clamped at 0, no gradient.

Weighting: the preference loss is a mean over the step's pairs, the optional SFT term a mean
over the step's chosen reply tokens, whatever the micro-batch split (resume with a smaller
micro-batch trains the same thing).
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from studio.core.config import REFERENCE_FREE_LOSSES, RunConfig
from studio.core.data.preference import reply_start
from studio.core.data.types import TokenizedPair, TokenizedSample
from studio.core.train.pref_loss import kto_loss, pair_loss

IGNORE = -100
REFERENCE_FILE = "reference_logps.json"


def needs_reference(cfg: RunConfig) -> bool:
    return cfg.stage == "kto" or cfg.pref_loss not in REFERENCE_FREE_LOSSES


def precomputes_reference(cfg: RunConfig) -> bool:
    """full / freeze: the weights that train are the reference's, so it is stored up front."""
    return needs_reference(cfg) and not cfg.is_peft


# --- the packed forward ------------------------------------------------------------------------

def sequence_logps(model: Any, seqs: Sequence[TokenizedSample], device: Any,
                   fast: bool) -> tuple[Any, Any]:
    """(summed log-probabilities of each sequence's labelled tokens (S,), their counts (S,)),
    all sequences packed in one row."""
    import torch

    token_logps, who = packed_token_logps(model, seqs, device, fast)
    sums = torch.zeros(len(seqs), device=device, dtype=torch.float32)
    sums = sums.index_add(0, who, token_logps)
    counts = torch.bincount(who, minlength=len(seqs)).to(sums.dtype)
    return sums, counts


def packed_token_logps(model: Any, seqs: Sequence[TokenizedSample], device: Any,
                       fast: bool) -> tuple[Any, Any]:
    """(log-probability of every labelled token (N,), the sequence each belongs to (N,)), all
    sequences packed in one row (stage grpo needs them per token)."""
    import torch

    from studio.core.train.loss import unwrap_causal_lm

    ids, labels, pos, owner = [], [], [], []
    for k, t in enumerate(seqs):
        ids += t.input_ids
        labels += [IGNORE] + list(t.labels[1:])  # nothing is predicted across a boundary
        pos += range(len(t.input_ids))
        owner += [k] * len(t.input_ids)
    input_ids = torch.tensor([ids], device=device)
    position_ids = torch.tensor([pos], device=device)
    targets = torch.tensor(labels[1:], device=device)            # (L-1,): token t+1 at t
    keep = targets != IGNORE
    who = torch.tensor(owner[1:], device=device)[keep]           # (N,) sequence of each target
    y = targets[keep]                                            # (N,)
    if fast:
        lm = unwrap_causal_lm(model)
        decoder = getattr(lm, lm.base_model_prefix)
        hidden = decoder(input_ids=input_ids, position_ids=position_ids,
                         use_cache=False).last_hidden_state[0, :-1][keep]  # (N, H)
        token_logps = _head_logps(lm.get_output_embeddings(), hidden, y)
    else:
        logits = model(input_ids=input_ids, position_ids=position_ids,
                       use_cache=False).logits[0, :-1][keep]               # (N, V)
        token_logps = _gather_logps(logits, y)
    return token_logps.float(), who


def _gather_logps(logits: Any, y: Any) -> Any:
    import torch.nn.functional as F

    return -F.cross_entropy(logits.float(), y, reduction="none")


def _head_logps(head: Any, hidden: Any, y: Any) -> Any:
    """Log-probabilities of y under head(hidden), in chunks whose logits are recomputed in
    backward instead of stored (loss.py's chunk size)."""
    import torch
    from torch.utils.checkpoint import checkpoint

    from studio.core.train.loss import chunk_rows

    def part(h: Any, t: Any) -> Any:
        return _gather_logps(head(h), t)

    rows = chunk_rows(head.weight.shape[0])
    if hidden.shape[0] <= rows:
        return part(hidden, y)
    pieces = []
    for s in range(0, hidden.shape[0], rows):
        h, t = hidden[s:s + rows], y[s:s + rows]
        pieces.append(checkpoint(part, h, t, use_reentrant=False) if torch.is_grad_enabled()
                      else part(h, t))
    return torch.cat(pieces)


@contextlib.contextmanager
def _reference_mode(model: Any) -> Any:
    """The model as its own reference: adapter off, no grad."""
    import torch

    with torch.no_grad(), model.disable_adapter():
        yield


# --- the reference, for full / freeze ----------------------------------------------------------

def kl_side(items: Sequence[TokenizedPair], i: int) -> TokenizedSample:
    """KTO's mismatched sequence for item i: its prompt, the previous item's reply."""
    own, other = items[i].chosen, items[i - 1].chosen
    a, b = reply_start(own), reply_start(other)
    ids = own.input_ids[:a] + other.input_ids[b:]
    labels = [IGNORE] * a + other.labels[b:]
    return TokenizedSample(own.row, ids, labels)


def _item_seqs(cfg: RunConfig, items: Sequence[TokenizedPair],
               indices: Sequence[int]) -> list[TokenizedSample]:
    """The sequences of one forward: pairs as [chosen..., rejected...]; kto: the replies."""
    if cfg.stage == "kto":
        return [items[i].chosen for i in indices]
    return [items[i].chosen for i in indices] + [items[i].rejected for i in indices]


def compute_reference(s: Any, items: Sequence[TokenizedPair]) -> list[list[float]]:
    """Per item: [chosen, rejected] (dpo) or [reply, kl] (kto) reference log-probabilities,
    under the model as it is now (before training)."""
    import torch

    out: list[list[float]] = []
    cfg = s.cfg
    was_training = s.model.training
    s.model.eval()
    with torch.no_grad(), s.autocast():  # the precision training will compare it in
        for start in range(0, len(items), cfg.batch_size):
            idx = list(range(start, min(start + cfg.batch_size, len(items))))
            sums, _ = sequence_logps(s.model, _item_seqs(cfg, items, idx), s.device, s.fast_loss)
            if cfg.stage == "kto":
                kl, _ = sequence_logps(s.model, [kl_side(items, i) for i in idx], s.device,
                                       s.fast_loss)
                out += [[float(a), float(b)] for a, b in zip(sums, kl)]
            else:
                n = len(idx)
                out += [[float(a), float(b)] for a, b in zip(sums[:n], sums[n:])]
    s.model.train(was_training)
    return out


def prepare_reference(s: Any, run: Any, resuming: bool = False) -> None:
    """full / freeze: read the stored reference log-probabilities of this run, or compute them
    now (the model must still be the base) and store them. A resume has loaded its checkpoint
    already: the stored ones must be there, or the resume is refused."""
    if not precomputes_reference(s.cfg):
        return
    from studio.core import runs

    path = run.path / REFERENCE_FILE
    key = {"fingerprint": s.data_info["fingerprint"], "stage": s.cfg.stage,
           "max_length": s.cfg.max_length, "seed": s.cfg.seed, "eval_split": s.cfg.eval_split}
    if path.is_file():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            stored = {}
        if stored.get("key") == key and len(stored.get("train", ())) == len(s.train) \
                and len(stored.get("eval", ())) == len(s.eval):
            s.reference = {"train": stored["train"], "eval": stored["eval"]}
            return
    if resuming:
        from studio.core.errors import DataError

        raise DataError(f"{path} is missing or does not match the run: the reference model's "
                        "log-probabilities cannot be computed again from trained weights "
                        "(start a new run)")
    s.reference = {"train": compute_reference(s, s.train), "eval": compute_reference(s, s.eval)}
    runs.atomic_write_text(path, json.dumps({"key": key, **s.reference}))


# --- one optimizer step ------------------------------------------------------------------------

@dataclass
class Tally:
    """Sums over the pairs (or KTO replies) of a step or an eval pass."""
    loss: float = 0.0           # the step's objective: mean pair loss (+ the SFT term)
    pref_sum: float = 0.0       # sum of the per-pair preference losses
    pairs: int = 0
    chosen_rewards: list = field(default_factory=list)
    rejected_rewards: list = field(default_factory=list)
    chosen_logps: list = field(default_factory=list)
    rejected_logps: list = field(default_factory=list)
    correct: int = 0
    nll: float = 0.0
    nll_tokens: float = 0.0
    paired: bool = True         # dpo; kto replies have no pairs to rank
    kl: Optional[float] = None  # kto: the KL estimate (a mean over the eval groups)

    def metrics(self) -> dict:
        """The metrics-line fields (docs/contract.md): means over the step's pairs."""
        def mean(xs: list) -> Optional[float]:
            return sum(xs) / len(xs) if xs else None

        rc, rr = mean(self.chosen_rewards), mean(self.rejected_rewards)
        out = {"rewards_chosen": rc, "rewards_rejected": rr,
               "reward_margin": rc - rr if rc is not None and rr is not None else None,
               "logps_chosen": mean(self.chosen_logps),
               "logps_rejected": mean(self.rejected_logps), "kl": self.kl}
        if self.paired:  # how often the chosen reply wins
            out["reward_accuracy"] = self.correct / self.pairs if self.pairs else None
        return {k: v for k, v in out.items() if v is not None}


def train_step(s: Any, indices: Sequence[int], poison: bool = False) -> Tally:
    """Forward and backward of one step group (gradients accumulate; the caller steps)."""
    return _run_group(s, s.train, indices, "train", grad=True, poison=poison)


def evaluate(s: Any) -> tuple[float, float, dict]:
    """(mean preference loss, perplexity of the chosen replies, reward metrics) on eval."""
    import torch

    s.model.eval()
    tally = Tally(paired=s.cfg.stage == "dpo")
    kls: list[tuple[float, int]] = []
    with torch.no_grad():
        for start in range(0, len(s.eval), s.cfg.effective_batch):
            idx = range(start, min(start + s.cfg.effective_batch, len(s.eval)))
            part = _run_group(s, s.eval, list(idx), "eval", grad=False)
            _merge(tally, part)
            if part.kl is not None:
                kls.append((part.kl, part.pairs))
    s.model.train()
    if kls:
        tally.kl = sum(k * n for k, n in kls) / sum(n for _, n in kls)
    loss = tally.pref_sum / max(1, tally.pairs)
    nll = tally.nll / max(1.0, tally.nll_tokens)
    return loss, math.exp(nll) if nll < 50 else float("inf"), tally.metrics()


def _merge(into: Tally, part: Tally) -> None:
    into.pref_sum += part.pref_sum
    into.pairs += part.pairs
    into.correct += part.correct
    into.nll += part.nll
    into.nll_tokens += part.nll_tokens
    for name in ("chosen_rewards", "rejected_rewards", "chosen_logps", "rejected_logps"):
        getattr(into, name).extend(getattr(part, name))


def _run_group(s: Any, items: Sequence[TokenizedPair], indices: Sequence[int], split: str,
               grad: bool, poison: bool = False) -> Tally:
    cfg = s.cfg
    tally = Tally(pairs=len(indices), paired=cfg.stage == "dpo")
    kl = _kl_estimate(s, items, indices, split) if cfg.stage == "kto" else None
    chosen_tokens = sum(_label_count(items[i].chosen) for i in indices
                        if cfg.stage == "dpo" or items[i].label)
    sft_weight = 1.0 if cfg.stage == "dpo" and cfg.pref_loss == "orpo" else cfg.pref_sft_weight
    for start in range(0, len(indices), cfg.batch_size):
        mb = list(indices[start:start + cfg.batch_size])
        with s.autocast():
            loss_sum, nll_sum = _micro_batch(s, items, mb, split, kl, tally)
        step_loss = loss_sum / len(indices)
        if sft_weight and chosen_tokens:
            step_loss = step_loss + sft_weight * nll_sum / chosen_tokens
        if poison:
            step_loss = step_loss * float("nan")
        if grad:
            s.backward(step_loss)
        tally.loss += float(step_loss.detach())
    tally.kl = None if kl is None else float(kl)
    tally.nll_tokens = float(chosen_tokens)
    return tally


def _micro_batch(s: Any, items: Sequence[TokenizedPair], mb: list[int], split: str,
                 kl: Any, tally: Tally) -> tuple[Any, Any]:
    """(sum of the micro-batch's per-pair losses, sum of its chosen-reply token NLL)."""
    import torch

    cfg = s.cfg
    seqs = _item_seqs(cfg, items, mb)
    sums, counts = sequence_logps(s.model, seqs, s.device, s.fast_loss)
    ref = _reference(s, items, mb, split, seqs)
    n = len(mb)
    if cfg.stage == "kto":
        good = torch.tensor([items[i].label for i in mb], device=sums.device)
        losses, rewards = kto_loss(sums, ref, good, kl, cfg.pref_beta)
        for g, r, lp in zip(good.tolist(), rewards.tolist(), sums.detach().tolist()):
            (tally.chosen_rewards if g else tally.rejected_rewards).append(r)
            (tally.chosen_logps if g else tally.rejected_logps).append(lp)
        nll = -(sums * good).sum()
    else:
        ref_c, ref_r = (ref[:n], ref[n:]) if ref is not None else (None, None)
        out = pair_loss(cfg.pref_loss, sums[:n], sums[n:], counts[:n], counts[n:],
                        beta=cfg.pref_beta, ref_chosen=ref_c, ref_rejected=ref_r,
                        gamma=cfg.simpo_gamma, label_smoothing=cfg.pref_label_smoothing)
        losses = out.losses
        tally.chosen_rewards += out.chosen_rewards.tolist()
        tally.rejected_rewards += out.rejected_rewards.tolist()
        tally.correct += int((out.chosen_rewards > out.rejected_rewards).sum())
        if cfg.pref_loss in REFERENCE_FREE_LOSSES:  # TRL logs their length-normalised logps
            tally.chosen_logps += (sums[:n] / counts[:n].clamp(min=1)).detach().tolist()
            tally.rejected_logps += (sums[n:] / counts[n:].clamp(min=1)).detach().tolist()
        else:
            tally.chosen_logps += sums[:n].detach().tolist()
            tally.rejected_logps += sums[n:].detach().tolist()
        nll = -sums[:n].sum()
    tally.nll += float(nll.detach())
    tally.pref_sum += float(losses.detach().sum())
    return losses.sum(), nll


def _reference(s: Any, items: Sequence[TokenizedPair], mb: list[int], split: str,
               seqs: list[TokenizedSample]) -> Optional[Any]:
    """Reference sums in the order of `seqs` (None for ORPO / SimPO)."""
    import torch

    if not needs_reference(s.cfg):
        return None
    if s.reference is not None:
        table = s.reference[split]
        first = [table[i][0] for i in mb]
        rest = [] if s.cfg.stage == "kto" else [table[i][1] for i in mb]
        return torch.tensor(first + rest, device=s.device, dtype=torch.float32)
    with _reference_mode(s.model), s.autocast():
        return sequence_logps(s.model, seqs, s.device, s.fast_loss)[0]


def _kl_estimate(s: Any, items: Sequence[TokenizedPair], indices: Sequence[int],
                 split: str) -> Any:
    """KTO: mean over the group of (policy - reference) log-ratios of the mismatched
    sequences, clamped at 0, without gradient."""
    import torch

    with torch.no_grad(), s.autocast():
        kl_seqs = [kl_side(items, i) for i in indices]
        policy = torch.cat([sequence_logps(s.model, kl_seqs[k:k + s.cfg.batch_size], s.device,
                                           s.fast_loss)[0]
                            for k in range(0, len(kl_seqs), s.cfg.batch_size)])
        if s.reference is not None:
            ref = torch.tensor([s.reference[split][i][1] for i in indices], device=s.device)
        else:
            with _reference_mode(s.model):
                ref = torch.cat([sequence_logps(s.model, kl_seqs[k:k + s.cfg.batch_size],
                                                s.device, s.fast_loss)[0]
                                 for k in range(0, len(kl_seqs), s.cfg.batch_size)])
    return (policy - ref).mean().clamp(min=0)


def _label_count(t: TokenizedSample) -> int:
    return sum(1 for x in t.labels[1:] if x != IGNORE)
