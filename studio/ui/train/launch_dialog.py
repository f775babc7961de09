"""Export launch script: the Train page's settings as a folder that runs them on a cluster
(config.yaml, a torchrun command per machine, a Slurm sbatch file), written by
core/train/launch.py exactly as `train CONFIG --launch-script DIR` writes it. A handful of small
files: written in the GUI thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from studio.core.errors import UserError


class LaunchScriptDialog(QDialog):
    def __init__(self, cfg: Any, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.cfg = cfg
        self.setObjectName("launch_dialog")
        self.setWindowTitle(self.tr("Export launch script"))
        self.setMinimumWidth(480)
        form = QFormLayout(self)
        self.processes = self._spin(1, 1024, max(1, cfg.processes), "launch_processes")
        self.nnodes = self._spin(1, 4096, 1, "launch_nnodes")
        self.master_addr = QLineEdit("127.0.0.1")
        self.master_addr.setObjectName("launch_master_addr")
        self.master_port = self._spin(1, 65535, 29500, "launch_master_port")
        self.folder = QLineEdit(str(Path(cfg.output_dir).expanduser().parent / (
            Path(cfg.output_dir).name + "-launch")))
        self.folder.setObjectName("launch_folder")
        browse = QPushButton(self.tr("Browse…"))
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form.addRow(self.tr("GPUs per machine"), self.processes)
        form.addRow(self.tr("Machines"), self.nnodes)
        form.addRow(self.tr("Master address"), self.master_addr)
        form.addRow(self.tr("Master port"), self.master_port)
        form.addRow(self.tr("New folder"), row)
        self.message = QLabel("")
        self.message.setObjectName("launch_message")
        self.message.setWordWrap(True)
        form.addRow(self.message)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Close)
        buttons.accepted.connect(self.write)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.written: list[Path] = []

    def _spin(self, lo: int, hi: int, value: int, name: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(lo, hi)
        spin.setValue(value)
        spin.setObjectName(name)
        return spin

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("Folder for the launch script"))
        if folder:
            self.folder.setText(folder)

    def write(self) -> bool:
        from studio.core.train.launch import Launch, write_launch_folder

        launch = Launch(self.processes.value(), self.nnodes.value(), 0,
                        self.master_addr.text().strip() or "127.0.0.1", self.master_port.value())
        try:
            self.written = write_launch_folder(Path(self.folder.text().strip()), self.cfg, launch)
        except (UserError, OSError) as e:
            self.message.setText(str(e))
            return False
        self.message.setText(self.tr("Written: {folder} (see README.txt there)").format(
            folder=self.written[0].parent))
        return True
