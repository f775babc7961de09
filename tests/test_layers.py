"""The layer rules of architecture.md, checked two ways: import-linter contracts over the
static import graph, and a fresh interpreter that imports the light modules."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold():
    exe = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


def test_config_and_events_load_without_torch_or_qt():
    code = ("import sys, studio.core.config, studio.core.events, studio.core.runs;"
            "bad=[m for m in ('torch','transformers','PySide6') if m in sys.modules];"
            "print(','.join(bad))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"imported heavy modules: {r.stdout}"


def test_what_the_engine_host_runs_imports_no_qt():
    """The host process imports these by name to run the window's calls: Qt has no place there."""
    services = ROOT / "studio" / "services"
    names = sorted(p.stem for p in services.glob("*.py")
                   if p.stem.endswith(("_host", "_jobs")) or p.stem == "host_main")
    assert {"host_main", "train_host", "probe_host", "chat_host", "data_host"} <= set(names)
    code = (f"import sys, importlib; [importlib.import_module('studio.services.' + n) "
            f"for n in {names!r}]; print('PySide6' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "False", f"Qt imported by one of {names}"


def test_cli_help_is_fast_and_qt_free():
    code = ("import sys; from studio.cli import build_parser; build_parser();"
            "bad=[m for m in ('torch','transformers','PySide6') if m in sys.modules];"
            "print(','.join(bad))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"--help imported: {r.stdout}"


def _imports(path: Path) -> set[str]:
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_services_use_qtcore_only():
    # import-linter cannot forbid submodules of an external package, so check these here.
    for path in (ROOT / "studio" / "services").rglob("*.py"):
        bad = {n for n in _imports(path) if n.startswith(("PySide6.QtWidgets", "PySide6.QtGui"))}
        assert not bad, f"{path.name} imports widgets: {bad}"


def test_ruff_is_clean():
    exe = Path(sys.executable).with_name("ruff")
    r = subprocess.run([str(exe), "check", "studio", "tests", "bench"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:]
