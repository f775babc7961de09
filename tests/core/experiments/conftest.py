"""A small run config on the tiny starter, shared by the queue, sweep and compare tests."""

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture()
def chat_data(tmp_path) -> Path:
    rows = [{"messages": [{"role": "user", "content": f"What is {i} plus one?"},
                          {"role": "assistant", "content": f"It is {i + 1}."}]}
            for i in range(16)]
    p = tmp_path / "chat.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return p


@pytest.fixture()
def base_yaml(tmp_path, tiny_model_dir, chat_data):
    """write(output_dir, **keys) -> a YAML config: 4 steps of LoRA, max_length 64, eval and a
    checkpoint every step."""
    def write(output_dir: str, **keys) -> Path:
        cfg = {**dict(model=str(tiny_model_dir), dataset=str(chat_data), method="lora",
                      output_dir=str(output_dir), max_steps=4, batch_size=4, max_length=64,
                      eval_split=0.25, eval_steps=2, save_steps=1, save_total_limit=5,
                      learning_rate=1e-2, lora_r=4, lora_alpha=8, device="cpu"), **keys}
        p = tmp_path / f"cfg-{len(list(tmp_path.glob('cfg-*.yaml')))}.yaml"
        p.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in cfg.items()),
                     encoding="utf-8")
        return p
    return write


@pytest.fixture()
def child_env(monkeypatch):
    """Runs train in child processes: they import this checkout's studio, one torch thread."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("STUDIO_FAULTS", raising=False)
