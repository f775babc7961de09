"""Gradient checkpointing: whether a run recomputes activations. Pure (no torch).

Prefix tuning never does: its virtual keys / values reach each layer as a KV cache, and
transformers drops the cache inside a checkpointed layer ("Caching is incompatible with
gradient checkpointing"), so the attention mask (prefix + T) no longer matches the keys (T): a
shape error on the first step. Asked for explicitly, it is refused before the run starts; under
`auto` it stays off (prefix tuning trains few parameters; memory goes to the activations alone).
"""

from __future__ import annotations

from studio.core.errors import ConfigError
from studio.core.methods import registry


def _never(method: str) -> bool:
    return not registry.get(method).checkpointing


def check_checkpointing(setting: str, method: str) -> None:
    if setting == "on" and _never(method):
        raise ConfigError(f"gradient_checkpointing: on does not work with {method} (its "
                          "virtual key/values are dropped inside recomputed layers); set it "
                          "to off or auto")


def want_checkpointing(setting: str, method: str, fits: bool) -> bool:
    """on / off as set; auto: on only when the run would not fit without it."""
    if _never(method):
        return False
    if setting != "auto":
        return setting == "on"
    return not fits
