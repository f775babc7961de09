#!/usr/bin/env python3
"""Streaming chat (studio.core.chat.ChatEngine) vs a bare `model.generate` on the same model and
settings: greedy, a fixed number of new tokens (min_new_tokens = max_new_tokens, so both write
exactly the same tokens), the same chat-template prompt. Runs alternate bare / streaming, REPEATS
times after a warm-up; the table shows medians of tokens/s and first-token latency, and the
streaming / bare ratio (the bar: >= 0.9).

Bare first-token latency is the time of a generate() with max_new_tokens=1 (prefill plus one
token); streaming first-token latency is when the first piece of text reached the callback.

    python bench/chat.py [--size tiny|small] [--model DIR] [--tokens 128] [--repeats 5]
                         [--device auto|cpu|cuda] [--logprobs]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PROMPT = [{"role": "user", "content": "Explain in one paragraph what a neural network is. "
                                      "用一段话解释什么是神经网络。"}]


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare(engine, settings) -> tuple[float, int]:
    """(seconds, new tokens) of one plain generate() call with the engine's own config."""
    import torch

    ids = engine.prompt_ids(PROMPT)
    cfg = engine.generation_config(settings)
    _sync(engine.device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = engine.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                    generation_config=cfg)
    _sync(engine.device)
    return time.perf_counter() - t0, out.shape[1] - ids.shape[1]


def streamed(engine, settings) -> tuple[float, int, float]:
    """(seconds, new tokens, first-token seconds) of one streamed reply."""
    pieces = []
    _sync(engine.device)
    reply = engine.reply(PROMPT, settings, on_chunk=pieces.append)
    _sync(engine.device)
    return reply.seconds, reply.tokens, reply.first_token_s


def load(args):
    import torch

    from studio.core import model as model_mod
    from studio.core.chat import ChatEngine
    from studio.core.starter import new_model

    device = args.device if args.device != "auto" else \
        ("cuda" if torch.cuda.is_available() else "cpu")
    folder = Path(args.model) if args.model else \
        new_model(Path(tempfile.mkdtemp()) / f"starter-{args.size}", size=args.size)
    model = model_mod.load_model(folder, device=device)
    model.eval()
    return ChatEngine(model, model_mod.load_tokenizer(folder)), folder


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="small", choices=("tiny", "small"))
    p.add_argument("--model", help="a model folder instead of a starter model")
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--logprobs", action="store_true",
                   help="also time streaming with per-token log-probs (probability view)")
    args = p.parse_args()

    from studio.core.chat import GenSettings

    engine, folder = load(args)
    settings = GenSettings(temperature=0.0, max_new_tokens=args.tokens,
                           min_new_tokens=args.tokens)
    one = GenSettings(temperature=0.0, max_new_tokens=1, min_new_tokens=1)
    modes = ["bare", "streamed"] + (["streamed+logprobs"] if args.logprobs else [])
    with_lp = GenSettings(temperature=0.0, max_new_tokens=args.tokens,
                          min_new_tokens=args.tokens, logprobs=True)
    speed: dict[str, list[float]] = {m: [] for m in modes}
    first: dict[str, list[float]] = {m: [] for m in modes}
    bare(engine, settings), streamed(engine, settings)  # warm-up: caches, kernels, allocator
    for _ in range(args.repeats):
        sec, n = bare(engine, settings)
        speed["bare"].append(n / sec)
        first["bare"].append(bare(engine, one)[0])
        sec, n, ft = streamed(engine, settings)
        speed["streamed"].append(n / sec)
        first["streamed"].append(ft)
        if args.logprobs:
            sec, n, ft = streamed(engine, with_lp)
            speed["streamed+logprobs"].append(n / sec)
            first["streamed+logprobs"].append(ft)
    n_params = sum(p.numel() for p in engine.model.parameters())
    print(f"model {folder.name} ({n_params / 1e6:.2f}M params) on {engine.device}, "
          f"{args.tokens} new tokens, greedy, median of {args.repeats}")
    base = statistics.median(speed["bare"])
    print(f"{'mode':<20}{'tokens/s':>10}{'first token ms':>16}{'ratio':>8}")
    for m in modes:
        s = statistics.median(speed[m])
        print(f"{m:<20}{s:>10.1f}{statistics.median(first[m]) * 1000:>16.1f}{s / base:>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
