"""Done-when of stage grpo: on the pretrained starter, a verifiable format reward (reply with
one word and a full stop) rises within a few steps, and the example config runs as is."""

import subprocess
import sys
from pathlib import Path

from studio.core import config, runs
from studio.core.train import trainer
from studio.paths import resource

ROOT = Path(__file__).resolve().parents[3]
PROMPTS = resource("samples", "grpo_one_word.jsonl")


def _rewards(run_dir):
    return [r.reward for r in runs.read_metrics(run_dir) if r.type == "step"]


def test_the_format_reward_rises_on_the_pretrained_starter(tmp_path, pretrained_dir):
    cfg = config.from_dict({
        "model": str(pretrained_dir), "dataset": str(PROMPTS), "output_dir": str(tmp_path / "r"),
        "stage": "grpo", "method": "full", "learning_rate": 3e-3, "lr_scheduler": "constant",
        "warmup_ratio": 0.0, "max_steps": 10, "batch_size": 1, "max_length": 128,
        "grpo_group_size": 8, "grpo_max_completion": 8, "grpo_beta": 0.0,
        "grpo_rewards": "format", "grpo_format_regex": r"\w+[.。]", "save_steps": 100,
        "seed": 42})
    result = trainer.train(cfg)
    assert result.status == "finished"
    rewards = _rewards(result.run_dir)
    first, last = sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3
    assert last > first + 0.2 and last > 1.5 * first, rewards


def test_the_example_runs_as_is_from_the_repository_root(tmp_path, pretrained_dir):
    """`python main.py train examples/grpo.yaml --set model=DIR --set output_dir=DIR` (here
    with two steps, so the test stays short; the full example is timed in the report)."""
    r = subprocess.run([sys.executable, "main.py", "train", "examples/grpo.yaml",
                        "--set", f"model={pretrained_dir}", "--set",
                        f"output_dir={tmp_path / 'out'}", "--set", "max_steps=2"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert runs.read_status(tmp_path / "out")["status"] == "finished"
    assert " reward " in r.stdout  # the console line shows it
    assert (tmp_path / "out" / "completions.jsonl").is_file()
