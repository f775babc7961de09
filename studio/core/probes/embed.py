"""Embeddings: vectors of words and of dataset samples, nearest tokens, vector arithmetic.

A word's vector is the mean over its sub-tokens of either the input embedding matrix (layer
None: what the model starts from, context-free) or the hidden states of one layer (layer k:
hidden_states[k], 0 = the embedding layer's output, k = after block k), with the word fed alone
(plus the tokenizer's own special tokens, which are not pooled). A sample's vector is the
mean of a layer's hidden states over its real tokens.

Nearest neighbours are by cosine in the original space (never in a 2D projection) over the
input embedding matrix, special tokens left out.

torch is imported inside the functions (see probes.py).
"""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np

from studio.core.errors import Cancelled, UserError
from studio.core.probes.attention import ProbeModel

MAX_WORDS = 2000
Progress = Optional[Callable[[float, str], None]]


@dataclass(frozen=True)
class WordVectors:
    words: tuple[str, ...]
    vectors: np.ndarray          # (N, dim) float32
    layer: Optional[int]         # None: input embeddings; k: hidden_states[k]
    token_counts: tuple[int, ...]  # sub-tokens pooled per word


def parse_words(text: str) -> list[str]:
    """'king, queen,man' -> ['king', 'queen', 'man'] (commas or new lines; blanks dropped,
    duplicates kept once, order kept)."""
    words = [w.strip() for w in re.split(r"[,\n，]", text or "")]
    seen: dict[str, None] = {}
    for w in words:
        if w:
            seen.setdefault(w, None)
    if not seen:
        raise UserError("no words given: type words separated by commas, e.g. king,queen,man")
    if len(seen) > MAX_WORDS:
        raise UserError(f"{len(seen)} words given; at most {MAX_WORDS} at a time")
    return list(seen)


def check_layer(pm: ProbeModel, layer: Optional[int]) -> Optional[int]:
    """None stays None; negative counts from the end (-1 = last layer's output)."""
    return layer_index(pm.num_layers, layer)


def layer_index(num_layers: int, layer: Optional[int]) -> Optional[int]:
    """`layer` as an index into hidden_states (0..num_layers), or a one-line UserError."""
    if layer is None:
        return None
    n = num_layers
    k = layer + n + 1 if layer < 0 else layer
    if not 0 <= k <= n:
        raise UserError(f"layer {layer} does not exist: this model has layers 0..{n} "
                        f"(0 = embedding output, {n} = last block)")
    return k


def word_token_ids(pm: ProbeModel, word: str) -> list[int]:
    ids = pm.tokenizer(word, add_special_tokens=False)["input_ids"]
    if not ids:
        raise UserError(f"{word!r} gives no tokens")
    return list(ids)


def word_vectors(pm: ProbeModel, words: Sequence[str], layer: Optional[int] = None, *,
                 adapter: bool = True, batch_size: int = 64) -> WordVectors:
    """One vector per word (see the module doc for what `layer` means)."""
    words = list(words)
    if not words:
        raise UserError("no words given")
    k = check_layer(pm, layer)
    ids = [word_token_ids(pm, w) for w in words]
    counts = tuple(len(i) for i in ids)
    if k is None:
        table = pm.input_embeddings()  # (vocab, dim); adapters rarely touch it
        vecs = np.stack([table[i].mean(axis=0) for i in ids])
    else:
        vecs = _hidden_means(pm, words, k, adapter, batch_size, special_pooled=False)
    return WordVectors(words=tuple(words), vectors=vecs.astype(np.float32), layer=k,
                       token_counts=counts)


