"""`python main.py inspect attention|embeddings|tokens ...`: look inside a model headless.

    inspect attention  --model DIR [--adapter DIR] --text TEXT --out FILE.npz
    inspect embeddings --model DIR [--adapter DIR] --words W1,W2,... [--layer N] --out FILE.npz
    inspect tokens     --model DIR --text TEXT [--chat]

The .npz files hold plain arrays only (contract.md), so np.load(f, allow_pickle=False) reads
them: attention `attention` (layers, heads, T, T) float32 + `tokens` (T,); embeddings `vectors`
(N, dim) float32 + `words` (N,). `--model` also takes a finished run directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from studio.cli.args import number
from studio.core import files
from studio.core.config import INT_LIMIT
from studio.core.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect", help="attention maps, word embeddings and token splits of a model",
        description="Look inside a model: save its attention for a text or its vectors for "
                    "words as .npz, or print how its tokenizer splits a text.")
    inner = p.add_subparsers(dest="what", metavar="WHAT", parser_class=type(p), required=True)

    a = inner.add_parser("attention", help="attention of every layer and head for a text",
                         description="Write attention (layers, heads, T, T) and tokens (T,) to "
                                     "an .npz file. Texts are cut at 512 tokens.")
    _model_args(a)
    _text_args(a)
    a.add_argument("--out", required=True, metavar="FILE.npz", help="the .npz file to write")
    a.set_defaults(func=run_attention)

    e = inner.add_parser("embeddings", help="vectors of words (input embeddings or a layer)",
                         description="Write vectors (N, dim) and words (N,) to an .npz file. "
                                     "Each word's vector is the mean over its sub-tokens.")
    _model_args(e)
    e.add_argument("--words", required=True, metavar="W1,W2,...",
                   help="comma-separated words, e.g. king,queen,man,woman")
    e.add_argument("--layer", type=number(int, -INT_LIMIT, INT_LIMIT), default=None, metavar="N",
                   help="hidden states after block N (0 = embedding layer output, -1 = last); "
                        "without it: rows of the input embedding matrix")
    e.add_argument("--out", required=True, metavar="FILE.npz", help="the .npz file to write")
    e.set_defaults(func=run_embeddings)

    t = inner.add_parser("tokens", help="print how the tokenizer splits a text",
                         description="Print each token with its id and the text it covers, "
                                     "then tokens per character and per word.")
    t.add_argument("--model", required=True, metavar="DIR",
                   help="model folder or run directory (only its tokenizer is loaded)")
    _text_args(t)
    t.add_argument("--chat", action="store_true",
                   help="also show the tokens the chat template adds around the text")
    t.set_defaults(func=run_tokens)


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="DIR",
                   help="model folder (decoder or encoder) or a finished run directory")
    p.add_argument("--adapter", metavar="DIR", help="a PEFT adapter folder to load on the model")


def _text_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--text", metavar="TEXT", help="the text to look at")
    g.add_argument("--text-file", metavar="FILE", help="read the text from a UTF-8 file")


def _text(args: argparse.Namespace) -> str:
    if args.text is not None:
        text = args.text
    else:
        text = files.read_text(args.text_file, "text file", files.TEXT_LIMIT)
    if not text.strip():
        raise UserError("the text is empty")
    return text


def _out_path(out: str) -> Path:
    p = Path(out).expanduser()
    if p.suffix != ".npz":
        raise UserError(f"--out {out}: the file name must end in .npz")
    if p.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name ending in .npz")
    if p.exists():
        files.regular_file(p, "--out")  # np.savez into a pipe would block
    files.check_writable(p.parent, "the folder of --out")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the folder for {out}: {e.strerror or e}") from None
    return p


def _save(path: Path, **arrays) -> None:
    import numpy as np

    try:
        np.savez(path, **arrays)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None


def _load(args: argparse.Namespace, layer: int | None = None):
    """Load the model (checking --layer against its config first: loading takes seconds)."""
    from transformers.utils import logging as hf_logging

    from studio.core.model.load import read_model_config
    from studio.core.probes.attention import load_probe_model, resolve_target
    from studio.core.probes.embed import layer_index

    target = resolve_target(args.model, args.adapter)
    if layer is not None:
        cfg = read_model_config(target.model)
        cfg = cfg.get("text_config") or cfg
        layer_index(int(cfg.get("num_hidden_layers", 0)), layer)
    hf_logging.disable_progress_bar()  # a terminal tool prints its own one-line results
    return load_probe_model(target)


def run_attention(args: argparse.Namespace) -> int:
    import numpy as np

    from studio.core.probes.attention import MAX_TOKENS, attention_entropy, capture_attention

    out = _out_path(args.out)
    text = _text(args)
    pm = _load(args)
    maps = capture_attention(pm, text)
    _save(out, attention=maps.attention, tokens=np.array(maps.tokens, dtype=str),
          is_causal=np.array(maps.is_causal), truncated=np.array(maps.truncated))
    layers, heads, t = maps.shape
    ent = attention_entropy(maps.attention).mean(axis=1)
    print(f"wrote {out}: attention {layers} layers x {heads} heads x {t} x {t} tokens "
          f"({'causal' if maps.is_causal else 'bidirectional'})")
    print("mean entropy per layer (bits): " + " ".join(f"{e:.2f}" for e in ent))
    if maps.truncated:
        print(f"note: the text was cut to its first {MAX_TOKENS} tokens")
    return 0


def run_embeddings(args: argparse.Namespace) -> int:
    import numpy as np

    from studio.core.probes.embed import parse_words, word_vectors

    out = _out_path(args.out)
    words = parse_words(args.words)
    pm = _load(args, args.layer)
    wv = word_vectors(pm, words, args.layer)
    source = "input_embeddings" if wv.layer is None else f"hidden_states[{wv.layer}]"
    _save(out, vectors=wv.vectors, words=np.array(wv.words, dtype=str),
          source=np.array(source), token_counts=np.array(wv.token_counts, dtype=np.int64))
    n, dim = wv.vectors.shape
    print(f"wrote {out}: {n} words x {dim} dims from {source}")
    split = [f"{w} ({c} tokens)" for w, c in zip(wv.words, wv.token_counts) if c > 1]
    if split:
        print("averaged over sub-tokens: " + ", ".join(split))
    return 0


def run_tokens(args: argparse.Namespace) -> int:
    from studio.core.model import load as model_mod
    from studio.core.probes.attention import resolve_target
    from studio.core.probes.tokens import piece_label, split_text, template_split

    text = _text(args)
    folder = model_mod.resolve_model(resolve_target(args.model).model, tokenizer_only=True)
    tok = model_mod.load_tokenizer(folder)
    split = split_text(tok, text)
    for p in split.pieces:
        mark = " (special)" if p.special else ""
        print(f"{p.index:5d}  {p.token_id:7d}  {piece_label(text, p)!r}  {p.token}{mark}")
    print(f"{split.tokens} tokens, {split.chars} characters, {split.words} words: "
          f"{split.tokens_per_char:.2f} tokens per character, "
          f"{split.tokens_per_word:.2f} per word")
    if args.chat:
        ts = template_split(tok, text)
        if ts is None:
            print("this tokenizer has no chat template")
        else:
            added = [p.token for p in ts.pieces if p.template]
            print(f"chat template adds {ts.template_tokens} tokens around a one-turn "
                  f"conversation: {' '.join(added)}")
    return 0
