"""Following a run that another process writes: the follower sees each line as it lands."""

import json
import subprocess
import sys
import textwrap
import time

from studio.core.events import StepMetrics
from studio.services.follow import RunFollower
from studio.services.session import Session

WRITER = textwrap.dedent("""
    import json, sys, time
    run = sys.argv[1]
    with open(run + "/metrics.jsonl", "a", encoding="utf-8") as f:
        start = {"type": "event", "step": 0, "event": "started", "time": time.time()}
        f.write(json.dumps(start) + "\\n")
        for step in range(1, 6):
            line = json.dumps({"type": "step", "step": step, "loss": 3.0 / step, "lr": 1e-3,
                               "grad_norm": 1.0, "tokens": 10, "tokens_per_s": 100.0,
                               "mem_mb": 50.0, "time": time.time(), "total_steps": 5})
            f.write(line[:20]); f.flush(); time.sleep(0.05)   # half a line on disk for a while
            f.write(line[20:] + "\\n"); f.flush(); time.sleep(0.1)
        f.write(json.dumps({"type": "eval", "step": 5, "eval_loss": 0.7, "perplexity": 2.0,
                            "time": time.time()}) + "\\n")
        f.write(json.dumps({"type": "event", "step": 5, "event": "finished", "detail": "done",
                            "time": time.time()}) + "\\n")
""")


def test_follower_reads_a_growing_file_written_by_another_process(qtbot, tmp_path):
    (tmp_path / "config.yaml").write_text("model: m\n")
    follower = RunFollower(interval_ms=20)
    got, ended = [], []
    follower.sig_records.connect(got.extend)
    follower.sig_ended.connect(lambda s, r: ended.append((s, r)))
    follower.follow(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)])
    qtbot.waitUntil(lambda: bool(ended), timeout=20000)
    proc.wait(10)
    steps = [r.step for r in got if isinstance(r, StepMetrics)]
    assert steps == [1, 2, 3, 4, 5]  # every line once, none torn
    assert [r.type for r in got][-2:] == ["eval", "event"]
    assert ended == [("finished", "done")]
    assert not follower.active


def test_session_follow_feeds_the_same_signals_as_a_live_run(qtbot, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("model: m\n")
    lines = [{"type": "step", "step": i, "loss": 1.0, "lr": 0.1, "grad_norm": 1.0, "tokens": 1,
              "tokens_per_s": 1.0, "mem_mb": 1.0, "time": time.time()} for i in (1, 2)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(d) + "\n" for d in lines))
    # run.json says "running" for a process that is gone: the follower calls it stopped.
    (run / "run.json").write_text(json.dumps({"status": "running", "pid": 2**22 + 12345}))
    s = Session()
    steps, finished, states = [], [], []
    s.sig_step.connect(lambda m, mem: steps.append(m.step))
    s.sig_finished.connect(lambda st, r: finished.append(st))
    s.sig_state.connect(states.append)
    s.follow(run)
    qtbot.waitUntil(lambda: bool(finished), timeout=5000)
    assert steps == [1, 2]
    assert finished == ["stopped"]
    assert states == ["following", "idle"]


def test_following_a_folder_that_is_no_run_is_refused(qtbot, tmp_path):
    import pytest

    from studio.core.errors import UserError

    with pytest.raises(UserError, match="not a run directory"):
        Session().follow(tmp_path)
