"""Starting a run as several processes (torchrun), and the launch folder for a cluster.

`python main.py train CONFIG --processes N` runs this in the process the user started (the
launcher): it starts `python -m torch.distributed.run ... -m studio train CONFIG ...` in a
session of its own, forwards one Ctrl+C / SIGTERM to the training processes (each stops after
the step with a checkpoint: torchrun's own handler would signal them twice, which aborts), and
when the group ends turns what happened into the one-line reason and exit code of the contract.
Standard library only: the launcher never imports torch.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from studio.core import runs
from studio.core.config import RunConfig
from studio.core.errors import ConfigError
from studio.core.train.distributed import LOST_PEER

DEFAULT_PORT = 29500


@dataclass(frozen=True)
class Launch:
    """Where the processes of a run go: `processes` on each of `nnodes` machines."""
    processes: int = 1          # on this node (torchrun's --nproc-per-node)
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: Optional[int] = None   # None on one node: torchrun picks a free port

    @property
    def world_size(self) -> int:
        return self.processes * self.nnodes

    def check(self) -> None:
        if not 0 <= self.node_rank < self.nnodes:
            raise ConfigError(f"--node-rank must be in 0..{self.nnodes - 1}; got "
                              f"{self.node_rank}")


def torchrun_args(launch: Launch, node_rank: Optional[int] = None) -> list[str]:
    """torchrun's own flags (without the program)."""
    if launch.nnodes == 1 and launch.master_port is None:
        return ["--standalone", "--nproc-per-node", str(launch.processes)]
    rank = launch.node_rank if node_rank is None else node_rank
    return ["--nnodes", str(launch.nnodes), "--node-rank", str(rank),
            "--nproc-per-node", str(launch.processes), "--master-addr", launch.master_addr,
            "--master-port", str(launch.master_port or DEFAULT_PORT)]


def command(launch: Launch, studio_args: list[str], python: str = sys.executable) -> list[str]:
    return [python, "-m", "torch.distributed.run", *torchrun_args(launch), "-m", "studio",
            *studio_args]


