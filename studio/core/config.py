"""The run configuration: one frozen dataclass, flat YAML keys (see contract.md).

Standard library + PyYAML only, so the UI can build its forms and the CLI its --help without
importing torch. Every field carries `help` (tooltip / --help text) and `group` (form section);
fields with a fixed set of values carry `choices`. Defaults live here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from studio.core.data.types import FORMATS as DATASET_FORMATS
from studio.core.errors import ConfigError
from studio.core.methods import registry as methods

GROUPS = ("model", "data", "method", "training", "output")


def __getattr__(name: str) -> tuple:
    """METHODS, PEFT_METHODS, PROMPT_METHODS: views of the method registry, read live."""
    views = {"METHODS": lambda m: True, "PEFT_METHODS": lambda m: m.is_peft,
             "PROMPT_METHODS": lambda m: m.virtual_tokens}
    if name not in views:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return tuple(m.name for m in methods.all_methods() if views[name](m))


FORMATS = ("auto",) + DATASET_FORMATS  # "auto" detects the shape from the rows
STAGES = ("sft", "pretrain", "dpo", "kto", "grpo")
PREFERENCE_STAGES = ("dpo", "kto")  # learn from chosen / rejected (or good / bad) replies
PREF_LOSSES = ("sigmoid", "ipo", "hinge", "orpo", "simpo")
REFERENCE_FREE_LOSSES = ("orpo", "simpo")  # no reference model at all
REPORT_TO = ("none", "tensorboard", "mlflow", "all")  # trackers a run can also log to
DISTRIBUTED = ("ddp", "fsdp")  # how several processes share a run (processes > 1)
# Integers every consumer accepts: a Qt spin box, torch (seeds, sizes) and numpy. A field's own
# min / max narrow it; floats must also be finite.
INT_LIMIT = 2**31 - 1


def _f(default: Any, help: str, group: str, choices: tuple = (), **extra: Any) -> Any:
    # a tuple, or a live view (the method registry's names: a method registered later counts)
    choices = tuple(choices) if isinstance(choices, (tuple, list)) else choices
    meta = {"help": help, "group": group, "choices": choices, **extra}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class RunConfig:
    # --- model -------------------------------------------------------------------------------
    model: str = _f("", "Base model: a local Hugging Face folder or a hub id (org/name).",
                    "model", required=True)
    trust_remote_code: bool = _f(False, "Run Python code shipped inside the model folder. Only "
                                 "for models you trust; off unless you allow it.", "model")
    allow_pickle: bool = _f(False, "Allow .bin/.pt weight files (pickle, loaded with "
                            "weights_only). Off: safetensors only.", "model")
    # --- data ----------------------------------------------------------------------------------
    dataset: str = _f("", "Dataset file: .json, .jsonl, .csv, .parquet or .txt.", "data",
                      required=True)
    format: str = _f("auto", "Dataset shape; auto detects it from the rows.", "data", FORMATS)
    columns: str = _f("", "Which field plays which role, for files whose fields have other "
                      "names: prompt=q_text,response=a_text (in YAML also a mapping). Roles: "
                      "prompt, query, response, system, history, messages (+ role_tag, "
                      "content_tag, user_tag, assistant_tag, system_tag), chosen, rejected, "
                      "label, text, tools; a.b.c reaches nested fields.", "data")
    stage: str = _f("sft", "sft: learn answers (loss on assistant tokens); pretrain: learn "
                    "all tokens of plain text; dpo: prefer the chosen reply to the rejected one "
                    "(pref_loss says how); kto: make good replies likelier and bad ones less "
                    "likely (rows labelled good / bad, or pairs); grpo: sample a group of "
                    "replies per prompt, score them with grpo_rewards and learn from the better "
                    "ones "
                    "(reinforcement learning with verifiable rewards).", "data", STAGES)
    max_length: int = _f(512, "Longest sample in tokens; longer ones are truncated.", "data",
                         min=8, max=131072)
    eval_split: float = _f(0.05, "Share of rows held out for eval loss and perplexity "
                           "(0 = no eval).", "data", min=0.0, max=0.5)
    skip_bad_rows: bool = _f(False, "Train on the good rows of a file that has bad ones. Off: "
                             "such a file is refused, naming the rows.", "data")
    train_on_prompt: bool = _f(False, "Also put loss on prompt / user tokens (default: loss on "
                               "assistant tokens only).", "data")
    packing: bool = _f(False, "Pack each micro-batch into one row, attention kept per sample "
                       "(no padding at all). Off: similar lengths are batched together, which "
                       "wastes little padding and keeps attention cost per sample.", "data")
    # --- method --------------------------------------------------------------------------------
    method: str = _f("lora", "How to fine-tune: which part of the weights trains.", "method",
                     methods.NAMES)
    lora_r: int = _f(16, "LoRA rank r: the update is B (out x r) @ A (r x in).", "method",
                     min=1, max=1024)
    lora_alpha: float = _f(32.0, "LoRA scale: the update is multiplied by alpha / r.",
                           "method", min=0.0, max=1e6)
    lora_dropout: float = _f(0.0, "Dropout on the LoRA input.", "method", min=0.0, max=0.9)
    target_modules: str = _f("all-linear", "Layers that get adapters: all-linear, or names "
                             "separated by commas (q_proj,v_proj); all-linear,lm_head also "
                             "adapts the output layer.", "method")
    num_virtual_tokens: int = _f(20, "Virtual tokens for prompt / prefix / P-tuning.",
                                 "method", min=1, max=1024)
    freeze_trainable_layers: int = _f(2, "freeze: how many of the last layers train "
                                      "(the rest stay frozen).", "method", min=1)
    # --- training ------------------------------------------------------------------------------
    max_steps: Optional[int] = _f(None, "Optimizer steps to run; empty: run `epochs`.",
                                  "training", min=1)
    epochs: float = _f(1.0, "Passes over the training rows (used when max_steps is empty).",
                       "training", min=0.01, max=1e6)
    batch_size: int = _f(4, "Samples (or packed rows) per micro-batch.", "training", min=1)
    grad_accum: int = _f(1, "Micro-batches per optimizer step (effective batch = "
                         "batch_size x grad_accum x processes).", "training", min=1)
    learning_rate: float = _f(2e-4, "Peak learning rate.", "training", min=0.0, max=100.0)
    lr_scheduler: str = _f("cosine", "How the learning rate moves after warm-up.", "training",
                           ("cosine", "linear", "constant"))
    warmup_ratio: float = _f(0.03, "Share of steps spent warming the learning rate up.",
                             "training", min=0.0, max=1.0)
    weight_decay: float = _f(0.0, "AdamW weight decay.", "training", min=0.0, max=100.0)
    max_grad_norm: float = _f(1.0, "Clip gradients to this norm (0 = no clipping).",
                              "training", min=0.0, max=1e6)
    optimizer: str = _f("auto", "auto: fused AdamW on CUDA, paged 8-bit AdamW for QLoRA, "
                        "AdamW elsewhere.", "training",
                        ("auto", "adamw", "adamw_8bit", "paged_adamw_8bit"))
    precision: str = _f("auto", "auto: bf16 on GPUs with native bf16 (Ampere and later), fp16 "
                        "with a gradient scaler on older GPUs; on a CPU bf16 for LoRA-style "
                        "methods where it has bf16 units (AVX512-BF16, AMX) and the model >= "
                        "20M parameters, else fp32; fp32 on Apple MPS.",
                        "training", ("auto", "bf16", "fp16", "fp32"))
    gradient_checkpointing: str = _f("auto", "Recompute activations to save memory (~20% "
                                     "slower). auto: on only when the run would not fit.",
                                     "training", ("auto", "on", "off"))
    device: str = _f("auto", "Where to train: auto picks the CUDA GPU when there is one, else "
                     "Apple MPS (untested), else the CPU.", "training",
                     ("auto", "cuda", "mps", "cpu"))
    processes: int = _f(1, "Training processes in all nodes (one per GPU, or CPU processes "
                        "with gloo), started through torchrun; each trains its share of every "
                        "step's rows. train --processes N sets it.", "training", min=1, max=4096)
    distributed: str = _f("ddp", "With processes > 1: ddp keeps a whole copy of the model on "
                          "every device; fsdp shards weights, gradients and optimizer state "
                          "across them (torch fully_shard) for models that do not fit one.",
                          "training", DISTRIBUTED)
    gpus: str = _f("", "Which GPUs the processes use, by number: 0,1 (CUDA_VISIBLE_DEVICES "
                   "for a run started here). Empty: the first `processes` GPUs.", "training",
                   pattern=r"^\s*(\d+\s*(,\s*\d+\s*)*)?$",
                   pattern_help="GPU numbers separated by commas, like 0,1")
    pref_loss: str = _f("sigmoid", "stage dpo: sigmoid (DPO), ipo, hinge (SLiC), orpo (odds "
                        "ratio plus SFT, no reference) or simpo (length-normalised, no "
                        "reference).", "training", PREF_LOSSES)
    pref_beta: float = _f(0.1, "stage dpo / kto: beta, how far the tuned model may move from the "
                          "reference (ORPO: the weight of the odds-ratio term).", "training",
                          min=1e-6, max=100.0)
    simpo_gamma: float = _f(0.5, "pref_loss simpo: the target reward margin gamma.", "training",
                            min=0.0, max=100.0)
    pref_label_smoothing: float = _f(0.0, "pref_loss sigmoid / simpo: the assumed share of pairs "
                                     "whose labels are flipped (conservative DPO).", "training",
                                     min=0.0, max=0.49)
    pref_sft_weight: float = _f(0.0, "stage dpo / kto: weight of an SFT term (mean token loss "
                                "of the chosen replies) added to the preference loss (ORPO "
                                "always has it at 1).", "training", min=0.0, max=100.0)
    grpo_group_size: int = _f(4, "stage grpo: completions sampled per prompt; each is judged "
                              "against the others of its group.", "training", min=2, max=256)
    grpo_max_completion: int = _f(64, "stage grpo: most tokens sampled for one completion.",
                                  "training", min=1, max=32768)
    grpo_temperature: float = _f(1.0, "stage grpo: sampling temperature of the completions.",
                                 "training", min=0.01, max=10.0)
    grpo_beta: float = _f(0.04, "stage grpo: weight of the KL penalty that keeps the model "
                          "near the reference (0 = none, no reference model needed).",
                          "training", min=0.0, max=100.0)
    grpo_clip: float = _f(0.2, "stage grpo: clip range epsilon of the policy ratio.",
                          "training", min=0.0, max=10.0)
    grpo_iterations: int = _f(1, "stage grpo: policy updates per generation batch, all in "
                              "one step (more reuse the samples; the clip range keeps the "
                              "updates close).", "training", min=1, max=64)
    grpo_rewards: str = _f("format:1,ends_turn:0.2", "stage grpo: rewards and their weights, "
                           "name:weight separated by commas. Built in: exact, numeric (vs the "
                           "row's reference answer), format (grpo_format_regex), length "
                           "(penalty), ends_turn; other names are functions of "
                           "grpo_reward_file.", "training")
    grpo_format_regex: str = _f("Answer: \\w+", "stage grpo: the pattern the format reward "
                                "asks the whole completion to match (partial credit for the "
                                "characters of its literal start, in order, at the beginning).",
                                "training")
    grpo_answer_regex: str = _f("", "stage grpo: where exact / numeric find the answer in a "
                                "completion (its first group); empty: the whole completion.",
                                "training")
    grpo_reward_file: str = _f("", "stage grpo: a Python file of reward functions "
                               "f(completion, prompt, reference) -> float. It is code: it "
                               "runs only when grpo_reward_file_sha256 is its hash.",
                               "training")
    grpo_reward_file_sha256: str = _f("", "stage grpo: the sha256 of grpo_reward_file you "
                                      "read and trust (the app asks and fills it).",
                                      "training")
    seed: int = _f(42, "Random seed for data order, splits and initialisation.", "training")
    # --- output --------------------------------------------------------------------------------
    output_dir: str = _f("runs/run", "The run directory (created). One that already holds a "
                         "run needs resume or overwrite.", "output", required=True)
    overwrite: bool = _f(False, "Replace a run already in output_dir.", "output")
    logging_steps: int = _f(1, "Write a metrics line every N steps.", "output", min=1)
    eval_steps: int = _f(50, "Evaluate every N steps (and at the end).", "output", min=1)
    save_steps: int = _f(100, "Checkpoint every N steps (and at stop / the end).", "output",
                         min=1)
    eval_data: str = _f("", "A file scored before training and at every checkpoint, written "
                        "to eval.jsonl: text or chat -> perplexity, question file -> accuracy; "
                        "corpus = the bundled corpus's held-out text (forgetting). Empty: off.",
                        "output")
    eval_metric: str = _f("auto", "What eval_data measures; auto: accuracy for question files, "
                          "else perplexity.", "output", ("auto", "perplexity", "exact", "choice"))
    log_samples: bool = _f(False, "Write the dataset rows of every step to samples.jsonl "
                           "(an audit that resume trains each row once).", "output")
    save_total_limit: int = _f(2, "Checkpoints kept; older ones are deleted once a newer one "
                               "is complete.", "output", min=1)
    report_to: str = _f("none", "Also log the metrics to TensorBoard (event files in the "
                        "run's tensorboard/ folder; needs the tensorboard package), MLflow "
                        "(needs mlflow-skinny; see mlflow_tracking_uri) or all of them. "
                        "metrics.jsonl is always written.", "output", REPORT_TO)
    mlflow_tracking_uri: str = _f("", "Where report_to: mlflow logs. Empty: a SQLite store in "
                                  "the run's mlflow/ folder (open it with mlflow ui "
                                  "--backend-store-uri sqlite:///RUN/mlflow/mlflow.db); or "
                                  "any MLflow tracking URI (http://host:5000, "
                                  "sqlite:///PATH.db).", "output")
    mlflow_experiment: str = _f("studio", "The MLflow experiment the run is logged in.",
                                "output")

    # ----------------------------------------------------------------------------------------
    def replace(self, **changes: Any) -> "RunConfig":
        return from_dict({**to_dict(self), **changes})

    @property
    def method_spec(self) -> methods.Method:
        """What the registry declares about this config's method."""
        return methods.get(self.method)

    @property
    def is_preference(self) -> bool:
        return self.stage in PREFERENCE_STAGES

    @property
    def is_grpo(self) -> bool:
        return self.stage == "grpo"

    @property
    def is_peft(self) -> bool:
        spec = methods.find(self.method)
        return spec is not None and spec.is_peft

    @property
    def effective_batch(self) -> int:
        """Rows per optimizer step over all processes: the data order is planned from it."""
        return self.batch_size * self.grad_accum * self.processes


