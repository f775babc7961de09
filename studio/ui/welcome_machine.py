"""The welcome page's "This machine" card: device, memory, what fits, and problems with their
fixes, from studio.core.environment.check (run in a worker by the status bar)."""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget


def gb(mb: float) -> str:
    return f"{mb / 1024:.1f} GB"


class MachineCard(QFrame):
    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setObjectName("welcome_card")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        col = QVBoxLayout(self)
        title = QLabel(self.tr("This machine"))
        title.setObjectName("card_title")
        col.addWidget(title)
        self.facts = QLabel(self.tr("Checking this machine (PyTorch, GPU, bitsandbytes, "
                                    "disk)…"))
        self.facts.setObjectName("machine_facts")
        self.facts.setWordWrap(True)
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        self.facts.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        col.addWidget(self.facts, 1)
        self.problems = QLabel("")
        self.problems.setObjectName("machine_problems")
        self.problems.setWordWrap(True)
        self.problems.setTextFormat(Qt.TextFormat.RichText)
        self.problems.setVisible(False)
        col.addWidget(self.problems)

    def set_environment(self, env: Any) -> None:
        """An Environment (studio.core.environment)."""
        device = (self.tr("CPU only: {name}, {ram} memory").format(
                      name=env.device_name, ram=gb(env.device_total_mb))
                  if env.device_kind == "cpu" else
                  self.tr("{name}, {mem} memory").format(name=env.device_name,
                                                         mem=gb(env.device_total_mb)))
        torch_line = (self.tr("PyTorch {v} (CUDA {cuda})").format(v=env.torch_version,
                                                                  cuda=env.cuda_build)
                      if env.cuda_build else
                      self.tr("PyTorch {v} (CPU build)").format(v=env.torch_version))
        bnb = (self.tr("bitsandbytes {v}: QLoRA available").format(v=env.bitsandbytes)
               if env.bitsandbytes else self.tr("bitsandbytes: not usable"))
        disk = ("" if env.free_disk_mb is None else
                self.tr("{free} free for runs").format(free=gb(env.free_disk_mb)))
        fits = "; ".join(self.fit_text(f) for f in env.fits)
        lines = [f"<b>{device}</b>", torch_line, bnb, disk,
                 self.tr("What fits (memory estimate): {fits}").format(fits=fits)]
        self.facts.setText("<br>".join(x for x in lines if x))
        self.set_problems(env.problems)

    def fit_text(self, fit: Any) -> str:
        word = {True: self.tr("yes"), False: self.tr("no"), None: "?"}[fit.fits]
        return self.tr("{recipe}: {answer} ({needs})").format(
            recipe=fit.recipe, answer=word, needs=gb(fit.needs_mb))

    def set_problems(self, problems: list) -> None:
        items = [self.tr("⚠ {what}. Fix: {fix}").format(what=p.what, fix=p.fix)
                 for p in problems]
        self.problems.setText("<br>".join(items))
        self.problems.setVisible(bool(items))

    def set_failed(self, reason: str) -> None:
        self.facts.setText(self.tr("The machine check failed: {reason}").format(reason=reason))
