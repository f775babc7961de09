"""Several processes without starting any: which rows each rank trains, what a resume may
change, what is refused, how a failed group is told in one line, the cluster launch folder.
(The real two-process runs are in tests/cli/test_processes_cli.py.)"""

import subprocess
import sys
from pathlib import Path

import pytest

from studio.core import config
from studio.core.errors import ConfigError
from studio.core.train import batching, distributed, launch, trainer

ROOT = Path(__file__).resolve().parents[3]


def test_ranks_split_every_step_group_without_overlap_and_fsdp_keeps_them_in_step():
    lengths = [3 + (i * 7) % 11 for i in range(23)]
    for group in batching.epoch_plan(lengths, 8, seed=1, epoch=0):
        for strategy in ("ddp", "fsdp"):
            worlds = [distributed.World(r, 3, r, strategy) for r in range(3)]
            per_rank = [w.micro_batches(group, 2) for w in worlds]
            trained = [i for mbs in per_rank for mb, weight in mbs if weight for i in mb]
            assert sorted(trained) == sorted(group)  # every row once, on one rank
            if strategy == "fsdp":  # collectives: every rank runs as many forwards
                assert len({len(mbs) for mbs in per_rank}) == 1
            else:  # ddp: a rank short of rows just trains fewer
                assert all(weight == 1.0 for mbs in per_rank for _, weight in mbs)


def test_the_plan_depends_on_the_effective_batch_only():
    one = config.from_dict({"batch_size": 4, "grad_accum": 1, "processes": 1})
    two = config.from_dict({"batch_size": 1, "grad_accum": 2, "processes": 2})
    assert one.effective_batch == two.effective_batch == 4
    lengths = list(range(5, 45))
    assert batching.epoch_plan(lengths, one.effective_batch, 7, 1) == \
        batching.epoch_plan(lengths, two.effective_batch, 7, 1)


def test_resume_may_change_the_process_count_only_keeping_the_effective_batch():
    cfg = config.from_dict({"batch_size": 2, "grad_accum": 1, "processes": 2})
    assert trainer.resume_config(cfg, {"processes": 1, "grad_accum": 2}).effective_batch == 4
    assert trainer.resume_config(cfg, {"distributed": "fsdp"}).distributed == "fsdp"
    with pytest.raises(ConfigError, match="batch_size x grad_accum x processes = 4"):
        trainer.resume_config(cfg, {"processes": 4})


def test_what_several_processes_cannot_do_is_refused_before_anything_loads(tmp_path):
    base = {"model": "m", "dataset": "d.json", "processes": 2}
    for keys, words in (({"stage": "dpo"}, "stage dpo"), ({"eval_data": "corpus"}, "eval_data"),
                        ({"method": "qlora", "distributed": "fsdp"}, "4-bit")):
        with pytest.raises(ConfigError, match=words):
            distributed.check(config.from_dict({**base, **keys}))
    distributed.check(config.from_dict({**base, "method": "qlora"}))  # ddp: fine
    out = tmp_path / "run"
    cfg = config.from_dict({**base, "output_dir": str(out)})
    with pytest.raises(ConfigError, match="--processes 2"):  # not started through torchrun
        trainer.train(cfg)
    assert not out.exists()


TORCHRUN_LOG = """\
error: something one rank printed
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
Root Cause (first observed failure):
[0]:
  time      : 2026-12-02_09:57:48
  host      : localhost
  rank      : 1 (local_rank: 1)
  exitcode  : {code} (pid: 14391)
"""


def test_a_failed_group_is_told_in_one_line_with_its_exit_code(tmp_path):
    two = launch.Launch(processes=2)
    code, line = launch.explain(TORCHRUN_LOG.format(code=2), tmp_path / "none", two)
    assert (code, line) == (2, "something one rank printed")  # bad input on a rank: exit 2
    code, line = launch.explain(TORCHRUN_LOG.format(code=-9), tmp_path / "none", two)
    assert code == 1 and line.startswith("process rank 1 of 2 was killed (SIGKILL)")
    assert "no checkpoint was written" in line and "--processes 2" in line


def test_launch_folder_runs_the_same_training_on_every_node(tmp_path, tiny_model_dir):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(f"model: {tiny_model_dir}\ndataset: d.json\noutput_dir: out\n",
                        encoding="utf-8")
    folder = tmp_path / "cluster"
    r = subprocess.run([sys.executable, "main.py", "train", str(cfg_file), "--launch-script",
                        str(folder), "--nnodes", "2", "--processes", "4", "--master-addr",
                        "node0", "--set", "distributed=fsdp"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["README.txt", "config.yaml", "node-0.sh", "node-1.sh", "slurm.sbatch"]
    cfg = config.load(folder / "config.yaml")
    assert (cfg.processes, cfg.distributed) == (8, "fsdp")
    assert Path(cfg.output_dir).is_absolute()  # every node writes the same folder
    for node in (0, 1):
        text = (folder / f"node-{node}.sh").read_text()
        assert f"--node-rank {node}" in text and "--nnodes 2 " in text
        assert "--nproc-per-node 4" in text and "--master-addr node0" in text
        assert "-m studio train config.yaml" in text
    sbatch = (folder / "slurm.sbatch").read_text()
    assert "#SBATCH --nodes=2" in sbatch and "--gpus-per-node=4" in sbatch
    for script in ("node-0.sh", "node-1.sh", "slurm.sbatch"):
        assert subprocess.run(["bash", "-n", str(folder / script)]).returncode == 0
    # a folder holding anything is never written into
    r = subprocess.run([sys.executable, "main.py", "train", str(cfg_file), "--launch-script",
                        str(folder)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("error: launch folder")
    assert len(r.stderr.strip().splitlines()) == 1
