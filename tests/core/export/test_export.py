"""Export: adapter and merged folders other tools load, logits equal to the in-studio model,
the right EOS, refusals with reasons, and nothing written where it must not be."""

from __future__ import annotations

import json

import pytest

from studio.core import runs
from studio.core.config import RunConfig
from studio.core.errors import UserError
from studio.core.export import check as chk
from studio.core.export.folder import ExportError, check_request, export
from studio.core.model.run_model import load_run_model


def _in_studio_logits(run, step=None):
    """Base + adapter rebuilt from the checkpoint (a path independent of the adapter files)."""
    rm = load_run_model(run, step if step is not None else 4)
    ids = chk.probe_ids(rm.tokenizer, "cpu")
    return ids, chk.logits(rm.model, ids)


def test_adapter_export_loads_with_peft_and_matches(trained_run, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run = trained_run("lora")
    seen = []
    result = export(run, tmp_path / "adapter", fmt="adapter",
                    progress=lambda f, m: seen.append((f, m)))
    out = tmp_path / "adapter"
    assert result.path == out.resolve()
    for name in ("adapter_config.json", "adapter_model.safetensors", "README.md",
                 "config.yaml"):
        assert (out / name).is_file(), name
    assert not (out / "tokenizer.json").exists()  # unchanged from the base: not copied
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0

    cfg = runs.load_config(runs.open_run(run))
    base = AutoModelForCausalLM.from_pretrained(cfg.model)
    plain = PeftModel.from_pretrained(base, str(out)).eval()
    ids, ref = _in_studio_logits(run)
    assert chk.max_abs_diff(ref, chk.logits(plain, ids)) < 1e-3
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-3
    assert result.stopped_at_eos is not None and result.generated_tokens > 0


def test_merged_export_loads_with_transformers_and_matches(trained_run, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    run = trained_run("lora")
    out = tmp_path / "merged"
    result = export(run, out, fmt="merged", max_shard_size="300KB")
    assert (out / "model.safetensors.index.json").is_file()  # sharded
    assert not list(out.glob("*.bin"))
    model = AutoModelForCausalLM.from_pretrained(str(out)).eval()
    assert not hasattr(model, "peft_config")
    ids, ref = _in_studio_logits(run)
    assert chk.max_abs_diff(ref, chk.logits(model, ids)) < 1e-3
    tok = AutoTokenizer.from_pretrained(str(out))
    assert tok.chat_template and "<|im_start|>" in tok.chat_template
    gen = GenerationConfig.from_pretrained(str(out))
    assert tok.convert_tokens_to_ids("<|im_end|>") in gen.eos_token_id
    assert result.stop_tokens[0] == "<|im_end|>"


def test_checkpoint_step_export(trained_run, tmp_path):
    from transformers import AutoModelForCausalLM

    run = trained_run("lora")
    export(run, tmp_path / "s2", fmt="merged", step=2)
    model = AutoModelForCausalLM.from_pretrained(str(tmp_path / "s2"))
    ids, ref2 = _in_studio_logits(run, step=2)
    _, ref4 = _in_studio_logits(run, step=4)
    got = chk.logits(model, ids)
    assert chk.max_abs_diff(ref2, got) < 1e-3 and chk.max_abs_diff(ref4, got) > 1e-3
    assert "checkpoint step 2" in (tmp_path / "s2" / "README.md").read_text()


def test_full_run_exports_its_weights(trained_run, tmp_path):
    run = trained_run("full")
    with pytest.raises(ExportError, match="has no adapter"):
        export(run, tmp_path / "a", fmt="adapter")
    result = export(run, tmp_path / "m", fmt="merged")
    assert result.max_abs_diff < 1e-3 and (tmp_path / "m" / "config.json").is_file()


@pytest.mark.slow
def test_qlora_merge_refused_then_dequantized(trained_run, tmp_path):
    from transformers import AutoModelForCausalLM

    run = trained_run("qlora")
    with pytest.raises(ExportError, match="4-bit.*--dequantize.*--format adapter"):
        export(run, tmp_path / "m", fmt="merged")
    assert not (tmp_path / "m").exists()
    result = export(run, tmp_path / "m", fmt="merged", dequantize=True)
    assert any("dequantized" in w for w in result.warnings)
    merged = AutoModelForCausalLM.from_pretrained(str(tmp_path / "m"))
    assert "quantization_config" not in json.loads((tmp_path / "m" / "config.json").read_text())
    four_bit = load_run_model(run)  # the tuned model as trained: 4-bit base + adapter
    ids = chk.probe_ids(four_bit.tokenizer, "cpu")
    assert chk.max_abs_diff(chk.logits(four_bit.model, ids), chk.logits(merged, ids)) < 1e-3


def test_refusals_name_the_reason():
    cfg = RunConfig(model="m", dataset="d", method="prompt_tuning")
    with pytest.raises(ExportError, match="virtual tokens.*GGUF file holds merged.*adapter"):
        check_request(cfg, "gguf", False)
    with pytest.raises(ExportError, match="unknown GGUF type"):
        check_request(RunConfig(model="m", dataset="d", method="lora"), "gguf", False, "q2")
    with pytest.raises(ExportError, match="virtual tokens.*--format adapter"):
        check_request(cfg, "merged", False)
    with pytest.raises(ExportError, match="unknown export format"):
        check_request(cfg, "onnx", False)


def test_no_silent_overwrite(trained_run, tmp_path):
    run = trained_run("lora")
    out = tmp_path / "a"
    export(run, out, fmt="adapter")
    first = (out / "adapter_model.safetensors").stat().st_mtime_ns
    with pytest.raises(ExportError, match="not empty.*--overwrite"):
        export(run, out, fmt="adapter")
    assert (out / "adapter_model.safetensors").stat().st_mtime_ns == first
    export(run, out, fmt="merged", overwrite=True)  # a previous export may be replaced
    assert (out / "config.json").is_file() and not (out / "adapter_config.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a"]  # no temporaries left beside it


def test_folders_that_are_not_exports_are_never_replaced(trained_run, tmp_path):
    run = trained_run("lora")
    mine = tmp_path / "project"
    (mine / "src").mkdir(parents=True)
    (mine / "config.json").write_text("{}")
    with pytest.raises(ExportError, match="not a model or adapter export"):
        export(run, mine, fmt="adapter", overwrite=True)
    assert (mine / "src").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="is a file"):
        export(run, tmp_path / "file", fmt="adapter")


@pytest.mark.parametrize("where", ["run", "parent", "adapter", "checkpoints/x"])
def test_export_never_writes_over_the_run(trained_run, where):
    run = trained_run("lora")
    dest = {"run": run, "parent": run.parent, "adapter": run / "adapter",
            "checkpoints/x": run / "checkpoints" / "x"}[where]
    before = sorted(p.name for p in run.rglob("*"))
    with pytest.raises(ExportError):
        export(run, dest, fmt="adapter", overwrite=True)
    assert sorted(p.name for p in run.rglob("*")) == before


def test_failed_check_leaves_nothing(trained_run, tmp_path, monkeypatch):
    monkeypatch.setattr(chk, "LOGIT_TOLERANCE", -1.0)  # any difference now fails the check
    with pytest.raises(ExportError, match="does not reproduce.*nothing was written"):
        export(trained_run("lora"), tmp_path / "out", fmt="merged")
    assert list(tmp_path.iterdir()) == []


def test_unknown_run_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        export(tmp_path / "nope", tmp_path / "out")