def _hidden_means(pm: ProbeModel, texts: list[str], layer: int, adapter: bool,
                  batch_size: int, *, special_pooled: bool, max_length: int = 128,
                  progress: Progress = None, cancel: Optional[threading.Event] = None,
                  losses: Optional[list] = None) -> np.ndarray:
    """Mean of hidden_states[layer] over each text's tokens -> (N, dim). Special tokens are
    pooled only when special_pooled. With `losses` (a list) on a decoder, each text's mean
    next-token loss is appended to it."""
    import torch

    out = []
    for start in range(0, len(texts), batch_size):
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        chunk = texts[start:start + batch_size]
        enc = pm.tokenizer(chunk, add_special_tokens=True, padding=True, truncation=True,
                           max_length=max_length, return_tensors="pt",
                           return_special_tokens_mask=True)
        special = enc.pop("special_tokens_mask")
        batch = {k: v.to(pm.device) for k, v in enc.items()
                 if k in ("input_ids", "attention_mask", "token_type_ids")}
        with contextlib.ExitStack() as stack:
            if not adapter:
                stack.enter_context(pm.adapter_off())
            stack.enter_context(torch.no_grad())
            res = pm.model(**batch, output_hidden_states=True)
        hidden = res.hidden_states[layer].float()           # (B, T, dim)
        keep = batch["attention_mask"].bool()
        if not special_pooled:
            keep &= ~special.to(keep.device).bool()
        keep_f = keep.unsqueeze(-1).float()
        means = (hidden * keep_f).sum(1) / keep_f.sum(1).clamp(min=1)
        out.append(means.cpu().numpy())
        if losses is not None and pm.is_causal:
            losses.extend(_row_losses(res.logits, batch["input_ids"], batch["attention_mask"]))
        if progress is not None:
            progress(min(1.0, (start + len(chunk)) / len(texts)), "")
    return np.concatenate(out).astype(np.float32)


def _row_losses(logits: Any, ids: Any, mask: Any) -> list[float]:
    """Mean next-token cross-entropy per row (padding excluded)."""
    import torch

    lp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    nll = -lp.gather(2, ids[:, 1:, None])[..., 0]              # (B, T-1)
    m = mask[:, 1:].float()
    return ((nll * m).sum(1) / m.sum(1).clamp(min=1)).cpu().tolist()


# --- dataset samples ----------------------------------------------------------------------------

@dataclass(frozen=True)
class SampleVectors:
    vectors: np.ndarray            # (N, dim) float32
    rows: tuple[int, ...]          # 1-based row numbers in the file
    splits: tuple[str, ...]        # "train" | "eval" per sample
    losses: Optional[np.ndarray]   # (N,) mean next-token loss (decoders), else None
    layer: int


def sample_texts(pm: ProbeModel, samples: Sequence[Any]) -> list[str]:
    """Plain text for each dataset Sample: conversations through the chat template when the
    tokenizer has one (as training sees them), else role: content lines."""
    tok = pm.tokenizer
    texts = []
    for s in samples:
        if s.text is not None:
            texts.append(s.text)
            continue
        msgs = [{"role": m.role, "content": m.content} for m in s.messages]
        if getattr(tok, "chat_template", None):
            texts.append(tok.apply_chat_template(msgs, tokenize=False))
        else:
            texts.append("\n".join(f"{m['role']}: {m['content']}" for m in msgs))
    return texts


def dataset_vectors(pm: ProbeModel, path: str, *, max_rows: int = 300,
                    layer: int = -1, eval_split: float = 0.1, seed: int = 42,
                    adapter: bool = True, max_length: int = 256, progress: Progress = None,
                    cancel: Optional[threading.Event] = None) -> SampleVectors:
    """Vectors of the first `max_rows` good samples of a dataset, with the train/eval split the
    trainer would make (same eval_split and seed) and, for decoders, each sample's loss."""
    from studio.core.data.doctor import load_samples, split_train_eval

    k = check_layer(pm, layer)
    stage = "pretrain"  # any shape: text rows and conversations both become text here
    samples, _ = load_samples(path, stage=stage, skip_bad_rows=True, max_rows=max_rows)
    _, held = split_train_eval(samples, eval_split, seed)
    held_rows = {s.row for s in held}
    losses: list[float] = []
    vecs = _hidden_means(pm, sample_texts(pm, samples), k, adapter, 8, special_pooled=True,
                         max_length=max_length, progress=progress, cancel=cancel,
                         losses=losses)
    return SampleVectors(
        vectors=vecs, rows=tuple(s.row for s in samples),
        splits=tuple("eval" if s.row in held_rows else "train" for s in samples),
        losses=np.asarray(losses, dtype=np.float32) if losses else None, layer=k)


# --- neighbours and arithmetic ------------------------------------------------------------------

