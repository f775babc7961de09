"""Resolving, checking and loading models: local folders, hub ids, remote code and pickle
refusals, tokenizer padding, 4-bit loading and parameter counting."""

import json
import shutil

import pytest
import torch

from studio.core.errors import ModelError
from studio.core.model.load import (
    count_parameters,
    load_model,
    load_tokenizer,
    read_model_config,
    resolve_model,
)


@pytest.fixture
def model_copy(tmp_path, tiny_model_dir):
    """A private copy of the tiny model a test may change."""
    return shutil.copytree(tiny_model_dir, tmp_path / "copy")


def test_local_folder_and_its_config_json_resolve(tiny_model_dir):
    assert resolve_model(tiny_model_dir) == tiny_model_dir.resolve()
    assert resolve_model(str(tiny_model_dir / "config.json")) == tiny_model_dir.resolve()
    assert read_model_config(tiny_model_dir)["model_type"] == "llama"


@pytest.mark.parametrize("make, match", [
    (lambda d: d / "nowhere" / "model", "model folder not found"),
    (lambda d: (d / "empty").mkdir() or d / "empty", "holds no config.json"),
    (lambda d: (d / "w.txt").write_text("x") and d / "w.txt", "is a file"),
    (lambda d: "", "no model given"),
])
def test_bad_local_paths_are_refused_in_one_line(tmp_path, make, match):
    with pytest.raises(ModelError, match=match) as e:
        resolve_model(make(tmp_path))
    assert "\n" not in str(e.value)


def test_an_adapter_folder_points_to_its_base(tmp_path):
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "/models/base"}))
    with pytest.raises(ModelError, match="PEFT adapter.*/models/base"):
        resolve_model(tmp_path / "adapter")


def test_unknown_hub_id_fails_with_one_line():
    # offline here (hub unreachable) and online (no such repo): one clear ModelError either way
    with pytest.raises(ModelError) as e:
        resolve_model("studio-tests-nonexistent/no-such-model-7c1e")
    assert "no-such-model-7c1e" in str(e.value) and "\n" not in str(e.value)


def test_code_in_the_folder_is_refused_unless_trusted(model_copy):
    config = json.loads((model_copy / "config.json").read_text())
    config.update(model_type="studio_custom_lm",
                  auto_map={"AutoConfig": "configuration_custom.CustomConfig",
                            "AutoModelForCausalLM": "modeling_custom.CustomForCausalLM"})
    (model_copy / "config.json").write_text(json.dumps(config))
    (model_copy / "modeling_custom.py").write_text("raise SystemExit('must not run')\n")
    (model_copy / "configuration_custom.py").write_text("raise SystemExit('must not run')\n")
    with pytest.raises(ModelError, match="modeling_custom.py") as e:
        resolve_model(model_copy)
    assert "configuration_custom.py" in str(e.value) and "trust_remote_code" in str(e.value)
    assert resolve_model(model_copy, trust_remote_code=True) == model_copy.resolve()


def test_auto_map_on_a_known_type_loads_built_in_code_without_running_the_file(model_copy,
                                                                              tmp_path):
    marker = tmp_path / "ran.txt"
    config = json.loads((model_copy / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (model_copy / "config.json").write_text(json.dumps(config))
    (model_copy / "modeling_evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\nclass EvilForCausalLM: pass\n")
    model = load_model(resolve_model(model_copy))
    assert type(model).__name__ == "LlamaForCausalLM"
    assert not marker.exists()


def test_pickle_only_weights_need_allow_pickle(model_copy, tiny_model_dir):
    from safetensors.torch import load_file

    state = load_file(model_copy / "model.safetensors")
    torch.save(state, model_copy / "pytorch_model.bin")
    (model_copy / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="only pickle weights.*allow_pickle"):
        resolve_model(model_copy)
    path = resolve_model(model_copy, allow_pickle=True)
    loaded = load_model(path, allow_pickle=True).state_dict()
    assert torch.equal(loaded["model.embed_tokens.weight"], state["model.embed_tokens.weight"])


def test_a_folder_without_weights_is_refused(model_copy):
    (model_copy / "model.safetensors").unlink()
    (model_copy / "training_args.bin").write_bytes(b"not weights")
    with pytest.raises(ModelError, match="holds no weights"):
        resolve_model(model_copy)
    assert resolve_model(model_copy, config_only=True) == model_copy.resolve()


def test_tokenizer_gets_a_pad_token_and_the_padding_side(model_copy):
    cfg_path = model_copy / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.pop("pad_token")
    cfg_path.write_text(json.dumps(cfg))
    tok = load_tokenizer(model_copy, padding_side="left")
    assert tok.pad_token == tok.eos_token and tok.padding_side == "left"
    batch = tok(["a", "a longer text"], padding=True)
    assert batch["input_ids"][0][0] == tok.pad_token_id  # left padded for generation


def test_broken_tokenizer_is_a_model_error(model_copy):
    (model_copy / "tokenizer.json").write_text("{not json")
    with pytest.raises(ModelError, match="cannot load the tokenizer"):
        load_tokenizer(model_copy)


def test_load_model_dtype_and_errors(tiny_model_dir):
    assert load_model(tiny_model_dir).dtype == torch.float32  # CPU default
    assert load_model(tiny_model_dir, dtype="bf16").dtype == torch.bfloat16
    with pytest.raises(ModelError, match="unknown dtype"):
        load_model(tiny_model_dir, dtype="fp8")


def test_4bit_load_counts_quantized_weights_in_full(tiny_model_dir):
    plain = load_model(tiny_model_dir)
    q4 = load_model(tiny_model_dir, quantize_4bit=True)
    assert getattr(q4, "is_loaded_in_4bit", False)
    weight = q4.model.layers[0].self_attn.q_proj.weight
    assert weight.__class__.__name__ == "Params4bit" and weight.dtype == torch.uint8
    assert count_parameters(q4)[1] == count_parameters(plain)[1]
    ids = torch.tensor([[5, 6, 7, 8]])
    diff = (q4(ids).logits - plain(ids).logits).abs().max()
    assert 0 < diff < 1.0  # the same model, through 4-bit weights


def test_tied_weights_count_once(tiny_qwen_dir):
    model = load_model(tiny_qwen_dir)
    unique = {id(p): p.numel() for p in model.parameters()}
    assert count_parameters(model) == (sum(unique.values()), sum(unique.values()))
    with_head = sum(p.numel() for p in model.state_dict().values())
    assert with_head - count_parameters(model)[1] == model.lm_head.weight.numel()
