"""Sweeps: a grid of config values (or a random sample of it) expanded into queued runs.

`--grid learning_rate=1e-3,1e-2 --grid lora_r=4,8` gives four runs, each in its own folder under
the config's output_dir, named by its values (`learning_rate=0.001,lora_r=4`), so a folder
listing already reads as the sweep's table. Standard library (+ PyYAML for the values).
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core import config as config_mod
from studio.core.config import RunConfig
from studio.core.errors import ConfigError

FIXED = ("output_dir", "overwrite")   # keys a sweep sets itself
_UNSAFE = re.compile(r"[^\w.+-]+")


@dataclass(frozen=True)
class SweepRun:
    name: str                          # the folder name: key=value,key=value
    values: dict[str, Any]
    config: RunConfig


def parse_grid(specs: list[str]) -> dict[str, list[Any]]:
    """["key=v1,v2", ...] -> {key: [v1, v2]}; values are YAML scalars (1e-3, 8, true)."""
    import yaml

    grid: dict[str, list[Any]] = {}
    known = {f.name for f in config_mod.field_specs()}
    for spec in specs:
        key, sep, raw = spec.partition("=")
        key = key.strip()
        if not sep or not key or not raw.strip():
            raise ConfigError(f"--grid needs KEY=V1,V2,...; got {spec!r}")
        if key not in known:
            raise ConfigError(f"--grid: unknown config key '{key}'")
        if key in FIXED:
            raise ConfigError(f"--grid: '{key}' is set by the sweep itself")
        if key in grid:
            raise ConfigError(f"--grid: '{key}' is given twice")
        values = [_typed(key, _scalar(yaml, v.strip())) for v in raw.split(",") if v.strip()]
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"--grid: '{key}' lists a value twice")
        grid[key] = values
    if not grid:
        raise ConfigError("a sweep needs at least one --grid KEY=V1,V2")
    return grid


def _typed(key: str, value: Any) -> Any:
    # the key's own type and checks: "1e-3" is a float for learning_rate, 0 no lora_r
    return getattr(config_mod.from_dict({key: value}), key)


def _scalar(yaml: Any, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def expand(base: RunConfig, grid: dict[str, list[Any]], random_n: int = 0,
           seed: int = 0) -> list[SweepRun]:
    """Every combination of the grid (or `random_n` of them, drawn with `seed`), each a full
    config whose output_dir is a folder under base.output_dir named by its values. Every value
    is checked against its key's declaration before anything is queued."""
    keys = list(grid)
    combos = [dict(zip(keys, vals)) for vals in itertools.product(*grid.values())]
    if random_n and random_n < len(combos):
        combos = random.Random(seed).sample(combos, random_n)
    root = Path(base.output_dir)
    out = []
    for values in combos:
        name = run_name(values)
        cfg = base.replace(**values, output_dir=str(root / name))  # ConfigError names the key
        out.append(SweepRun(name, values, cfg))
    return out


def run_name(values: dict[str, Any]) -> str:
    """{"learning_rate": 0.001, "lora_r": 8} -> "learning_rate=0.001,lora_r=8" (folder-safe)."""
    return ",".join(f"{k}={_UNSAFE.sub('_', _text(v))}" for k, v in values.items())


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "null" if v is None else str(v)


def method_runs(base: RunConfig, methods: list[str], folder: str | Path) -> list[SweepRun]:
    """"Compare methods": the same model, data and budget (steps, batch, length, seed) with each
    method at its own recommended learning rate, one folder per method under `folder`."""
    from studio.core.methods.registry import recommended_learning_rate  # light: no torch

    if not methods:
        raise ConfigError("tick at least one method to compare")
    out = []
    for m in methods:
        values = {"method": m, "learning_rate": recommended_learning_rate(m)}
        out.append(SweepRun(m, values, base.replace(**values, output_dir=str(Path(folder) / m),
                                                    overwrite=False)))
    return out
