"""The starter's whole pre-training again, started when collection ends, for
tests/core/model/test_pretrained.py to compare with the shipped weights.

It is one thread (OMP_NUM_THREADS=1: the shipped weights were made on one thread, and two give
other float sums) and ~3 CPU-minutes. Run inside that test it was the suite's longest test
(3-6 min). Started at the beginning, at a lower priority, it runs on the core the other tests
leave idle (tests/cli uses 1.2 of 2 cores): the test then only waits for what is left.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_NAME = "test_the_documented_command_reproduces_the_shipped_weights"
_KEY = pytest.StashKey["Retrain"]()


@dataclass
class Retrain:
    proc: subprocess.Popen
    out: Path      # the model folder the command writes
    log: Path      # its stdout and stderr

    def wait(self, timeout: float) -> tuple[int, str]:
        """The command's exit code and its output, once it has ended."""
        code = self.proc.wait(timeout=timeout)
        return code, self.log.read_text(encoding="utf-8", errors="replace")


def _lower_priority() -> None:
    os.nice(10)  # the tests beside it come first; it takes the core they leave idle


def start() -> Retrain:
    """`python main.py new-model OUT --pretrained --retrain` (the documented command)."""
    folder = Path(tempfile.mkdtemp(prefix="studio-retrain-"))
    out, log = folder / "again", folder / "output.txt"
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "main.py"), "new-model", str(out), "--pretrained",
             "--retrain"], cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            preexec_fn=_lower_priority if hasattr(os, "nice") else None)
    return Retrain(proc, out, log)


def start_if_selected(session: pytest.Session) -> None:
    if any(item.name == TEST_NAME for item in session.items):
        session.config.stash[_KEY] = start()


def get(config: pytest.Config) -> Retrain:
    """The background retrain (started now if collection did not start it)."""
    if _KEY not in config.stash:
        config.stash[_KEY] = start()
    return config.stash[_KEY]


def clean_up(config: pytest.Config) -> None:
    retrain = config.stash.get(_KEY, None)
    if retrain is not None:
        if retrain.proc.poll() is None:
            retrain.proc.kill()
            retrain.proc.wait()
        shutil.rmtree(retrain.out.parent, ignore_errors=True)
