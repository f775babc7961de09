"""`python main.py new-model OUT [--size tiny|small] [--arch llama|qwen2] [--corpus FILE]
[--vocab N] [--hidden N] [--layers N]`:
write a random-weight starter model + trained tokenizer as a Hugging Face folder.
`--pretrained`: the shipped starter that has learned the bundled corpus instead
(`--pretrained --retrain`: pre-train it again here, the way the shipped one was made)."""

from __future__ import annotations

import argparse

from studio.cli.args import SEED_RANGE, number
from studio.core.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    from studio.core.model.starter import (  # light: starter imports torch lazily
        ARCHS,
        MAX_HIDDEN,
        MAX_LAYERS,
        MAX_VOCAB,
        SIZES,
    )

    p = sub.add_parser(
        "new-model", help="write a small random-weight model + tokenizer to a folder",
        description="Write a randomly initialised causal LM, a byte-level BPE tokenizer trained "
                    "on the shipped Chinese + English corpus (or --corpus) and a ChatML chat "
                    "template, as a Hugging Face folder that any model path accepts.")
    p.add_argument("out", metavar="OUT", help="folder to create (must be empty or new)")
    p.add_argument("--size", choices=list(SIZES), default="tiny",
                   help="tiny: ~0.35M params, trains fast on a CPU; small: a few M params")
    p.add_argument("--arch", choices=list(ARCHS), default="llama", help="model family")
    p.add_argument("--corpus", metavar="FILE",
                   help="UTF-8 text file (or folder of .txt files) to train the tokenizer on")
    p.add_argument("--seed", type=number(int, *SEED_RANGE), default=0,
                   help="random seed for the weights")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty OUT")
    p.add_argument("--vocab", type=number(int, 1, MAX_VOCAB), default=0, metavar="N",
                   help="rows of the embedding and output layer (a real model's vocabulary, "
                        "e.g. 151936 for Qwen2.5, 128256 for Llama 3): the tokenizer stays the "
                        "size's, the rows above it are padding no text maps to")
    p.add_argument("--hidden", type=number(int, 1, MAX_HIDDEN), default=0, metavar="N",
                   help="hidden size (a multiple of 64: heads of 64 dimensions); the MLP width "
                        "follows in Llama's ratio")
    p.add_argument("--layers", type=number(int, 1, MAX_LAYERS), default=0, metavar="N",
                   help="decoder layers")
    p.add_argument("--pretrained", action="store_true",
                   help="the pretrained starter (it has learned the bundled corpus: a model "
                        "that fine-tuning visibly changes) instead of random weights")
    p.add_argument("--retrain", action="store_true",
                   help="with --pretrained: pre-train it here from random weights (a stage: "
                        "pretrain run of a few minutes on a CPU) instead of copying the "
                        "shipped weights")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from transformers.utils import logging as hf_logging

    from studio.core.model.starter import custom_size, new_model

    hf_logging.disable_progress_bar()  # one summary line instead of a shard-writing bar
    if args.retrain and not args.pretrained:
        raise UserError("--retrain goes with --pretrained")
    if args.pretrained:
        if args.vocab or args.hidden or args.layers:
            raise UserError("--vocab / --hidden / --layers shape a random-weight model; the "
                            "pretrained starter has its own shape")
        return _pretrained(args)
    size = args.size
    if args.vocab or args.hidden or args.layers:
        size = custom_size(args.size, vocab=args.vocab, hidden=args.hidden, layers=args.layers)
    out = new_model(args.out, size=size, arch=args.arch, corpus=args.corpus,
                    seed=args.seed, overwrite=args.overwrite)
    cfg = json.loads((out / "config.json").read_text(encoding="utf-8"))
    shaped = " (reshaped)" if size != args.size else ""
    print(f"wrote {args.arch} {args.size}{shaped} model to {out}: {_param_count(out):,} "
          f"parameters, {cfg['num_hidden_layers']} layers x {cfg['hidden_size']} hidden, "
          f"vocab {cfg['vocab_size']}")
    return 0


def _pretrained(args: argparse.Namespace) -> int:
    from studio.core.model import pretrained

    if args.retrain:
        out = pretrained.pretrain(args.out, reporter=_Progress(), overwrite=args.overwrite)
    else:
        out = pretrained.copy_shipped(args.out, overwrite=args.overwrite)
    print(f"wrote the pretrained starter to {out}: {_param_count(out):,} parameters; "
          f"held-out corpus text: {out / pretrained.HELD_OUT_FILE}")
    return 0


class _Progress:
    """Pre-training progress on stdout, one line every 10 steps."""

    def on_step(self, m) -> None:
        print(f"pre-training step {m.step}/{m.total_steps}: loss {m.loss:.3f}", flush=True)

    def on_eval(self, m) -> None:
        pass

    def on_event(self, e) -> None:
        if e.event in ("started", "finished"):
            print(f"pre-training {e.event}: {e.detail}", flush=True)


def _param_count(folder) -> int:
    """Parameters stored in the folder's safetensors file (read from its header only)."""
    from safetensors import safe_open

    total = 0
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        for key in f.keys():
            n = 1
            for d in f.get_slice(key).get_shape():
                n *= d
            total += n
    return total
