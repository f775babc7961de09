"""`python main.py check-data`: the dataset doctor on the command line."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from studio.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def _alpaca(i: int, output: str = "ok") -> dict:
    return {"instruction": f"Question {i}?", "input": "", "output": output}


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir):
    return tiny_model_dir  # the starter tokenizer and chat template


def _run(capsys, *argv):
    code = main(["check-data", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_good_file(tmp_path, capsys):
    path = _write_jsonl(tmp_path / "a.jsonl", [_alpaca(i) for i in range(3)])
    code, out, err = _run(capsys, path)
    assert code == 0 and err == ""
    assert "format    alpaca (detected)" in out
    assert "rows      3\ngood rows 3\nbad rows  0" in out
    assert "user: Question 0?" in out and "usable: 3 good rows" in out


def test_bad_rows_are_listed_by_number_and_the_file_stays_usable(tmp_path, capsys):
    rows = [_alpaca(i, "" if i % 2 else "fine") for i in range(50)]  # rows 2, 4, ... 50 bad
    rows[0]["source"] = "web"
    rows[2]["images"] = ["cat.png"]  # row 3
    code, out, _ = _run(capsys, _write_jsonl(tmp_path / "b.jsonl", rows))
    assert code == 0
    assert "good rows 24\nbad rows  26" in out
    assert "  row 2: empty assistant reply (field 'output')" in out
    assert "  row 3: has image input; this studio trains text models" in out
    assert out.count("\n  row ") == 20 and "  ... and 6 more" in out
    assert "fields it does not understand (ignored): source" in out
    assert "(refused, this studio trains text models): 3" in out
    assert "skip_bad_rows: true" in out


@pytest.mark.parametrize("content,match", [
    (b'[{"instruction": "a", "output": "b"},\n{"oops"}]', "not valid JSON: .* at line 2, column 8"),
    (b'{"text": "caf\xe9"}\n', "not UTF-8 text: byte 0xe9 at byte offset 13 \\(line 1\\)"),
])
def test_unreadable_file_exits_2_with_one_line(tmp_path, capsys, content, match):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    code, out, err = _run(capsys, path)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert re.search(match, err), err


def test_preference_files_report_their_shape_and_exit_0(tmp_path, capsys):
    pref = _write_jsonl(tmp_path / "p.jsonl",
                        [{"instruction": "Q", "chosen": "a", "rejected": "b"}])
    code, out, err = _run(capsys, pref)
    assert code == 0 and err == "" and "format    preference (detected)" in out
    assert "rejected: b" in out and "train them with stage: dpo" in out
    kto = _write_jsonl(tmp_path / "k.jsonl", [{"prompt": "Q", "completion": "a", "label": True},
                                              {"prompt": "Q", "completion": "b", "label": False}])
    code, out, err = _run(capsys, kto)
    assert code == 0 and "format    kto (detected)" in out and "label: good reply" in out


def test_broken_preference_rows_are_named(tmp_path, capsys):
    rows = [{"instruction": "Q", "chosen": "a", "rejected": "b"},
            {"instruction": "Q", "chosen": "same", "rejected": "same"},
            {"instruction": "Q", "chosen": "a"},
            {"instruction": "Q", "chosen": " ", "rejected": "b"},
            {"prompt": "Q", "completion": "a", "label": "maybe"}]
    code, out, _ = _run(capsys, _write_jsonl(tmp_path / "p.jsonl", rows))
    assert code == 0 and "good rows 1" in out
    assert "row 2: the chosen and rejected replies are the same text" in out
    assert "row 3: missing field 'rejected'" in out
    assert "row 4: empty chosen reply" in out
    assert "row 5:" in out


def test_media_only_files_exit_2(tmp_path, capsys):
    media = _write_jsonl(tmp_path / "m.jsonl", [{**_alpaca(1), "images": ["x.png"]}])
    code, _, err = _run(capsys, media)
    assert code == 2 and "this studio trains text models" in err


def test_json_output(tmp_path, capsys):
    rows = [_alpaca(1), _alpaca(2, "")]
    code, out, _ = _run(capsys, _write_jsonl(tmp_path / "j.jsonl", rows), "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True
    assert (report["format"], report["good_rows"], report["bad_rows"]) == ("alpaca", 1, 1)
    assert report["problems"] == [{"row": 2, "line": 2,
                                   "reason": "empty assistant reply (field 'output')"}]
    code, out, _ = _run(capsys, tmp_path / "missing.json", "--json")
    assert code == 2 and json.loads(out) == {"ok": False,
                                             "error": f"no such file: {tmp_path / 'missing.json'}"}


def test_format_override_is_shown(tmp_path, capsys):
    path = _write_jsonl(tmp_path / "s.jsonl", [{"text": "hello"}])
    code, out, err = _run(capsys, path, "--format", "alpaca")
    assert code == 2 and "format    alpaca (set; the rows look like text)" in out
    assert "row 1: missing field 'instruction'" in out


def test_token_lengths_with_a_model(tmp_path, capsys, model_dir):
    rows = [_alpaca(1), _alpaca(2, "word " * 200), {"instruction": "long " * 300, "output": "x"}]
    code, out, _ = _run(capsys, _write_jsonl(tmp_path / "t.jsonl", rows), "--model", model_dir,
                        "--max-length", "64")
    assert code == 0
    assert "token lengths (3 good rows, sft): min " in out and "(max_length 64)" in out
    assert "2 rows are longer than max_length 64 and will be truncated" in out
    assert "rows with nothing left to learn at max_length 64" in out
    assert "dropped in training): 3" in out
    assert "over max_length" in out  # the histogram marks the long bars
    code, out, _ = _run(capsys, tmp_path / "t.jsonl", "--model", model_dir, "--json")
    report = json.loads(out)
    assert report["max_length"] == 512 and report["over_max_length"] == 0  # config default
    assert report["lengths"]["count"] == 3 and report["lengths"]["min"] > 5


def test_missing_model_exits_2(tmp_path, capsys):
    path = _write_jsonl(tmp_path / "a.jsonl", [_alpaca(1)])
    code, _, err = _run(capsys, path, "--model", tmp_path / "no_such_model")
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err


@pytest.mark.parametrize("argv,match", [
    (["--max-length", "64"], "--max-length needs --model"),
    (["--max-rows", "0"], "--max-rows must be a positive"),
    (["--format", "chatml"], "invalid choice: 'chatml'"),
])
def test_bad_options_exit_2(tmp_path, capsys, argv, match):
    path = _write_jsonl(tmp_path / "a.jsonl", [_alpaca(1)])
    with pytest.raises(SystemExit) as e:  # argparse exits by itself for its own errors
        raise SystemExit(main(["check-data", str(path), *argv]))
    assert e.value.code == 2 and match in capsys.readouterr().err


def test_main_py_never_prints_a_traceback(tmp_path):
    path = tmp_path / "zh.csv"
    path.write_bytes("instruction,output\n你好,世界\n".encode("gbk"))
    r = subprocess.run([sys.executable, "main.py", "check-data", str(path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "not UTF-8 text" in r.stderr and "GBK" in r.stderr
