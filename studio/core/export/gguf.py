"""Write a merged model as one GGUF file for llama.cpp, Ollama and LM Studio.

The file format comes from the `gguf` package (the llama.cpp project's own Python writer); the
mapping from Hugging Face names and layouts to llama.cpp's is ours:
- tensors: `model.layers.N.self_attn.q_proj.weight` -> `blk.N.attn_q.weight` (the package's
  TensorNameMap). llama's rotary embedding in llama.cpp pairs dimensions (i, i + d/2) the other
  way round from transformers, so q / k rows are permuted per head (as llama.cpp's converter
  does); qwen2 uses the "neox" order transformers uses and needs no permutation.
- tokenizer: byte-level BPE only (tokens in id order, merges, token types, and the name of the
  pre-tokenizer: llama.cpp splits text before BPE with a regex it knows by name, so a
  tokenizer whose regex it does not know is refused instead of exported to talk garbage).
- chat template (without transformers' `{% generation %}` markers, which only mark training
  spans), BOS / EOS / end-of-turn / padding ids, whether BOS is added, context length.

Types: f32, f16, bf16 and q8_0 are written here (q8_0 needs rows divisible by 32: other
tensors stay f16, as llama.cpp's converter does). k-quants (q4_k_m, q5_k_m, q6_k) come from
llama.cpp's own quantizer (llama-cpp-python), run on an f16 file written first.

torch / gguf / numpy are imported inside functions: the export dialog imports this module.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from studio.core.export import ExportError


@dataclass(frozen=True)
class GgufType:
    name: str
    maker: str          # "studio" (the gguf package writes it) or "llama.cpp" (its quantizer)
    bits: float         # bits per weight, roughly (for the size estimate)
    help: str


GGUF_TYPES = {t.name: t for t in (
    GgufType("f16", "studio", 16, "half precision: the reference export, same answers"),
    GgufType("bf16", "studio", 16, "bfloat16: the range of fp32, for models trained in bf16"),
    GgufType("f32", "studio", 32, "full precision: largest, for checking"),
    GgufType("q8_0", "studio", 8.5, "8-bit: half the size of f16, answers almost unchanged"),
    GgufType("q6_k", "llama.cpp", 6.6, "6-bit k-quant (llama.cpp's quantizer)"),
    GgufType("q5_k_m", "llama.cpp", 5.7, "5-bit k-quant, medium (llama.cpp's quantizer)"),
    GgufType("q4_k_m", "llama.cpp", 4.9, "4-bit k-quant, medium: the usual choice for chat on "
             "a laptop (llama.cpp's quantizer)"),
)}
DEFAULT_TYPE = "f16"

# Hugging Face model_type -> llama.cpp architecture, and whether q / k rows are permuted.
ARCHS = {"llama": ("llama", True), "mistral": ("llama", True), "qwen2": ("qwen2", False)}

# Pre-tokenizer regexes llama.cpp knows, by the name it knows them under.
_QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+"
          r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?"
           r"[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
PRE_TOKENIZERS = {_QWEN2: "qwen2", _LLAMA3: "llama-bpe"}
_GENERATION_TAG = re.compile(r"\{%-?\s*(end)?generation\s*-?%\}")

Progress = Callable[[float, str], None]


class GgufError(ExportError):
    """A model or tokenizer that cannot be written as GGUF (nothing written)."""


@dataclass(frozen=True)
class GgufFile:
    path: Path
    gguf_type: str
    tensor_types: dict          # GGML type name -> number of tensors written in it
    notes: tuple[str, ...]


# --- what can be exported ---------------------------------------------------------------------

def check_type(name: str) -> GgufType:
    t = GGUF_TYPES.get(name.strip().lower())
    if t is None:
        raise GgufError(f"unknown GGUF type {name!r}; choose one of {', '.join(GGUF_TYPES)}")
    if t.maker == "llama.cpp" and not llama_cpp_available():
        raise GgufError(f"{t.name} is made by llama.cpp's quantizer, which needs "
                        "llama-cpp-python (pip install 'llm-studio[gguf]'); f16, bf16, f32 and "
                        "q8_0 need nothing more")
    return t


def llama_cpp_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def check_architecture(model_config: dict) -> tuple[str, bool]:
    """(llama.cpp architecture, permute q/k) for a config.json, or a one-line refusal."""
    kind = model_config.get("model_type", "?")
    if kind not in ARCHS:
        raise GgufError(f"GGUF export covers {', '.join(sorted(ARCHS))} models; this one is "
                        f"{kind!r} (export --format merged and convert it with llama.cpp's "
                        "convert_hf_to_gguf.py)")
    rope = _rope(model_config)
    if rope.get("rope_type", "default") not in ("default", "linear"):
        raise GgufError(f"GGUF export does not write {rope['rope_type']!r} rope scaling yet; "
                        "export --format merged and convert it with llama.cpp")
    return ARCHS[kind]


def tokenizer_spec(tokenizer: Any) -> dict:
    """Everything llama.cpp needs to tokenize exactly as transformers does, or a refusal
    saying why the tokenizer cannot be represented."""
    data = json.loads(tokenizer.backend_tokenizer.to_str()) \
        if hasattr(tokenizer, "backend_tokenizer") else None
    if not data or (data.get("model") or {}).get("type") != "BPE":
        raise GgufError("GGUF export covers byte-level BPE tokenizers (Llama 3, Qwen2, the "
                        "studio's starter); this tokenizer is not one, so llama.cpp would "
                        "split text differently")
    pre = _pre_tokenizer_name(data.get("pre_tokenizer"))
    norm = data.get("normalizer") or {}
    if norm and norm.get("type") != "NFC":   # Qwen2's NFC leaves already composed text alone
        raise GgufError(f"the tokenizer normalizes text ({norm.get('type')}) before splitting "
                        "it, which llama.cpp's BPE tokenizer does not: the GGUF would read text "
                        "differently")
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    return {"pre": pre, "merges": merges}


def _pre_tokenizer_name(pre: Optional[dict]) -> str:
    steps = (pre or {}).get("pretokenizers", [pre] if pre else [])
    regexes = [s["pattern"].get("Regex") for s in steps
               if s.get("type") == "Split" and isinstance(s.get("pattern"), dict)]
    byte_level = [s for s in steps if s.get("type") == "ByteLevel"]
    if not byte_level:
        raise GgufError("the tokenizer is not byte-level BPE; llama.cpp could not represent it")
    if not regexes and byte_level[0].get("use_regex", True):
        return "gpt-2"
    if len(regexes) == 1 and regexes[0] in PRE_TOKENIZERS:
        return PRE_TOKENIZERS[regexes[0]]
    raise GgufError("the tokenizer splits text with a regex llama.cpp does not know by name "
                    "(it knows qwen2, llama-bpe and gpt-2): the GGUF would tokenize "
                    "differently, so it is not written")


def gguf_chat_template(template: Optional[str]) -> Optional[str]:
    """The chat template as other tools render it: transformers' training-span markers
    (`{% generation %}`) removed; they print nothing."""
    return _GENERATION_TAG.sub("", template) if template else template


# --- writing ---------------------------------------------------------------------------------

def write_gguf(model: Any, tokenizer: Any, path: Path, gguf_type: str, *,
               eot_ids: tuple[int, ...] = (), name: str = "studio-export",
               progress: Optional[Progress] = None) -> GgufFile:
    """Write `model` (a merged, unquantized transformers causal LM) and its tokenizer to
    `path`. k-quants are written as f16 next to `path` first, then quantized by llama.cpp."""
    t = check_type(gguf_type)
    cfg = model.config.to_dict()
    arch, permute = check_architecture(cfg)
    spec = tokenizer_spec(tokenizer)
    say = progress or (lambda f, m: None)
    if t.maker == "llama.cpp":
        tmp = path.with_name(path.name + ".f16.tmp")
        try:
            first = _write_python(model, tokenizer, tmp, "f16", arch, permute, spec, eot_ids,
                                  name, say)
            say(0.5, f"quantizing to {t.name} with llama.cpp")
            quantize_with_llama_cpp(tmp, path, t.name)
        finally:
            tmp.unlink(missing_ok=True)
        return GgufFile(path, t.name, read_tensor_types(path),
                        first.notes + ("quantized by llama.cpp from an f16 file",))
    return _write_python(model, tokenizer, path, t.name, arch, permute, spec, eot_ids, name, say)


def _write_python(model: Any, tokenizer: Any, path: Path, gguf_type: str, arch: str,
                  permute: bool, spec: dict, eot_ids: tuple[int, ...], name: str,
                  say: Progress) -> GgufFile:
    import gguf

    cfg = model.config
    w = gguf.GGUFWriter(str(path), arch, use_temp_file=True)
    _write_metadata(w, cfg, gguf_type, name)
    _write_tokenizer(w, tokenizer, cfg.vocab_size, spec, eot_ids)
    counts, fallback = _write_tensors(w, model, arch, permute, gguf_type, say)
    say(0.45, "writing the file")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file(progress=False)
    w.close()
    notes = (f"{fallback} tensors kept in f16: their rows do not divide into {gguf_type} "
             "blocks",) if fallback else ()
    return GgufFile(path, gguf_type, counts, notes)


def _rope(cfg: dict) -> dict:
    rope = dict(cfg.get("rope_parameters") or cfg.get("rope_scaling") or {})
    rope.setdefault("rope_theta", cfg.get("rope_theta", 10000.0))
    return rope


def _write_metadata(w: Any, cfg: Any, gguf_type: str, name: str) -> None:
    import gguf

    heads = cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    rope = _rope(cfg.to_dict())
    w.add_name(name)
    w.add_context_length(int(cfg.max_position_embeddings))
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(heads)
    w.add_head_count_kv(getattr(cfg, "num_key_value_heads", None) or heads)
    w.add_layer_norm_rms_eps(float(cfg.rms_norm_eps))
    w.add_rope_freq_base(float(rope["rope_theta"]))
    w.add_rope_dimension_count(head_dim)
    if head_dim != cfg.hidden_size // heads:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    if rope.get("rope_type") == "linear":
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(float(rope["factor"]))
    w.add_vocab_size(cfg.vocab_size)
    ftype = {"f32": "ALL_F32", "f16": "MOSTLY_F16", "bf16": "MOSTLY_BF16",
             "q8_0": "MOSTLY_Q8_0"}[gguf_type]
    w.add_file_type(getattr(gguf.LlamaFileType, ftype))
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _write_tokenizer(w: Any, tokenizer: Any, vocab_size: int, spec: dict,
                     eot_ids: tuple[int, ...]) -> None:
    import gguf

    vocab = tokenizer.get_vocab()                        # token -> id, added tokens included
    by_id = {i: tok for tok, i in vocab.items()}
    added = tokenizer.added_tokens_decoder               # id -> AddedToken
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in by_id:                               # embedding rows with no token
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif i in added:
            tokens.append(added[i].content)
            types.append(gguf.TokenType.CONTROL if added[i].special
                         else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.NORMAL)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(spec["pre"])
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(spec["merges"])
    for key, tid in (("bos", tokenizer.bos_token_id), ("eos", tokenizer.eos_token_id),
                     ("pad", tokenizer.pad_token_id)):
        if tid is not None:
            getattr(w, f"add_{key}_token_id")(int(tid))
    if eot_ids:
        w.add_eot_token_id(int(eot_ids[0]))
    probe = tokenizer("a")["input_ids"]
    w.add_add_bos_token(bool(probe) and probe[0] == tokenizer.bos_token_id)
    w.add_add_eos_token(False)
    template = gguf_chat_template(tokenizer.chat_template)
    if template:
        w.add_chat_template(template)


def _write_tensors(w: Any, model: Any, arch: str, permute: bool, gguf_type: str,
                   say: Progress) -> tuple[dict, int]:
    import gguf
    import numpy as np
    import torch

    cfg = model.config
    arch_id = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch)
    names = gguf.get_tensor_name_map(arch_id, cfg.num_hidden_layers)
    heads = cfg.num_attention_heads
    kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
    qtype = getattr(gguf.GGMLQuantizationType, gguf_type.upper())
    state = model.state_dict()
    if getattr(cfg, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)                # llama.cpp reuses token_embd
    counts: dict[str, int] = {}
    fallback = 0
    for k, (hf_name, tensor) in enumerate(state.items()):
        if "rotary_emb" in hf_name:
            continue
        new = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise GgufError(f"no GGUF name for the tensor {hf_name}: this model has parts the "
                            "llama.cpp architecture does not")
        data = tensor.detach().to(torch.float32)
        if permute and hf_name.endswith(("q_proj.weight", "q_proj.bias")):
            data = _permute(data, heads)
        elif permute and hf_name.endswith(("k_proj.weight", "k_proj.bias")):
            data = _permute(data, kv_heads)
        array = data.cpu().numpy()
        t = gguf.GGMLQuantizationType.F32 if array.ndim == 1 else qtype
        if t not in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16,
                     gguf.GGMLQuantizationType.BF16):
            block = gguf.GGML_QUANT_SIZES[t][0]
            if array.shape[-1] % block:
                t, fallback = gguf.GGMLQuantizationType.F16, fallback + 1
        w.add_tensor(new, gguf.quants.quantize(np.ascontiguousarray(array), t), raw_dtype=t)
        counts[t.name] = counts.get(t.name, 0) + 1
        if (k + 1) * 10 // len(state) != k * 10 // len(state):    # every tenth of the way
            say(0.05 + 0.4 * (k + 1) / len(state), f"converting tensors ({k + 1}/{len(state)})")
    return counts, fallback


def _permute(w: Any, n_head: int) -> Any:
    """transformers' rotary layout -> llama.cpp's for one projection (out, in) or bias (out,):
    within each head, rows (0..d/2) and (d/2..d) interleave."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


# --- llama.cpp -------------------------------------------------------------------------------

def quantize_with_llama_cpp(src: Path, dst: Path, gguf_type: str) -> None:
    import ctypes

    import llama_cpp

    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{gguf_type.upper()}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = 0
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(),
                                        ctypes.byref(params))
    if rc != 0:
        raise GgufError(f"llama.cpp could not quantize the model to {gguf_type} (code {rc})")


def read_tensor_types(path: Path) -> dict:
    """GGML type name -> number of tensors of that type in a GGUF file."""
    import gguf

    counts: dict[str, int] = {}
    for t in gguf.GGUFReader(str(path)).tensors:
        counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + 1
    return counts
