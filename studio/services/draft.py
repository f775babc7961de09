"""The run config being prepared, shared by the panels that edit parts of it.

The data panel sets `dataset` / `format`, the model panel `model` / `method` / LoRA keys, the
training form the rest; each listens to `sig_changed` to show edits made elsewhere. Values are
plain config values (the RunConfig field types); defaults come from studio.core.config only.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from studio.core import config as config_mod
from studio.core.config import RunConfig
from studio.core.errors import ConfigError


class ConfigDraft(QObject):
    sig_changed = Signal(dict)  # {key: new value} for the keys that actually changed

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._values: dict[str, Any] = config_mod.defaults()

    def values(self) -> dict[str, Any]:
        return dict(self._values)

    def get(self, key: str) -> Any:
        return self._values[key]

    def update(self, changes: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """Set some keys; emits sig_changed with the ones whose value changed. Unknown keys
        raise ConfigError (a typo must not vanish silently)."""
        changes = {**(changes or {}), **kw}
        unknown = [k for k in changes if k not in self._values]
        if unknown:
            raise ConfigError(f"unknown config key '{unknown[0]}'")
        changed = {k: v for k, v in changes.items() if self._values[k] != v}
        if changed:
            self._values.update(changed)
            self.sig_changed.emit(changed)
        return changed

    def config(self) -> RunConfig:
        """The validated config; ConfigError names the first bad or missing key."""
        return config_mod.from_dict(self._values, check_required=True)
