"""Look inside a model: load it for probing, capture attention, compare base and tuned.

A probe loads any model folder (a decoder through `studio.core.model.load.load_model`, an encoder
such as BERT / MiniLM through `AutoModel`), optionally with a PEFT adapter, and keeps it in eval
mode. Attention is captured under no_grad with the model switched to eager attention for the
one forward pass (SDPA returns no weights, architecture.md) and switched back afterwards.

Embeddings live in probes_embed.py, tokenizer views in probes_tokens.py.

torch / transformers / peft are imported inside the functions: the UI imports this module for
its plain result types, and those imports take seconds.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional

if TYPE_CHECKING:
    import numpy as np

from studio.core import runs
from studio.core.errors import ModelError, UserError, first_line
from studio.core.model.hub import is_hub_id

MAX_TOKENS = 512  # attention is (layers, heads, T, T): 512 keeps a big model's maps near 1 GB
# Architectures whose name says "decoder"; everything else with these model types is an encoder.
_DECODER_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")
_ENCODER_TYPES = {"bert", "roberta", "distilbert", "xlm-roberta", "electra", "albert", "deberta",
                  "deberta-v2", "mpnet", "camembert", "modernbert", "nomic_bert", "xlm"}


# --- what to load -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProbeTarget:
    """What a probe loads: `model` (+ `adapter`), and where its base lives for base-vs-tuned.

    base: a separate base model folder (full fine-tunes); None when the base is the same model
    with the adapter switched off, or when there is nothing to compare with.
    """

    model: Path
    adapter: Optional[Path] = None
    base: Optional[Path] = None

    @property
    def can_compare(self) -> bool:
        return self.adapter is not None or self.base is not None

    @property
    def label(self) -> str:
        """A short name: folders called model/ or adapter/ take their parent's name."""
        def name(p: Path) -> str:
            return p.parent.name if p.name in ("model", "adapter") and p.parent.name else p.name
        if self.adapter is not None:
            return f"{name(self.model)} + {name(self.adapter)}"
        return name(self.model)


def resolve_target(path: str | Path, adapter: str | Path | None = None) -> ProbeTarget:
    """A model folder, a PEFT adapter folder or a finished run directory -> ProbeTarget."""
    p = Path(str(path)).expanduser()
    if not str(path).strip():
        raise UserError("no model given: choose a model folder or a run directory")
    if not p.exists():
        if is_hub_id(str(path)):
            return ProbeTarget(model=Path(str(path).strip()))  # fetched when loaded
        raise ModelError(f"model folder not found: {p}")
    if adapter is not None and str(adapter).strip():
        a = Path(str(adapter)).expanduser()
        if not (a / "adapter_config.json").is_file():
            raise ModelError(f"{a} is not a PEFT adapter folder (no adapter_config.json)")
        return ProbeTarget(model=p, adapter=a)
    if runs.holds_run(p):
        return _run_target(p)
    if (p / "adapter_config.json").is_file() and not (p / "config.json").is_file():
        base = _read_json(p / "adapter_config.json").get("base_model_name_or_path")
        if not base:
            raise ModelError(f"adapter {p} does not name its base model; pass the base as the "
                             "model and this folder as the adapter")
        return ProbeTarget(model=Path(base), adapter=p)
    return ProbeTarget(model=p)


def target_layers(target: ProbeTarget) -> tuple[int, int]:
    """(layers, heads) from config.json, without loading weights (for layer pickers)."""
    from studio.core.model.load import read_model_config

    cfg = read_model_config(target.model)
    cfg = cfg.get("text_config") or cfg
    return int(cfg.get("num_hidden_layers", 0)), int(cfg.get("num_attention_heads", 0))


def _run_target(run: Path) -> ProbeTarget:
    import yaml  # lazy like the rest: only run directories need it

    cfg = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")) or {}
    base = str(cfg.get("model") or "").strip()
    if not base:
        raise UserError(f"{run}/config.yaml names no model")
    if (run / "adapter" / "adapter_config.json").is_file():
        return ProbeTarget(model=Path(base), adapter=run / "adapter")
    if (run / "model" / "config.json").is_file():
        return ProbeTarget(model=run / "model", base=Path(base))
    raise UserError(f"run {run.name} has no final weights yet (no adapter/ or model/ folder); "
                    "wait until it finishes, or pick its base model")


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"cannot read {path}: {e}") from None
    return data if isinstance(data, dict) else {}


