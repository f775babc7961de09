"""The status bar: device from a worker, memory once a second, run state."""

from studio.core.model.memory import DeviceInfo
from studio.ui.status_bar import StatusBar


def test_device_is_detected_in_a_worker_and_memory_is_sampled(qtbot):
    bar = StatusBar()
    qtbot.addWidget(bar)
    bar.start()
    assert bar.memory_label.text().startswith("Memory: ")
    qtbot.waitUntil(lambda: bar.device is not None, timeout=60_000)
    assert bar.device_label.text().startswith("Device: ")
    assert "detecting" not in bar.device_label.text()


def test_a_gpu_shows_its_name_and_size(qtbot):
    bar = StatusBar()
    qtbot.addWidget(bar)
    bar.set_device(DeviceInfo(kind="cuda", name="NVIDIA H200", total_mb=143771.0, bf16=True))
    assert bar.device_label.text() == "Device: NVIDIA H200, 140.4 GB"
    bar.set_run_state("Training: step 3/10")
    assert bar.run_label.text() == "Training: step 3/10"


def test_a_machine_problem_shows_with_its_fix_and_reaches_the_welcome_page(qtbot):
    from studio.core.environment import Environment, Problem

    bar = StatusBar()
    qtbot.addWidget(bar)
    bar.show()
    assert not bar.env_label.isVisible()
    env = Environment("2.13.0+cpu", None, "cpu", "CPU", 8000.0, None, 100.0, "/r", problems=[
        Problem("bitsandbytes does not load (ImportError)", "pip install -U bitsandbytes"),
        Problem("only 0.1 GB free", "free some space")])
    with qtbot.waitSignal(bar.sig_environment) as blocker:
        bar.set_environment(env)
    assert blocker.args == [env] and bar.env_label.isVisible()
    assert bar.env_label.text() == ("⚠ bitsandbytes does not load (ImportError). Fix: pip "
                                    "install -U bitsandbytes (+1 more)")
    assert "only 0.1 GB free: free some space" in bar.env_label.toolTip()
