"""The model page's engine calls, in the engine host (services/model_jobs.py): find a model and
read its config, build the parameter map of a method on the meta device, detect the device,
write a starter model. Each waits in a worker thread of the window for the host's answer.

The parameter map of a model + method is cached: switching back to a method shows its map at
once, and only a new combination costs a build (20-500 ms on the meta device, plus the first
import of torch / transformers / peft). A newer request of a kind makes older results of that
kind stale; they are dropped by a generation number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QObject, Signal, Slot

from studio.core.methods import registry as methods
from studio.services.engine_host import in_host
from studio.services.latest import Latest
from studio.services.model_jobs import (  # noqa: F401  (ModelInfo: the type of sig_info)
    MAP_KEYS,
    ModelInfo,
    detect_device,
    map_key,
    model_info,
    new_model,
    parameter_map,
    parameter_maps,
)
from studio.services.workers import Task


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
            self._start("info", model_info, source)

    def request_map(self, values: dict) -> bool:
        """Build (or recall) the map for these config values; True when it was cached and
        sig_map has been emitted already."""
        key = map_key(values)
        if key in self.maps:
            self._latest.take("map")  # an older build must not overwrite this
            self.sig_map.emit(key, self.maps[key])
            return True
        self._start("map", parameter_map, dict(values), key=key)
        return False

    def prefetch_methods(self, values: dict) -> None:
        """Build, in the background, the maps of every other method for these settings, so a
        click on another method shows its map at once."""
        configs = [{**values, "method": m} for m in methods.NAMES]
        configs = [c for c in configs if map_key(c) not in self.maps]
        if configs and "prefetch" not in self._running():
            self._start("prefetch", parameter_maps, configs)

    def detect_device(self) -> None:
        if self.device is None and "device" not in self._running():
            self._start("device", detect_device)

    def create_starter(self, out: str | Path, size: str = "tiny", arch: str = "llama") -> None:
        self._start("starter", new_model, str(out), size, arch)

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
        task = Task(in_host, fn, *args)  # the engine's work runs in its own process
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
