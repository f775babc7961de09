"""The README.md that travels with an export: what was trained, on what, how, how well, and
the command that trains it again. Standard library only (it reads the run directory's files).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from studio.core import runs
from studio.core.config import RunConfig
from studio.core.events import EvalMetrics, StepMetrics

# Hyperparameters shown for every run; then the keys the method reads (the method registry).
COMMON_KEYS = ("max_steps", "epochs", "batch_size", "grad_accum", "learning_rate",
               "lr_scheduler", "warmup_ratio", "weight_decay", "max_grad_norm", "max_length",
               "packing", "stage", "train_on_prompt", "precision", "seed", "eval_split")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class DataInfo:
    name: str
    sha256: str                # "" when the file is gone
    note: str                  # matches the run / changed since / missing


@dataclass(frozen=True)
class CardFacts:
    """What the card reports about the export itself (filled in by export.py)."""
    fmt: str                   # adapter | merged | gguf
    step: Optional[int]        # None: the final weights
    files: tuple[str, ...]
    max_abs_diff: Optional[float]
    stopped_at_eos: Optional[bool]
    generated_tokens: int
    eos_tokens: tuple[str, ...]
    tokenizer_note: str        # what the export holds of the tokenizer, and why
    warnings: tuple[str, ...] = ()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def data_info(cfg: RunConfig, run: runs.RunDir) -> DataInfo:
    """The dataset's name and full sha256, checked against the fingerprint the run recorded."""
    path = Path(cfg.dataset).expanduser()
    recorded = str(runs.read_status(run.path).get("data", {}).get("fingerprint", ""))
    if not path.is_file():
        note = "the file is no longer at this path"
        if recorded:
            note += f"; the run recorded sha256 prefix {recorded}"
        return DataInfo(path.name, "", note)
    digest = file_sha256(path)
    if recorded and not digest.startswith(recorded):
        note = f"CHANGED since the run (the run trained on sha256 prefix {recorded})"
    elif recorded:
        note = "same file the run trained on"
    else:
        note = "the run did not record a fingerprint"
    return DataInfo(path.name, digest, note)


def final_metrics(run: runs.RunDir) -> tuple[Optional[EvalMetrics], Optional[StepMetrics]]:
    """The last eval line and the last step line of metrics.jsonl."""
    last_eval = last_step = None
    for r in runs.read_metrics(run.path):
        if isinstance(r, EvalMetrics):
            last_eval = r
        elif isinstance(r, StepMetrics):
            last_step = r
    return last_eval, last_step


def _hyperparameters(cfg: RunConfig) -> list[tuple[str, object]]:
    keys = COMMON_KEYS + cfg.method_spec.keys
    return [(k, getattr(cfg, k)) for k in keys]


def _front_matter(cfg: RunConfig, facts: CardFacts) -> str:
    library = {"adapter": "peft", "gguf": "gguf"}.get(facts.fmt, "transformers")
    lines = ["---", f"library_name: {library}"]
    if _HUB_ID.match(cfg.model) and not Path(cfg.model).exists():
        lines.append(f"base_model: {cfg.model}")
    lines += ["pipeline_tag: text-generation", "tags:", "- studio", f"- {cfg.method}", "---"]
    return "\n".join(lines)


