"""The first-run check on this machine: real torch and bitsandbytes, a real disk."""

import torch

from studio.core import environment


def test_check_reports_this_machine_and_what_fits(tmp_path):
    env = environment.check(tmp_path / "runs" / "not-yet")  # a runs folder not made yet
    assert env.torch_version == torch.__version__ and env.cuda_build == torch.version.cuda
    assert env.device_total_mb > 0 and env.free_disk_mb > 0
    assert [f.recipe for f in env.fits] == ["LoRA on 7B", "QLoRA on 7B"]
    if not torch.cuda.is_available():
        assert env.device_kind == "cpu"


def test_a_16_gb_gpu_fits_qlora_on_7b_but_not_lora(tmp_path):
    # README's claim, from the same memory estimate the Model page shows
    lora, qlora = environment.fits("cuda", 16 * 1024)
    assert (lora.fits, qlora.fits) == (False, True) and qlora.needs_mb < lora.needs_mb


def test_problems_come_with_their_fix(tmp_path, monkeypatch):
    node = tmp_path / "nvidia0"
    node.touch()
    monkeypatch.setattr(environment, "GPU_NODES", (str(node),))
    [cpu_build] = environment._gpu_problems(None, "cpu")
    assert "CPU-only" in cpu_build.what and "download.pytorch.org" in cpu_build.fix
    [no_driver] = environment._gpu_problems("12.6", "cpu")
    assert "driver" in no_driver.fix
    monkeypatch.setattr(environment, "LOW_DISK_MB", 10 ** 12)
    env = environment.check(tmp_path)
    assert any("free" in p.what and "Runs folder" in p.fix for p in env.problems)
