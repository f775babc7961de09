"""Session with the real engine on the tiny model: in a worker thread, and detached."""

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QThread

from studio.core import config as config_mod
from studio.core import runs
from studio.paths import resource
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
    import gc

    import torch

    monkeypatch.setenv("STUDIO_FAULTS", "oom@3")
    s = Session()
    finished = []
    s.sig_finished.connect(lambda st, r: finished.append((st, r)))
    s.start(_cfg(tiny_model_dir, tmp_path / "run", steps=5))
    qtbot.waitUntil(lambda: bool(finished), timeout=180_000)
    status, reason = finished[0]
    assert status == "failed" and "out of memory at step 3" in reason and "batch_size=1" in reason
    assert not s.busy  # the app goes on: no thread left, nothing held
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, torch.nn.Module)
                and type(o).__name__.endswith("ForCausalLM")
                and o.training]  # the run's model is gone (probe / chat models are eval())
    assert runs.checkpoint_steps(runs.RunDir(tmp_path / "run")) == [2]
    monkeypatch.delenv("STUDIO_FAULTS")
    finished.clear()
    s.resume(tmp_path / "run", overrides={"batch_size": 1, "grad_accum": 2})
    qtbot.waitUntil(lambda: bool(finished), timeout=180_000)
    assert finished[0][0] == "finished"
    assert runs.read_status(tmp_path / "run")["step"] == 5


def test_an_in_app_run_from_a_cached_hub_id(qtbot, hub_cache, tmp_path):
    s = Session()
    events, finished = [], []
    s.sig_event.connect(events.append)
    s.sig_finished.connect(lambda st, r: finished.append((st, r)))
    s.start(_cfg(hub_cache, tmp_path / "run", steps=2))
    qtbot.waitUntil(lambda: bool(finished), timeout=180_000)
    assert finished[0][0] == "finished", finished
    # in the cache already: nothing downloaded, so no download lines in the run log
    assert "download" not in [e.event for e in events]
