"""The model page's engine calls, off the GUI thread: find a model and read its config, build
the parameter map of a method on the meta device, detect the device, write a starter model.

The parameter map of a model + method is cached: switching back to a method shows its map at
once, and only a new combination costs a build (20-500 ms on the meta device, plus the first
import of torch / transformers / peft). A newer request of a kind makes older results of that
kind stale; they are dropped by a generation number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QObject, Signal, Slot

from studio.core import config as config_mod
from studio.core.methods import registry as methods
from studio.services.engine_import import import_engine
from studio.services.latest import Latest
from studio.services.workers import Task

# Config keys the parameter map depends on (the method group, plus where the model comes from)
MAP_KEYS = tuple(f.name for f in config_mod.field_specs()
                 if f.metadata["group"] in ("model", "method"))


@dataclass(frozen=True)
class ModelInfo:
    source: str            # what the user chose (folder or hub id)
    folder: str            # the local folder it resolved to
    config: dict           # config.json


def _model_info(source: str) -> ModelInfo:
    # Lazy: studio.core.model.load is light, but resolving a hub id imports huggingface_hub.
    from studio.core.model.load import read_model_config, resolve_model

    import_engine()

    folder = resolve_model(source, config_only=True)
    return ModelInfo(source, str(folder), read_model_config(folder))


def _parameter_map(values: dict) -> list:
    # Lazy: the meta-device model needs torch + transformers + peft (seconds to import).
    from studio.core.model.param_map import parameter_map_for_config

    import_engine()

    cfg = config_mod.from_dict({k: v for k, v in values.items() if k in MAP_KEYS})
    return parameter_map_for_config(cfg)


def _parameter_maps(configs: list) -> dict:
    """Maps for several configs (the other methods, built ahead of a click); one that cannot
    be built is left out: asking for it shows its error then."""
    from studio.core.errors import UserError

    maps = {}
    for values in configs:
        try:
            maps[map_key(values)] = _parameter_map(values)
        except UserError:
            continue
    return maps


def _detect_device() -> Any:
    from studio.core.model.memory import detect_device  # no torch unless a GPU node exists

    return detect_device()


def _new_model(out: str, size: str, arch: str) -> str:
    from studio.core.model.starter import new_model  # lazy: torch + transformers + tokenizers

    import_engine()

    return str(new_model(out, size=size, arch=arch))


def map_key(values: dict) -> tuple:
    return tuple((k, values.get(k)) for k in MAP_KEYS)


class ModelInspector(QObject):
    """Signals (GUI thread):
    sig_info(ModelInfo)        the model resolved; its config.json is read
    sig_map(key, blocks)       the parameter map for the config keys `key`
    sig_device(DeviceInfo)
    sig_starter(str folder)    a starter model was written
    sig_error(kind, reason, details)   kind: info | map | device | starter
    sig_busy(str)              what runs now ("" when idle): model | map | starter
    """

    sig_info = Signal(object)
    sig_map = Signal(object, object)
    sig_device = Signal(object)
    sig_starter = Signal(str)
    sig_error = Signal(str, str, str)
    sig_busy = Signal(str)

    def __init__(self, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.info: Optional[ModelInfo] = None
        self.device: Any = None
        self.maps: dict[tuple, list] = {}
        self._latest = Latest()
        self._tasks: dict[str, Task] = {}

    # --- requests ----------------------------------------------------------------------------
    def set_model(self, source: str) -> None:
        self.info = None
        if source:
            self._start("info", _model_info, source)

    def request_map(self, values: dict) -> bool:
        """Build (or recall) the map for these config values; True when it was cached and
        sig_map has been emitted already."""
        key = map_key(values)
        if key in self.maps:
            self._latest.take("map")  # an older build must not overwrite this
            self.sig_map.emit(key, self.maps[key])
            return True
        self._start("map", _parameter_map, dict(values), key=key)
        return False

    def prefetch_methods(self, values: dict) -> None:
        """Build, in the background, the maps of every other method for these settings, so a
        click on another method shows its map at once."""
        configs = [{**values, "method": m} for m in methods.NAMES]
        configs = [c for c in configs if map_key(c) not in self.maps]
        if configs and "prefetch" not in self._running():
            self._start("prefetch", _parameter_maps, configs)

    def detect_device(self) -> None:
        if self.device is None and "device" not in self._running():
            self._start("device", _detect_device)

    def create_starter(self, out: str | Path, size: str = "tiny", arch: str = "llama") -> None:
        self._start("starter", _new_model, str(out), size, arch)

    def busy(self) -> str:
        running = self._running()
        for kind, label in (("starter", "starter"), ("info", "model"), ("map", "map")):
            if kind in running:
                return label
        return ""

    def wait(self, ms: int = 60000) -> None:
        """Block until every job has ended (tests, shutdown)."""
        for task in list(self._tasks.values()):
            task.wait(ms)

    # --- plumbing ----------------------------------------------------------------------------
    def _running(self) -> set[str]:
        return {k.rsplit("-", 1)[0] for k, t in self._tasks.items() if t.running}

    def _start(self, kind: str, fn: Any, *args: Any, key: Any = None) -> None:
        gen = self._latest.take(kind)
        task = Task(fn, *args)
        task.kind, task.gen, task.key = kind, gen, key
        # Bound slots of this QObject (not lambdas): Qt drops the connections if this object
        # is deleted while a task still runs; sender() says which task finished.
        task.sig_result.connect(self._task_result)
        task.sig_error.connect(self._task_error)
        task.sig_done.connect(self._task_done)
        self._tasks[f"{kind}-{gen}"] = task
        task.start()
        self.sig_busy.emit(self.busy() or kind)

    @Slot()
    def _task_done(self) -> None:
        task = self.sender()
        if task is not None:
            self._tasks.pop(f"{task.kind}-{task.gen}", None)
            task.deleteLater()
        self.sig_busy.emit(self.busy())

    @Slot(object)
    def _task_result(self, result: Any) -> None:
        task = self.sender()
        if task is None:
            return
        kind, gen, key = task.kind, task.gen, task.key
        if kind == "map":
            self.maps[key] = result  # worth keeping even when a newer request superseded it
        elif kind == "prefetch":
            self.maps.update(result)
            return
        if not self._latest.is_current(kind, gen):
            return
        if kind == "info":
            self.info = result
            self.sig_info.emit(result)
        elif kind == "map":
            self.sig_map.emit(key, result)
        elif kind == "device":
            self.device = result
            self.sig_device.emit(result)
        elif kind == "starter":
            self.sig_starter.emit(result)

    @Slot(str, str)
    def _task_error(self, reason: str, details: str) -> None:
        task = self.sender()
        if task is not None and task.kind != "prefetch" and \
                self._latest.is_current(task.kind, task.gen):
            self.sig_error.emit(task.kind, reason, details)
