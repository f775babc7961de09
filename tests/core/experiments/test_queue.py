"""The queue on disk and its runner: runs one after another in child processes, a failed run
does not stop the queue, a killed runner's run is resumed (not restarted) by the next one."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from studio.core import config, runs
from studio.core.errors import UserError
from studio.core.experiments.queue import Queue, describe
from studio.core.experiments.runner import run_queue


def _steps(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
            if '"type":"step"' in line]


def _events(run_dir):
    return [json.loads(line)["event"] for line in
            (run_dir / "metrics.jsonl").read_text().splitlines() if '"type":"event"' in line]


def test_add_move_cancel_pause_and_the_file_survives(tmp_path, base_yaml):
    q = Queue(tmp_path / "runs")
    ids = [q.add(config.load(base_yaml(tmp_path / "runs" / n))).id for n in "abc"]
    q.move(ids[2], 1)
    assert [e.id for e in Queue(tmp_path / "runs").read().entries] == [ids[2], ids[0], ids[1]]
    q.cancel(ids[0])
    q.set_paused(True)
    state = Queue(tmp_path / "runs").read()  # a new reader: everything came from the file
    assert state.paused and state.find(ids[0]).state == "cancelled"
    assert [e.id for e in state.waiting()] == [ids[2], ids[1]]
    with pytest.raises(UserError, match="already has a run writing"):
        q.add(config.load(base_yaml(tmp_path / "runs" / "b")))
    with pytest.raises(UserError, match="no entry"):
        q.cancel("q99")


@pytest.mark.slow
def test_a_failed_run_does_not_stop_the_queue(tmp_path, base_yaml, child_env):
    q = Queue(tmp_path / "runs")
    bad = q.add(config.load(base_yaml(tmp_path / "runs" / "bad")))
    (tmp_path / "chat.jsonl").write_text("not json\n", encoding="utf-8")  # broken after queuing
    good_data = tmp_path / "good.jsonl"
    good_data.write_text("".join(json.dumps({"text": f"line {i} of plain text"}) + "\n"
                                 for i in range(12)), encoding="utf-8")
    good = q.add(config.load(base_yaml(tmp_path / "runs" / "good"),
                             [f"dataset={good_data}", "eval_split=0", "stage=pretrain",
                              "max_steps=2"]))
    lines: list[str] = []
    assert run_queue(q, log=lines.append) == 1
    state = q.read()
    assert state.find(bad.id).state == "failed" and "row" in state.find(bad.id).reason
    assert state.find(good.id).state == "finished"
    assert runs.read_status(good.run_dir)["status"] == "finished"
    assert describe(state.find(good.id))["step"] == 2 == describe(state.find(good.id))[
        "total_steps"]


@pytest.mark.slow
def test_a_killed_runner_s_run_is_resumed_by_the_next_runner(tmp_path, base_yaml, child_env):
    root = tmp_path / "runs"
    q = Queue(root)
    first = q.add(config.load(base_yaml(root / "first")))
    second = q.add(config.load(base_yaml(root / "second", max_steps=2)))
    cmd = [sys.executable, "-m", "studio", "queue", "run", "--root", str(root)]
    env = {**os.environ, "STUDIO_FAULTS": "pause_after_checkpoint@2,kill_runner@2"}
    killed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert q.read().find(first.id).state == "running"  # its runner is gone mid-run
    deadline = time.time() + 60  # the child got SIGTERM with its runner: it checkpoints, ends
    while runs.effective_status(first.run_dir) == "running" and time.time() < deadline:
        time.sleep(0.2)
    assert runs.read_status(first.run_dir)["status"] == "stopped"

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    state = q.read()
    assert [state.find(e.id).state for e in (first, second)] == ["finished", "finished"]
    assert state.find(first.id).attempts == 2
    assert _events(first.run_dir).count("started") == 1 and "resumed" in _events(first.run_dir)
    assert [s["step"] for s in _steps(first.run_dir)] == [1, 2, 3, 4]  # none trained twice
    assert runs.read_status(first.run_dir)["status"] == "finished"


def test_a_second_runner_is_refused_while_one_runs(tmp_path):
    q = Queue(tmp_path / "runs")
    q.dir.mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        q.runner_file.write_text(json.dumps({"pid": sleeper.pid}))
        with pytest.raises(UserError, match="already running"):
            run_queue(q, log=lambda _: None)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert run_queue(q, log=lambda _: None) == 0  # its runner gone, the claim is free again
