import pytest

from studio.core.config import defaults
from studio.core.errors import ConfigError
from studio.services.draft import ConfigDraft


def test_draft_starts_at_core_defaults_and_reports_only_real_changes(qtbot):
    d = ConfigDraft()
    assert d.values() == defaults()
    seen = []
    d.sig_changed.connect(seen.append)
    assert d.update(lora_r=8, method=defaults()["method"]) == {"lora_r": 8}
    d.update(lora_r=8)  # no change, no signal
    assert seen == [{"lora_r": 8}]


def test_draft_refuses_unknown_keys_and_validates_on_config(qtbot):
    d = ConfigDraft()
    with pytest.raises(ConfigError, match="lora_rank"):
        d.update(lora_rank=4)
    with pytest.raises(ConfigError, match="model"):
        d.config()  # model is required
    d.update(model="m", dataset="d.jsonl", batch_size=0)
    with pytest.raises(ConfigError, match="batch_size"):
        d.config()
    d.update(batch_size=2)
    assert d.config().batch_size == 2
