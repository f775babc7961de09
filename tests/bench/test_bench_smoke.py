"""The GPU bench must not rot: its --smoke mode runs the same code path (model folder written
from the meta model's parameter names, the studio's trainer in a child process per row, the
memory estimate, the table) with tiny shapes on the CPU."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # ~1-5 min: six child processes each import torch + transformers + peft
def test_gpu_bench_smoke_prints_a_measured_row_per_method(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--smoke",
                        "--workdir", str(tmp_path)],
                       capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    table = r.stdout.split("| model | method |", 1)[1]
    rows = [line for line in table.splitlines() if line.startswith("| smoke |")]
    methods = ["lora"] + (["qlora"] if importlib.util.find_spec("bitsandbytes") else []) + \
        ["full"]
    # packed rows and the studio's default path (padded batches), for every method
    assert [(row.split("|")[2].strip(), row.split("|")[4].strip()) for row in rows] == \
        [(m, p) for m in methods for p in ("on", "off")]
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        tokens_per_s, peak_gb, estimate_gb, ratio = (cells[6], cells[8], cells[10], cells[11])
        assert float(tokens_per_s.replace(",", "")) > 0
        assert float(peak_gb) > 0.1 and float(estimate_gb) > 0.1  # RSS of a torch process
        assert re.fullmatch(r"\d+\.\d\d", ratio) and 0.3 < float(ratio) < 3
    # the written folder is sharded and loads whole (the build child checks this itself)
    assert "built qwen2.5-smoke-shaped" in r.stdout


def test_mfu_and_peak_lookup():
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "bench" / "gpu.py")
    gpu = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu)
    assert gpu.peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert gpu.peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert gpu.peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert gpu.peak_tflops("NVIDIA GeForce RTX 4090") == 165.0
    assert gpu.peak_tflops("NVIDIA L4") == 121.0
    assert gpu.peak_tflops("NVIDIA H200 NVL") == 835.0
    assert gpu.peak_tflops("NVIDIA A100-SXM4-80GB MIG 1g.10gb") == pytest.approx(312.0 / 7)
    assert gpu.peak_tflops("Some Future GPU") is None
    # Qwen2.5-0.5B: 494M parameters of which 136M are the (tied) embedding; the head's matmul
    # counts, the lookup does not, so N = 494M - 136M + 136M.
    n05 = gpu.matmul_params(gpu.SHAPES["0.5b"])
    assert 490e6 < n05 < 500e6
    # Qwen2.5-7B: 7.62B parameters, 0.545B of them the input embedding
    n7 = gpu.matmul_params(gpu.SHAPES["7b"])
    assert 7.0e9 < n7 < 7.1e9
    assert gpu.flops_per_token(gpu.SHAPES["7b"], "lora") == 4 * n7
    assert gpu.flops_per_token(gpu.SHAPES["7b"], "full") == 6 * n7