# --- field introspection (used by forms and --help) ------------------------------------------

def field_specs() -> list[dataclasses.Field]:
    return list(fields(RunConfig))


@functools.lru_cache(maxsize=1)
def _hints() -> dict:
    # get_type_hints re-evaluates every annotation (~4 ms): forms ask once per field
    return typing.get_type_hints(RunConfig)


def field_type(f: dataclasses.Field) -> type:
    """The base type of a field: int, float, str or bool (Optional[...] unwrapped)."""
    t = _hints()[f.name]
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        t = next(a for a in typing.get_args(t) if a is not type(None))
    return t


def is_optional(f: dataclasses.Field) -> bool:
    return type(None) in typing.get_args(_hints()[f.name])


def value_range(f: dataclasses.Field) -> tuple[float, float]:
    """(lowest, highest) value a numeric field accepts: its min / max, within INT_LIMIT for
    integers; floats are also refused when not finite."""
    if field_type(f) is int:
        return f.metadata.get("min", -INT_LIMIT), f.metadata.get("max", INT_LIMIT)
    return f.metadata.get("min", -math.inf), f.metadata.get("max", math.inf)


def check_number(name: str, value: float, lo: float, hi: float,
                 error: type = ConfigError) -> None:
    """The one range check of a number, for config keys and CLI flags alike."""
    if isinstance(value, float) and not math.isfinite(value):
        raise error(f"{name} must be a finite number; got {value!r}")
    if value < lo:
        raise error(f"{name} must be >= {lo}; got {value!r}")
    if value > hi:
        raise error(f"{name} must be <= {hi}; got {value!r}")


