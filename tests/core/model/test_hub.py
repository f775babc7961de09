"""Hub ids: resolved from a real cache layout with the hub offline; progress and cancel."""

import pytest

from studio.core.errors import ModelError
from studio.core.model import hub
from studio.core.model.load import load_tokenizer, resolve_model


def test_a_cached_hub_id_resolves_offline_for_every_need(hub_cache):
    full = resolve_model(hub_cache)
    assert (full / "model.safetensors").is_file() and (full / "tokenizer.json").is_file()
    assert resolve_model(hub_cache, tokenizer_only=True) == full
    assert resolve_model(hub_cache, config_only=True) == full
    assert load_tokenizer(resolve_model(hub_cache, tokenizer_only=True)).chat_template


def test_the_cache_is_the_one_the_environment_names_now(hub_cache, tmp_path, monkeypatch):
    """As in the engine host: huggingface_hub was imported before the cache was set (its
    constants still name the old one), and the process follows the window's environment."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HOME", str(tmp_path / "stale"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "stale" / "hub"))
    folder = resolve_model(hub_cache, tokenizer_only=True)
    assert (folder / "tokenizer.json").is_file()
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    assert hub.cache_dir() == str(tmp_path / "elsewhere")


def test_tokenizer_needs_fetch_the_tokenizer_not_the_weights():
    tok = hub.patterns("tokenizer")
    assert "tokenizer*" in tok and "*.json" in tok and "*.jinja" in tok
    assert "*.safetensors" not in tok and "*.py" not in tok
    assert hub.patterns("config") == ["config.json"]
    assert "*.safetensors" in hub.patterns("all") and "*.bin" not in hub.patterns("all")
    assert "*.bin" in hub.patterns("all", allow_pickle=True)
    assert "*.py" in hub.patterns("tokenizer", trust_remote_code=True)


def test_an_uncached_hub_id_offline_is_one_line(hub_cache):
    with pytest.raises(ModelError) as e:
        resolve_model("studio-tests/not-in-the-cache")
    assert "not-in-the-cache" in str(e.value) and "offline" in str(e.value)
    assert "\n" not in str(e.value)


def test_the_download_bar_reports_bytes_and_stops_on_cancel():
    seen, stop = [], []
    bar_class = hub._reporting_bar("org/name", lambda d, t, m: seen.append((d, t, m)),
                                   lambda: bool(stop))
    # the byte bar snapshot_download builds; disabled (no terminal) bars count here too
    bar = bar_class(total=3 * 2**20, name="huggingface_hub.snapshot_download", disable=True)
    bar.update(2**20)
    bar.update(2**20)
    assert [d for d, _, _ in seen] == [2**20, 2 * 2**20]
    assert seen[-1][2] == "fetching org/name: 2.0 MB of 3.0 MB"
    files = bar_class(total=4, disable=True)  # the file-count bar reports nothing
    files.update(1)
    assert len(seen) == 2
    stop.append(True)
    with pytest.raises(hub.DownloadCancelled, match="next try resumes"):
        bar.update(2**20)
    with pytest.raises(hub.DownloadCancelled):
        files.update(1)
