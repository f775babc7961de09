"""`python main.py export RUN_DIR --to DIR`: an adapter or a merged model, checked on the way
out."""

from __future__ import annotations

import argparse

from studio.cli.args import byte_size, number
from studio.core.device import DEVICES
from studio.core.errors import UserError
from studio.core.export import FORMATS  # the package's __init__ only: --help stays instant
from studio.core.export.gguf import GGUF_TYPES  # standard library only: --help stays instant


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export a run as an adapter or a merged model",
        description="Export a run's final weights (or a checkpoint) into a folder of its own. "
                    "The export is reloaded with plain transformers/peft and its logits "
                    "compared with the in-studio model before it is moved into place.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory")
    p.add_argument("--to", required=True, metavar="DIR", help="the folder to create")
    p.add_argument("--format", dest="fmt", choices=FORMATS, default=None,
                   help="adapter: PEFT adapter folder (default for adapter methods); merged: "
                        "full weights with the adapter merged in (default for full/freeze); "
                        "gguf: one .gguf file for llama.cpp / Ollama / LM Studio, verified by "
                        "llama.cpp, with an Ollama Modelfile")
    p.add_argument("--quant", default="f16", metavar="TYPE", help="with --format gguf: "
                   f"{' | '.join(GGUF_TYPES)} [f16]; the k-quants come from llama.cpp's "
                   "quantizer (needs llama-cpp-python)")
    p.add_argument("--merge", action="store_true", help="same as --format merged")
    p.add_argument("--step", type=number(int, 0), metavar="N",
                   help="export checkpoint step N instead of the final weights")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a previous export in --to")
    p.add_argument("--dequantize", action="store_true",
                   help="qlora + merged: merge into the 4-bit base dequantized to float")
    p.add_argument("--max-shard-size", type=byte_size, default="2GB", metavar="SIZE",
                   help="largest safetensors file of a merged model [2GB]")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="skip the reload / logits / EOS checks (not recommended)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from studio.core import runs

    if args.merge and args.fmt not in (None, "merged"):
        raise UserError(f"--merge means --format merged, but --format {args.fmt} was given")
    fmt = "merged" if args.merge else args.fmt
    if args.quant.strip().lower() not in GGUF_TYPES:
        raise UserError(f"unknown GGUF type {args.quant!r}; choose one of "
                        f"{', '.join(GGUF_TYPES)}")
    if args.quant != "f16" and fmt != "gguf":
        raise UserError(f"--quant {args.quant} is for --format gguf")
    if fmt is None:  # the natural format of the run's method
        cfg = runs.load_config(runs.open_run(args.run_dir))
        fmt = "adapter" if cfg.is_peft else "merged"
    from transformers.utils import logging as hf_logging  # heavy: torch, transformers, peft

    from studio.core.export.folder import export

    hf_logging.disable_progress_bar()  # our own progress lines say what happens

    def progress(fraction: float, message: str) -> None:
        # stdout: an error after the model loads must stand alone on stderr
        print(f"[{fraction * 100:3.0f}%] {message}", flush=True)

    result = export(args.run_dir, args.to, fmt=fmt, step=args.step, overwrite=args.overwrite,
                    dequantize=args.dequantize, verify=args.verify,
                    max_shard_size=args.max_shard_size, device=args.device, progress=progress,
                    gguf_type=args.quant)
    print(result.summary())
    return 0