def defaults() -> dict[str, Any]:
    return {f.name: f.default for f in fields(RunConfig)}


# --- parsing and validation --------------------------------------------------------------------

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _coerce(name: str, value: Any) -> Any:
    f = next(f for f in fields(RunConfig) if f.name == name)
    t = field_type(f)
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "null", "none")
                         and t is not str):
        if is_optional(f):
            return None
        raise ConfigError(f"config key '{name}' needs a {t.__name__} value, got nothing")
    try:
        if t is bool:
            if isinstance(value, bool):
                return value
            s = str(value).strip().lower()
            if s in _TRUE:
                return True
            if s in _FALSE:
                return False
            raise ValueError
        if t is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(str(value).strip()) if isinstance(value, str) else int(value)
        if t is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if t is str:
            if name == "columns":
                return _columns_text(value)
            if name == "target_modules" and isinstance(value, (list, tuple)):
                return ",".join(str(v).strip() for v in value)
            if isinstance(value, (dict, list)):
                raise ValueError
            return str(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"config key '{name}' needs a {t.__name__} value, "
                          f"got {value!r}") from None
    return value


def _columns_text(value: Any) -> str:
    """A mapping or its written form -> the canonical "role=field,..." text."""
    from studio.core.data.columns import parse_columns  # standard library only
    from studio.core.errors import DataError

    try:
        return str(parse_columns(value))
    except DataError as e:
        raise ConfigError(f"config key {e.one_line()}") from None


