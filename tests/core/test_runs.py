import json

import pytest

from studio.core import config, runs
from studio.core.errors import ConfigError, UserError
from studio.core.events import RunEvent, StepMetrics


def _cfg(tmp_path, **kw):
    return config.from_dict({"model": "m", "dataset": "d.json",
                             "output_dir": str(tmp_path / "run"), **kw})


def test_create_writes_full_config_and_refuses_a_second_run(tmp_path):
    run = runs.create(_cfg(tmp_path))
    assert "save_total_limit: 2" in run.config_file.read_text()
    runs.write_status(run, "running", step=0, total_steps=5)
    with pytest.raises(ConfigError, match="already holds a run"):
        runs.create(_cfg(tmp_path))
    run2 = runs.create(_cfg(tmp_path, overwrite=True))
    assert runs.read_status(run2.path) == {}


def test_non_run_folder_with_user_files_is_never_cleared(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "thesis.docx").write_text("precious")
    with pytest.raises(ConfigError, match="holds no run"):
        runs.create(_cfg(tmp_path, overwrite=True))
    assert (tmp_path / "run" / "thesis.docx").exists()


def test_metrics_writer_and_tail_see_lines_as_written(tmp_path):
    run = runs.create(_cfg(tmp_path))
    tail = runs.MetricsTail(run.path)
    w = runs.MetricsWriter(run)
    w.on_event(RunEvent(step=0, event="started"))
    assert [r.event for r in tail.read_new()] == ["started"]
    w.on_step(StepMetrics(step=1, loss=1.0, lr=0.1, grad_norm=1.0, tokens=3, tokens_per_s=1.0,
                          mem_mb=1.0))
    with open(run.metrics_file, "a") as f:
        f.write('{"type":"step","step":2,')  # a line another process is half-way through
    assert [r.step for r in tail.read_new()] == [1]
    with open(run.metrics_file, "a") as f:
        f.write('"loss":0.5,"lr":0.1,"grad_norm":1,"tokens":3,"tokens_per_s":1,"mem_mb":1,"time":1}\n')
    assert [r.step for r in tail.read_new()] == [2]
    assert len(runs.read_metrics(run.path)) == 3
    w.close()


def test_checkpoints_complete_only_and_rotated_after_commit(tmp_path):
    run = runs.create(_cfg(tmp_path))
    run.checkpoints.mkdir()
    for step in (1, 2, 3):
        tmp = runs.temp_checkpoint_path(run, step)
        tmp.mkdir()
        (tmp / "trainer_state.json").write_text("{}")
        runs.commit_checkpoint(run, tmp, step, keep=2)
    assert runs.checkpoint_steps(run) == [2, 3]
    partial = runs.temp_checkpoint_path(run, 4)
    partial.mkdir()
    (run.checkpoints / "step-9").mkdir()  # no trainer_state.json: not complete
    assert runs.latest_checkpoint(run).name == "step-3"
    assert partial in runs.clean_temporaries(run)
    assert not partial.exists()


def test_killed_running_run_reads_as_stopped(tmp_path):
    run = runs.create(_cfg(tmp_path))
    runs.write_status(run, "running", step=3, total_steps=9)
    data = json.loads(run.status_file.read_text())
    data["pid"] = 2 ** 22 + 12345  # no such process
    run.status_file.write_text(json.dumps(data))
    assert runs.effective_status(run.path) == "stopped"
    [summary] = runs.list_runs(tmp_path)
    assert summary.step == 3 and summary.method == "lora"


def test_holds_run_is_the_one_decision_and_an_export_is_not_a_run(tmp_path):
    run = runs.create(_cfg(tmp_path))
    assert runs.holds_run(run.path)  # created: its config.yaml, nothing written yet
    for marker in ("run.json", "metrics.jsonl"):  # a run's output, even without config.yaml
        other = tmp_path / marker
        other.mkdir()
        (other / marker).write_text("")
        assert runs.holds_run(other)
    for export_marker in ("config.json", "adapter_config.json"):  # an export: config.yaml copy
        export = tmp_path / f"export-{export_marker}"
        export.mkdir()
        (export / "config.yaml").write_text(run.config_file.read_text())
        (export / export_marker).write_text("{}")
        assert not runs.holds_run(export)
        with pytest.raises(UserError, match="not a run directory"):
            runs.open_run(export)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.docx").write_text("x")
    assert not runs.holds_run(tmp_path / "notes") and not runs.holds_run(tmp_path / "nowhere")
    assert [s.run_dir for s in runs.list_runs(tmp_path)] == [run.path]