def run_group(launch: Launch, studio_args: list[str], cfg: RunConfig) -> tuple[int, str]:
    """Run the process group to its end: (exit code, one-line reason): (0, ""), (1, a failed
    run's reason), (2, bad input). What the processes wrote on stderr is passed on to stdout."""
    env = {**os.environ, **visible_gpus(cfg, launch)}
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command(launch, studio_args), stderr=err, env=env,
                                start_new_session=True, preexec_fn=_stop_with_parent)
        old = {s: signal.signal(s, lambda *_: _stop_workers(proc.pid))
               for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            rc = proc.wait()
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            if proc.poll() is None:  # the launcher itself is going: take the group along
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        err.seek(0)
        log = err.read().decode("utf-8", errors="replace")
    sys.stdout.write(log)  # warnings and tracebacks of the processes: kept, like all noise
    sys.stdout.flush()
    if rc == 0:
        return 0, ""
    return explain(log, Path(cfg.output_dir).expanduser(), launch)


def visible_gpus(cfg: RunConfig, launch: Launch) -> dict:
    """CUDA_VISIBLE_DEVICES for the config key gpus (one GPU per process on this node)."""
    if not cfg.gpus.strip():
        return {}
    ids = [x.strip() for x in cfg.gpus.split(",")]
    if len(ids) != launch.processes:
        raise ConfigError(f"gpus: {cfg.gpus} names {len(ids)} GPUs for {launch.processes} "
                          "processes on this machine; name one per process")
    return {"CUDA_VISIBLE_DEVICES": ",".join(ids)}


def _stop_with_parent() -> None:
    """Linux: torchrun gets SIGTERM (and stops its processes) when the launcher dies, even
    by SIGKILL: no training group is left behind without its launcher."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop_workers(torchrun_pid: int) -> None:
    """One SIGTERM to each training process (the children of torchrun), not to torchrun."""
    import psutil

    try:
        children = psutil.Process(torchrun_pid).children()
    except psutil.Error:
        return
    for child in children:
        try:
            child.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass


_ROOT = re.compile(r"Root Cause.*?rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)", re.S)


def explain(log: str, run_dir: Path, launch: Launch) -> tuple[int, str]:
    """(exit code, one line) for a process group that failed, from what the processes said
    (an `error:` line of bad input), the run's run.json, and torchrun's root-cause report."""
    errors = [ln[len("error: "):] for ln in log.splitlines() if ln.startswith("error: ")]
    root = _ROOT.search(log)
    rank, exitcode = (int(root.group(1)), int(root.group(2))) if root else (None, None)
    if errors and exitcode == 2:
        return 2, errors[0]
    status = runs.read_status(run_dir) if run_dir.is_dir() else {}
    who = ""
    if rank is not None:
        how = (f"was killed ({signal.Signals(-exitcode).name})" if exitcode < 0
               and -exitcode in signal.valid_signals() else f"exited with code {exitcode}")
        who = f"process rank {rank} of {launch.world_size} {how}"
    if status.get("status") == "failed" and status.get("reason"):
        reason = status["reason"]
        return 1, reason.replace(LOST_PEER, who) if who else reason
    if errors and not (exitcode is not None and exitcode < 0):  # killed: that is the news
        return 1, errors[0]
    step = status.get("step")
    kept = _kept(run_dir)
    at = f" at step {step}" if step is not None else ""
    return 1, (f"{who or 'the training processes failed'}{at}; {kept}; continue with: "
               f"python main.py resume {run_dir} --processes {launch.processes}")


def _kept(run_dir: Path) -> str:
    steps = runs.checkpoint_steps(runs.RunDir(run_dir)) if run_dir.is_dir() else []
    return f"the last good checkpoint is step {steps[-1]}" if steps else \
        "no checkpoint was written"


# --- a launch folder for a cluster ------------------------------------------------------------

SBATCH = """#!/bin/bash
#SBATCH --job-name={name}
#SBATCH --nodes={nnodes}
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node={processes}
#SBATCH --cpus-per-task={cpus}
#SBATCH --output=%x-%j.out
# One torchrun per node; torchrun starts {processes} training processes on each.
# The studio must be installed on every node, and output_dir ({output_dir}) must be on storage
# all nodes share: rank 0 writes metrics.jsonl, checkpoints and the result there.
set -euo pipefail
cd "$(dirname "$0")"
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
srun bash -c '{python} -m torch.distributed.run --nnodes {nnodes} --node-rank $SLURM_NODEID \\
  --nproc-per-node {processes} --master-addr '"$MASTER_ADDR"' --master-port {port} \\
  -m studio train config.yaml'
"""

README = """Launch folder for the run "{name}" ({world} processes: {processes} on each of {nnodes}
nodes, distributed: {strategy}).

  config.yaml         the run's config (processes: {world})
  node-N.sh           the torchrun command for node N: run node-0.sh on the machine named as
                      the master ({addr}), node-1.sh ... on the others
  slurm.sbatch        the same run as one Slurm job: sbatch slurm.sbatch

Every node needs the studio installed, the model and the dataset at the paths config.yaml
names, and output_dir on storage all nodes share; rank 0 writes metrics.jsonl there, which the
app follows (Train page: open the run folder). A killed node stops the run with its last
checkpoint; continue it with the same commands and `resume` in place of `train CONFIG`:
  python -m torch.distributed.run ... -m studio resume {output_dir}
"""


def write_launch_folder(folder: Path, cfg: RunConfig, launch: Launch,
                        python: str = "python") -> list[Path]:
    """config.yaml, node-N.sh for each node, slurm.sbatch and a README; returns their paths.
    Refuses a folder that holds anything else (nothing the user made is overwritten)."""
    from studio.core import config as config_mod

    folder = Path(folder).expanduser()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"launch folder {folder} exists and is not empty; choose a new one")
    folder.mkdir(parents=True, exist_ok=True)
    cfg = cfg.replace(processes=launch.world_size, output_dir=str(
        Path(cfg.output_dir).expanduser().absolute()))
    port = launch.master_port or DEFAULT_PORT
    fixed = Launch(launch.processes, launch.nnodes, 0, launch.master_addr, port)
    written = [folder / "config.yaml"]
    runs.atomic_write_text(written[0], config_mod.to_yaml(cfg))
    for node in range(launch.nnodes):
        argv = ["python", "-m", "torch.distributed.run", *torchrun_args(fixed, node),
                "-m", "studio", "train", "config.yaml"]
        argv[0] = python
        path = folder / f"node-{node}.sh"
        path.write_text("#!/bin/sh\n# node {0} of {1}\ncd \"$(dirname \"$0\")\"\n{2}\n".format(
            node, launch.nnodes, shlex.join(argv)), encoding="utf-8")
        path.chmod(0o755)
        written.append(path)
    name = Path(cfg.output_dir).name or "run"
    sbatch = folder / "slurm.sbatch"
    sbatch.write_text(SBATCH.format(name=name, nnodes=launch.nnodes, processes=launch.processes,
                                    cpus=max(1, 4 * launch.processes), python=python,
                                    port=port, output_dir=cfg.output_dir), encoding="utf-8")
    written.append(sbatch)
    readme = folder / "README.txt"
    readme.write_text(README.format(name=name, world=launch.world_size,
                                    processes=launch.processes, nnodes=launch.nnodes,
                                    strategy=cfg.distributed, addr=launch.master_addr,
                                    output_dir=cfg.output_dir), encoding="utf-8")
    written.append(readme)
    return written
