"""Argument types for the sub-commands' numeric flags: refused while parsing, before any work.

A flag that sets a config key takes that key's declared range (config.value_range), so the
command line and the config file accept exactly the same values. Standard library only.
"""

from __future__ import annotations

import argparse
import math
import re
from typing import Callable, Optional

from studio.core import config as config_mod
from studio.core.errors import ConfigError

SEED_RANGE = (-2**63, 2**64 - 1)  # what torch.manual_seed accepts
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB|KIB|MIB|GIB)?\s*$", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20,
          "GIB": 2**30}


def number(kind: type, lo: float = -math.inf, hi: float = math.inf, *,
           key: Optional[str] = None) -> Callable[[str], float]:
    """An argparse `type`: `kind` (int or float), finite, within [lo, hi] or, with `key`,
    within that config key's range."""
    if key is not None:
        lo, hi = config_mod.value_range(next(f for f in config_mod.field_specs()
                                             if f.name == key))

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except (ValueError, OverflowError):
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"needs {what}, got {text!r}") from None
        try:
            config_mod.check_number("the value", value, lo, hi)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def byte_size(text: str) -> int:
    """'2GB', '500MB', '1GiB' or a number of bytes -> bytes (at least 1 MB)."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"needs a size such as 2GB or 500MB, got {text!r}")
    size = int(m.group(1)) * _UNITS[(m.group(2) or "B").upper()]
    if not 10**6 <= size <= 2**50:
        raise argparse.ArgumentTypeError(f"must be between 1MB and 1PiB, got {text!r}")
    return size
