"""One registry entry is all a method needs: a throwaway one (the toy_method fixture) is a
config choice, builds, is counted by the memory estimate, lists its keys in the model card and
follows the export rules; the built-in entries agree with what their builders make."""

import pytest

from studio.core import config, runs
from studio.core.errors import ConfigError
from studio.core.methods import registry
from studio.core.model import memory
from studio.core.model.load import count_parameters, load_model, read_model_config


def _cfg(model_dir, method, **extra):
    return config.from_dict({"model": str(model_dir), "dataset": "x", "method": method,
                             "lora_r": 4, **extra})


def test_a_new_entry_is_a_config_choice(toy_method):
    assert "lora_qv" in config.METHODS and "lora_qv" in config.PEFT_METHODS
    method_field = next(f for f in config.field_specs() if f.name == "method")
    assert "lora_qv" in method_field.metadata["choices"]
    assert config.from_dict({"method": "lora_qv"}).method_spec is toy_method

    from studio.cli.train import _keys_help  # train --help lists the choices

    assert "|lora_qv|" in _keys_help() or "|lora_qv}" in _keys_help()


def test_an_unregistered_method_is_refused():
    with pytest.raises(ConfigError, match="must be one of"):
        config.from_dict({"method": "lora_qv"})
    assert "lora_qv" not in config.METHODS


def test_a_new_entry_builds_and_its_memory_count_is_the_real_model(toy_method, tiny_model_dir):
    cfg = _cfg(tiny_model_dir, "lora_qv")
    model = registry.apply_method(load_model(tiny_model_dir), cfg, 10)
    trained = {n.split(".lora_")[0].split(".")[-1]
               for n, p in model.named_parameters() if p.requires_grad}
    assert trained == {"q_proj", "v_proj"}
    est = memory.estimate_memory(cfg, read_model_config(tiny_model_dir), device_kind="cpu")
    assert (est.trainable_params, est.total_params) == count_parameters(model)
    lora = memory.estimate_memory(_cfg(tiny_model_dir, "lora"),
                                  read_model_config(tiny_model_dir), device_kind="cpu")
    assert est.trainable_params < lora.trainable_params  # 2 of the 7 linear layers
    assert est.activations_mb == pytest.approx(lora.activations_mb * 0.9)  # its own factor


def test_a_new_entry_lists_its_keys_in_the_model_card(toy_method, trained_run):
    from studio.core.export.model_card import CardFacts, render

    run = runs.open_run(trained_run("lora"))
    cfg = runs.load_config(run).replace(method="lora_qv")
    facts = CardFacts(fmt="adapter", step=None, files=("README.md",), max_abs_diff=None,
                      stopped_at_eos=None, generated_tokens=0, eos_tokens=(), tokenizer_note="")
    card = render(cfg, run, facts)
    assert "| Method | lora_qv |" in card and "- lora_qv" in card
    assert "| lora_r | 4 |" in card and "| lora_alpha | 8.0 |" in card
    assert "| lora_dropout |" not in card and "| target_modules |" not in card


def test_export_rules_follow_the_entry(toy_method, tiny_model_dir):
    from studio.core.export.folder import ExportError, check_request

    cfg = _cfg(tiny_model_dir, "lora_qv")
    check_request(cfg, "adapter", dequantize=False)
    check_request(cfg, "merged", dequantize=False)
    for name in ("prompt_tuning", "prefix_tuning", "p_tuning"):
        with pytest.raises(ExportError, match="cannot be merged"):
            check_request(_cfg(tiny_model_dir, name), "merged", dequantize=False)
    with pytest.raises(ExportError, match="no adapter"):
        check_request(_cfg(tiny_model_dir, "full"), "adapter", dequantize=False)


@pytest.mark.parametrize("spec", registry.all_methods(), ids=lambda m: m.name)
def test_every_entry_is_complete(spec):
    fields = {f.name for f in config.field_specs() if f.metadata["group"] == "method"}
    assert set(spec.keys) <= fields, "a method reads keys of the method group"
    assert spec.label and spec.description and spec.learning_rate > 0
    assert spec.is_peft or (spec.mergeable and not spec.virtual_tokens)
    assert not spec.virtual_tokens or not spec.mergeable  # virtual tokens have no weights
