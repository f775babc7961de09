"""bf16 on CPUs with bf16 units: the one decision (device.cpu_auto_precision) for CPUs with and
without them, what a run picks from its model's config, and the loss of a bf16 run against
the same run in fp32."""

import json
import statistics

import pytest
import torch

from studio.core import config, device
from studio.core.events import NullReporter
from studio.core.train import setup, trainer

# /proc/cpuinfo flags of real CPUs (abridged to what matters)
ZEN4 = {"avx2", "avx512f", "avx512_bf16", "avx512_vnni"}            # AMD EPYC 9004 / Ryzen 7000
SAPPHIRE_RAPIDS = {"avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"}
SKYLAKE_SP = {"avx2", "avx512f", "avx512_vnni"}                     # AVX-512 without bf16
HASWELL = {"avx", "avx2", "fma"}
APPLE_OR_ARM = {"fp", "asimd", "bf16"}  # an ARM flag of the same name is not x86's bf16 units
QWEN_SMALL = 40_347_904                 # vocabulary 151,936 on a 2 x 256 body (tied head)


@pytest.mark.parametrize("flags,want", [(ZEN4, "bf16"), (SAPPHIRE_RAPIDS, "bf16"),
                                        (SKYLAKE_SP, "fp32"), (HASWELL, "fp32"),
                                        (APPLE_OR_ARM, "fp32"), (set(), "fp32")])
def test_auto_is_bf16_only_on_cpus_with_bf16_units(flags, want):
    assert device.cpu_auto_precision(flags, QWEN_SMALL) == want
    assert device.training_precision("auto", "cpu", cpu_flags=flags, params=QWEN_SMALL) == want


def test_small_models_stay_fp32_and_explicit_choices_win():
    assert device.cpu_auto_precision(ZEN4, 350_000) == "fp32"  # the tiny starter
    assert device.cpu_auto_precision({"AVX512_BF16"}, QWEN_SMALL) == "bf16"
    for asked in ("fp32", "bf16"):
        assert device.training_precision(asked, "cpu", cpu_flags=HASWELL if asked == "bf16"
                                         else ZEN4, params=QWEN_SMALL) == asked
    assert device.auto_precision("cuda", (7, 5), cpu_flags=ZEN4, params=QWEN_SMALL) == "fp16"
    assert device.auto_precision("mps", cpu_flags=ZEN4, params=QWEN_SMALL) == "fp32"
    # full / freeze keep fp32 master weights (+ autocast's bf16 copies): no faster, more memory
    assert device.cpu_auto_precision(ZEN4, QWEN_SMALL, full_weights=True) == "fp32"


def test_a_run_weighs_its_models_size_from_config_json(tmp_path, monkeypatch):
    """setup.pick_precision reads the parameter count from config.json (no weights needed)."""
    big, small = tmp_path / "big", tmp_path / "small"
    for folder, vocab, hidden in ((big, 151_936, 256), (small, 2_050, 64)):
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({
            "model_type": "qwen2", "hidden_size": hidden, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 4 * hidden,
            "vocab_size": vocab, "tie_word_embeddings": True}))
    cpu = torch.device("cpu")
    for flags, want_big in ((frozenset(ZEN4), "bf16"), (frozenset(HASWELL), "fp32")):
        monkeypatch.setattr(device, "cpu_flags", lambda f=flags: f)
        cfg = config.from_dict({"model": str(big), "dataset": "x", "precision": "auto"})
        assert setup.pick_precision(cfg, cpu, big) == want_big
        assert setup.pick_precision(cfg, cpu, small) == "fp32"
        assert setup.pick_precision(cfg.replace(precision="fp32"), cpu, big) == "fp32"
        assert setup.pick_precision(cfg.replace(method="full"), cpu, big) == "fp32"


def _mean_loss(model_dir, data, out, precision: str) -> tuple[float, str]:
    losses: list[float] = []
    picked: list[str] = []

    class Rec(NullReporter):
        def on_step(self, m):
            losses.append(m.loss)

        def on_event(self, e):
            if e.event == "started":
                picked.append(e.detail)

    cfg = config.from_dict({"model": str(model_dir), "dataset": str(data), "method": "lora",
                            "output_dir": str(out), "max_steps": 6, "batch_size": 4,
                            "max_length": 64, "learning_rate": 5e-3, "eval_split": 0.0,
                            "save_steps": 100, "precision": precision, "device": "cpu",
                            "seed": 0})
    assert trainer.train(cfg, Rec()).status == "finished"
    return statistics.fmean(losses), picked[0]


def test_bf16_run_loss_within_3_percent_of_fp32(tiny_model_dir, tmp_path):
    """The same 6 LoRA steps in fp32 and in bf16 (bf16 base weights, autocast, bf16 head
    matmuls, float32 softmax): the mean training loss agrees within 3%, and both learn."""
    rows = [{"instruction": f"Count on from {i}.", "input": "",
             "output": " ".join(str(i + k) for k in range(1, 12))} for i in range(32)]
    data = tmp_path / "count.json"
    data.write_text(json.dumps(rows), encoding="utf-8")
    fp32, said32 = _mean_loss(tiny_model_dir, data, tmp_path / "fp32", "fp32")
    bf16, said16 = _mean_loss(tiny_model_dir, data, tmp_path / "bf16", "bf16")
    assert "(fp32)" in said32 and "(bf16)" in said16
    assert bf16 == pytest.approx(fp32, rel=0.03)
