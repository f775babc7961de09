import pytest

from studio.core import config
from studio.core.errors import ConfigError


def _write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_every_field_has_help_and_group():
    for f in config.field_specs():
        assert f.metadata["help"].strip(), f.name
        assert f.metadata["group"] in config.GROUPS, f.name


def test_contract_keys_exist():
    keys = {f.name for f in config.field_specs()}
    contract = """model dataset format stage method output_dir max_steps epochs batch_size
    grad_accum learning_rate max_length warmup_ratio lr_scheduler weight_decay seed eval_split
    eval_steps
    save_steps logging_steps precision gradient_checkpointing packing lora_r lora_alpha lora_dropout
    target_modules num_virtual_tokens freeze_trainable_layers skip_bad_rows overwrite
    trust_remote_code allow_pickle""".split()
    assert not set(contract) - keys


def test_unknown_key_is_named(tmp_path):
    p = _write(tmp_path, "model: m\ndataset: d.json\nlerning_rate: 0.1\n")
    with pytest.raises(ConfigError, match="lerning_rate"):
        config.load(p)


def test_wrong_type_is_named(tmp_path):
    p = _write(tmp_path, "model: m\ndataset: d.json\nbatch_size: many\n")
    with pytest.raises(ConfigError, match="batch_size"):
        config.load(p)


def test_bad_choice_lists_the_choices(tmp_path):
    p = _write(tmp_path, "model: m\ndataset: d.json\nmethod: magic\n")
    with pytest.raises(ConfigError, match="lora"):
        config.load(p)


def test_out_of_range(tmp_path):
    p = _write(tmp_path, "model: m\ndataset: d.json\neval_split: 0.9\n")
    with pytest.raises(ConfigError, match="eval_split"):
        config.load(p)


def test_missing_required(tmp_path):
    p = _write(tmp_path, "dataset: d.json\n")
    with pytest.raises(ConfigError, match="'model'"):
        config.load(p)


def test_overrides_are_typed(tmp_path):
    p = _write(tmp_path, "model: m\ndataset: d.json\n")
    cfg = config.load(p, ["max_steps=7", "learning_rate=1e-3", "packing=false",
                          "target_modules=q_proj,v_proj"])
    assert cfg.max_steps == 7 and cfg.learning_rate == 1e-3 and cfg.packing is False
    assert cfg.target_modules == "q_proj,v_proj"
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        config.load(p, ["max_steps"])


def test_yaml_roundtrip_writes_every_default(tmp_path):
    cfg = config.from_dict({"model": "m", "dataset": "d.json", "lora_r": 4, "max_steps": 3})
    text = config.to_yaml(cfg)
    for f in config.field_specs():
        assert f"\n{f.name}: " in text
    p = _write(tmp_path, text)
    assert config.load(p) == cfg


def test_config_is_frozen():
    cfg = config.RunConfig(model="m", dataset="d")
    with pytest.raises(Exception):
        cfg.lora_r = 3  # type: ignore[misc]
    assert cfg.replace(lora_r=3).lora_r == 3


def test_invalid_yaml_is_one_line(tmp_path):
    p = _write(tmp_path, "model: [unclosed\n")
    with pytest.raises(ConfigError) as e:
        config.load(p)
    assert "\n" not in e.value.one_line()


@pytest.mark.parametrize("key, value", [
    ("learning_rate", float("nan")), ("learning_rate", float("inf")), ("lora_alpha", 1e400),
    ("eval_split", float("-inf")), ("max_steps", 2**70), ("seed", 2**31), ("seed", -2**40),
    ("batch_size", 10**12), ("epochs", 1e300), ("max_grad_norm", float("nan"))])
def test_every_number_is_finite_and_of_a_size_the_libraries_accept(key, value):
    with pytest.raises(ConfigError) as e:
        config.from_dict({"model": "m", "dataset": "d.json", key: value})
    assert key in e.value.one_line()


def test_a_cli_flag_for_a_key_accepts_exactly_the_keys_range():
    import argparse

    from studio.cli.args import number

    parse = number(int, key="max_length")
    lo, hi = config.value_range(next(f for f in config.field_specs() if f.name == "max_length"))
    assert parse(str(lo)) == lo and parse(str(hi)) == hi
    for bad in (str(lo - 1), str(hi + 1), "nan", "1e3", "9" * 5000):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(bad)


def test_yaml_that_python_cannot_convert_is_one_line(tmp_path):
    for text in ("max_steps: " + "9" * 5000 + "\n", "[" * 5000 + "]" * 5000):
        with pytest.raises(ConfigError) as e:
            config.load(_write(tmp_path, text))
        assert "\n" not in e.value.one_line()
