#!/usr/bin/env python3
"""Where one training step's time goes: body (decoder) forward and backward, output layer +
loss (forward and backward), optimizer, for the standard recipe and for the studio's loss path.

One micro-batch of the first --batch rows of the sample (right-padded, loss on the answers),
the model of --shape (as in train_throughput.py), LoRA r=16 on all linear layers or full
fine-tuning, fp32 or bf16 autocast. Each section is timed in CPU seconds of the process (the
machine may be shared: CPU time does not count waiting for a core) and wall seconds; the
median of --steps steps after one warm-up step.

- standard: model(input_ids, attention_mask) -> (B, T, V) logits -> float32 cross-entropy over
  every position; one backward. The output layer's share of the backward is the time until
  the gradient reaches the last hidden state (a hook there), the rest is the body's.
- studio: the decoder's hidden states, only label positions through the fused output layer +
  loss (train/linear_ce.py: its backward is already done in forward), then the body's backward.

    python bench/profile_step.py [--shape qwen152k] [--method lora] [--precision fp32]
        [--batch 4] [--max-length 512] [--steps 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


class Clock:
    """Named sections, each in (CPU seconds, wall seconds)."""

    def __init__(self) -> None:
        self.parts: dict[str, list[tuple[float, float]]] = {}
        self._at = (time.process_time(), time.perf_counter())

    def lap(self, name: str) -> None:
        now = (time.process_time(), time.perf_counter())
        self.parts.setdefault(name, []).append((now[0] - self._at[0], now[1] - self._at[1]))
        self._at = now

    def reset(self) -> None:
        self._at = (time.process_time(), time.perf_counter())


def load(args):
    import torch
    from peft import LoraConfig, get_peft_model

    from studio.core.data import doctor as data
    from studio.core.model import load as model_mod
    from studio.core.train import batching

    tok = model_mod.load_tokenizer(Path(args.model))
    samples, _ = data.load_samples(args.data, "auto")
    items, _ = data.tokenize_dataset(samples[:args.batch], tok, args.max_length)
    batch = batching.collate_padded([(t.input_ids, t.labels) for t in items], 0)
    torch.manual_seed(0)
    dtype = torch.bfloat16 if args.precision == "bf16" and args.method == "lora" and \
        args.side == "studio" else torch.float32
    model = model_mod.load_model(Path(args.model), device="cpu", dtype=dtype)
    if args.method == "lora":
        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0,
                                                 target_modules="all-linear",
                                                 task_type="CAUSAL_LM"))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    return model, batch, opt, params


def _mark(marks: dict) -> None:
    """The gradient has reached the last hidden state: the output layer's backward is done."""
    marks["t"] = (time.process_time(), time.perf_counter())


def step_standard(model, batch, opt, clock: Clock, autocast) -> float:
    import torch.nn.functional as F

    from studio.core.train.loss import unwrap_causal_lm

    lm = unwrap_causal_lm(model)
    marks = {}
    with autocast():
        hidden = getattr(lm, lm.base_model_prefix)(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
            use_cache=False).last_hidden_state
        clock.lap("body forward")
        hidden.register_hook(lambda g: _mark(marks))
        logits = lm.get_output_embeddings()(hidden)                 # (B, T, V)
        loss = F.cross_entropy(logits[:, :-1].float().flatten(0, 1),
                               batch["labels"][:, 1:].flatten(), ignore_index=-100)
    clock.lap("output layer + loss forward")
    loss.backward()
    cpu, wall = clock._at
    clock.parts.setdefault("output layer + loss backward", []).append(
        (marks["t"][0] - cpu, marks["t"][1] - wall))
    clock._at = marks["t"]
    clock.lap("body backward")
    opt.step()
    opt.zero_grad(set_to_none=True)
    clock.lap("optimizer")
    return float(loss)