def is_decoder_config(config: dict) -> bool:
    """True for causal LMs (GPT-like), False for bidirectional encoders (BERT-like)."""
    archs = config.get("architectures") or []
    if any(str(a).endswith(_DECODER_SUFFIXES) for a in archs):
        return True
    if config.get("is_decoder"):
        return True
    return str(config.get("model_type", "")) not in _ENCODER_TYPES


# --- the loaded model ---------------------------------------------------------------------------

@dataclass
class ProbeModel:
    """A model loaded for probing: eval mode, never trained. `model` is a PeftModel when an
    adapter is attached; `adapter_off()` gives the base for base-vs-tuned comparisons."""

    model: Any
    tokenizer: Any
    target: ProbeTarget
    is_causal: bool
    num_layers: int
    num_heads: int

    @property
    def has_adapter(self) -> bool:
        return hasattr(self.model, "disable_adapter")

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def inner(self) -> Any:
        """The transformers model itself (under the PEFT wrapper, if any)."""
        return self.model.get_base_model() if self.has_adapter else self.model

    def input_embeddings(self) -> np.ndarray:
        """The input embedding matrix (vocab, dim) as float32 numpy (a copy)."""
        w = self.inner().get_input_embeddings().weight
        return w.detach().float().cpu().numpy()

    @contextlib.contextmanager
    def adapter_off(self) -> Iterator[None]:
        """Run the block with the adapter disabled (the base model's behaviour)."""
        if not self.has_adapter:
            raise UserError("this model has no adapter to switch off")
        with self.model.disable_adapter():
            yield

    @contextlib.contextmanager
    def eager_attention(self) -> Iterator[None]:
        """Eager attention for the block (it returns weights), then the previous one again."""
        inner = self.inner()
        before = getattr(inner.config, "_attn_implementation", None) or "eager"
        if before != "eager":
            inner.set_attn_implementation("eager")
        try:
            yield
        finally:
            if before != "eager":
                inner.set_attn_implementation(before)


def load_probe_model(target: ProbeTarget | str | Path, *, device: str = "cpu",
                     dtype: Any = None) -> ProbeModel:
    """Load a target (or a path: see resolve_target) for probing, in eval mode."""
    from studio.core.model import load as model_mod

    if not isinstance(target, ProbeTarget):
        target = resolve_target(target)
    folder = model_mod.resolve_model(target.model)
    config = _read_json(folder / "config.json")
    causal = is_decoder_config(config)
    tokenizer = model_mod.load_tokenizer(folder)
    if causal:
        model = model_mod.load_model(folder, device=device, dtype=dtype)
    else:
        model = _load_encoder(folder, device, dtype)
    if target.adapter is not None:
        model = model_mod.attach_adapter(model, target.adapter)
    model.eval()
    for p in model.parameters():  # a probe never trains: no grads kept anywhere
        p.requires_grad_(False)
    cfg = (model.get_base_model() if hasattr(model, "get_base_model") else model).config
    text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    return ProbeModel(model=model, tokenizer=tokenizer, target=target, is_causal=causal,
                      num_layers=int(text_cfg.num_hidden_layers),
                      num_heads=int(text_cfg.num_attention_heads))


def _load_encoder(folder: Path, device: str, dtype: Any) -> Any:
    import torch
    from transformers import AutoModel

    from studio.core import files
    from studio.core.model.load import resolve_dtype

    files.check_weights_folder(folder)
    try:
        return AutoModel.from_pretrained(str(folder), use_safetensors=True,
                                         dtype=resolve_dtype(dtype, torch.device(device).type),
                                         device_map={"": torch.device(device)})
    except (OSError, ValueError, KeyError) as e:
        raise files.load_error(folder, e) or ModelError(
            f"cannot load the model in {folder}: {first_line(e)}") from None


# --- encoding text ------------------------------------------------------------------------------

def encode(pm: ProbeModel, text: str, max_tokens: int = MAX_TOKENS) -> tuple[dict, list[str], bool]:
    """Tokenize `text` with the tokenizer's special tokens -> (batch of 1 on the model's device,
    token labels, truncated)."""
    if not text or not text.strip():
        raise UserError("no text given: type some text to look at")
    full = pm.tokenizer(text, add_special_tokens=True)["input_ids"]
    enc = pm.tokenizer(text, add_special_tokens=True, truncation=True, max_length=max_tokens,
                       return_tensors="pt", return_offsets_mapping=_is_fast(pm.tokenizer))
    offsets = enc.pop("offset_mapping", None)
    ids = enc["input_ids"][0].tolist()
    labels = token_labels(pm.tokenizer, text, ids, None if offsets is None else
                          offsets[0].tolist())
    batch = {k: v.to(pm.device) for k, v in enc.items()
             if k in ("input_ids", "attention_mask", "token_type_ids")}
    return batch, labels, len(full) > len(ids)


