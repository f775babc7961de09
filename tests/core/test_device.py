"""The device policy with the real properties of the GPUs users have (no GPU needed).

Values as torch.cuda.get_device_properties reports them (name, compute capability, total memory
in MiB) and as nvidia-smi -L lists UUIDs (the UUIDs are made up, their shapes are real).
"""

import pytest

from studio.core import device
from studio.core.device import GpuProps
from studio.core.errors import ConfigError

T4 = GpuProps("Tesla T4", (7, 5), 15095.0, "GPU-1f2e3d4c-0000-1111-2222-333344445555")
V100 = GpuProps("Tesla V100-SXM2-16GB", (7, 0), 16160.0, "GPU-9a8b7c6d-aaaa-bbbb-cccc-ddddeeeeffff")
RTX3090 = GpuProps("NVIDIA GeForce RTX 3090", (8, 6), 24268.0,
                   "GPU-0badc0de-1234-5678-9abc-def012345678")
A100 = GpuProps("NVIDIA A100-SXM4-80GB", (8, 0), 81153.0,
                "GPU-a100a100-0000-0000-0000-000000000001")
H100 = GpuProps("NVIDIA H100 80GB HBM3", (9, 0), 81092.0,
                "GPU-b100b100-0000-0000-0000-000000000002")
H200 = GpuProps("NVIDIA H200", (9, 0), 143771.0, "GPU-02000200-0000-0000-0000-000000000003")
MIG = GpuProps("NVIDIA A100-SXM4-80GB MIG 1g.10gb", (8, 0), 9728.0,
               "MIG-5b2ad6f4-1c8e-5f8e-9d7a-0123456789ab")
PRE_AMPERE, AMPERE_ON = (T4, V100), (RTX3090, A100, H100, H200, MIG)


@pytest.mark.parametrize("gpu", PRE_AMPERE + AMPERE_ON, ids=lambda g: g.name)
def test_auto_precision_is_bf16_only_where_bf16_is_native(gpu):
    # torch.cuda.is_bf16_supported() says True on a T4 / V100 (emulated): the old choice
    want = "fp16" if gpu in PRE_AMPERE else "bf16"
    assert device.auto_precision("cuda", gpu.capability) == want
    assert device.training_precision("auto", "cuda", gpu.capability) == want
    assert device.needs_grad_scaler(want) is (gpu in PRE_AMPERE)


def test_cpu_and_mps_train_in_fp32_by_default_and_honour_an_explicit_choice():
    assert device.auto_precision("cpu") == "fp32"
    assert device.auto_precision("mps") == "fp32"
    assert device.training_precision("bf16", "cpu") == "bf16"
    assert device.training_precision("fp16", "cuda", T4.capability) == "fp16"
    with pytest.raises(ConfigError, match="unknown precision"):
        device.training_precision("int8", "cpu")


def test_one_device_choice_for_training_chat_and_export():
    assert device.pick_device("auto", cuda=True, mps=False) == "cuda"
    assert device.pick_device(None, cuda=False, mps=True) == "mps"
    assert device.pick_device("", cuda=False, mps=False) == "cpu"
    assert device.pick_device("cpu", cuda=True, mps=True) == "cpu"
    assert device.pick_device("cuda:1", cuda=True) == "cuda"
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        device.pick_device("cuda", cuda=False, mps=True)
    with pytest.raises(ConfigError, match="MPS"):
        device.pick_device("mps", cuda=True, mps=False)
    with pytest.raises(ConfigError, match="unknown device"):
        device.pick_device("tpu", cuda=True)


@pytest.mark.parametrize("gpu", PRE_AMPERE + AMPERE_ON, ids=lambda g: g.name)
def test_weights_and_qlora_compute_follow_the_run_precision(gpu):
    precision = device.auto_precision("cuda", gpu.capability)
    assert device.weights_precision(precision, full_weights=True) == "fp32"
    assert device.weights_precision(precision, full_weights=False) == precision
    assert device.qlora_compute("cuda", precision, gpu.capability) == precision
    # an fp32 run on a GPU still computes 4-bit layers in the card's native 16-bit type
    assert device.qlora_compute("cuda", "fp32", gpu.capability) == precision
    assert device.qlora_compute("cpu", "bf16") == "fp32"


def test_cuda_rng_states_restore_only_onto_gpus_that_exist_now():
    two_gpus_saved = 2
    assert device.rng_devices(two_gpus_saved, visible=1) == 1   # the old code: IndexError
    assert device.rng_devices(two_gpus_saved, visible=2) == 2
    assert device.rng_devices(1, visible=2) == 1
    assert device.rng_devices(2, visible=0) == 0


