#!/usr/bin/env python3
"""Streaming chat (studio.core.chat.engine.ChatEngine) vs a bare `model.generate` on the same model
and settings: greedy, a fixed number of new tokens (min_new_tokens = max_new_tokens, so both write
exactly the same tokens), the same chat-template prompt. Runs alternate bare / streaming, REPEATS
times after a warm-up; the table shows medians of tokens/s (wall clock and per CPU second: on a
busy machine the CPU figure shows the work done, free of waiting for a core), the streaming / bare
ratios (median of each repeat's ratio; the bar: >= 0.9) and first-token latency.

Bare first-token latency is the time of a generate() with max_new_tokens=1 (prefill plus one
token); streaming first-token latency is when the first piece of text reached the callback.

    python bench/chat.py [--size tiny|small] [--model DIR] [--tokens 128] [--repeats 5]
                         [--device auto|cpu|cuda] [--threads N] [--logprobs]
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


def bare(engine, settings) -> tuple[float, float, int, float]:
    """(wall s, CPU s, new tokens, first-token s = wall) of one plain generate() call with the
    engine's own generation config."""
    import torch

    ids = engine.prompt_ids(PROMPT)
    cfg = engine.generation_config(settings)
    _sync(engine.device)
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        out = engine.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                    generation_config=cfg)
    _sync(engine.device)
    wall = time.perf_counter() - t0
    return wall, time.process_time() - c0, out.shape[1] - ids.shape[1], wall


def streamed(engine, settings) -> tuple[float, float, int, float]:
    """(wall s, CPU s, new tokens, first-token s) of one streamed reply."""
    pieces = []
    _sync(engine.device)
    c0 = time.process_time()
    reply = engine.reply(PROMPT, settings, on_chunk=pieces.append)
    _sync(engine.device)
    return reply.seconds, time.process_time() - c0, reply.tokens, reply.first_token_s


def load(args):
    import torch

    from studio.core.chat.engine import ChatEngine
    from studio.core.model import load as model_mod
    from studio.core.model.starter import new_model

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
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--logprobs", action="store_true",
                   help="also time streaming with per-token log-probs (probability view)")
    args = p.parse_args()

    import torch

    from studio.core.chat.engine import GenSettings

    if args.threads:
        torch.set_num_threads(args.threads)
    engine, folder = load(args)
    settings = GenSettings(temperature=0.0, max_new_tokens=args.tokens,
                           min_new_tokens=args.tokens)
    one = GenSettings(temperature=0.0, max_new_tokens=1, min_new_tokens=1)
    modes = ["bare", "streamed"] + (["streamed+logprobs"] if args.logprobs else [])
    with_lp = GenSettings(temperature=0.0, max_new_tokens=args.tokens,
                          min_new_tokens=args.tokens, logprobs=True)
    runs = {"bare": lambda: bare(engine, settings),
            "streamed": lambda: streamed(engine, settings),
            "streamed+logprobs": lambda: streamed(engine, with_lp)}
    wall: dict[str, list[float]] = {m: [] for m in modes}    # tokens/s
    cpu: dict[str, list[float]] = {m: [] for m in modes}     # tokens per CPU second
    first: dict[str, list[float]] = {m: [] for m in modes}
    for m in modes:  # warm-up: caches, allocator, lazy imports
        runs[m]()
    for _ in range(args.repeats):  # modes interleaved: a slow spell hits them alike
        for m in modes:
            w, c, n, ft = runs[m]()
            wall[m].append(n / w)
            cpu[m].append(n / c if c > 0 else float("nan"))
            first[m].append(bare(engine, one)[0] if m == "bare" else ft)
    n_params = sum(p.numel() for p in engine.model.parameters())
    print(f"model {folder.name} ({n_params / 1e6:.2f}M params) on {engine.device} "
          f"({torch.get_num_threads()} threads), {args.tokens} new tokens, greedy, "
          f"median of {args.repeats}")
    print(f"{'mode':<20}{'tokens/s':>10}{'ratio':>8}{'tok/CPU-s':>11}{'ratio':>8}"
          f"{'first token ms':>16}")
    med = statistics.median
    for m in modes:
        # ratios per repeat (neighbours in time), then the median: robust to a busy machine
        r_wall = med([a / b for a, b in zip(wall[m], wall["bare"])])
        r_cpu = med([a / b for a, b in zip(cpu[m], cpu["bare"])])
        print(f"{m:<20}{med(wall[m]):>10.1f}{r_wall:>8.3f}{med(cpu[m]):>11.1f}{r_cpu:>8.3f}"
              f"{med(first[m]) * 1000:>16.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