def _is_fast(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "is_fast", False))


def token_labels(tokenizer: Any, text: str, ids: list[int],
                 offsets: Optional[list[tuple[int, int]]]) -> list[str]:
    """A readable label per token: the text it covers (spaces kept, newlines as ↵), special
    tokens by name. Byte-level BPE may split one character (a Chinese one, often) into several
    tokens with the same span: the pieces after the first get a leading "·"."""
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    raw = tokenizer.convert_ids_to_tokens(ids)
    labels, prev = [], None
    for i, tid in enumerate(ids):
        span = tuple(offsets[i]) if offsets else None
        if tid in special or span is None or span[0] == span[1]:
            labels.append(str(raw[i]))
            prev = None
            continue
        piece = text[span[0]:span[1]].replace("\n", "↵")
        labels.append(("·" + piece) if span == prev else piece)
        prev = span
    return labels


# --- attention ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AttentionMaps:
    """Attention weights for one text: attention[layer, head, query, key] (float32), rows sum
    to 1. Decoders: the upper triangle (key after query) is exactly 0."""

    tokens: tuple[str, ...]
    attention: np.ndarray        # (layers, heads, T, T) float32
    truncated: bool              # the text had more than MAX_TOKENS tokens; the rest is cut
    is_causal: bool
    model: str = ""

    @property
    def shape(self) -> tuple[int, int, int]:
        """(layers, heads, tokens)"""
        layers, heads, t, _ = self.attention.shape
        return layers, heads, t


def capture_attention(pm: ProbeModel, text: str, *, max_tokens: int = MAX_TOKENS,
                      adapter: bool = True) -> AttentionMaps:
    """Attention of every layer and head for `text` (adapter=False: the base model's)."""
    import numpy as np  # lazy: the Inspect page imports this module before first paint
    import torch

    batch, labels, truncated = encode(pm, text, max_tokens)
    t = len(labels)
    with contextlib.ExitStack() as stack:
        if not adapter:
            stack.enter_context(pm.adapter_off())
        stack.enter_context(pm.eager_attention())
        stack.enter_context(torch.no_grad())
        out = pm.model(**batch, output_attentions=True, use_cache=False) if pm.is_causal \
            else pm.model(**batch, output_attentions=True)
    atts = getattr(out, "attentions", None)
    if not atts:
        raise ModelError(f"{pm.target.label} returned no attention weights "
                         "(its attention implementation does not expose them)")
    # each (1, heads, Tq, Tk); prompt/prefix tuning add virtual tokens in front: keep the text's
    stacked = torch.stack([a[0, :, -t:, -t:] for a in atts]).float().cpu().numpy()
    return AttentionMaps(tokens=tuple(labels), attention=np.ascontiguousarray(stacked),
                         truncated=truncated, is_causal=pm.is_causal, model=pm.target.label)


def head_summary(att: np.ndarray, how: str = "mean") -> np.ndarray:
    """(layers, heads, T, T) -> (layers, T, T): mean or max over heads."""
    if how == "mean":
        return att.mean(axis=1)
    if how == "max":
        return att.max(axis=1)
    raise UserError(f"unknown head summary {how!r}; use mean or max")


def attention_entropy(att: np.ndarray) -> np.ndarray:
    """(layers, heads, T, T) -> (layers, heads): mean entropy (bits) of a query's attention.
    Low = each token looks at a few others; high = attention spread evenly."""
    import numpy as np  # lazy: the Inspect page imports this module before first paint
    p = np.clip(att, 1e-12, 1.0)
    return -(att * np.log2(p)).sum(axis=-1).mean(axis=-1)


def token_weights(att2d: np.ndarray, index: int, direction: str = "from") -> np.ndarray:
    """One token's row ("from": what token `index` attends to) or column ("to": who attends
    to it) of a (T, T) map."""
    if not 0 <= index < att2d.shape[0]:
        raise UserError(f"token {index} is outside 0..{att2d.shape[0] - 1}")
    if direction == "from":
        return att2d[index]
    if direction == "to":
        return att2d[:, index]
    raise UserError(f"unknown direction {direction!r}; use from or to")


def attention_difference(tuned: AttentionMaps, base: AttentionMaps) -> np.ndarray:
    """tuned - base, (layers, heads, T, T), for the same text through both models."""
    if tuned.tokens != base.tokens or tuned.attention.shape != base.attention.shape:
        raise UserError("the two attention maps are for different tokens or model shapes; "
                        "compare a model with its own base and the same text")
    return tuned.attention - base.attention


