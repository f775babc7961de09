"""`python main.py train / resume` as a user runs them: exit codes, one-line errors, SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.core import runs

ROOT = Path(__file__).resolve().parents[2]
ROWS = [{"instruction": f"问题 {i}: 今天学了什么？", "input": "",
         "output": f"第 {i} 课讲了注意力。"} for i in range(24)]


def cli(*args, env=None, timeout=300):
    e = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, env=e,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture()
def cfg_file(tmp_path, tiny_model_dir):
    data = tmp_path / "d.json"
    data.write_text(json.dumps(ROWS, ensure_ascii=False), encoding="utf-8")
    p = tmp_path / "c.yaml"
    p.write_text(f"model: {tiny_model_dir}\ndataset: {data}\noutput_dir: {tmp_path / 'run'}\n"
                 "max_steps: 8\nbatch_size: 2\nsave_steps: 2\neval_split: 0\nmax_length: 64\n",
                 encoding="utf-8")
    return p


def assert_one_line_error(r, *words):
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_bad_inputs_are_one_line_and_exit_2(tmp_path, cfg_file):
    assert_one_line_error(cli("train", cfg_file, "--set", "lerning_rate=1"), "lerning_rate")
    assert_one_line_error(cli("train", cfg_file, "--set", "batch_size=two"), "batch_size")
    assert_one_line_error(cli("train", tmp_path / "nope.yaml"), "not found")
    assert_one_line_error(cli("train", cfg_file, "--set", f"dataset={tmp_path / 'x.json'}"),
                          "x.json")
    assert_one_line_error(cli("train", cfg_file, "--set", "model=/no/such/model"), "model")
    assert_one_line_error(cli("resume", tmp_path / "nothing"), "not found")
    assert not (tmp_path / "run").exists()  # no half-made run directory


def _wait_for_step(run_dir: Path, step: int, proc, timeout=240):
    t0 = time.time()
    while time.time() - t0 < timeout:
        recs = runs.read_metrics(run_dir)
        if any(r.type == "step" and r.step >= step for r in recs):
            return
        if proc.poll() is not None:
            pytest.fail(f"training ended early: {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    pytest.fail("training never reached the step")


@pytest.mark.slow
def test_sigkill_during_a_step_then_resume_reaches_the_planned_step(tmp_path, cfg_file):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "main.py", "train", str(cfg_file), "--quiet"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for_step(run_dir, 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert runs.effective_status(run_dir) == "stopped"  # run.json said running; pid is gone
    r = cli("resume", run_dir)
    assert r.returncode == 0, r.stderr[-2000:]
    st = runs.read_status(run_dir)
    assert st["status"] == "finished" and st["step"] == 8
    steps = [x.step for x in runs.read_metrics(run_dir) if x.type == "step"]
    assert steps[-1] == 8 and sorted(set(steps)) == list(range(1, 9))
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()


@pytest.mark.slow
def test_sigkill_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, cfg_file):
    run_dir = tmp_path / "run"
    r = cli("train", cfg_file, "--quiet", env={"STUDIO_FAULTS": "kill_in_checkpoint@4"})
    assert r.returncode == -signal.SIGKILL
    run = runs.RunDir(run_dir)
    assert runs.checkpoint_steps(run) == [2]  # the half-written step-4 does not count
    assert any(p.name.startswith(".tmp-") for p in run.checkpoints.iterdir())
    r = cli("resume", run_dir)
    assert r.returncode == 0, r.stderr[-2000:]
    assert not any(p.name.startswith(".tmp-") for p in run.checkpoints.iterdir())
    assert runs.read_status(run_dir)["status"] == "finished"


@pytest.mark.slow
def test_sigkill_during_the_final_save_then_resume_finishes(tmp_path, cfg_file):
    run_dir = tmp_path / "run"
    r = cli("train", cfg_file, "--quiet", env={"STUDIO_FAULTS": "kill_in_final_save"})
    assert r.returncode == -signal.SIGKILL
    assert not (run_dir / "adapter").exists()  # never a half adapter under the final name
    assert runs.read_status(run_dir)["status"] == "running"
    r = cli("resume", run_dir)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (run_dir / "adapter" / "adapter_config.json").is_file()
    assert runs.read_status(run_dir)["status"] == "finished"


def test_existing_run_is_refused_then_overwritten_on_request(tmp_path, cfg_file):
    r = cli("train", cfg_file, "--quiet", "--set", "max_steps=2")
    assert r.returncode == 0, r.stderr[-2000:]
    assert_one_line_error(cli("train", cfg_file, "--set", "max_steps=2"), "already holds a run")
    r = cli("train", cfg_file, "--quiet", "--set", "max_steps=2", "--set", "overwrite=true")
    assert r.returncode == 0
