"""The pretrained starter: a small causal LM that has really learned the bundled corpus.

The studio ships its weights in studio/resources/starter/ (a normal Hugging Face folder),
produced by `pretrain()` below, which is the studio's own `stage: pretrain` run
(studio.core.train.trainer) on the training split of studio/resources/corpus/.
`python main.py new-model OUT --pretrained` copies that folder; `--pretrained --retrain` runs
the pre-training again (minutes on a CPU) with the same recipe and seed,
which is how the shipped weights were made.

Held-out split (deterministic, documented in studio/resources/corpus/README.md): in every
corpus file (name order), paragraph i (counted from 0, paragraphs separated by blank lines) is
held out when i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1. Neither the tokenizer nor the model
sees those.

Instruction paragraphs (`User:` / `Assistant:`, `用户：` / `助手：` lines) are written in the
chat template's ChatML, so the pretrained model already knows the turn format the chat page
uses: its answers before fine-tuning are the corpus's answers, not noise.

torch / transformers are imported inside the functions (the CLI's --help imports this module).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from studio.core.errors import UserError
from studio.core.model import starter
from studio.paths import resource

SHIPPED_DIR = resource("starter")
HELD_OUT_EVERY = 10
TRAIN_FILE = "pretrain_train.txt"      # written into the pre-training run's folder
HELD_OUT_FILE = "pretrain_heldout.txt"

# "User: ..." / "用户：..." lines -> chat roles. A line that starts with none of these continues
# the turn above it; lines before the first role (a heading like "Tool call example:") are
# dropped.
_ROLES = {"user": "user", "用户": "user", "assistant": "assistant", "助手": "assistant",
          "system": "system", "系统": "system", "tool": "tool", "工具": "tool"}
_ROLE_LINE = re.compile(r"^(User|Assistant|System|Tool|用户|助手|系统|工具)\s*[:：]\s?(.*)$")


@dataclass(frozen=True)
class Recipe:
    """How the shipped starter was pre-trained. Changing any field changes the weights.

    2.36M parameters (9.5 MB of fp32 safetensors): a 192-wide, 4-layer Llama with a 2,048-token
    vocabulary, 2,000 steps of 4 paragraphs (~11 passes over the ~200 KB corpus; ~3 CPU-minutes
    on one thread). Measured against the alternatives (docs/performance.md): a 1,024 vocabulary
    scores a lower perplexity but continues in more made-up words; 4,096 leaves too few
    parameters for the body and its Chinese falls apart; batches of 8 for 1,200 steps, the same
    work, or a learning rate of 6e-3 continue worse; 2e-3 is about as good (fewer English words,
    more Chinese ones)."""
    arch: str = "llama"
    hidden: int = 192
    layers: int = 4
    heads: int = 6
    kv_heads: int = 2
    intermediate: int = 512
    vocab: int = 2048
    seed: int = 0
    max_steps: int = 2000
    batch_size: int = 4
    learning_rate: float = 3e-3
    max_length: int = 256
    weight_decay: float = 0.1


RECIPE = Recipe()


# --- the corpus split -----------------------------------------------------------------------

def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def corpus_split(corpus: str | Path | None = None) -> tuple[list[str], list[str]]:
    """(training paragraphs, held-out paragraphs) of the corpus, in file then paragraph order."""
    train: list[str] = []
    held: list[str] = []
    for f in starter.corpus_files(corpus):
        for i, para in enumerate(_paragraphs(f.read_text(encoding="utf-8"))):
            (held if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 else train).append(para)
    return train, held


def chat_turns(paragraph: str) -> Optional[list[dict]]:
    """The paragraph as chat messages when it is a user / assistant exchange, else None."""
    turns: list[dict] = []
    for line in paragraph.splitlines():
        m = _ROLE_LINE.match(line.strip())
        if m:
            turns.append({"role": _ROLES[m.group(1).lower()], "content": m.group(2).strip()})
        elif turns:
            turns[-1]["content"] += "\n" + line.rstrip()
    roles = {t["role"] for t in turns}
    return turns if {"user", "assistant"} <= roles else None


def pretraining_text(paragraph: str, tokenizer: Any) -> str:
    """What the model reads for one paragraph: plain text, or the exchange in ChatML."""
    turns = chat_turns(paragraph)
    if turns is None:
        return paragraph
    return tokenizer.apply_chat_template(turns, tokenize=False).strip()


def _write_paragraphs(path: Path, paragraphs: list[str], tokenizer: Any) -> Path:
    # a .txt dataset: one sample per paragraph, blank lines between, as the model reads it
    path.write_text("\n\n".join(pretraining_text(p, tokenizer) for p in paragraphs) + "\n",
                    encoding="utf-8")
    return path


def write_split(folder: Path, tokenizer: Any) -> tuple[Path, Path]:
    """Write the training and held-out splits into `folder`. Returns (train, held-out)."""
    train, held = corpus_split()
    return (_write_paragraphs(folder / TRAIN_FILE, train, tokenizer),
            _write_paragraphs(folder / HELD_OUT_FILE, held, tokenizer))


def write_held_out(path: Path, tokenizer: Any) -> Path:
    """The held-out split as a .txt dataset at `path`: general text no fine-tuning file of the
    studio holds, scored for the forgetting curve."""
    return _write_paragraphs(path, corpus_split()[1], tokenizer)


# --- the shipped model ------------------------------------------------------------------------

def copy_shipped(out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Copy the shipped pretrained starter to `out_dir` (a normal Hugging Face folder)."""
    if not (SHIPPED_DIR / "config.json").is_file():
        raise UserError(f"the pretrained starter is missing from {SHIPPED_DIR}; rebuild it with "
                        "python main.py new-model OUT --pretrained --retrain")
    out = Path(out_dir).expanduser()
    starter.check_out_dir(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    for f in SHIPPED_DIR.iterdir():
        if f.is_file():
            shutil.copy2(f, out / f.name)
    return out


# --- pre-training it again -----------------------------------------------------------------------

def pretrain(out_dir: str | Path, *, recipe: Recipe = RECIPE, reporter: Any = None,
             overwrite: bool = False, work_dir: Optional[Path] = None) -> Path:
    """Pre-train the starter from random weights with the studio's own trainer (stage:
    pretrain, method: full) and write the model to `out_dir`.

    The run itself (config.yaml, metrics.jsonl) is kept in `out_dir/pretrain-run/` unless
    `work_dir` says elsewhere; the rendered training and held-out splits sit beside the model.
    """
    from studio.core import config
    from studio.core.train import trainer

    out = Path(out_dir).expanduser()
    starter.check_out_dir(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(work_dir) if work_dir else out / "pretrain-run"
    base = work / "random-init"
    train, _ = corpus_split()
    base.mkdir(parents=True, exist_ok=True)
    (base / "tokenizer_corpus.txt").write_text("\n\n".join(train) + "\n", encoding="utf-8")
    size = starter.StarterSize(hidden=recipe.hidden, layers=recipe.layers, heads=recipe.heads,
                               kv_heads=recipe.kv_heads, intermediate=recipe.intermediate,
                               vocab=recipe.vocab)
    starter.new_model(base, size=size, arch=recipe.arch, corpus=base / "tokenizer_corpus.txt",
                      seed=recipe.seed, overwrite=True)
    from studio.core.model.load import load_tokenizer

    train_file, held_file = write_split(out, load_tokenizer(base))
    cfg = config.from_dict(dict(
        model=str(base), dataset=str(train_file), stage="pretrain", method="full",
        max_steps=recipe.max_steps, batch_size=recipe.batch_size,
        learning_rate=recipe.learning_rate, weight_decay=recipe.weight_decay,
        max_length=recipe.max_length, eval_split=0.0, seed=recipe.seed, warmup_ratio=0.05,
        save_steps=recipe.max_steps, save_total_limit=1, logging_steps=10, device="cpu",
        output_dir=str(work / "run"), overwrite=True), check_required=True)
    result = trainer.train(cfg, reporter=reporter)
    if result.status != "finished":
        raise UserError(f"pre-training did not finish: {result.reason or result.status}")
    for f in (work / "run" / "model").iterdir():
        shutil.copy2(f, out / f.name)
    shutil.rmtree(work / "run" / "checkpoints", ignore_errors=True)
    (out / TRAIN_FILE).unlink(missing_ok=True)
    return out


def recipe_dict(recipe: Recipe = RECIPE) -> dict:
    return asdict(recipe)
