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