def _validate(cfg: RunConfig) -> None:
    for f in fields(RunConfig):
        v = getattr(cfg, f.name)
        meta = f.metadata
        if meta.get("choices") and v not in meta["choices"]:
            raise ConfigError(f"config key '{f.name}' must be one of "
                              f"{', '.join(meta['choices'])}; got {v!r}")
        if meta.get("pattern") and isinstance(v, str) and not re.match(meta["pattern"], v):
            raise ConfigError(f"config key '{f.name}' must be {meta['pattern_help']}; "
                              f"got {v!r}")
        if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        check_number(f"config key '{f.name}'", v, *value_range(f))


def from_dict(data: dict[str, Any], *, check_required: bool = False) -> RunConfig:
    """Build a config from flat keys. Unknown keys are refused by name."""
    if not isinstance(data, dict):
        raise ConfigError("a config must be a mapping of keys to values (flat YAML)")
    known = {f.name for f in fields(RunConfig)}
    unknown = [k for k in data if k not in known]
    if unknown:
        raise ConfigError(f"unknown config key '{unknown[0]}'"
                          + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
                          + "; see `python main.py train --help` for the keys")
    values = {k: _coerce(k, v) for k, v in data.items()}
    cfg = RunConfig(**values)
    _validate(cfg)
    if check_required:
        for f in fields(RunConfig):
            if f.metadata.get("required") and not getattr(cfg, f.name):
                raise ConfigError(f"config key '{f.name}' is required: {f.metadata['help']}")
    return cfg


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`--set key=value` pairs -> dict; values are parsed as YAML scalars."""
    import yaml  # light import, but only needed here

    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set needs KEY=VALUE, got {pair!r}")
        key, raw = pair.split("=", 1)
        key = key.strip()
        try:
            out[key] = yaml.safe_load(raw) if raw.strip() else ""
        except (yaml.YAMLError, ValueError, RecursionError):  # ValueError: a 5,000-digit int
            out[key] = raw
    return out


def load(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML config file, apply `--set` overrides, validate. Paths in the file that are
    relative resolve against the file's folder only if they exist there (else the CWD)."""
    import yaml

    from studio.core import files

    p = Path(path)
    text = files.read_text(p, "config file", error=ConfigError)
    try:
        data = yaml.safe_load(text) or {}
    except (yaml.YAMLError, ValueError, RecursionError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"config file {p} is not valid YAML: {first}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold flat 'key: value' lines")
    data.update(parse_overrides(overrides or []))
    for key in ("dataset", "model", "output_dir"):
        v = data.get(key)
        if isinstance(v, str) and v and not Path(v).is_absolute():
            beside = p.parent / v
            if not Path(v).exists() and beside.exists():
                data[key] = str(beside)
    return from_dict(data, check_required=True)


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    return {f.name: getattr(cfg, f.name) for f in fields(RunConfig)}


def to_yaml(cfg: RunConfig) -> str:
    """Every key, grouped, with its help as a comment: the run's config.yaml."""
    lines = ["# Studio run config: every key, with its default when not set.", ""]
    for group in GROUPS:
        lines.append(f"# --- {group} ---")
        for f in fields(RunConfig):
            if f.metadata["group"] != group:
                continue
            lines.append(f"# {f.metadata['help']}")
            lines.append(f"{f.name}: {_yaml_scalar(getattr(cfg, f.name))}")
        lines.append("")
    return "\n".join(lines)


def _yaml_scalar(v: Any) -> str:
    import json

    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(v, ensure_ascii=False)  # a JSON string is a valid YAML scalar


def save(cfg: RunConfig, path: str | Path) -> None:
    Path(path).write_text(to_yaml(cfg), encoding="utf-8")
