#!/usr/bin/env python3
"""Studio engine vs the standard recipe (transformers Trainer + PEFT LoRA, dynamic padding).

Same model (the tiny starter), same data (the first ROWS rows of alpaca_en_demo.json tokenized
the same way: the model's chat template, loss on the answers), same effective batch, same
max_length, same LoRA (r=16, alpha=32, all linear layers), same schedule, one epoch. Each run is
its own process (so peak RSS is the run's own), alternating baseline / studio, REPEATS times.
Prints real (non-padding) tokens/s, the ratio, peak memory, and the mean training loss of each.

    python bench/train_throughput.py [--rows 200] [--batch 8] [--max-length 512] [--repeats 3]
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
DATA = ROOT.parent / "shared" / "datasets" / "alpaca_en_demo.json"
LR, WARMUP, SEED = 1e-3, 0.03, 42


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
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0,
                                             target_modules="all-linear", task_type="CAUSAL_LM"))
    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(output_dir=out, per_device_train_batch_size=args.batch,
                                  num_train_epochs=1, learning_rate=LR, lr_scheduler_type="cosine",
                                  warmup_steps=WARMUP, weight_decay=0.0, max_grad_norm=1.0,
                                  logging_steps=1, save_strategy="no", report_to=[],
                                  use_cpu=True, seed=SEED, dataloader_num_workers=0,
                                  remove_unused_columns=False, disable_tqdm=True)
        collator = DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)
        trainer = Trainer(model=model, args=targs, train_dataset=rows, data_collator=collator)
        t0 = time.perf_counter()
        out_ = trainer.train()
        dt = time.perf_counter() - t0
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"seconds": dt, "real_tokens": sum(len(r["input_ids"]) for r in rows),
            "mean_loss": out_.training_loss, "last_loss": losses[-1] if losses else None,
            "steps": trainer.state.global_step}


def child_studio(args) -> dict:
    from studio.core import config
    from studio.core.events import NullReporter
    from studio.core.train import trainer

    marks: dict = {"steps": [], "loss": []}

    class Clock(NullReporter):
        def on_event(self, e):
            if e.event in ("started", "resumed"):
                marks["t0"] = time.perf_counter()

        def on_step(self, m):
            marks["t1"] = time.perf_counter()
            marks["loss"].append(m.loss)
            marks["tokens"] = marks.get("tokens", 0) + m.tokens

    with tempfile.TemporaryDirectory() as out:
        cfg = config.from_dict({
            "model": args.model, "dataset": args.data, "output_dir": f"{out}/run",
            "method": "lora", "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.0,
            "target_modules": "all-linear", "batch_size": args.batch, "grad_accum": 1,
            "epochs": 1, "max_length": args.max_length, "learning_rate": LR,
            "lr_scheduler": "cosine", "warmup_ratio": WARMUP, "seed": SEED, "eval_split": 0.0,
            "packing": args.packing, "save_steps": 10_000, "logging_steps": 1})
        trainer.train(cfg, Clock())
    return {"seconds": marks["t1"] - marks["t0"], "real_tokens": marks["tokens"],
            "mean_loss": statistics.fmean(marks["loss"]), "last_loss": marks["loss"][-1],
            "steps": len(marks["loss"])}


def run_child(kind: str, args, model_dir: str, data_file: str) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--model", model_dir, "--data", data_file,
           "--batch", str(args.batch), "--max-length", str(args.max_length)]
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
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--model", default="")
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
        model_dir = args.model
        if not model_dir:
            from studio.core.model.starter import new_model

            model_dir = str(new_model(Path(tmp) / "tiny", size="tiny", arch="llama", seed=0))
        rows = json.loads(Path(args.data).read_text(encoding="utf-8"))[:args.rows]
        data_file = str(Path(tmp) / "rows.json")
        Path(data_file).write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        print(f"{args.rows} rows of {Path(args.data).name}, batch {args.batch}, max_length "
              f"{args.max_length}, LoRA r=16 all-linear, 1 epoch, torch threads "
              f"{os.cpu_count()} cores, {args.repeats} alternating repeats\n")
        results: dict[str, list[dict]] = {"baseline": [], "studio": []}
        for i in range(args.repeats):
            for kind in ("baseline", "studio"):
                r = run_child(kind, args, model_dir, data_file)
                results[kind].append(r)
                print(f"  repeat {i + 1} {kind:8s} {r['real_tokens'] / r['seconds']:8.0f} tok/s  "
                      f"{r['seconds']:6.1f} s  peak {r['peak_rss_mb']:6.0f} MB  "
                      f"mean loss {r['mean_loss']:.4f}  steps {r['steps']}", flush=True)
    report(results)


def report(results: dict[str, list[dict]]) -> None:
    def med(kind: str, key: str) -> float:
        if key == "tps":
            return statistics.median(r["real_tokens"] / r["seconds"] for r in results[kind])
        return statistics.median(r[key] for r in results[kind])

    b, s = "baseline", "studio"
    print("\n| figure (median) | Trainer+PEFT | studio | studio / Trainer |")
    print("|---|---|---|---|")
    print(f"| real tokens/s | {med(b, 'tps'):.0f} | {med(s, 'tps'):.0f} | "
          f"{med(s, 'tps') / med(b, 'tps'):.2f}x |")
    print(f"| peak RSS (MB) | {med(b, 'peak_rss_mb'):.0f} | {med(s, 'peak_rss_mb'):.0f} | "
          f"{med(s, 'peak_rss_mb') / med(b, 'peak_rss_mb'):.2f}x |")
    print(f"| mean training loss | {med(b, 'mean_loss'):.4f} | {med(s, 'mean_loss'):.4f} | "
          f"{med(s, 'mean_loss') / med(b, 'mean_loss'):.3f}x |")
    print(f"| optimizer steps | {med(b, 'steps'):.0f} | {med(s, 'steps'):.0f} | |")


if __name__ == "__main__":
    main()
