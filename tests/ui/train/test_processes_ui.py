"""The Train page's way to several processes: the Processes / Strategy / Which GPUs fields,
Start sending a process group to the background, the launch-script dialog; the status bar's
memory of every GPU."""

from studio.core import config
from studio.core.model import telemetry
from studio.core.model.memory import DeviceInfo
from studio.services.session import Session
from studio.ui.status_bar import StatusBar
from studio.ui.train.launch_dialog import LaunchScriptDialog
from studio.ui.train.panel import TrainPanel


def test_processes_start_as_a_background_group(qtbot, tmp_path, monkeypatch):
    session = Session()
    panel = TrainPanel(session)
    qtbot.addWidget(panel)
    form = panel.forms["training"]
    assert {"processes", "distributed", "gpus"} <= set(form.keys())
    session.draft.update(model="m", dataset="d.json", output_dir=str(tmp_path / "run"),
                         processes=2, distributed="fsdp")
    started = []
    # the real start_detached launches `python -m studio train`, which relaunches itself
    # through torchrun (tests/cli/test_processes_cli.py runs that); here: which door Start takes
    monkeypatch.setattr(session, "start_detached", lambda cfg: started.append(cfg))
    monkeypatch.setattr(session, "start", lambda cfg: started.append("in this window"))
    assert panel.start()
    assert [(c.processes, c.distributed) for c in started] == [(2, "fsdp")]
    assert "2 training processes (fsdp)" in panel.log.toPlainText()


def test_the_launch_dialog_writes_the_cluster_folder(qtbot, tmp_path):
    cfg = config.from_dict({"model": "m", "dataset": "d.json",
                            "output_dir": str(tmp_path / "run"), "processes": 2})
    dialog = LaunchScriptDialog(cfg)
    qtbot.addWidget(dialog)
    dialog.nnodes.setValue(2)
    dialog.master_addr.setText("node0")
    dialog.folder.setText(str(tmp_path / "cluster"))
    dialog.show()
    assert dialog.write(), dialog.message.text()
    assert (tmp_path / "cluster" / "node-1.sh").is_file()
    assert config.load(tmp_path / "cluster" / "config.yaml").processes == 4
    assert "README.txt" in dialog.message.text()
    assert not dialog.write()  # the folder is no longer empty: said, nothing overwritten
    assert "not empty" in dialog.message.text()


def test_the_status_bar_shows_every_gpu_and_nothing_new_on_the_cpu(qtbot, monkeypatch):
    bar = StatusBar()
    qtbot.addWidget(bar)
    bar.set_device(DeviceInfo(kind="cpu", name="x", total_mb=0, bf16=False))
    bar.sample_memory()
    assert "GPU" not in bar.memory_label.text()
    # two GPUs as NVML reports them (no NVML on this machine: its reading is replaced)
    monkeypatch.setattr(telemetry, "gpus_memory_mb", lambda: [(1024.0, 81920.0),
                                                              (2048.0, 81920.0)])
    bar.set_device(DeviceInfo(kind="cuda", name="H100", total_mb=81920.0, bf16=True))
    bar.sample_memory()
    text = bar.memory_label.text()
    assert "GPU 0: 1.0 GB of 80.0 GB" in text and "GPU 1: 2.0 GB of 80.0 GB" in text
