"""The status bar: device (from a worker: detecting it imports torch), memory in use (sampled
once a second) and the run state.

Memory sampling runs in the GUI thread because each sample is cheap: psutil's RSS (~50 µs)
and, once torch is imported and a GPU is present, the memory module's allocator figures
(plain counters, no device sync). Until the device worker has imported torch, only RSS shows.
"""

from __future__ import annotations

import sys
from typing import Any, Optional

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from studio.services.workers import run_task


def _detect_device() -> Any:
    # Lazy: studio.core.model.memory imports torch (~1 s); this runs in a worker thread, the
    # first engine import of the app: the one way (GIL-free library loads, GC paused)
    from studio.core.model.memory import detect_device
    from studio.services.engine_import import import_engine

    import_engine()

    return detect_device()


def _gb(mb: float) -> str:
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:.0f} MB"


class StatusBar(QStatusBar):
    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.device_label = QLabel(self.tr("Device: detecting…"))
        self.device_label.setObjectName("device_label")
        self.memory_label = QLabel("")
        self.memory_label.setObjectName("memory_label")
        self.run_label = QLabel(self.tr("Idle"))
        self.run_label.setObjectName("run_label")
        for w in (self.run_label, self.memory_label, self.device_label):
            self.addPermanentWidget(w)
        self.device: Any = None
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.sample_memory)

    def start(self) -> None:
        """Begin sampling and detect the device (call after the window has shown)."""
        self.sample_memory()
        self._timer.start()
        self._task = run_task(_detect_device, on_result=self.set_device,
                              on_error=self._device_failed, parent=self)

    def set_device(self, info: Any) -> None:
        self.device = info
        name = getattr(info, "name", "") or "CPU"
        if getattr(info, "kind", "cpu") == "cpu":
            text = self.tr("Device: CPU ({name})").format(name=name)
        else:
            total = float(getattr(info, "total_mb", 0) or 0)
            text = self.tr("Device: {name}, {total}").format(name=name, total=_gb(total))
        self.device_label.setText(text)
        self.device_label.setToolTip(str(info))

    def _device_failed(self, reason: str, details: str) -> None:
        self.device_label.setText(self.tr("Device: unknown"))
        self.device_label.setToolTip(reason)

    def sample_memory(self) -> None:
        text = self.tr("Memory: {rss}").format(rss=_gb(self._rss_mb()))
        if self.device is not None and getattr(self.device, "kind", "cpu") != "cpu" \
                and "studio.core.model.memory" in sys.modules:
            try:
                m = sys.modules["studio.core.model.memory"].sample_memory()
                # the whole GPU (every process: a run in the background too) when NVML
                # can tell; else what this process's allocator holds
                used = m.device_used_mb if m.device_used_mb is not None else m.reserved_mb
                total = m.device_total_mb or float(getattr(self.device, "total_mb", 0) or 0)
                text += "  " + self.tr("GPU: {used} of {total}").format(
                    used=_gb(float(used)), total=_gb(total))
            except Exception:  # a failed reading only leaves the GPU part out
                pass
        self.memory_label.setText(text)

    @staticmethod
    def _rss_mb() -> float:
        import psutil  # light; imported here so the window does not wait for it

        return psutil.Process().memory_info().rss / 2**20

    def set_run_state(self, text: str) -> None:
        self.run_label.setText(text)
