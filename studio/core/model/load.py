"""Find, check and load a base model and its tokenizer; attach a method; count parameters.

`resolve_model` turns what the user typed (a folder or a hub id) into a local folder and refuses,
with one line, what Studio will not load silently: Python code shipped with the model (unless
trust_remote_code) and pickle weights (unless allow_pickle). `load_model` loads from that folder
only, with safetensors unless pickles were allowed.

torch / transformers / huggingface_hub are imported inside the functions: the UI imports this
module early (model picker), and those imports take seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from studio.core import files
from studio.core.errors import ModelError, first_line
from studio.core.model import hub
from studio.core.model.param_map import ModuleBlock, parameter_map, parameter_map_for_config

__all__ = ["resolve_model", "check_remote_code", "check_weights", "read_model_config",
           "load_tokenizer", "load_model", "use_portable_4bit_kernel", "resolve_dtype",
           "release", "attach_adapter", "count_parameters", "param_numel", "ModuleBlock",
           "parameter_map",
           "parameter_map_for_config"]

# Pickle weight files a model folder may hold instead of safetensors. Trainer extras
# (training_args.bin, optimizer.pt, rng_state.pth) are not weights and are not listed here.
PICKLE_WEIGHTS = ("pytorch_model*.bin", "model*.bin", "*.pt", "*.pth", "*.ckpt")
NOT_WEIGHTS = {"training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth"}


# --- resolving a name to a checked local folder ------------------------------------------------

def resolve_model(name_or_path: str | Path, *, trust_remote_code: bool = False,
                  allow_pickle: bool = False, config_only: bool = False,
                  tokenizer_only: bool = False, progress: Optional[hub.Progress] = None,
                  cancelled: Optional[Callable[[], bool]] = None) -> Path:
    """A local model folder for `name_or_path` (a folder, or a hub id fetched into the
    Hugging Face cache on demand: see hub.py for progress, cancel, resume and offline use).

    config_only: only config.json is needed (parameter map, memory estimate): a hub id fetches
    just that, and the weight files are not checked.
    tokenizer_only: config and tokenizer files (the Data page, token probes); weights are not
    fetched nor checked.
    Raises ModelError with a one-line reason for anything that cannot be loaded as asked.
    """
    text = str(name_or_path).strip()
    if not text:
        raise ModelError("no model given: set `model` to a local folder or a hub id (org/name)")
    path = Path(text).expanduser()
    if path.exists():
        folder = _local_folder(path)
    elif hub.is_hub_id(text):
        files = "config" if config_only else "tokenizer" if tokenizer_only else "all"
        folder = hub.fetch(text, files=files, trust_remote_code=trust_remote_code,
                           allow_pickle=allow_pickle, progress=progress, cancelled=cancelled)
    else:
        raise ModelError(f"model folder not found: {path}")
    check_remote_code(folder, trust_remote_code)
    if not (config_only or tokenizer_only):
        check_weights(folder, allow_pickle)
    return folder


def _local_folder(path: Path) -> Path:
    if path.is_dir():
        files.check_folder_files(path, "model folder", ModelError)
    if path.is_file():
        if path.name == "config.json":
            return path.parent.resolve()
        raise ModelError(f"{path} is a file; `model` must be a folder holding config.json")
    if (path / "config.json").is_file():
        return path.resolve()
    adapter = _read_json(path / "adapter_config.json")
    if adapter:
        base = adapter.get("base_model_name_or_path") or "its base model"
        raise ModelError(f"{path} holds a PEFT adapter, not a model: use {base} as `model` "
                         "(and this folder as the adapter)")
    raise ModelError(f"{path} is not a model folder: it holds no config.json")


def check_remote_code(folder: Path, trust_remote_code: bool) -> None:
    """Refuse a model whose config / tokenizer needs Python code shipped with it, unless the
    user trusts it. A model type this transformers knows loads with the built-in code instead
    (transformers then ignores auto_map), so that is not refused."""
    if trust_remote_code:
        return
    for source, code in _code_to_run(folder):
        raise ModelError(_code_message(folder, source, code))


def remote_code_files(folder: str | Path) -> list[str]:
    """The Python files in `folder` that loading it would run (empty for normal models).
    Reads two small JSON files: cheap enough to ask before the user picks a model."""
    return [f for _, files in _code_to_run(Path(folder)) for f in files]


def code_fingerprint(folder: str | Path) -> str:
    """sha256 of the code loading `folder` would run: every .py file in it (the auto_map
    modules and whatever they import beside them) and the auto_map entries that pick them.
    Trust given to a folder is remembered by this, so code replaced later asks again."""
    import hashlib

    folder = Path(folder)
    h = hashlib.sha256()
    for source, names in _code_to_run(folder):
        h.update(f"{source}:{','.join(names)}\n".encode())
    for path in sorted(folder.rglob("*.py")):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def _code_to_run(folder: Path) -> list[tuple[str, list[str]]]:
    out = []
    config = _read_json(folder / "config.json") or {}
    files = _auto_map_files(config.get("auto_map"))
    if files and not _known_model_type(config.get("model_type")):
        out.append(("config.json", files))
    tok = _read_json(folder / "tokenizer_config.json") or {}
    files = _auto_map_files(tok.get("auto_map"))
    if files and not _known_tokenizer_class(tok.get("tokenizer_class")):
        out.append(("tokenizer_config.json", files))
    return out


def _code_message(folder: Path, source: str, files: list[str]) -> str:
    present = [f for f in files if (folder / f).is_file()]
    named = ", ".join(present or files)
    return (f"{folder.name} ships Python code that its {source} auto_map would run ({named}); "
            "set trust_remote_code: true only if you trust its author")


def _auto_map_files(auto_map: Any) -> list[str]:
    """'modeling_x.XModel' -> modeling_x.py; 'org/repo--modeling_x.XModel' -> (remote) too."""
    if not isinstance(auto_map, dict):
        return []
    refs: list[str] = []
    for value in auto_map.values():
        refs.extend(v for v in (value if isinstance(value, (list, tuple)) else [value]) if v)
    files = []
    for ref in refs:
        module = str(ref).split("--")[-1].rsplit(".", 1)[0]
        name = module.replace(".", "/") + ".py"
        if name not in files:
            files.append(name)
    return files


def _known_model_type(model_type: Any) -> bool:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return isinstance(model_type, str) and model_type in CONFIG_MAPPING_NAMES


def _known_tokenizer_class(name: Any) -> bool:
    import transformers

    return isinstance(name, str) and hasattr(transformers, name)


def check_weights(folder: Path, allow_pickle: bool) -> None:
    """safetensors weights are required; pickle-only folders load only with allow_pickle."""
    if any(folder.glob("*.safetensors")):
        return
    pickles = sorted({f.name for pat in PICKLE_WEIGHTS for f in folder.glob(pat)}
                     - NOT_WEIGHTS)
    if pickles and not allow_pickle:
        raise ModelError(f"{folder.name} has only pickle weights ({', '.join(pickles[:3])}); "
                         "Studio loads safetensors only unless you set allow_pickle: true "
                         "(pickle files can run code when loaded)")
    if not pickles:
        raise ModelError(f"{folder.name} holds no weights (*.safetensors) next to config.json")


def _read_json(path: Path) -> dict | None:
    if not path.exists():
        return None
    data = files.read_json(path, "model file", error=ModelError)
    return data if isinstance(data, dict) else None


def read_model_config(name_or_path: str | Path, *, trust_remote_code: bool = False) -> dict:
    """config.json of a model folder / hub id as a plain dict (no torch needed)."""
    path = Path(str(name_or_path)).expanduser()
    if path.is_file() and path.suffix == ".json":
        data = _read_json(path)
    else:
        folder = resolve_model(name_or_path, trust_remote_code=trust_remote_code,
                               config_only=True)
        data = _read_json(folder / "config.json")
    if not data:
        raise ModelError(f"{path} holds no model config")
    return data


# --- loading -----------------------------------------------------------------------------------

def load_tokenizer(path: str | Path, trust_remote_code: bool = False, *,
                   padding_side: str = "right") -> Any:
    """The model's tokenizer, with a pad token (EOS when it has none).

    padding_side: "right" for training (labels line up with inputs); use "left" for batched
    generation so every row's prompt ends at the last column.
    """
    from transformers import AutoTokenizer

    if Path(path).is_dir():
        files.check_folder_files(path, "tokenizer folder", ModelError)
    try:
        tok = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    except Exception as e:  # tokenizers raises a plain Exception for a damaged file
        raise ModelError(f"cannot load the tokenizer of {path}: {first_line(e)}") from None
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise ModelError(f"the tokenizer of {path} has neither a pad nor an EOS token")
        tok.pad_token = tok.eos_token  # padding is masked out of the loss anyway
    tok.padding_side = padding_side
    return tok


def resolve_dtype(dtype: Any, device_type: str) -> Any:
    """None / "auto" -> what the device computes best in (device.auto_precision: bf16 on GPUs
    with native bf16, fp16 on older GPUs, fp32 on the CPU and MPS).
    Strings "bf16" / "fp16" / "fp32" map to torch dtypes; torch dtypes pass through."""
    import torch

    from studio.core import device as policy

    names = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
             "float16": torch.float16, "fp32": torch.float32, "float32": torch.float32}
    if dtype is None or dtype == "auto":
        return names[policy.auto_precision(device_type, policy.capability_of(device_type))]
    if isinstance(dtype, str):
        if dtype not in names:
            raise ModelError(f"unknown dtype {dtype!r}; use bf16, fp16 or fp32")
        return names[dtype]
    return dtype


def load_model(path: str | Path, *, device: str = "cpu", dtype: Any = None,
               quantize_4bit: bool = False, attn_implementation: str = "sdpa",
               trust_remote_code: bool = False, allow_pickle: bool = False) -> Any:
    """AutoModelForCausalLM from a checked local folder (see resolve_model), on `device`.

    quantize_4bit: QLoRA's base: linear layers in NF4 with double quantization; compute in
    float32 on the CPU, the load dtype on a GPU (its native 16-bit type for fp32).
    lm_head stays unquantized.
    """
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from studio.core import device as policy

    dev = torch.device(device)
    torch_dtype = resolve_dtype(dtype, dev.type)
    kwargs: dict[str, Any] = dict(
        dtype=torch_dtype, attn_implementation=attn_implementation,
        trust_remote_code=trust_remote_code,
        use_safetensors=None if allow_pickle else True,  # None: safetensors, else .bin
        device_map={"": dev},  # weights go straight to the device (bnb quantizes there)
    )
    if quantize_4bit:
        loaded = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(torch_dtype, "fp32")
        compute = policy.torch_dtype(policy.qlora_compute(
            dev.type, loaded, policy.capability_of(dev.type, dev.index or 0)))
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute,
            bnb_4bit_use_double_quant=True)
    files.check_folder_files(path, "model folder", ModelError)
    files.check_weights_folder(path)  # a truncated file fails here, by name, in milliseconds
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    except ImportError as e:  # e.g. bitsandbytes missing or too old for 4-bit
        raise ModelError(f"cannot load {Path(path).name}: {first_line(e)}") from None
    except Exception as e:  # safetensors raises its own type; a damaged file is named
        damaged = files.load_error(path, e)
        if damaged is not None:
            raise damaged from None
        if isinstance(e, (OSError, ValueError, KeyError)):
            raise ModelError(f"cannot load the model in {path}: {first_line(e)}") from None
        raise
    if quantize_4bit:
        use_portable_4bit_kernel(model)
    return model


def release(model: Any) -> None:
    """Break the reference cycle of every bitsandbytes 4-bit weight (Params4bit.module is the
    layer holding it), so that dropping the model frees it at once by reference counting. The
    app collects cycles only in its GUI thread, on a timer: without this, a freed QLoRA model
    could still sit on the GPU when the next one loads."""
    if model is None:
        return
    for p in model.parameters():
        if getattr(p, "module", None) is not None:
            p.module = None


def use_portable_4bit_kernel(model: Any) -> int:
    """Keep every bitsandbytes 4-bit layer on the kernel that runs on every CPU; returns how
    many layers were switched.

    On a CPU with AVX512-BF16 (bitsandbytes 0.50), a Linear4bit called in eval mode without
    grad repacks its weight in place into an inference-only layout: it asserts that the output
    size divides by 32 (the starter's 172 does not), computes in bf16, and stays packed, so the
    training steps after an evaluation get no gradient through the base layer. The portable
    path dequantizes to the compute dtype: the same numbers in training, evaluation, chat and
    export on every CPU (and it is the only path on CUDA, where this switch does nothing).
    """
    switched = 0
    for module in model.modules():
        if getattr(module, "support_avx512bf16_for_cpu", False):
            module.support_avx512bf16_for_cpu = False
            switched += 1
    return switched


def attach_adapter(model: Any, adapter_dir: str | Path) -> Any:
    """The PEFT adapter saved in `adapter_dir` on `model`, for inference (chat, probes,
    export); a damaged adapter file is named (files.py), any other failure is one line."""
    from peft import PeftModel

    files.check_folder_files(adapter_dir, "adapter folder", ModelError)
    files.check_weights_folder(adapter_dir)
    try:
        return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=False)
    except Exception as e:  # safetensors raises its own type; a damaged file is named
        damaged = files.load_error(adapter_dir, e)
        if damaged is not None:
            raise damaged from None
        if not isinstance(e, (OSError, ValueError, KeyError, RuntimeError)):
            raise
        raise ModelError(f"cannot load the adapter in {adapter_dir}: {first_line(e)}") from None


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameters; shared (tied) weights count once.

    A bitsandbytes 4-bit weight (Params4bit) stores two values per uint8 byte, so its numel is
    half the layer's logical size: it counts numel * 2 * bytes-per-storage-element.
    """
    trainable = total = 0
    for p in model.parameters():  # parameters() yields a shared tensor once
        n = param_numel(p)
        total += n
        if p.requires_grad:
            trainable += n
    return trainable, total


def param_numel(p: Any) -> int:
    n = p.numel()
    if p.__class__.__name__ == "Params4bit":
        n *= 2 * p.element_size()
    return n
