"""Disk full and read-only output on a real (tiny) filesystem: a tmpfs mounted for the test and
shrunk or made read-only while the run trains. The kernel refuses the writes, not a test hook.
Needs root to mount (CI runs as root here); skipped elsewhere."""

import os
import subprocess

import pytest
from test_trainer import Recorder, make_cfg, small_data  # noqa: F401  (fixture)

from studio.core import runs
from studio.core.errors import UserError
from studio.core.events import RunEvent, StepMetrics
from studio.core.train import trainer


def _mount(path, options: str) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True,
                   capture_output=True)


def _remount(path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True,
                   capture_output=True)


@pytest.fixture()
def tiny_fs(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        _mount(fs, "size=256m")
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"cannot mount a tmpfs here: {e}")
    yield fs
    subprocess.run(["umount", "-l", str(fs)], capture_output=True)


class ShrinkAt(Recorder):
    """After step `at` (the checkpoint of step 2 is on disk), change the filesystem."""

    def __init__(self, fs, at, options):
        super().__init__()
        self.fs, self.at, self.options = fs, at, options

    def on_step(self, m):
        super().on_step(m)
        if m.step == self.at:
            st = os.statvfs(self.fs)
            used_inodes = st.f_files - st.f_ffree
            used_kb = (st.f_blocks - st.f_bfree) * st.f_frsize // 1024
            _remount(self.fs, self.options.format(inodes=used_inodes + 1, kb=used_kb + 512))


def _train_until_the_disk_refuses(tmp_path, fs, model, data, options):
    cfg = make_cfg(tmp_path, model, data, output_dir=str(fs / "run"), save_steps=2,
                   max_steps=6)
    result = trainer.train(cfg, reporter=ShrinkAt(fs, 3, options))
    assert result.status == "failed"
    run = runs.RunDir(fs / "run")
    assert runs.checkpoint_steps(run) == [2]  # the previous checkpoint survives, complete
    assert not any(p.name.startswith(".tmp") for p in run.checkpoints.iterdir())
    assert not (run.path / "adapter").exists()  # nothing that looks like a finished run
    return result, run


def _resume_after_freeing(fs, run):
    _remount(fs, "rw,size=256m,nr_inodes=100000")
    assert trainer.resume(run.path).status == "finished"
    records = runs.read_metrics(run.path)
    resumed = max(i for i, r in enumerate(records)
                  if isinstance(r, RunEvent) and r.event == "resumed")
    assert records[resumed].step == 2  # from the checkpoint that survived
    after = [r.step for r in records[resumed:] if isinstance(r, StepMetrics)]
    assert after == [3, 4, 5, 6]


def test_no_inode_left_fails_the_checkpoint_write_and_keeps_the_previous_one(
        tmp_path, tiny_fs, tiny_model_dir, small_data):  # noqa: F811
    result, run = _train_until_the_disk_refuses(tmp_path, tiny_fs, tiny_model_dir, small_data,
                                                "nr_inodes={inodes}")
    assert "No space left on device" in result.reason, result.reason
    assert "\n" not in result.reason
    _resume_after_freeing(tiny_fs, run)


def test_too_little_space_is_refused_before_the_save_with_the_figures(
        tmp_path, tiny_fs, tiny_model_dir, small_data):  # noqa: F811
    result, run = _train_until_the_disk_refuses(tmp_path, tiny_fs, tiny_model_dir, small_data,
                                                "size={kb}k")
    assert "not enough free space" in result.reason and "MB free" in result.reason
    _resume_after_freeing(tiny_fs, run)


def test_a_read_only_output_folder_is_refused_in_one_line(tmp_path, tiny_fs, tiny_model_dir,
                                                         small_data):  # noqa: F811
    # (a tmpfs cannot be remounted read-only while the run holds metrics.jsonl open for
    # writing, so this is the case of choosing an output on a read-only disk)
    _remount(tiny_fs, "ro")
    cfg = make_cfg(tmp_path, tiny_model_dir, small_data, output_dir=str(tiny_fs / "run"))
    with pytest.raises(UserError) as e:
        trainer.train(cfg)
    assert "Read-only file system" in e.value.one_line() and "\n" not in e.value.one_line()
    assert not (tiny_fs / "run").exists()


@pytest.mark.parametrize("fmt", ["adapter", "gguf"])
def test_an_export_onto_a_full_disk_says_so_and_leaves_nothing(tmp_path, tiny_fs, fmt,
                                                               tiny_model_dir,
                                                               small_data):  # noqa: F811
    from studio.core.export.folder import ExportError, export

    done = trainer.train(make_cfg(tmp_path, tiny_model_dir, small_data, max_steps=2))
    assert done.status == "finished"
    st = os.statvfs(tiny_fs)
    _remount(tiny_fs, f"nr_inodes={st.f_files - st.f_ffree + 1}")  # one folder, no file
    with pytest.raises(ExportError) as e:
        export(done.run_dir, tiny_fs / "out", fmt=fmt)
    assert "No space left on device" in e.value.one_line()
    assert list(tiny_fs.iterdir()) == []
