"""Every command from a hub id, with the hub offline and the model in a real cache layout."""

import json

import numpy as np
import pytest

from studio.cli import main
from studio.core import runs


@pytest.fixture()
def data(tmp_path):
    p = tmp_path / "d.json"
    rows = [{"instruction": f"问题 {i}", "input": "", "output": f"答案 {i}"} for i in range(16)]
    p.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return p


@pytest.mark.slow
def test_every_command_works_from_a_cached_hub_id(hub_cache, data, tmp_path, capsys):
    assert main(["check-data", str(data), "--model", hub_cache]) == 0
    assert main(["inspect", "tokens", "--model", hub_cache, "--text", "你好 world"]) == 0
    assert "tokens," in capsys.readouterr().out
    att = tmp_path / "att.npz"
    assert main(["inspect", "attention", "--model", hub_cache, "--text", "hello",
                 "--out", str(att)]) == 0
    with np.load(att, allow_pickle=False) as f:
        assert f["attention"].shape[:2] == (2, 4)

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model: {hub_cache}\ndataset: {data}\noutput_dir: {tmp_path / 'run'}\n"
                   "method: lora\nmax_steps: 2\nbatch_size: 4\neval_split: 0\n"
                   "max_length: 64\n", encoding="utf-8")
    assert main(["train", str(cfg)]) == 0
    assert runs.read_status(tmp_path / "run")["status"] == "finished"
    capsys.readouterr()
    assert main(["chat", "--run", str(tmp_path / "run"), "--prompt", "你好",
                 "--max-new-tokens", "3", "--temperature", "0"]) == 0
    assert main(["export", str(tmp_path / "run"), "--to", str(tmp_path / "out"),
                 "--format", "merged"]) == 0
    assert (tmp_path / "out" / "config.json").is_file()
