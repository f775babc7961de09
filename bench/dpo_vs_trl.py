#!/usr/bin/env python3
"""Studio DPO vs TRL's DPOTrainer (1.16) on the same model, data and settings.

Same model (the tiny starter, or --model), same pairs (the first --rows pairs of
dpo_en_demo.json whose both sides fit in --max-length under the model's chat template, so
neither side truncates), LoRA r=16 alpha=32 on all linear layers with the adapter switched off
as the reference (TRL's default for PEFT and the studio's), sigmoid loss, beta 0.1, fp32, the
same batch of pairs, cosine schedule, one epoch. Each run is its own process (so peak RSS is the
run's own), alternating TRL / studio, --repeats times. Prints real (non-padding) tokens/s of
both sides, the ratio, peak RSS and the mean training loss.

    python bench/dpo_vs_trl.py --data PAIRS.json [--rows 64] [--batch 4] [--max-length 768]
                               [--repeats 3]

PAIRS.json: a JSON array of chosen / rejected rows in TRL's conversational shape, e.g.
LLaMA-Factory's data/dpo_en_demo.json (the figures in docs/performance.md used it).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LR, WARMUP, SEED, BETA = 5e-4, 0.03, 42, 0.1


def child_trl(args) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    rows = json.loads(Path(args.data).read_text(encoding="utf-8"))
    tok = AutoTokenizer.from_pretrained(args.model)
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    with tempfile.TemporaryDirectory() as out:
        targs = DPOConfig(output_dir=out, per_device_train_batch_size=args.batch,
                          num_train_epochs=1, learning_rate=LR, lr_scheduler_type="cosine",
                          warmup_steps=WARMUP, weight_decay=0.0, max_grad_norm=1.0,
                          logging_steps=1, save_strategy="no", report_to=[], use_cpu=True,
                          bf16=False, seed=SEED, dataloader_num_workers=0, disable_tqdm=True,
                          beta=BETA, loss_type=["sigmoid"], max_length=None)
        trainer = DPOTrainer(model=model, args=targs, train_dataset=Dataset.from_list(rows),
                             processing_class=tok,
                             peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0,
                                                    target_modules="all-linear",
                                                    task_type="CAUSAL_LM"))
        t0 = time.perf_counter()
        result = trainer.train()
        dt = time.perf_counter() - t0
    return {"seconds": dt, "real_tokens": int(trainer._total_train_tokens),
            "mean_loss": result.training_loss, "steps": trainer.state.global_step}


def child_studio(args) -> dict:
    from studio.core import config
    from studio.core.events import NullReporter
    from studio.core.train import trainer

    marks: dict = {"loss": [], "tokens": 0}

    class Clock(NullReporter):
        def on_event(self, e):
            if e.event == "started":
                marks["t0"] = time.perf_counter()

        def on_step(self, m):
            marks["t1"] = time.perf_counter()
            marks["loss"].append(m.loss)
            marks["tokens"] += m.tokens

    with tempfile.TemporaryDirectory() as out:
        cfg = config.from_dict({
            "model": args.model, "dataset": args.data, "output_dir": f"{out}/run",
            "stage": "dpo", "pref_loss": "sigmoid", "pref_beta": BETA,
            "method": "lora", "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.0,
            "target_modules": "all-linear", "batch_size": args.batch, "grad_accum": 1,
            "epochs": 1, "max_length": args.max_length, "learning_rate": LR,
            "lr_scheduler": "cosine", "warmup_ratio": WARMUP, "seed": SEED, "eval_split": 0.0,
            "save_steps": 10_000, "logging_steps": 1})
        trainer.train(cfg, Clock())
    return {"seconds": marks["t1"] - marks["t0"], "real_tokens": marks["tokens"],
            "mean_loss": statistics.fmean(marks["loss"]), "steps": len(marks["loss"])}


def fitting_pairs(model_dir: str, data_file: str, rows: int, max_length: int) -> list[dict]:
    """The first `rows` pairs whose both sides fit in max_length, in TRL's conversational
    shape (prompt / chosen / rejected as message lists; the studio reads it too)."""
    from studio.core.data import doctor as data
    from studio.core.data.preference import tokenize_preference
    from studio.core.model import load as model

    tok = model.load_tokenizer(Path(model_dir))
    samples, _ = data.load_samples(data_file, "auto", stage="dpo", skip_bad_rows=True)
    pairs, _ = tokenize_preference(samples, tok, max_length, stage="dpo")
    fit = {p.row for p in pairs if not p.truncated}
    out = []
    for s in samples:
        if s.row in fit and len(out) < rows:
            out.append({"prompt": [{"role": m.role, "content": m.content}
                                   for m in s.messages[:-1]],
                        "chosen": [{"role": "assistant", "content": s.messages[-1].content}],
                        "rejected": [{"role": "assistant", "content": s.rejected}]})
    return out


def run_child(kind: str, args, model_dir: str, data_file: str) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--model", model_dir, "--data", data_file,
           "--batch", str(args.batch), "--max-length", str(args.max_length)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        sys.exit(f"{kind} run failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=768)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", required=True,
                    help="preference pairs (a JSON array of chosen / rejected rows)")
    ap.add_argument("--model", default="")
    ap.add_argument("--child", choices=["trl", "studio"])
    args = ap.parse_args()
    if args.child:
        res = child_trl(args) if args.child == "trl" else child_studio(args)
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
        pairs = fitting_pairs(model_dir, args.data, args.rows, args.max_length)
        data_file = str(Path(tmp) / "pairs.json")
        Path(data_file).write_text(json.dumps(pairs, ensure_ascii=False), encoding="utf-8")
        print(f"{len(pairs)} pairs of {Path(args.data).name} (both sides within max_length "
              f"{args.max_length}), batch {args.batch} pairs, LoRA r=16 all-linear, sigmoid "
              f"beta {BETA}, 1 epoch, {args.repeats} alternating repeats\n")
        results: dict[str, list[dict]] = {"trl": [], "studio": []}
        for i in range(args.repeats):
            for kind in ("trl", "studio"):
                r = run_child(kind, args, model_dir, data_file)
                results[kind].append(r)
                print(f"  repeat {i + 1} {kind:6s} {r['real_tokens'] / r['seconds']:8.0f} tok/s  "
                      f"{r['seconds']:6.1f} s  peak {r['peak_rss_mb']:6.0f} MB  "
                      f"mean loss {r['mean_loss']:.4f}  steps {r['steps']}  "
                      f"tokens {r['real_tokens']}", flush=True)
    report(results)


def report(results: dict[str, list[dict]]) -> None:
    def med(kind: str, key: str) -> float:
        if key == "tps":
            return statistics.median(r["real_tokens"] / r["seconds"] for r in results[kind])
        return statistics.median(r[key] for r in results[kind])

    t, s = "trl", "studio"
    print("\n| figure (median) | TRL DPOTrainer | studio | studio / TRL |")
    print("|---|---|---|---|")
    print(f"| real tokens/s | {med(t, 'tps'):.0f} | {med(s, 'tps'):.0f} | "
          f"{med(s, 'tps') / med(t, 'tps'):.2f}x |")
    print(f"| peak RSS (MB) | {med(t, 'peak_rss_mb'):.0f} | {med(s, 'peak_rss_mb'):.0f} | "
          f"{med(s, 'peak_rss_mb') / med(t, 'peak_rss_mb'):.2f}x |")
    print(f"| mean training loss | {med(t, 'mean_loss'):.4f} | {med(s, 'mean_loss'):.4f} | "
          f"{med(s, 'mean_loss') / med(t, 'mean_loss'):.3f}x |")
    print(f"| optimizer steps | {med(t, 'steps'):.0f} | {med(s, 'steps'):.0f} | |")
    print(f"| real tokens | {med(t, 'real_tokens'):.0f} | {med(s, 'real_tokens'):.0f} | |")


if __name__ == "__main__":
    main()