def _load_snippet(cfg: RunConfig, fmt: str, files: tuple[str, ...] = ()) -> str:
    if fmt == "gguf":
        name = next((f for f in files if f.endswith(".gguf")), "model.gguf")
        return ("llama.cpp:\n\n```\n"
                f"llama-cli -m {name} -cnv\n```\n\n"
                "Ollama (the Modelfile beside it carries the chat template, the stop strings "
                "and the sampling defaults):\n\n```\n"
                f"ollama create {Path(name).stem} -f Modelfile\nollama run {Path(name).stem}\n"
                "```\n\nLM Studio: put the folder under its models directory, or drag the "
                ".gguf file onto the window.")
    if fmt == "adapter":
        return ("```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
                "from peft import PeftModel\n\n"
                f"base = AutoModelForCausalLM.from_pretrained({cfg.model!r})\n"
                "model = PeftModel.from_pretrained(base, \"path/to/this/folder\")\n"
                f"tokenizer = AutoTokenizer.from_pretrained({cfg.model!r})\n```")
    return ("```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            "model = AutoModelForCausalLM.from_pretrained(\"path/to/this/folder\")\n"
            "tokenizer = AutoTokenizer.from_pretrained(\"path/to/this/folder\")\n```")


def reproduce_command() -> str:
    return "python main.py train config.yaml --set output_dir=runs/reproduced"


def render(cfg: RunConfig, run: runs.RunDir, facts: CardFacts) -> str:
    data = data_info(cfg, run)
    last_eval, last_step = final_metrics(run)
    status = runs.read_status(run.path)
    base_name = Path(cfg.model).name or cfg.model
    what = {"adapter": "adapter", "gguf": "GGUF model"}.get(facts.fmt, "merged model")
    where = f"checkpoint step {facts.step}" if facts.step is not None else \
        f"final weights, step {status.get('step', '?')}"
    out = [_front_matter(cfg, facts), "",
           f"# {run.path.name}: {cfg.method} {what} for {base_name}", "",
           f"Exported by Studio from the run `{run.path.name}` ({where}).", "",
           "| | |", "|---|---|",
           f"| Base model | `{cfg.model}` |",
           f"| Method | {cfg.method} |",
           f"| Export format | {facts.fmt} |",
           f"| Dataset | `{data.name}` ({cfg.stage}, format {cfg.format}) |",
           f"| Dataset sha256 | `{data.sha256 or 'unknown'}` ({data.note}) |"]
    d = status.get("data") or {}
    if d:
        out.append(f"| Samples | {d.get('train_samples', '?')} train / "
                   f"{d.get('eval_samples', '?')} eval ({d.get('bad_rows', 0)} bad rows "
                   "skipped) |")
    if last_eval is not None:
        out.append(f"| Final eval loss | {last_eval.eval_loss:.4f} (perplexity "
                   f"{last_eval.perplexity:.2f}, step {last_eval.step}) |")
    else:
        out.append("| Final eval loss | none (the run had no eval split) |")
    if last_step is not None:
        out.append(f"| Final train loss | {last_step.loss:.4f} (step {last_step.step}) |")
    out += ["", "## Hyperparameters", "", "| key | value |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in _hyperparameters(cfg)]
    out += ["", "The full configuration is in `config.yaml` next to this file.", "",
            "## Use it", "", _load_snippet(cfg, facts.fmt, facts.files), "",
            "## Train it again", "",
            "With Studio installed, and the base model and dataset at the paths in "
            "`config.yaml` (check the dataset against the sha256 above):", "",
            f"```\n{reproduce_command()}\n```"]
    if facts.step is not None:
        out += ["", f"This export is checkpoint step {facts.step} of that run "
                    f"({status.get('total_steps', '?')} steps planned): the command writes it "
                    f"as checkpoints/step-{facts.step}."]
    out += ["", "## Checked on the way out", ""]
    if facts.max_abs_diff is not None:
        out.append(f"- Reloaded with plain transformers"
                   f"{' + peft' if facts.fmt == 'adapter' else ''}: logits on a probe prompt "
                   f"match the in-studio model to {facts.max_abs_diff:.2e} (max abs difference).")
    if facts.stopped_at_eos is not None:
        verdict = "stopped at the end-of-turn token" if facts.stopped_at_eos else \
            "did NOT stop within the token limit"
        out.append(f"- Greedy generation on a canned prompt {verdict} after "
                   f"{facts.generated_tokens} tokens (stop tokens: "
                   f"{', '.join(facts.eos_tokens)}).")
    out.append(f"- Tokenizer: {facts.tokenizer_note}")
    out += [f"- Note: {w}" for w in facts.warnings]
    out += ["", "## Files", ""] + [f"- `{f}`" for f in facts.files]
    return "\n".join(out) + "\n"
