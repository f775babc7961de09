"""The status bar: device (detected by the engine host: it may import torch), memory in use
(sampled once a second) and the run state.

Memory sampling runs in the GUI thread because each sample is cheap: psutil's RSS of the window
and of the engine host (~50 µs each) and, on a GPU machine with NVML, the whole GPU's use (plain
counters: every process, the host's training and a background run included). NVML starts once
in a worker when the device turns out to be a GPU.
"""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from studio.services.engine_host import engine_host, in_host
from studio.services.model_jobs import detect_device
from studio.services.workers import run_task


def _check_environment(runs_root: str) -> Any:
    from studio.core.environment import check  # imports torch and bitsandbytes: in the host

    return in_host(check, runs_root)


def _start_nvml() -> None:
    from studio.core.model import telemetry  # light; NVML's first call may take a moment

    telemetry.sample_memory(init_nvml=True)


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
        self._task = run_task(in_host, detect_device, on_result=self.set_device,
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
        if getattr(info, "kind", "cpu") == "cuda":
            self._nvml_task = run_task(_start_nvml, parent=self)

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
        elif getattr(self.device, "kind", "cpu") != "cpu":
            from studio.core.model import telemetry  # light: no torch

            m = telemetry.sample_memory()  # the whole GPU from NVML (once started), else none
            if m.device_used_mb is not None:
                total = m.device_total_mb or float(getattr(self.device, "total_mb", 0) or 0)
                text += "  " + self.tr("GPU: {used} of {total}").format(
                    used=_gb(float(m.device_used_mb)), total=_gb(total))
        self.memory_label.setText(text)

    def _gpus(self) -> list:
        if getattr(self.device, "kind", "cpu") != "cuda":
            return []
        from studio.core.model import telemetry

        return telemetry.gpus_memory_mb()

    def _rss_mb(self) -> float:
        """The window's and the engine host's resident memory (the models live there)."""
        import psutil  # light; imported here so the window does not wait for it

        total = psutil.Process().memory_info().rss
        pid = engine_host().pid
        if pid is not None:
            try:
                if getattr(self, "_host", None) is None or self._host.pid != pid:
                    self._host = psutil.Process(pid)
                total += self._host.memory_info().rss
            except psutil.Error:  # the host just ended: the next sample finds the new one
                self._host = None
        return total / 2**20

    def set_run_state(self, text: str) -> None:
        self.run_label.setText(text)
