"""`python main.py train` of a grpo config whose reward file is not trusted: exit 2, one line
naming the file and its sha256, nothing of the file run, no run folder."""

import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_an_untrusted_reward_file_exits_2_naming_the_file_and_its_hash(tmp_path):
    marker = tmp_path / "ran"
    rewards = tmp_path / "my_rewards.py"
    rewards.write_text(f"open({str(marker)!r}, 'w').close()\n"
                       "def polite(completion, prompt, reference):\n    return 1.0\n")
    digest = hashlib.sha256(rewards.read_bytes()).hexdigest()
    data = tmp_path / "p.jsonl"
    data.write_text('{"prompt": "Hi"}\n')
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model: {tmp_path}\ndataset: {data}\noutput_dir: {tmp_path / 'run'}\n"
                   f"stage: grpo\ngrpo_rewards: polite\ngrpo_reward_file: {rewards}\n")
    r = subprocess.run([sys.executable, "main.py", "train", str(cfg)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert str(rewards) in lines[0] and digest in lines[0]
    assert f"--set grpo_reward_file_sha256={digest}" in lines[0]
    assert not marker.exists() and not (tmp_path / "run").exists()
