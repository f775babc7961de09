"""The status bar: device (from a worker: detecting it imports torch), memory in use (sampled
once a second) and the run state.

Memory sampling runs in the GUI thread because each sample is cheap: psutil's RSS (~50 µs)
and, once torch is imported and a GPU is present, the memory module's allocator figures
(plain counters, no device sync). Until the device worker has imported torch, only RSS shows.
"""

from __future__ import annotations

import sys
from typing import Any, Optional

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from studio.services.workers import run_task


def _detect_device() -> Any:
    # Lazy: studio.core.model.memory imports torch (~1 s); this runs in a worker thread, the
    # first engine import of the app: the one way (GIL-free library loads, GC paused)
    from studio.core.model.memory import detect_device
    from studio.services.engine_import import import_engine

    import_engine()

    return detect_device()


def _check_environment(runs_root: str) -> Any:
    # Lazy: imports torch and bitsandbytes; this runs in a worker thread.
    from studio.core.environment import check

    return check(runs_root)


def _gb(mb: float) -> str:
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:.0f} MB"


class StatusBar(QStatusBar):
    sig_environment = Signal(object)  # studio.core.environment.Environment, once at start

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        # A problem the machine check found, with its fix (hidden while there is none).
        self.env_label = QLabel("")
        self.env_label.setObjectName("env_problem")
        self.env_label.setVisible(False)
        self.addWidget(self.env_label, 1)
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

    def check_environment(self, runs_root: str) -> None:
        """The first-run check (torch, CUDA, GPU, bitsandbytes, disk) in a worker."""
        self._env_task = run_task(_check_environment, str(runs_root),
                                  on_result=self.set_environment,
                                  on_error=self._environment_failed, parent=self)

    def _environment_failed(self, reason: str, details: str) -> None:
        self.env_label.setText(self.tr("⚠ The machine check failed: {reason}").format(
            reason=reason))
        self.env_label.setToolTip(details)
        self.env_label.setVisible(True)

    def set_environment(self, env: Any) -> None:
        problems = list(getattr(env, "problems", []))
        if problems:
            first = problems[0]
            more = (self.tr(" (+{n} more)").format(n=len(problems) - 1)
                    if len(problems) > 1 else "")
            self.env_label.setText(self.tr("⚠ {what}. Fix: {fix}").format(
                what=first.what, fix=first.fix) + more)
            self.env_label.setToolTip("\n".join(f"{p.what}: {p.fix}" for p in problems))
        self.env_label.setVisible(bool(problems))
        self.sig_environment.emit(env)

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
        gpus = self._gpus()
        if len(gpus) > 1:  # a machine of several GPUs (a run of several processes): each
            text += "  " + "  ".join(
                self.tr("GPU {i}: {used} of {total}").format(i=i, used=_gb(u), total=_gb(t))
                for i, (u, t) in enumerate(gpus))
        elif self.device is not None and getattr(self.device, "kind", "cpu") != "cpu" \
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

    def _gpus(self) -> list:
        if getattr(self.device, "kind", "cpu") != "cuda" or \
                "studio.core.model.telemetry" not in sys.modules:
            return []
        return sys.modules["studio.core.model.telemetry"].gpus_memory_mb()

    @staticmethod
    def _rss_mb() -> float:
        import psutil  # light; imported here so the window does not wait for it

        return psutil.Process().memory_info().rss / 2**20

    def set_run_state(self, text: str) -> None:
        self.run_label.setText(text)
