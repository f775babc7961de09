"""Merged exports made in the base model's own dtype, reproduced on the CPU with a bf16 base
(on a GPU every base loads in 16 bits; the CPU path used to be fp32 only, so the check's
absolute 1e-3 was never met by what a GPU does)."""

import json
import shutil

import pytest
import torch
from safetensors import safe_open

from studio.core import config
from studio.core.export import check as chk
from studio.core.export.folder import export
from studio.core.model.run_model import load_run_model
from studio.core.train import trainer


@pytest.fixture(scope="module")
def bf16_base(tmp_path_factory, tiny_model_dir):
    """The tiny starter stored in bf16, as most published models are."""
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("models") / "tiny-bf16"
    shutil.copytree(tiny_model_dir, out)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.bfloat16)
    model.save_pretrained(str(out), safe_serialization=True)
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    return out


def _run(tmp_path, base, method):
    data = tmp_path / "chat.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"What is {i} plus one?"},
                          {"role": "assistant", "content": f"It is {i + 1}."}]}
            for i in range(24)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = config.from_dict(dict(
        model=str(base), dataset=str(data), method=method, output_dir=str(tmp_path / method),
        max_steps=2, batch_size=4, save_steps=2, eval_split=0.0, max_length=64,
        learning_rate=2e-2, lora_r=4, lora_alpha=8, target_modules="all-linear,lm_head"))
    result = trainer.train(cfg)
    assert result.status == "finished", result
    return result.run_dir


def _dtypes(folder):
    out = set()
    for f in folder.glob("*.safetensors"):
        with safe_open(str(f), "pt") as st:
            out |= {st.get_slice(k).get_dtype() for k in st.keys()}
    return out


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, bf16_base):
    return _run(tmp_path_factory.mktemp("lora"), bf16_base, "lora")


def test_a_bf16_merge_cannot_meet_1e_3_but_meets_the_bf16_tolerance(lora_run):
    rm = load_run_model(lora_run, device="cpu", dtype="bf16")
    ids = chk.probe_ids(rm.tokenizer, "cpu")
    reference = chk.logits(rm.model, ids)
    merged = chk.logits(rm.model.merge_and_unload(), ids)
    diff = chk.max_abs_diff(reference, merged)
    assert diff > chk.LOGIT_TOLERANCE  # the old absolute tolerance failed every GPU export
    assert diff <= chk.logit_tolerance(torch.bfloat16, reference)
    assert chk.logit_tolerance(torch.float32, reference) == chk.LOGIT_TOLERANCE


def test_merged_export_of_a_bf16_base_is_written_and_checked_in_bf16(lora_run, tmp_path):
    result = export(lora_run, tmp_path / "merged", fmt="merged")
    assert result.dtype == "bfloat16" and "bfloat16" in result.summary()
    assert _dtypes(result.path) == {"BF16"}
    assert result.max_abs_diff is not None and result.max_abs_diff > 0


def test_a_qlora_checkpoint_is_rebuilt_and_merged_without_an_fp32_cast(tmp_path, bf16_base):
    run = _run(tmp_path, bf16_base, "qlora")
    rm = load_run_model(run, step=2, device="cpu", dequantize=True, dtype="bf16")
    base = {p.dtype for n, p in rm.model.named_parameters() if "lora_" not in n}
    assert base == {torch.bfloat16}  # prepare_model_for_kbit_training made these fp32
    del rm
    result = export(run, tmp_path / "merged", fmt="merged", step=2, dequantize=True)
    assert result.dtype == "bfloat16" and _dtypes(result.path) == {"BF16"}
