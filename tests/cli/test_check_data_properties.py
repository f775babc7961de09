"""`python main.py check-data` over hostile files (tests/hostile_data.py): it exits 0 or 2,
never with a traceback; on 2 stderr is one line `error: <reason>`; its verdict is the doctor's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_data import HostileFile, hostile_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.cli import main
from studio.core.data.doctor import inspect_dataset
from studio.core.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 60))
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                      HealthCheck.too_slow,
                                                      HealthCheck.data_too_large])

OPTIONS = st.sampled_from([[], ["--json"], ["--max-rows", "2"], ["--format", "alpaca"],
                           ["--format", "text", "--json"], ["--stage", "pretrain"]])


def check_data(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main(["check-data", *map(str, argv)])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def check_exit(code: int, out: str, err: str, as_json: bool) -> None:
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err + out
    if code == 2:
        assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    else:
        assert err == ""
    if as_json:
        report = json.loads(out)  # one JSON object, whatever the file holds
        assert out.count("\n") == 1 and report["ok"] == (code == 0)


@settings(max_examples=EXAMPLES * 2, **SETTINGS)
@given(f=hostile_files(), options=OPTIONS)
def test_check_data_exits_0_or_2_with_one_line(tmp_path, capsys, f, options):
    path = f.write(tmp_path)
    code, out, err = check_data(capsys, path, *options)
    check_exit(code, out, err, "--json" in options)
    if options:
        return
    # Without options, the verdict is the doctor's: usable exactly when it finds good rows
    # that are not preference pairs.
    try:
        report = inspect_dataset(path)
    except DataError as e:
        assert code == 2 and err == f"error: {e.one_line()}\n"
        return
    assert code == (0 if report.usable else 2)
    assert f"good rows {report.good_rows}\nbad rows  {report.bad_rows}\n" in out
    for p in report.problems[:20]:
        assert f"\n  {p}\n" in out


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir):
    return tiny_model_dir


@settings(max_examples=EXAMPLES // 2, **SETTINGS)
@given(f=hostile_files(max_rows=5, huge=False), max_length=st.integers(8, 64),  # >= the key's min
       as_json=st.booleans())
def test_check_data_with_a_model_exits_0_or_2(tmp_path, capsys, model_dir, f, max_length,
                                               as_json):
    path = f.write(tmp_path)
    argv = [path, "--model", model_dir, "--max-length", max_length] + (["--json"] * as_json)
    code, out, err = check_data(capsys, *argv)
    check_exit(code, out, err, as_json)
    if code == 0 and as_json:
        report = json.loads(out)
        assert report["lengths"]["count"] == report["good_rows"]
        assert report["over_max_length"] <= report["good_rows"]


# A console that cannot print Chinese (PYTHONIOENCODING=ascii), files the doctor reads and
# files it refuses: main.py still prints its report or one line, never a traceback.
FILES = [
    HostileFile("jsonl", note="CJK, RTL, emoji, lone surrogates in a key and a value", content=(
        '{"instruction": "你好 مرحبا 😀", "output": "世界\\u3000!", "k\\ud800": 1}\n'
        '{"instruction": "x", "output": "\\udc80"}\n[]\n').encode()),
    HostileFile("csv", note="GBK", content="instruction,output\n你好,世界\n".encode("gbk")),
    HostileFile("tsv", note="old Mac line ends", content=b"text\r\"a\nb\"\rc\r"),
    HostileFile("json", note="cut off", content=b'[{"instruction": "q", "output": "a"}, {"in'),
]


@pytest.mark.parametrize("f", FILES, ids=[f.kind for f in FILES])
def test_main_py_on_a_console_that_cannot_print_the_rows(tmp_path, f):
    path = f.write(tmp_path)
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    r = subprocess.run([sys.executable, "main.py", "check-data", str(path)], cwd=ROOT, env=env,
                       capture_output=True, timeout=120)
    err = r.stderr.decode("ascii")  # nothing but ASCII reached the console
    r.stdout.decode("ascii")
    assert r.returncode in (0, 2) and "Traceback" not in err
    if r.returncode == 0:
        assert err == ""
    else:
        assert err.startswith("error: ") and err.count("\n") == 1, err


def test_an_unreadable_file_with_json_also_gives_the_reason_on_stderr(tmp_path, capsys):
    # --json printed {"ok": false, ...} and exited 2 with nothing on stderr (contract.md: 2 is
    # a one-line reason on stderr), unlike --json on a file with no good rows.
    code, out, err = check_data(capsys, tmp_path / "missing.jsonl", "--json")
    reason = f"no such file: {tmp_path / 'missing.jsonl'}"
    assert code == 2 and json.loads(out) == {"ok": False, "error": reason}
    assert err == f"error: {reason}\n"