def attention_mosaic(att: np.ndarray, max_tile: int = 64, gap: int = 2,
                     per_tile: bool = True) -> tuple[np.ndarray, int]:
    """All heads as one image: rows of layers, columns of heads, NaN between tiles.

    (layers, heads, T, T) -> ((layers * (tile + gap) - gap, heads * (tile + gap) - gap), tile).
    Maps longer than max_tile are reduced by block maximum (a thin diagonal stays visible).
    per_tile: each tile scaled to its own maximum absolute value, so a head whose weights
    are spread thin still shows its pattern; otherwise values are kept as they are.
    """
    import numpy as np  # lazy: the Inspect page imports this module before first paint
    layers, heads, t, _ = att.shape
    f = max(1, -(-t // max_tile))                          # ceil(T / max_tile)
    tile = -(-t // f)
    if f > 1:  # each f x f block -> its entry of largest magnitude (sign kept: diff maps)
        pad = tile * f - t
        a = np.pad(att, ((0, 0), (0, 0), (0, pad), (0, pad)))
        blocks = a.reshape(layers, heads, tile, f, tile, f).transpose(0, 1, 2, 4, 3, 5)
        blocks = blocks.reshape(layers, heads, tile, tile, f * f)
        pick = np.abs(blocks).argmax(axis=-1)[..., None]
        att = np.take_along_axis(blocks, pick, axis=-1)[..., 0]
    else:
        att = np.asarray(att)
    if per_tile:
        scale = np.abs(att).max(axis=(2, 3), keepdims=True)
        att = att / np.where(scale > 0, scale, 1.0)
    step = tile + gap
    img = np.full((layers * step - gap, heads * step - gap), np.nan, dtype=np.float32)
    for layer in range(layers):
        for head in range(heads):
            img[layer * step:layer * step + tile, head * step:head * step + tile] = \
                att[layer, head]
    return img, tile


def head_patterns(att: np.ndarray, special: np.ndarray) -> dict[str, np.ndarray]:
    """What each head mostly does, as (layers, heads) shares of attention weight:
    previous token, same token, next token, special tokens (e.g. [CLS]/[SEP]/BOS).
    `special` is a (T,) bool mask of special tokens."""
    import numpy as np  # lazy: the Inspect page imports this module before first paint
    t = att.shape[-1]
    rows = max(t - 1, 1)
    prev = np.diagonal(att, offset=-1, axis1=-2, axis2=-1).sum(-1) / rows
    nxt = np.diagonal(att, offset=1, axis1=-2, axis2=-1).sum(-1) / rows
    same = np.diagonal(att, axis1=-2, axis2=-1).mean(-1)
    spec = att[..., special].sum(-1).mean(-1) if special.any() else np.zeros(att.shape[:2])
    return {"previous": prev, "self": same, "next": nxt, "special": spec}


def special_mask(pm_or_tokenizer: Any, tokens: tuple[str, ...] | list[str]) -> np.ndarray:
    """(T,) bool: which labels are the tokenizer's special tokens."""
    import numpy as np  # lazy: the Inspect page imports this module before first paint
    tok = getattr(pm_or_tokenizer, "tokenizer", pm_or_tokenizer)
    names = set(getattr(tok, "all_special_tokens", []) or [])
    return np.array([t in names for t in tokens], dtype=bool)


# --- per-token log-probabilities (decoders) -----------------------------------------------------

@dataclass(frozen=True)
class TokenLogprobs:
    """log p(token | tokens before it) for each token of a text; the first is NaN."""

    tokens: tuple[str, ...]
    logprobs: np.ndarray   # (T,) float32


def token_logprobs(pm: ProbeModel, text: str, *, adapter: bool = True) -> TokenLogprobs:
    """How likely the model finds each token of `text` (decoders only)."""
    import numpy as np  # lazy: the Inspect page imports this module before first paint
    import torch

    if not pm.is_causal:
        raise UserError(f"{pm.target.label} is an encoder: it does not predict the next token")
    batch, labels, _ = encode(pm, text)
    with contextlib.ExitStack() as stack:
        if not adapter:
            stack.enter_context(pm.adapter_off())
        stack.enter_context(torch.no_grad())
        logits = pm.model(**batch, use_cache=False).logits[0].float()  # (T, vocab)
    ids = batch["input_ids"][0]
    lp = torch.log_softmax(logits[:-1], dim=-1).gather(1, ids[1:, None])[:, 0]
    out = np.concatenate([[np.nan], lp.cpu().numpy()]).astype(np.float32)
    return TokenLogprobs(tokens=tuple(labels), logprobs=out)