def step_studio(model, batch, opt, clock: Clock, autocast) -> float:
    from studio.core.train import loss as loss_mod
    from studio.core.train.linear_ce import linear_ce_sum

    lm = loss_mod.unwrap_causal_lm(model)
    head = lm.get_output_embeddings()
    with autocast():
        hidden = getattr(lm, lm.base_model_prefix)(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
            use_cache=False).last_hidden_state
        clock.lap("body forward")
        targets = batch["labels"][:, 1:]
        keep = targets != -100
        h, y = hidden[:, :-1][keep], targets[keep]                  # (N, H), (N,)
        total = linear_ce_sum(h, head.weight, y, loss_mod.fused_chunk_rows(head.weight.shape[0]))
        loss = total / len(y)
    clock.lap("output layer + loss forward")
    loss.backward()
    clock.lap("body backward")   # the head's backward was done in forward: a scaling here
    opt.step()
    opt.zero_grad(set_to_none=True)
    clock.lap("optimizer")
    return float(loss)


def child(args) -> dict:
    import torch

    model, batch, opt, _ = load(args)

    def autocast():
        if args.precision == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    step = step_studio if args.side == "studio" else step_standard
    clock = Clock()
    losses = []
    for i in range(args.steps + 1):
        if i == 1:
            clock = Clock()  # the first step warms up: not counted
        clock.reset()
        losses.append(step(model, batch, opt, clock, autocast))
    return {"parts": {k: [statistics.median(c for c, _ in v), statistics.median(w for _, w in v)]
                      for k, v in clock.parts.items()},
            "loss": losses[1], "tokens": int(batch["attention_mask"].sum()),
            "labels": int((batch["labels"][:, 1:] != -100).sum())}


def main() -> int:
    import subprocess

    from train_throughput import DATA, SHAPES, join_rows, make_model

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=list(SHAPES), default="qwen152k")
    ap.add_argument("--model", default="", help="a model folder instead of --shape")
    ap.add_argument("--method", choices=["lora", "full"], default="lora")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--join", type=int, default=1, help="join every N rows into one long "
                    "sample (for max_length 2048)")
    ap.add_argument("--side", choices=["standard", "studio"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        print(json.dumps(child(args)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or make_model(args.shape, Path(tmp))
        if args.join > 1:
            rows = json.loads(Path(args.data).read_text(encoding="utf-8"))
            args.data = str(Path(tmp) / "joined.json")
            Path(args.data).write_text(json.dumps(join_rows(rows, args.join)), encoding="utf-8")
        res = {}
        for side in ("standard", "studio"):
            cmd = [sys.executable, __file__, "--side", side, "--model", model, "--method",
                   args.method, "--precision", args.precision, "--batch", str(args.batch),
                   "--max-length", str(args.max_length), "--steps", str(args.steps),
                   "--data", args.data]
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            if r.returncode:
                sys.exit(f"{side} failed:\n{r.stderr[-3000:]}")
            res[side] = json.loads(r.stdout.strip().splitlines()[-1])
    s = res["standard"]
    print(f"{Path(model).name if args.model else args.shape}, {args.method}, {args.precision}, "
          f"batch {args.batch} x max_length {args.max_length}: {s['tokens']} real tokens, "
          f"{s['labels']} label tokens; loss standard {s['loss']:.4f} studio "
          f"{res['studio']['loss']:.4f}\n")
    print("| section | standard CPU-s | share | studio CPU-s | share |")
    print("|---|---|---|---|---|")
    names = list(dict.fromkeys(list(s["parts"]) + list(res["studio"]["parts"])))
    tot = {k: sum(c for c, _ in v["parts"].values()) for k, v in res.items()}
    for name in names:
        cells = []
        for side in ("standard", "studio"):
            c = res[side]["parts"].get(name, [0.0, 0.0])[0]
            cells += [f"{c:.2f}", f"{100 * c / tot[side]:.0f}%"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"| whole step | {tot['standard']:.2f} | | {tot['studio']:.2f} | "
          f"{tot['standard'] / tot['studio']:.2f}x faster |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
