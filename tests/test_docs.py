"""The design documents stay true to the code: generated tables match, listed paths exist, every
feature package and sub-command is documented, and nothing points outside the repository."""

import re
import subprocess
from pathlib import Path

from studio.cli import COMMANDS
from studio.core.config_doc import BEGIN, END, keys_markdown

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def test_the_config_key_table_is_the_one_generated_from_the_declarations():
    block = CONTRACT[CONTRACT.index(BEGIN):CONTRACT.index(END) + len(END)]
    assert block == keys_markdown(), "run `python -m studio.core.config_doc` and commit"


def test_every_sub_command_is_in_the_contract():
    for name in COMMANDS:
        assert f"python main.py {name.replace('_', '-')}" in CONTRACT, name


def test_every_path_in_the_where_things_live_table_exists():
    table = ARCHITECTURE[ARCHITECTURE.index("## Where things live"):]
    paths = set(re.findall(r"`((?:studio|tests|bench|resources|docs|packaging)/[\w/.]*)`", table))
    assert len(paths) > 20
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"architecture.md names paths that do not exist: {missing}"


def test_every_feature_package_is_in_the_where_things_live_table():
    table = ARCHITECTURE[ARCHITECTURE.index("## Where things live"):]
    for layer in ("core", "ui"):
        for pkg in sorted(p for p in (ROOT / "studio" / layer).iterdir()
                          if (p / "__init__.py").is_file()):
            assert f"studio/{layer}/{pkg.name}/" in table, f"studio/{layer}/{pkg.name}/"


def test_tests_mirror_the_feature_packages():
    for layer in ("core", "ui"):
        for pkg in (ROOT / "studio" / layer).iterdir():
            if (pkg / "__init__.py").is_file():
                assert (ROOT / "tests" / layer / pkg.name).is_dir(), f"tests/{layer}/{pkg.name}/"


def test_nothing_points_outside_the_repository():
    files = subprocess.run(["git", "ls-files", "studio", "docs", "README.md", "bench",
                            "examples", "packaging", "resources"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    bad = re.compile(r"\.\./shared|shared/docs|facts\.md|domain\.md|/work/|/home/\w|/root/|"
                     r"/tmp/\w")
    hits = []
    for f in files:
        p = ROOT / f
        if p.suffix not in (".py", ".md", ".yaml", ".yml", ".sh", ".txt", ".desktop", ".spec"):
            continue
        for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if bad.search(line):
                hits.append(f"{f}:{n}: {line.strip()[:80]}")
    assert not hits, "\n".join(hits)
