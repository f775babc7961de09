"""Session with the real engine on the tiny model: in a worker thread, and detached."""

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QThread
from train_host_jobs import training_models

from studio.core import config as config_mod
from studio.core import runs
from studio.paths import resource
from studio.services.engine_host import engine_host
from studio.services.session import Session

SAMPLE = resource("samples", "demo_zh_en.jsonl")


def _cfg(model: Path, out: Path, steps: int):
    return config_mod.from_dict(dict(model=str(model), dataset=str(SAMPLE), max_steps=steps,
                                     batch_size=2, max_length=64, eval_split=0.1, eval_steps=2,
                                     save_steps=100, output_dir=str(out)), check_required=True)


def test_a_run_trains_in_a_worker_thread_and_reports_in_the_gui_thread(qtbot, tiny_model_dir,
                                                                        tmp_path):
    s = Session()
    states, steps, evals, finished, threads = [], [], [], [], set()
    s.sig_state.connect(states.append)
    s.sig_step.connect(lambda m, mem: (steps.append(m), threads.add(QThread.currentThread())))
    s.sig_eval.connect(evals.append)
    s.sig_finished.connect(lambda st, r: finished.append(st))
    running_in = []
    s.sig_started.connect(lambda d: running_in.append(s._thread))
    s.start(_cfg(tiny_model_dir, tmp_path / "run", steps=3))
    assert s.busy
    qtbot.waitUntil(lambda: bool(finished), timeout=180_000)
    assert finished == ["finished"]
    assert states == ["starting", "running", "idle"]
    assert [m.step for m in steps] == [1, 2, 3] and steps[-1].total_steps == 3
    assert [e.step for e in evals] == [0, 2, 3]  # the curve starts at the untrained model
    assert threads == {QThread.currentThread()}
    assert running_in[0] is not None and running_in[0] is not QThread.currentThread()
    assert s.last_result.status == "finished" and not s.busy
    assert runs.read_status(tmp_path / "run")["status"] == "finished"


@pytest.mark.slow  # a second Python process imports torch and transformers: ~25 s
def test_a_background_run_is_its_own_process_followed_live_and_stoppable(qtbot, tiny_model_dir,
                                                                          tmp_path):
    s = Session()
    steps, finished = [], []
    s.sig_step.connect(lambda m, mem: steps.append(m.step))
    s.sig_finished.connect(lambda st, r: finished.append((st, r)))
    run_dir = s.start_detached(_cfg(tiny_model_dir, tmp_path / "bg", steps=200))
    assert s.state == "following"
    pid = s._process.pid
    assert os.getsid(pid) != os.getsid(0)  # own session: closing the app leaves it alone
    qtbot.waitUntil(lambda: len(steps) >= 2, timeout=240_000)
    s.stop()  # SIGINT: the CLI checkpoints after the current step, as Ctrl+C would
    assert s.state == "stopping"
    qtbot.waitUntil(lambda: bool(finished), timeout=120_000)
    assert finished[0][0] == "stopped", s.follower.log_text()
    assert steps == list(range(1, len(steps) + 1)) and len(steps) < 200
    assert runs.read_status(run_dir)["status"] == "stopped"
    assert runs.checkpoint_steps(runs.RunDir(run_dir)) == [steps[-1]]
    assert (tmp_path / ".launch" / "bg.yaml").is_file()
    assert s.state == "idle"


@pytest.mark.slow  # the second process imports torch before it finds the file missing
def test_a_background_run_that_cannot_start_reports_why(qtbot, tiny_model_dir, tmp_path):
    s = Session()
    errors = []
    s.sig_error.connect(lambda r, d: errors.append(r))
    cfg = _cfg(tiny_model_dir, tmp_path / "bad", steps=1).replace(
        dataset=str(tmp_path / "nope.jsonl"))
    s.start_detached(cfg)
    qtbot.waitUntil(lambda: bool(errors), timeout=120_000)
    assert "nope.jsonl" in errors[0]
    assert s.state == "idle"


