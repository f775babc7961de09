#!/usr/bin/env python3
"""The studio's engine on one NVIDIA GPU: Qwen2.5-0.5B- and 7B-shaped models, LoRA, QLoRA and
full fine-tuning, packed and unpacked batches.

The models have the published Qwen2.5 shapes (numbers below; no download) and random weights,
written as normal Hugging Face folders (bf16 safetensors + a BPE tokenizer from the starter
corpus), so the studio's trainer loads them through its own code exactly as a downloaded model.
Each (model, method, max_length, packing) runs `studio.core.train.trainer.train` in its own process
(its peak memory is its own; an out-of-memory or a hang ends that row only), on synthetic
instruction rows long enough that every sample is max_length tokens (or on --data). Packed rows
are one long row with a block-diagonal (T x T) mask; unpacked rows are the studio's default
path (padded batches, the flash / memory-efficient SDPA kernels where the GPU has them). Per row:

  tokens/s    real tokens of the measured steps / their wall time (the first --warmup steps,
              with CUDA's kernel selection and allocator growth, are not measured)
  MFU         tokens/s x FLOPs per token / the GPU's peak dense 16-bit FLOP/s (a MIG slice:
              its share; studio.core.device.peak_tflops). FLOPs per token:
              4N for LoRA / QLoRA (forward 2N + backward through the frozen weights 2N), 6N for
              full; N = the matmul parameters (decoder layers + LM head; the embedding lookup
              does no matmul). Attention's T^2 term and recomputation under gradient
              checkpointing are not counted (the usual MFU convention).
  peak        torch.cuda.max_memory_allocated (and _reserved) of the run; RSS on a CPU
  estimate    studio.core.model.memory.estimate_memory for the same config, device and memory
              budget the trainer uses (free memory, compute capability), and estimate / peak
              allocated. It includes ~500 MB of CUDA context and 10% for fragmentation, which
              max_memory_allocated does not see.

    python bench/gpu.py                      # 12 rows; fits 10 minutes on an H100 / H200
    bench/gpu.sh                             # the same under a hard 10-minute limit
    python bench/gpu.py --models 0.5b --methods lora --lengths 1024,2048 --packing off
    python bench/gpu.py --smoke              # tiny shapes on the CPU, 2 steps (CI)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Published configs (Qwen/Qwen2.5-0.5B and Qwen/Qwen2.5-7B config.json). The 7B's vocabulary is
# 152064 rows (padded for tensor parallelism); the 0.5B's 151936.
SHAPES = {
    "0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2, vocab_size=151936,
                 tie_word_embeddings=True, max_position_embeddings=32768),
    "7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
               num_attention_heads=28, num_key_value_heads=4, vocab_size=152064,
               tie_word_embeddings=False, max_position_embeddings=131072),
    # --smoke: the same code path on the CPU in seconds
    "smoke": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, vocab_size=1024,
                  tie_word_embeddings=True, max_position_embeddings=1024),
}
COMMON = dict(rope_theta=1_000_000.0, rms_norm_eps=1e-6, use_sliding_window=False,
              hidden_act="silu", initializer_range=0.02)

TOKENS_PER_BATCH = 8192   # micro-batch size = this / max_length samples (8 x 1024, 4 x 2048)
SHARD_BYTES = 4 << 30     # safetensors shard size of the written weights
MB = 2 ** 20


# --- pure helpers (no torch) --------------------------------------------------------------------

def peak_tflops(device_name: str) -> float | None:
    from studio.core.device import peak_tflops as by_name  # one table, MIG- and NVL-aware

    return by_name(device_name)


def matmul_params(shape: dict) -> int:
    """N of the FLOPs-per-token rule: decoder layers + LM head (tied or not: the head's matmul
    runs either way); the input embedding is a lookup."""
    from studio.core.model.memory import model_dims

    dims = model_dims({"model_type": "qwen2", **shape})
    return dims.layers * dims.layer_params() + dims.vocab * dims.hidden


def flops_per_token(shape: dict, method: str) -> float:
    return (6.0 if method in ("full", "freeze") else 4.0) * matmul_params(shape)


def write_rows(path: Path, rows: int, min_chars: int, seed: int = 0) -> Path:
    """Alpaca rows whose answer is a long shuffle of the starter corpus's paragraphs: every
    sample is cut at max_length, so each step trains batch x max_length tokens, nearly all of
    them answer tokens (the loss is on the answer)."""
    from studio.core.model.starter import corpus_files

    paragraphs = [p.strip() for f in corpus_files() for p in
                  f.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for _ in range(rows):
            parts, n = [], 0
            while n < min_chars:
                parts.append(rng.choice(paragraphs))
                n += len(parts[-1]) + 2
            f.write(json.dumps({"instruction": "Continue the text.", "input": "",
                                "output": "\n\n".join(parts)}, ensure_ascii=False) + "\n")
    return path


# --- child: write a model folder -----------------------------------------------------------------

def child_build(shape_name: str, out: Path) -> dict:
    """config.json + bf16 safetensors shards (+ index) + tokenizer, without building the model:
    the parameter names and shapes come from transformers' own Qwen2 built on the meta device,
    the values are drawn shard by shard (normal(0, 0.02), norms 1, biases 0, as HF initialises)."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, Qwen2Config

    from studio.core.model import starter

    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    tok = starter.train_tokenizer(starter.corpus_files(), 512 if shape_name == "smoke" else 8192)
    shape = SHAPES[shape_name]
    cfg = Qwen2Config(**shape, **COMMON, dtype="bfloat16",
                      bos_token_id=tok.convert_tokens_to_ids(starter.BOS),
                      eos_token_id=tok.convert_tokens_to_ids(starter.EOS),
                      pad_token_id=tok.convert_tokens_to_ids(starter.PAD))
    with torch.device("meta"):
        meta = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    names = {k: tuple(v.shape) for k, v in meta.state_dict().items()}
    if cfg.tie_word_embeddings:
        names.pop("lm_head.weight", None)  # saved once, as the embedding
    # plan the shards first, then draw and write one shard at a time (RAM: one shard)
    shard_bytes = 100_000 if shape_name == "smoke" else SHARD_BYTES  # smoke: several too
    shards: list[list[str]] = [[]]
    size = 0
    for name, shp in names.items():
        nbytes = 2 * _numel(shp)
        if size and size + nbytes > shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes
    device = "cuda" if torch.cuda.is_available() else "cpu"
    gen = torch.Generator(device).manual_seed(0)
    weight_map, total = {}, 0
    for i, shard in enumerate(shards):
        fname = ("model.safetensors" if len(shards) == 1
                 else f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors")
        tensors = {name: _init(name, names[name], device, gen) for name in shard}
        save_file(tensors, str(out / fname), metadata={"format": "pt"})
        weight_map.update({k: fname for k in shard})
        total += sum(t.numel() * 2 for t in tensors.values())
        del tensors
    if len(shards) > 1:
        (out / "model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1))
    cfg.save_pretrained(out)
    tok.save_pretrained(out)
    if shape_name == "smoke":  # the folder must load whole: no key left to random init
        _, info = AutoModelForCausalLM.from_pretrained(out, output_loading_info=True)
        missing = [k for k in info["missing_keys"] if k != "lm_head.weight"]
        if missing or info["unexpected_keys"]:
            raise SystemExit(f"written weights do not match the model: {info}")
    return {"seconds": time.perf_counter() - t0, "bytes": total}


def _numel(shape: tuple) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _init(name: str, shape: tuple, device: str, gen) -> "object":
    import torch

    if name.endswith("norm.weight"):
        return torch.ones(shape, dtype=torch.bfloat16)
    if name.endswith(".bias"):
        return torch.zeros(shape, dtype=torch.bfloat16)
    return torch.empty(shape, dtype=torch.bfloat16, device=device).normal_(
        0.0, COMMON["initializer_range"], generator=gen).cpu()


# --- child: one training run ---------------------------------------------------------------------

def child_train(a: argparse.Namespace) -> dict:
    import torch

    from studio.core import config
    from studio.core import device as policy
    from studio.core.events import NullReporter
    from studio.core.model import memory
    from studio.core.train import trainer

    cuda = torch.cuda.is_available()
    steps = a.warmup + a.steps
    with tempfile.TemporaryDirectory(dir=a.workdir) as out:
        cfg = config.from_dict({
            "model": a.model_dir, "dataset": a.data, "format": a.format,
            "output_dir": f"{out}/run", "method": a.method, "max_length": a.max_length,
            "batch_size": a.batch, "grad_accum": 1, "max_steps": steps, "eval_split": 0.0,
            "packing": a.packing == ["on"], "learning_rate": 1e-4, "warmup_ratio": 0.0,
            "save_steps": 10 * steps, "logging_steps": 1, "seed": 0})
        kind = "cuda" if cuda else "cpu"
        # the budget and device the trainer decides gradient checkpointing with (train/setup)
        budget = policy.memory_budget_mb(torch.cuda.mem_get_info()[0] / MB) if cuda else None
        capability = policy.capability_of(kind)
        est = memory.estimate_memory(cfg, a.model_dir, budget, device_kind=kind,
                                     capability=capability)
        marks: dict = {"t": [], "tokens": [], "loss": []}

        class Clock(NullReporter):
            def on_event(self, e):
                if e.event == "started":
                    marks["t0"] = time.perf_counter()

            def on_step(self, m):
                marks["t"].append(time.perf_counter())
                marks["tokens"].append(m.tokens)
                marks["loss"].append(m.loss)

        if cuda:
            torch.cuda.reset_peak_memory_stats()
        result = trainer.train(cfg, Clock())
    res = {"status": result.status, "reason": result.reason, "device": kind,
           "device_name": torch.cuda.get_device_name(0) if cuda else "CPU",
           "estimate_mb": est.total_mb, "checkpointing": est.checkpointing,
           "precision": est.precision,
           "attention": policy.attention_kernel(capability, est.precision),
           "steps_done": len(marks["t"])}
    if cuda:
        res["peak_mb"] = torch.cuda.max_memory_allocated() / MB
        res["reserved_mb"] = torch.cuda.max_memory_reserved() / MB
    else:
        res["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t, n = marks["t"], len(marks["t"])
    if n > a.warmup and (a.warmup or "t0" in marks):
        start = t[a.warmup - 1] if a.warmup else marks["t0"]
        res["tokens_per_s"] = sum(marks["tokens"][a.warmup:]) / max(t[-1] - start, 1e-9)
        res["tokens_per_step"] = sum(marks["tokens"][a.warmup:]) / (n - a.warmup)
        res["last_loss"] = marks["loss"][-1]
    return res


# --- the parent ----------------------------------------------------------------------------------

def _run_child(args: list[str], timeout: float, log: Path) -> tuple[dict | None, str]:
    """(the child's JSON result, or None and why it has none)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    try:
        with log.open("w") as err:
            r = subprocess.run([sys.executable, __file__, *args], stdout=subprocess.PIPE,
                               stderr=err, text=True, timeout=max(1.0, timeout), cwd=ROOT,
                               env=env)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    lines = r.stdout.strip().splitlines()
    if r.returncode == 0 and lines:
        return json.loads(lines[-1]), ""
    tail = [x for x in log.read_text(errors="replace").splitlines() if x.strip()]
    why = tail[-1] if tail else f"exit code {r.returncode}"
    return None, ("out of memory" if "OutOfMemory" in why else why)[:160]


def _pick_workdir(need_bytes: int) -> Path:
    """RAM-backed /dev/shm when it has room (writing and re-reading 15 GB of weights from a
    disk would eat minutes of the budget), else the temp folder."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and \
            shutil.disk_usage(shm).free > need_bytes * 1.3:
        return Path(tempfile.mkdtemp(prefix="studio-gpu-bench-", dir=shm))
    return Path(tempfile.mkdtemp(prefix="studio-gpu-bench-"))


def _bytes_of(shape_name: str) -> int:
    from studio.core.model.memory import model_dims

    return 2 * model_dims({"model_type": "qwen2", **SHAPES[shape_name]}).base_params()


HEADER = ("| model | method | max_length | packing | batch | grad ckpt | tokens/s | MFU "
          "| peak alloc GB | peak reserved GB | estimate GB | estimate / peak | note |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def _row(shape: str, method: str, length: int, packing: str, batch: int, r: dict | None,
         why: str, tflops: float | None) -> str:
    def gb(mb):
        return f"{mb / 1024:.2f}" if mb else "-"

    head = f"| {shape} | {method} | {length} | {packing} | {batch}"
    if r is None or "tokens_per_s" not in r:
        note = why or (r or {}).get("reason", "") or "no measured step"
        est = gb(r["estimate_mb"]) if r else "-"
        return f"{head} | - | - | - | - | - | {est} | - | {note} |"
    tps = r["tokens_per_s"]
    mfu = "-"
    if tflops and r["device"] == "cuda":
        mfu = f"{100 * tps * flops_per_token(SHAPES[shape], method) / (tflops * 1e12):.1f}%"
    peak = r["peak_mb"]
    note = ("peak = process RSS (CPU)" if r["device"] == "cpu"
            else f"{r.get('precision', '')}, {r.get('attention', '')} attention")
    if r["status"] != "finished":
        note = f"{r['status']}: {r['reason']}"[:160]
    return (f"{head} | {'on' if r['checkpointing'] else 'off'}"
            f" | {tps:,.0f} | {mfu} | {gb(peak)} | {gb(r.get('reserved_mb'))} "
            f"| {gb(r['estimate_mb'])} | {r['estimate_mb'] / peak:.2f} | {note} |")


def main_parent(a: argparse.Namespace) -> int:
    deadline = time.monotonic() + a.budget
    if a.smoke:
        a.models, a.lengths, a.steps, a.warmup = ["smoke"], [64], 1, 1
        a.tokens_per_batch = 128
    methods = list(a.methods)
    import importlib.util

    skipped = []
    if "qlora" in methods and importlib.util.find_spec("bitsandbytes") is None:
        methods.remove("qlora")
        skipped.append("qlora: bitsandbytes is not installed (pip install bitsandbytes)")
    work = Path(a.workdir) if a.workdir else _pick_workdir(max(_bytes_of(m) for m in a.models))
    work.mkdir(parents=True, exist_ok=True)
    batches = {n: max(1, a.tokens_per_batch // n) for n in a.lengths}
    data, fmt = str(Path(a.data).resolve()) if a.data else "", "auto"
    if not data:  # long rows: each sample is cut at max_length
        rows = (a.warmup + a.steps) * max(batches.values()) + 8
        data, fmt = str(write_rows(work / "rows.jsonl", rows, 8 * max(a.lengths))), "alpaca"
    print(f"studio GPU bench: models {', '.join(a.models)}; methods {', '.join(methods)}; "
          f"max_length {', '.join(map(str, a.lengths))}; packing {', '.join(a.packing)}; "
          f"{a.warmup} warm-up + {a.steps} measured steps; work folder {work}", flush=True)
    for s in skipped:
        print(f"skipped {s}", flush=True)
    device_name, rows_out, measured = "", [], 0
    try:
        for shape in a.models:
            left = deadline - time.monotonic()
            folder = work / f"qwen2.5-{shape}-shaped"
            built, why = (None, "skipped: the time budget ran out") if left < 60 else \
                _run_child(["--child", "build", "--shape", shape, "--model-dir", str(folder)],
                           min(a.build_timeout, left), work / f"build-{shape}.log")
            if built is None:
                print(f"no {shape} model: {why}", flush=True)
                rows_out += [_row(shape, m, n, p, batches[n], None, f"no model: {why}", None)
                             for m in methods for n in a.lengths for p in a.packing]
                continue
            print(f"built {folder.name}: {built['bytes'] / 2**30:.2f} GiB of bf16 weights in "
                  f"{built['seconds']:.0f} s", flush=True)
            for method, length, packing in [(m, n, p) for m in methods for n in a.lengths
                                             for p in a.packing]:
                left = deadline - time.monotonic()
                if left < 20:
                    rows_out.append(_row(shape, method, length, packing, batches[length], None,
                                         "skipped: the time budget ran out", None))
                    continue
                args = ["--child", "train", "--model-dir", str(folder), "--data", data,
                        "--format", fmt, "--method", method, "--max-length", str(length),
                        "--batch", str(batches[length]), "--steps", str(a.steps),
                        "--warmup", str(a.warmup), "--workdir", str(work),
                        "--packing", packing]
                r, why = _run_child(args, min(a.config_timeout, left),
                                    work / f"{shape}-{method}-{length}-{packing}.log")
                if r and r.get("device_name"):
                    device_name = r["device_name"]
                tflops = a.peak_tflops or peak_tflops(device_name)
                rows_out.append(_row(shape, method, length, packing, batches[length], r, why,
                                     tflops))
                measured += bool(r and "tokens_per_s" in r and r["status"] == "finished")
                print(f"  {rows_out[-1]}", flush=True)
            shutil.rmtree(folder, ignore_errors=True)  # free the RAM / disk for the next one
    finally:
        if not a.workdir and not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    tflops = a.peak_tflops or peak_tflops(device_name)
    print(f"\ndevice: {device_name or 'unknown'}; peak 16-bit dense: "
          f"{f'{tflops:g} TFLOP/s' if tflops else 'unknown (pass --peak-tflops)'}")
    print(HEADER)
    print("\n".join(rows_out))
    return 0 if rows_out and measured == len(rows_out) else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=lambda s: s.split(","), default=["0.5b", "7b"],
                    help="comma-separated: 0.5b,7b")
    ap.add_argument("--methods", type=lambda s: s.split(","),
                    default=["lora", "qlora", "full"])
    ap.add_argument("--lengths", type=lambda s: [int(x) for x in s.split(",")],
                    default=[1024])
    ap.add_argument("--packing", type=lambda s: s.split(","), default=["on", "off"],
                    help="on,off: packed rows, padded batches (the default path), or both")
    ap.add_argument("--steps", type=int, default=10, help="measured steps per row")
    ap.add_argument("--warmup", type=int, default=3, help="unmeasured first steps")
    ap.add_argument("--tokens-per-batch", type=int, default=TOKENS_PER_BATCH)
    ap.add_argument("--peak-tflops", type=float, help="the GPU's dense 16-bit peak (TFLOP/s)")
    ap.add_argument("--data", default="", help="a dataset file instead of synthetic rows")
    ap.add_argument("--budget", type=float, default=570.0, help="seconds for everything")
    ap.add_argument("--config-timeout", type=float, default=240.0)
    ap.add_argument("--build-timeout", type=float, default=180.0)
    ap.add_argument("--workdir", default="", help="default: /dev/shm when it has room")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    ap.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU (CI)")
    # internal: the per-configuration child processes
    ap.add_argument("--child", choices=["build", "train"], help=argparse.SUPPRESS)
    ap.add_argument("--shape", help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    ap.add_argument("--format", default="auto", help=argparse.SUPPRESS)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--max-length", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child == "build":
        print(json.dumps(child_build(a.shape, Path(a.model_dir))))
        return 0
    if a.child == "train":
        print(json.dumps(child_train(a)))
        return 0
    if a.smoke:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the smoke run is for CPUs, even on a GPU box
    unknown = [m for m in a.models if m not in SHAPES]
    if unknown:
        ap.error(f"unknown model {unknown[0]!r}; choose from 0.5b, 7b")
    if not a.packing or set(a.packing) - {"on", "off"}:
        ap.error("--packing takes on, off or on,off")
    return main_parent(a)


if __name__ == "__main__":
    sys.exit(main())
