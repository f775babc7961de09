"""The estimate and the telemetry for the GPUs users have, checked without one.

NVML is replaced by a stand-in module with NVML's real call shapes (nvidia-ml-py is optional
and there is no driver here); torch is never faked.
"""

import sys
import types

import pytest

from studio.core.config import RunConfig
from studio.core.model import memory, telemetry

MB = 2 ** 20
QWEN_7B = {"model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944,
           "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4,
           "vocab_size": 152064, "tie_word_embeddings": False}
T4, A100 = (7, 5), (8, 0)


def _cfg(**kw):
    return RunConfig(model="m", **kw)


def test_pre_ampere_cards_are_planned_with_t_by_t_attention():
    def plan(capability, checkpointing):
        cfg = _cfg(method="qlora", batch_size=2, max_length=2048, packing=False,
                   gradient_checkpointing=checkpointing)
        return memory.estimate_memory(cfg, QWEN_7B, 15095.0, device_kind="cuda",
                                      capability=capability)

    t4, a100 = plan(T4, "off"), plan(A100, "off")
    assert (t4.precision, a100.precision) == ("fp16", "bf16")
    # (batch, heads, T, T) fp16 probabilities in each of the 28 layers
    probs = 2 * 28 * 2048 ** 2 * 2 / MB
    assert t4.activations_mb - a100.activations_mb == pytest.approx(28 * probs)
    assert t4.total_mb > a100.total_mb + 28 * probs
    # recomputed layers keep one layer's
    assert plan(T4, "on").activations_mb - plan(A100, "on").activations_mb == \
        pytest.approx(probs)
    assert plan(T4, "auto").checkpointing


def test_autocast_copies_of_trained_fp32_weights_are_counted():
    full = memory.estimate_memory(_cfg(method="full"), QWEN_7B, device_kind="cuda",
                                  capability=A100)
    assert full.autocast_mb == pytest.approx(full.trainable_params * 2 / MB)
    fp32 = memory.estimate_memory(_cfg(method="full", precision="fp32"), QWEN_7B,
                                  device_kind="cuda", capability=A100)
    assert fp32.autocast_mb == 0.0


def test_prefix_tuning_is_never_planned_with_checkpointing():
    cfg = _cfg(method="prefix_tuning", batch_size=16, max_length=4096)
    est = memory.estimate_memory(cfg, QWEN_7B, 15095.0, device_kind="cuda", capability=T4)
    assert est.fits is False and not est.checkpointing
    assert not memory.should_checkpoint(cfg, QWEN_7B, 15095.0, device_kind="cuda")
    lora = memory.estimate_memory(cfg.replace(method="lora"), QWEN_7B, 15095.0,
                                  device_kind="cuda", capability=T4)
    assert lora.checkpointing


class FakeNvml(types.ModuleType):
    """Two whole GPUs in PCI order; the second is in MIG mode with two instances."""

    GPUS = ["GPU-0badc0de-1234-5678-9abc-def012345678", "GPU-a100a100-0000-0000-0000-00000001"]
    MIGS = ["MIG-5b2ad6f4-1c8e-5f8e-9d7a-0123456789ab", "MIG-77777777-1c8e-5f8e-9d7a-01234567"]
    USED = {GPUS[0]: 20000, GPUS[1]: 1000, MIGS[0]: 3000, MIGS[1]: 4000}
    TOTAL = {GPUS[0]: 24268, GPUS[1]: 81153, MIGS[0]: 9728, MIGS[1]: 9728}

    def __init__(self):
        super().__init__("pynvml")
        self.inits = 0

    def nvmlInit(self):
        self.inits += 1

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, i):
        return self.GPUS[i]

    def nvmlDeviceGetUUID(self, h):
        return h.encode()  # older nvidia-ml-py returns bytes

    def nvmlDeviceGetMigMode(self, h):
        return (1, 1) if h == self.GPUS[1] else (0, 0)

    def nvmlDeviceGetMaxMigDeviceCount(self, h):
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h, i):
        if i >= len(self.MIGS):
            raise RuntimeError("NVML_ERROR_NOT_FOUND")
        return self.MIGS[i]

    def nvmlDeviceGetMemoryInfo(self, h):
        return types.SimpleNamespace(used=self.USED[h] * MB, total=self.TOTAL[h] * MB)


@pytest.fixture
def nvml(monkeypatch):
    fake = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(telemetry, "_NVML", {})
    return fake


@pytest.mark.parametrize("visible,used,total", [
    (None, 20000, 24268),                      # cuda:0 is the first GPU
    ("1", 1000, 81153),                        # not NVML device 0
    (FakeNvml.MIGS[1], 4000, 9728),            # a MIG slice: its own memory
])
def test_telemetry_is_the_whole_training_gpu_and_nvml_starts_once(nvml, monkeypatch, visible,
                                                                   used, total):
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    samples = [memory.sample_memory(init_nvml=True) for _ in range(3)]
    assert nvml.inits == 1
    # every process counted (this one has not started CUDA: a run in the background)
    assert {(s.device_used_mb, s.device_total_mb) for s in samples} == {(used, total)}


def test_the_gui_sampling_never_starts_nvml(nvml):
    s = memory.sample_memory()
    assert nvml.inits == 0 and s.device_used_mb is None and s.rss_mb > 0
