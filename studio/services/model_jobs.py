"""The model page's engine calls, run in the engine host (no Qt here): find a model and read
its config, build the parameter map of a method on the meta device, detect the device, write a
starter model. services/model_worker.py asks for them from the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from studio.core import config as config_mod

# Config keys the parameter map depends on (the method group, plus where the model comes from)
MAP_KEYS = tuple(f.name for f in config_mod.field_specs()
                 if f.metadata["group"] in ("model", "method"))


def map_key(values: dict) -> tuple:
    return tuple((k, values.get(k)) for k in MAP_KEYS)


@dataclass(frozen=True)
class ModelInfo:
    source: str            # what the user chose (folder or hub id)
    folder: str            # the local folder it resolved to
    config: dict           # config.json


def model_info(source: str) -> ModelInfo:
    # Lazy: studio.core.model.load is light, but resolving a hub id imports huggingface_hub.
    from studio.core.model.load import read_model_config, resolve_model

    folder = resolve_model(source, config_only=True)
    return ModelInfo(source, str(folder), read_model_config(folder))


def parameter_map(values: dict) -> list:
    # Lazy: the meta-device model needs torch + transformers + peft (seconds to import).
    from studio.core.model.param_map import parameter_map_for_config

    cfg = config_mod.from_dict({k: v for k, v in values.items() if k in MAP_KEYS})
    return parameter_map_for_config(cfg)


def parameter_maps(configs: list) -> dict:
    """Maps for several configs (the other methods, built ahead of a click); one that cannot
    be built is left out: asking for it shows its error then."""
    from studio.core.errors import UserError

    maps = {}
    for values in configs:
        try:
            maps[map_key(values)] = parameter_map(values)
        except UserError:
            continue
    return maps


def detect_device() -> Any:
    from studio.core.model.memory import detect_device as detect  # torch only on a GPU machine

    return detect()


def new_model(out: str, size: str, arch: str) -> str:
    from studio.core.model.starter import new_model as write  # torch, transformers, tokenizers

    return str(write(out, size=size, arch=arch))
