"""`train --processes 2` on the CPU (gloo): two real processes through torchrun, compared with
one process training the same effective batch. Three process groups in all (ddp killed and
resumed, fsdp) share one tiny model, one dataset and one one-process reference."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from studio.core import runs
from studio.core.events import StepMetrics

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 300  # a group that hangs fails the test and is killed, it never blocks CI
ROWS = [{"messages": [{"role": "user", "content": f"What is {i} plus {i % 3}?"},
                      {"role": "assistant", "content": f"It is {i + i % 3}." + " ok" * (i % 4)}]}
        for i in range(17)]
# 17 rows, eval_split 0.1 -> 15 train rows: 4 steps an epoch at effective batch 4 (the last
# one of 3 rows: a rank short of rows); 6 steps cross into the second epoch
BASE = dict(max_steps=6, save_steps=2, eval_steps=100, eval_split=0.1, max_length=64,
            learning_rate=1e-2, lora_r=4, lora_alpha=8, log_samples=True, save_total_limit=5,
            logging_steps=1)


def cli(*args, env=None, timeout=TIMEOUT):
    """Run `python main.py ...`; on a timeout kill the launcher, torchrun and the workers."""
    e = {**os.environ, **(env or {})}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        e.pop(k, None)
    proc = subprocess.Popen([sys.executable, "main.py", *map(str, args)], cwd=ROOT, env=e,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for p in psutil.Process(proc.pid).children(recursive=True) + [psutil.Process(proc.pid)]:
            p.kill()
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_model_dir):
    """(folder, config writer, the one-process reference run at effective batch 4)."""
    from studio.core import config
    from studio.core.train import trainer

    root = tmp_path_factory.mktemp("processes")
    data = root / "chat.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")

    def write(name: str, **keys) -> Path:
        cfg = {"model": str(tiny_model_dir), "dataset": str(data),
               "output_dir": str(root / name), **BASE, **keys}
        path = root / f"{name}.yaml"
        path.write_text("".join(f"{k}: {v}\n" for k, v in cfg.items()), encoding="utf-8")
        return path

    ref = config.load(write("reference", batch_size=4))
    assert trainer.train(ref).status == "finished"
    return root, write, root / "reference"


def losses(run_dir: Path) -> dict[int, float]:
    return {r.step: r.loss for r in runs.read_metrics(run_dir) if isinstance(r, StepMetrics)}


def assert_same_losses(run_dir: Path, ref_dir: Path) -> None:
    got, want = losses(run_dir), losses(ref_dir)
    assert sorted(got) == sorted(want) == list(range(1, 7))
    for step in want:
        assert got[step] == pytest.approx(want[step], abs=1e-4), step


def assert_rows_once_per_epoch(run_dir: Path, ref_dir: Path) -> None:
    steps = runs.trained_samples(run_dir)
    assert [s["samples"] for s in steps] == [s["samples"] for s in runs.trained_samples(ref_dir)]
    epoch0 = []
    for s in steps:
        first, second = s["ranks"]
        assert not set(first) & set(second)                       # no row on both ranks
        assert sorted(first + second) == sorted(s["samples"])    # every row of the step
        if s["epoch"] == 0:
            epoch0 += first + second
    train_rows = runs.read_status(run_dir)["data"]["train_samples"]
    assert len(epoch0) == len(set(epoch0)) == train_rows  # each training row exactly once


def assert_rank0_wrote_one_run(run_dir: Path) -> None:
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert names == ["step-2", "step-4", "step-6"]  # no temporaries, nothing per rank
    steps = [r.step for r in runs.read_metrics(run_dir) if isinstance(r, StepMetrics)]
    assert len(steps) == len(set(steps))  # one metrics line per step: only rank 0 writes


def test_ddp_killed_rank_stops_the_run_in_one_line_and_resume_reaches_the_planned_step(setup):
    root, write, ref = setup
    cfg = write("ddp", batch_size=2, distributed="ddp")
    r = cli("train", cfg, "--processes", 2, env={"STUDIO_FAULTS": "kill_rank1@3"})
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: process rank 1 of 2 was killed (SIGKILL) during step 3")
    assert "the last good checkpoint is step 2" in lines[0]
    run_dir = root / "ddp"
    assert runs.read_status(run_dir)["status"] == "failed"
    assert runs.checkpoint_steps(runs.open_run(run_dir)) == [2]   # consistent: only whole ones
    # the same checkpoint also continues in ONE process with the effective batch kept (2x2)
    single = root / "ddp-as-one"
    shutil.copytree(run_dir, single)
    from studio.core.train import trainer

    done = trainer.resume(single, overrides={"processes": 1, "grad_accum": 2})
    assert (done.status, done.step) == ("finished", 6)
    assert_same_losses(single, ref)

    r = cli("resume", run_dir, "--processes", 2)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert runs.read_status(run_dir)["status"] == "finished"
    assert_same_losses(run_dir, ref)
    assert_rows_once_per_epoch(run_dir, ref)
    assert_rank0_wrote_one_run(run_dir)


def test_fsdp_trains_like_one_process_and_its_adapter_loads_elsewhere(setup):
    root, write, ref = setup
    cfg = write("fsdp", batch_size=1, grad_accum=2, distributed="fsdp")
    r = cli("train", cfg, "--processes", 2)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    run_dir = root / "fsdp"
    assert_same_losses(run_dir, ref)
    assert_rows_once_per_epoch(run_dir, ref)
    assert_rank0_wrote_one_run(run_dir)
    # the final adapter is a plain PEFT folder with the reference's weights
    from safetensors.torch import load_file

    got = load_file(run_dir / "adapter" / "adapter_model.safetensors")
    want = load_file(ref / "adapter" / "adapter_model.safetensors")
    assert sorted(got) == sorted(want)
    for k in want:
        assert (got[k] - want[k]).abs().max().item() < 1e-5, k
