#!/usr/bin/env python3
"""Studio engine vs the standard recipe (transformers Trainer + PEFT LoRA, dynamic padding).

Same model, same data (the first ROWS rows of an alpaca-format file tokenized the same way:
the model's chat template, loss on the answers), same effective batch, same max_length, same
method (LoRA r=16, alpha=32 on all linear layers, or full fine-tuning), same schedule, one
epoch. Each run is its own process (so peak RSS is the run's own), alternating Trainer /
studio, REPEATS times. Prints real (non-padding) tokens/s per wall second and per CPU second
(the machine may be shared: CPU seconds do not count waiting for a core), the ratios, peak RSS,
the studio's pre-run memory estimate against its peak, and the mean training loss of each.

Shapes (`--shape`): `tiny` (the tiny starter, vocabulary 2,050), `qwen152k` (Qwen2.5's
151,936-row vocabulary on a 2-layer x 256 body, tied head), `llama128k` (Llama 3's 128,256,
untied head), `deep` (151,936 rows, 12 layers x 768). The models come from `new-model --vocab
--hidden --layers` (random weights; the rows above the starter tokenizer are padding no text
maps to, so the loss starts near ln(vocabulary) as a real model's would not: the compute is a
real model's). `--precision bf16`: both sides in bf16 autocast (Trainer `bf16=True`; the studio
loads a LoRA base in bf16); only meaningful on CPUs with bf16 units (AVX512-BF16, AMX).

    python bench/train_throughput.py [--shape tiny] [--method lora] [--precision fp32]
        [--rows 200] [--batch 8] [--max-length 512] [--join 1] [--repeats 3]
        [--data resources/samples/alpaca_shaped.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "resources" / "samples" / "alpaca_shaped.json"  # bench/make_alpaca_sample.py
LR, FULL_LR, WARMUP, SEED = 1e-3, 1e-4, 0.03, 42
# new-model arguments of each shape: (base size, arch, vocab, hidden, layers)
SHAPES = {"tiny": ("tiny", "llama", 0, 0, 0),
          "qwen152k": ("small", "qwen2", 151_936, 256, 2),
          "llama128k": ("small", "llama", 128_256, 256, 2),
          "deep": ("small", "qwen2", 151_936, 768, 12)}


def make_model(shape: str, out: Path) -> str:
    from studio.core.model.starter import custom_size, new_model

    base, arch, vocab, hidden, layers = SHAPES[shape]
    size = custom_size(base, vocab=vocab, hidden=hidden, layers=layers) if vocab else base
    return str(new_model(out / shape, size=size, arch=arch, seed=0))


def join_rows(rows: list[dict], k: int) -> list[dict]:
    """Every k consecutive rows as one (their outputs concatenated): long samples for
    max_length 2048 from a file whose answers are alpaca-length."""
    if k <= 1:
        return rows
    return [{"instruction": g[0]["instruction"], "input": g[0].get("input", ""),
             "output": " ".join(r["output"] for r in g)}
            for g in (rows[i:i + k] for i in range(0, len(rows) - k + 1, k))]


def _tokenized(model_dir: str, data_file: str, max_length: int):
    from studio.core.data import doctor as data
    from studio.core.model import load as model

    tok = model.load_tokenizer(Path(model_dir))
    samples, _ = data.load_samples(data_file, "auto")
    items, _ = data.tokenize_dataset(samples, tok, max_length)
    return tok, items


def child_baseline(args) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
    )

    tok, items = _tokenized(args.model, args.data, args.max_length)
    rows = [{"input_ids": t.input_ids, "labels": t.labels,
             "attention_mask": [1] * len(t.input_ids)} for t in items]
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    if args.method == "lora":
        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0,
                                                 target_modules="all-linear",
                                                 task_type="CAUSAL_LM"))
    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(output_dir=out, per_device_train_batch_size=args.batch,
                                  num_train_epochs=1, learning_rate=_lr(args),
                                  lr_scheduler_type="cosine", bf16=args.precision == "bf16",
                                  warmup_steps=WARMUP, weight_decay=0.0, max_grad_norm=1.0,
                                  logging_steps=1, save_strategy="no", report_to=[],
                                  use_cpu=True, seed=SEED, dataloader_num_workers=0,
                                  remove_unused_columns=False, disable_tqdm=True)
        collator = DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)
        trainer = Trainer(model=model, args=targs, train_dataset=rows, data_collator=collator)
        t0, c0 = time.perf_counter(), time.process_time()
        out_ = trainer.train()
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"seconds": dt, "cpu_seconds": cpu,
            "real_tokens": sum(len(r["input_ids"]) for r in rows),
            "mean_loss": out_.training_loss, "last_loss": losses[-1] if losses else None,
            "steps": trainer.state.global_step}


def child_studio(args) -> dict:
    from studio.core import config
    from studio.core.events import NullReporter
    from studio.core.model import memory
    from studio.core.train import trainer

    marks: dict = {"steps": [], "loss": []}

    class Clock(NullReporter):
        def on_event(self, e):
            if e.event in ("started", "resumed"):
                marks["t0"], marks["c0"] = time.perf_counter(), time.process_time()
                marks["precision"] = e.detail.split("(")[1].split(")")[0]

        def on_step(self, m):
            marks["t1"], marks["c1"] = time.perf_counter(), time.process_time()
            marks["loss"].append(m.loss)
            marks["tokens"] = marks.get("tokens", 0) + m.tokens

    with tempfile.TemporaryDirectory() as out:
        cfg = config.from_dict({
            "model": args.model, "dataset": args.data, "output_dir": f"{out}/run",
            "method": args.method, "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.0,
            "target_modules": "all-linear", "batch_size": args.batch, "grad_accum": 1,
            "epochs": 1, "max_length": args.max_length, "learning_rate": _lr(args),
            "lr_scheduler": "cosine", "warmup_ratio": WARMUP, "seed": SEED, "eval_split": 0.0,
            "packing": args.packing, "save_steps": 10_000, "logging_steps": 1,
            "precision": args.precision, "device": "cpu"})
        estimate = memory.estimate_memory(cfg, args.model, None, device_kind="cpu")
        trainer.train(cfg, Clock())
    return {"seconds": marks["t1"] - marks["t0"], "cpu_seconds": marks["c1"] - marks["c0"],
            "estimate_mb": estimate.total_mb, "precision": marks["precision"],
            "real_tokens": marks["tokens"],
            "mean_loss": statistics.fmean(marks["loss"]), "last_loss": marks["loss"][-1],
            "steps": len(marks["loss"])}


def _lr(args) -> float:
    return FULL_LR if args.method == "full" else LR


def run_child(kind: str, args, model_dir: str, data_file: str) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--model", model_dir, "--data", data_file,
           "--batch", str(args.batch), "--max-length", str(args.max_length),
           "--method", args.method, "--precision", args.precision]
    if args.packing:
        cmd.append("--packing")
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        sys.exit(f"{kind} run failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--packing", action="store_true", help="studio: pack rows instead of "
                    "length-grouping (the default)")
    ap.add_argument("--data", default=str(DATA), help="alpaca-format JSON file (default: "
                    "the repository's generated sample, bench/make_alpaca_sample.py)")
    ap.add_argument("--shape", choices=list(SHAPES), default="tiny")
    ap.add_argument("--method", choices=["lora", "full"], default="lora")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--join", type=int, default=1, help="join every N rows into one long "
                    "sample (for max_length 2048)")
    ap.add_argument("--sides", default="baseline,studio", help="which runs alternate")
    ap.add_argument("--model", default="", help="a model folder instead of --shape")
    ap.add_argument("--child", choices=["baseline", "studio"])
    args = ap.parse_args()
    if args.child:
        res = child_baseline(args) if args.child == "baseline" else child_studio(args)
        res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(res))
        return

    if not Path(args.data).is_file():
        sys.exit(f"dataset not found: {args.data}")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or make_model(args.shape, Path(tmp))
        rows = json.loads(Path(args.data).read_text(encoding="utf-8"))
        rows = join_rows(rows, args.join)[:args.rows]
        data_file = str(Path(tmp) / "rows.json")
        Path(data_file).write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        method = "LoRA r=16 all-linear" if args.method == "lora" else "full fine-tuning"
        name = Path(args.model).name if args.model else args.shape
        print(f"{name}, {len(rows)} rows of {Path(args.data).name}"
              f"{f' (joined by {args.join})' if args.join > 1 else ''}, batch {args.batch}, "
              f"max_length {args.max_length}, {method}, {args.precision}, 1 epoch, "
              f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, {args.repeats} "
              "alternating repeats\n")
        sides = args.sides.split(",")
        results: dict[str, list[dict]] = {k: [] for k in sides}
        for i in range(args.repeats):
            for kind in sides:
                r = run_child(kind, args, model_dir, data_file)
                results[kind].append(r)
                print(f"  repeat {i + 1} {kind:8s} {r['real_tokens'] / r['seconds']:8.0f} tok/s  "
                      f"{r['real_tokens'] / r['cpu_seconds']:8.0f} tok/CPU-s  "
                      f"{r['seconds']:6.1f} s  peak {r['peak_rss_mb']:6.0f} MB  "
                      + (f"estimate {r['estimate_mb']:6.0f} MB ({r['precision']})  "
                         if 'estimate_mb' in r else "")
                      + f"mean loss {r['mean_loss']:.4f}  steps {r['steps']}  "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
    if sides == ["baseline", "studio"]:
        report(results)


def report(results: dict[str, list[dict]]) -> None:
    def med(kind: str, key: str) -> float:
        if key in ("tps", "cps"):
            per = "seconds" if key == "tps" else "cpu_seconds"
            return statistics.median(r["real_tokens"] / r[per] for r in results[kind])
        return statistics.median(r[key] for r in results[kind])

    b, s = "baseline", "studio"
    print("\n| figure (median) | Trainer+PEFT | studio | studio / Trainer |")
    print("|---|---|---|---|")
    print(f"| real tokens/s | {med(b, 'tps'):.0f} | {med(s, 'tps'):.0f} | "
          f"{med(s, 'tps') / med(b, 'tps'):.2f}x |")
    print(f"| real tokens / CPU-s | {med(b, 'cps'):.0f} | {med(s, 'cps'):.0f} | "
          f"{med(s, 'cps') / med(b, 'cps'):.2f}x |")
    print(f"| peak RSS (MB) | {med(b, 'peak_rss_mb'):.0f} | {med(s, 'peak_rss_mb'):.0f} | "
          f"{med(s, 'peak_rss_mb') / med(b, 'peak_rss_mb'):.2f}x |")
    print(f"| mean training loss | {med(b, 'mean_loss'):.4f} | {med(s, 'mean_loss'):.4f} | "
          f"{med(s, 'mean_loss') / med(b, 'mean_loss'):.3f}x |")
    print(f"| optimizer steps | {med(b, 'steps'):.0f} | {med(s, 'steps'):.0f} | |")
    print(f"| studio memory estimate / its peak RSS | | {med(s, 'estimate_mb'):.0f} MB | "
          f"{med(s, 'estimate_mb') / med(s, 'peak_rss_mb'):.2f} |")


if __name__ == "__main__":
    main()
