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
    # The child got SIGUSR1 with its runner: it checkpoints and says "stopped" itself.
    assert _statuses_once_ended(q, [first]) == ["stopped"], _why(q, [first])

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


def _statuses_once_ended(q, entries, limit_s=180):
    """run.json's status of each entry once none is running any more (its process alive)."""
    deadline = time.time() + limit_s
    while any(runs.effective_status(e.run_dir) == "running" for e in entries) \
            and time.time() < deadline:
        time.sleep(0.2)
    return [runs.read_status(e.run_dir).get("status") for e in entries]


def _why(q, entries):
    """What a failed wait leaves to read: each run's status and process, metrics, child log."""
    out = []
    for e in entries:
        st = runs.read_status(e.run_dir)
        metrics = e.run_dir / "metrics.jsonl"
        log = q.log_file(e.id)
        out += [f"--- {e.id}: run.json {st}, process alive: {runs.pid_alive(st.get('pid'))}",
                *(metrics.read_text().splitlines()[-4:] if metrics.is_file() else []),
                *(log.read_text(errors="replace").splitlines()[-15:] if log.is_file() else [])]
    return "\n".join(out)


def _training_span(run_dir):
    """(the "started" event's time, the last metrics line's time): when the run trained."""
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    start = next(x["time"] for x in lines if x.get("event") == "started")
    return start, lines[-1]["time"]


@pytest.mark.slow
def test_parallel_runs_overlap_and_a_killed_parallel_runner_s_runs_all_finish(
        tmp_path, base_yaml, child_env):
    from studio.core.experiments.runner import child_threads

    root = tmp_path / "runs"
    q = Queue(root)
    entries = [q.add(config.load(base_yaml(root / n, max_steps=6, save_total_limit=10)))
               for n in ("a", "b")]
    cmd = [sys.executable, "-m", "studio", "queue", "run", "--root", str(root), "--parallel", "2"]
    # Each child pauses 3 s after checkpoint 2; the runner is killed once BOTH have it.
    env = {**os.environ, "STUDIO_FAULTS": "pause_after_checkpoint@2,kill_runner@2"}
    killed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert [q.read().find(e.id).state for e in entries] == ["running", "running"]
    # The children got SIGUSR1 with their runner: each checkpoints and says "stopped" itself.
    assert _statuses_once_ended(q, entries) == ["stopped", "stopped"], _why(q, entries)
    # Trained at the same time: each was still running (its stop comes after the kill, once
    # both had checkpoint 2) when the other started. One at a time, the first would have
    # finished before the second started.
    a, b = (_training_span(e.run_dir) for e in entries)
    assert max(a[0], b[0]) < min(a[1], b[1])

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    state = q.read()
    for e in entries:
        assert state.find(e.id).state == "finished" and state.find(e.id).attempts == 2
        assert _events(e.run_dir).count("started") == 1 and "resumed" in _events(e.run_dir)
        assert [s["step"] for s in _steps(e.run_dir)] == [1, 2, 3, 4, 5, 6]  # none twice
        st = runs.read_status(e.run_dir)
        assert st["status"] == "finished" and st["cpu_threads"] == child_threads(2)


def test_parallel_must_be_a_positive_count(tmp_path):
    with pytest.raises(UserError, match="at least 1"):
        run_queue(Queue(tmp_path / "runs"), parallel=0, log=lambda _: None)
    bad = subprocess.run([sys.executable, "-m", "studio", "queue", "run", "--root",
                          str(tmp_path / "runs"), "--parallel", "0"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert not (tmp_path / "runs").exists()