def test_out_of_memory_is_recognised_in_every_form_the_libraries_raise_it():
    import torch

    assert device.is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to ..."))
    assert device.is_out_of_memory(RuntimeError(
        "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"))
    assert device.is_out_of_memory(RuntimeError("cuDNN error: CUDNN_STATUS_NOT_ENOUGH_WORKSPACE"))
    assert device.is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated ...)"))
    assert device.is_out_of_memory(RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"))
    assert not device.is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not device.is_out_of_memory(ValueError("out of memory"))


@pytest.mark.parametrize("gpu,kernel", [(T4, "math"), (V100, "math"), (RTX3090, "flash"),
                                        (A100, "flash"), (H200, "flash"), (MIG, "flash")],
                         ids=lambda v: getattr(v, "name", v))
def test_the_estimate_plans_for_t_by_t_attention_on_pre_ampere_cards(gpu, kernel):
    precision = device.auto_precision("cuda", gpu.capability)
    assert device.attention_kernel(gpu.capability, precision) == kernel
    assert device.attention_kernel(gpu.capability, "fp32") == "math"
    assert device.attention_kernel(None, "fp32") == "cpu"


def test_the_memory_budget_is_free_memory_plus_what_this_process_holds():
    # a 16 GB T4 with the desktop and another app holding 3 GB, the model (2 GB) loaded by us
    assert device.memory_budget_mb(free_mb=T4.total_mb - 5000, held_by_us_mb=2000) == \
        T4.total_mb - 3000


@pytest.mark.parametrize("gpu,tflops", [
    (T4, 65.0), (V100, 125.0), (RTX3090, 71.0), (A100, 312.0), (H100, 989.0), (H200, 989.0),
    (MIG, 312.0 / 7), (GpuProps("NVIDIA H100 NVL", (9, 0), 95830.0), 835.0),
    (GpuProps("NVIDIA H200 NVL", (9, 0), 143771.0), 835.0),
    (GpuProps("NVIDIA H100 PCIe", (9, 0), 81559.0), 756.0),
    (GpuProps("NVIDIA H100 80GB HBM3 MIG 3g.40gb", (9, 0), 40192.0), 989.0 * 3 / 7),
    (GpuProps("NVIDIA GH200 480GB", (9, 0), 97871.0), 989.0),
], ids=lambda v: getattr(v, "name", v))
def test_peak_flops_by_name_knows_nvl_and_mig_slices(gpu, tflops):
    assert device.peak_tflops(gpu.name) == pytest.approx(tflops)


def test_mig_and_native_bf16_properties():
    assert MIG.mig and not A100.mig
    assert T4.native_bf16 is False and H200.native_bf16 is True


# NVML lists the whole GPUs (PCI order), then the MIG instances of GPUs in MIG mode.
TWO_GPUS_NVML = [RTX3090.uuid, A100.uuid]
MIG_NVML = [A100.uuid, MIG.uuid, "MIG-77777777-1c8e-5f8e-9d7a-0123456789ab"]


def test_telemetry_reads_the_training_gpu_by_uuid_not_nvml_index_0():
    # torch prints the UUID bare; the training GPU is NVML's second one
    assert device.nvml_match(A100.uuid[4:], TWO_GPUS_NVML) == 1
    assert device.nvml_match(MIG.uuid, MIG_NVML) == 1
    assert device.nvml_match(MIG.uuid[4:].upper(), MIG_NVML) == 1
    assert device.nvml_match("", TWO_GPUS_NVML) is None
    assert device.nvml_match(H200.uuid, TWO_GPUS_NVML) is None


def test_a_background_run_is_found_from_cuda_visible_devices():
    assert device.visible_first(None, TWO_GPUS_NVML, whole_gpus=2) == 0
    assert device.visible_first("1", TWO_GPUS_NVML, whole_gpus=2) == 1
    assert device.visible_first("1,0", TWO_GPUS_NVML, whole_gpus=2) == 1
    assert device.visible_first("", TWO_GPUS_NVML, whole_gpus=2) is None
    assert device.visible_first("5", TWO_GPUS_NVML, whole_gpus=2) is None
    assert device.visible_first(A100.uuid[:12], TWO_GPUS_NVML, whole_gpus=2) == 1
    assert device.visible_first(MIG.uuid, MIG_NVML, whole_gpus=1) == 1
    assert device.visible_first("MIG-", MIG_NVML, whole_gpus=1) is None  # ambiguous prefix


@pytest.mark.parametrize("gpu", PRE_AMPERE + AMPERE_ON, ids=lambda g: g.name)
def test_a_merged_export_is_made_in_the_base_models_own_dtype(gpu):
    native = gpu.native_bf16
    assert device.export_precision("bfloat16", "cuda", gpu.capability) == \
        ("bf16" if native else "fp32")
    assert device.export_precision("float16", "cuda", gpu.capability) == "fp16"
    assert device.export_precision("torch.float32", "cuda", gpu.capability) == "fp32"
    assert device.export_precision("bfloat16", "cpu") == "bf16"
    assert device.export_precision(None, "cpu") == "fp32"