@dataclass(frozen=True)
class Neighbour:
    token: str
    token_id: int
    cosine: float


class VocabIndex:
    """The input embedding matrix, unit-normalised once, for cosine look-ups (top-k over a
    30k x 384 vocabulary takes a few ms)."""

    def __init__(self, pm: ProbeModel):
        table = pm.input_embeddings()
        norms = np.linalg.norm(table, axis=1, keepdims=True)
        self.unit = table / np.maximum(norms, 1e-12)
        self.table = table
        self.tokens = pm.tokenizer.convert_ids_to_tokens(list(range(table.shape[0])))
        skip = set(getattr(pm.tokenizer, "all_special_ids", []) or [])
        # BERT vocabularies hold hundreds of never-trained "[unused12]" slots: not words
        skip |= {i for i, t in enumerate(self.tokens) if t and t.startswith("[unused")}
        self.skip = np.zeros(table.shape[0], dtype=bool)
        self.skip[[i for i in skip if i < table.shape[0]]] = True

    def nearest(self, vector: np.ndarray, k: int = 10,
                exclude: Sequence[int] = ()) -> list[Neighbour]:
        v = np.asarray(vector, dtype=np.float32)
        n = float(np.linalg.norm(v))
        if n == 0 or not np.isfinite(n):
            raise UserError("the vector is zero: nothing is near it")
        sims = self.unit @ (v / n)                               # (vocab,)
        sims[self.skip] = -np.inf
        if len(exclude):
            sims[list(exclude)] = -np.inf
        k = min(k, int(np.isfinite(sims).sum()))
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top])]
        return [Neighbour(str(self.tokens[i]), int(i), float(sims[i])) for i in top]


def parse_arithmetic(expr: str) -> list[tuple[float, str]]:
    """'king - man + woman' -> [(1, 'king'), (-1, 'man'), (1, 'woman')]. A minus needs spaces
    around it (or starts the expression), so 'well-known' stays one word."""
    text = (expr or "").strip()
    if not text:
        raise UserError("no expression given: try king - man + woman")
    text = re.sub(r"^-\s*", " - ", text.replace("+", " + "))
    parts = re.split(r"\s+([+-])\s+", f" {text} ")
    # parts = [term, op, term, op, term, ...]; a leading operator leaves parts[0] empty
    pairs = [("+", parts[0])] + list(zip(parts[1::2], parts[2::2]))
    if not parts[0].strip():
        pairs = pairs[1:]
    terms = []
    for op, word in pairs:
        if not word.strip():
            raise UserError(f"cannot read {expr!r}: a word is missing after {op!r}")
        terms.append((-1.0 if op == "-" else 1.0, word.strip()))
    return terms


@dataclass(frozen=True)
class ArithmeticResult:
    expression: str
    terms: tuple[tuple[float, str], ...]
    vector: np.ndarray
    neighbours: tuple[Neighbour, ...]


def arithmetic(pm: ProbeModel, expr: str, *, k: int = 10, exclude_inputs: bool = True,
               index: Optional[VocabIndex] = None) -> ArithmeticResult:
    """Sum the input-embedding vectors of the terms with their signs; list the nearest tokens
    (the input words' own tokens left out unless exclude_inputs is False)."""
    terms = parse_arithmetic(expr)
    index = index or VocabIndex(pm)
    vec = np.zeros(index.table.shape[1], dtype=np.float32)
    used: list[int] = []
    for sign, word in terms:
        ids = word_token_ids(pm, word)
        vec += sign * index.table[ids].mean(axis=0)
        used += ids
    near = index.nearest(vec, k, exclude=used if exclude_inputs else ())
    return ArithmeticResult(expression=expr, terms=tuple(terms), vector=vec,
                            neighbours=tuple(near))


def word_neighbours(pm: ProbeModel, word: str, *, k: int = 10,
                    index: Optional[VocabIndex] = None) -> list[Neighbour]:
    """Nearest vocabulary tokens to a word's input-embedding vector (itself left out)."""
    index = index or VocabIndex(pm)
    ids = word_token_ids(pm, word)
    return index.nearest(index.table[ids].mean(axis=0), k, exclude=ids)
