"""User preferences kept between sessions (QSettings): language, runs folder, window layout.

`STUDIO_SETTINGS=/path/file.ini` points the app at another settings file: tests and the tour
use it so they never change a person's own settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

ORGANIZATION = "Studio"
APPLICATION = "Studio"
DEFAULT_RUNS_ROOT = "runs"  # relative to the folder the app was started in


def settings() -> QSettings:
    path = os.environ.get("STUDIO_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)


def get(key: str, default: Any = None) -> Any:
    return settings().value(key, default)


def put(key: str, value: Any) -> None:
    s = settings()
    s.setValue(key, value)
    s.sync()


def runs_root() -> Path:
    return Path(str(get("runs/root", "") or DEFAULT_RUNS_ROOT)).expanduser()


def set_runs_root(path: str | Path) -> None:
    put("runs/root", str(path))


def recent(key: str) -> list[str]:
    """A most-recent-first list kept under `recent/<key>` (datasets, models, run folders)."""
    value = get(f"recent/{key}", [])
    if isinstance(value, str):  # QSettings returns a lone string for a one-item list
        value = [value]
    return [str(v) for v in (value or [])]


def add_recent(key: str, item: str, keep: int = 10) -> None:
    items = [item] + [v for v in recent(key) if v != item]
    put(f"recent/{key}", items[:keep])


SAMPLING_KEYS = ("temperature", "top_p", "top_k", "repetition_penalty")


def chat_sampling() -> Any:
    """The Chat page's last sampling settings (the defaults of an exported Modelfile)."""
    from studio.core.export.modelfile import Sampling  # standard library only

    base = Sampling()
    values = {}
    for key in SAMPLING_KEYS:
        try:
            values[key] = type(getattr(base, key))(get(f"chat/{key}", getattr(base, key)))
        except (TypeError, ValueError):
            values[key] = getattr(base, key)
    return Sampling(**values)


def set_chat_sampling(**values: Any) -> None:
    for key in SAMPLING_KEYS:
        if key in values:
            put(f"chat/{key}", values[key])


def _file_key(path: str) -> str:
    # a hash: a path's slashes would nest QSettings groups, and its length is unbounded
    import hashlib

    return hashlib.sha1(str(Path(path).expanduser().resolve()).encode("utf-8")).hexdigest()[:20]


def remembered_columns(path: str) -> str:
    """The field mapping last chosen for this dataset file ("" when none)."""
    return str(get(f"columns/{_file_key(path)}", "") or "")


def remember_columns(path: str, columns: str) -> None:
    put(f"columns/{_file_key(path)}", columns)