def test_out_of_memory_in_the_app_is_reported_saved_and_resumable(qtbot, tiny_model_dir,
                                                                   tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_FAULTS", "oom@3")
    s = Session()
    finished = []
    s.sig_finished.connect(lambda st, r: finished.append((st, r)))
    s.start(_cfg(tiny_model_dir, tmp_path / "run", steps=5))
    qtbot.waitUntil(lambda: bool(finished), timeout=180_000)
    status, reason = finished[0]
    assert status == "failed" and "out of memory at step 3" in reason and "batch_size=1" in reason
    assert not s.busy  # the app goes on: no thread left, nothing held
    assert engine_host().run(training_models) == 0  # the run's model is gone from the host
    assert runs.checkpoint_steps(runs.RunDir(tmp_path / "run")) == [2]
    monkeypatch.delenv("STUDIO_FAULTS")
    finished.clear()
    s.resume(tmp_path / "run", overrides={"batch_size": 1, "grad_accum": 2})
    qtbot.waitUntil(lambda: bool(finished), timeout=180_000)
    assert finished[0][0] == "finished"
    assert runs.read_status(tmp_path / "run")["step"] == 5


def test_an_in_app_run_from_a_cached_hub_id(qtbot, hub_cache, tmp_path):
    # huggingface_hub reads HF_HOME once, when imported: a host started before this test set it
    # would look in another cache. A new host starts with this environment.
    engine_host().close()
    s = Session()
    events, finished = [], []
    s.sig_event.connect(events.append)
    s.sig_finished.connect(lambda st, r: finished.append((st, r)))
    s.start(_cfg(hub_cache, tmp_path / "run", steps=2))
    qtbot.waitUntil(lambda: bool(finished), timeout=180_000)
    assert finished[0][0] == "finished", finished
    # in the cache already: nothing downloaded, so no download lines in the run log
    assert "download" not in [e.event for e in events]


def test_stop_checkpoints_the_in_app_run_then_stops_it(qtbot, tiny_model_dir, tmp_path):
    s = Session()
    steps, states, finished = [], [], []
    s.sig_step.connect(lambda m, mem: steps.append((m.step, mem)))
    s.sig_state.connect(states.append)
    s.sig_finished.connect(lambda st, r: finished.append(st))
    s.start(_cfg(tiny_model_dir, tmp_path / "run", steps=500))
    qtbot.waitUntil(lambda: len(steps) >= 2, timeout=180_000)
    s.stop()
    qtbot.waitUntil(lambda: bool(finished), timeout=120_000)
    assert finished == ["stopped"] and states == ["starting", "running", "stopping", "idle"]
    last = steps[-1][0]
    assert [n for n, _ in steps] == list(range(1, last + 1)) and last < 500
    assert runs.checkpoint_steps(runs.RunDir(tmp_path / "run")) == [last]
    assert runs.read_status(tmp_path / "run")["status"] == "stopped"
    mem = steps[0][1]  # sampled in the host, where the model is
    assert mem is not None and mem.rss_mb > 0


def test_an_in_app_run_that_cannot_start_reports_why(qtbot, tiny_model_dir, tmp_path):
    s = Session()
    errors, finished = [], []
    s.sig_error.connect(lambda r, d: errors.append((r, d)))
    s.sig_finished.connect(lambda st, r: finished.append(st))
    s.start(_cfg(tiny_model_dir, tmp_path / "bad", steps=1).replace(
        dataset=str(tmp_path / "nope.jsonl")))
    qtbot.waitUntil(lambda: bool(errors), timeout=120_000)
    reason, details = errors[0]
    assert "nope.jsonl" in reason and "\n" not in reason  # the user error's one line...
    assert details == ""  # ...arrived as itself, not as a crash of the host with a traceback
    assert finished == ["failed"] and s.state == "idle"


WINDOW_RUN = """
import sys
from PySide6.QtCore import QCoreApplication
from studio.core import config
from studio.services.session import Session

app = QCoreApplication([])
s = Session()
got = []
s.sig_step.connect(lambda m, mem: got.append(m.step))
s.sig_finished.connect(lambda status, reason: (got.append(status), app.quit()))
s.start(config.from_dict(dict(model=sys.argv[1], dataset=sys.argv[2], max_steps=2, batch_size=2,
                              max_length=64, output_dir=sys.argv[3]), check_required=True))
app.exec()
heavy = [m for m in ("torch", "transformers", "peft") if m in sys.modules]
print(got, heavy)
"""


def test_an_in_app_run_never_imports_torch_in_the_window_process(tiny_model_dir, tmp_path):
    import subprocess
    import sys

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    r = subprocess.run([sys.executable, "-c", WINDOW_RUN, str(tiny_model_dir), str(SAMPLE),
                        str(tmp_path / "run")], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().splitlines()[-1] == "[1, 2, 'finished'] []", r.stderr[-3000:]
    assert runs.read_status(tmp_path / "run")["status"] == "finished"
