"""Column mapping from the command line: check-data proposes a mapping for a file it cannot place
(with its first rows through the chat template), `--columns` / `--set columns=...` read it, and a
run trains on it."""

import json
from pathlib import Path

import pytest

from studio.cli import main
from studio.core import config as config_mod
from studio.core import runs

QA = [{"id": i, "q_text": f"问题 {i}: 今天学了什么？", "a_text": f"第 {i} 课讲了注意力。"}
      for i in range(12)]
NESTED = [{"meta": {"source": "crm"},
           "data": {"dialog": [{"ask_text": f"Order {i}?", "reply_text": "Shipped."},
                               {"ask_text": "When?", "reply_text": f"In {i} days."}]}}
          for i in range(12)]
NESTED_COLUMNS = "messages=data.dialog,user_tag=ask_text,assistant_tag=reply_text"


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def _run(capsys, *argv):
    code = main([*map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_check_data_proposes_and_previews_through_the_chat_template(tmp_path, capsys,
                                                                   tiny_model_dir):
    path = _jsonl(tmp_path / "qa.jsonl", QA)
    code, out, err = _run(capsys, "check-data", path, "--model", tiny_model_dir)
    assert code == 2
    assert "format    alpaca, read through the proposed columns (not set)" in out
    assert "columns   prompt=q_text,response=a_text" in out
    assert out.count("as the model's chat template renders it:") == 3
    assert "    | 问题 0: 今天学了什么？<|im_end|>" in out  # the starter's ChatML template
    assert err == ("error: cannot tell the shape of qa.jsonl (found fields: id, q_text, "
                   "a_text); the fields look like columns prompt=q_text,response=a_text: check "
                   "it with `check-data qa.jsonl --columns prompt=q_text,response=a_text`, then "
                   "set columns to it\n")  # the line training refuses the file with
    code, out, err = _run(capsys, "check-data", path, "--columns", "prompt=q_text,response=a_text")
    assert code == 0 and err == ""
    assert "columns   prompt=q_text,response=a_text\n" in out and "usable: 12 good rows" in out


def test_check_data_json_names_the_mapping(tmp_path, capsys):
    path = _jsonl(tmp_path / "qa.jsonl", QA)
    code, out, _ = _run(capsys, "check-data", path, "--json")
    report = json.loads(out)
    assert (code, report["proposed_columns"], report["columns"]) == \
        (2, "prompt=q_text,response=a_text", "prompt=q_text,response=a_text")
    code, out, _ = _run(capsys, "check-data", path, "--json", "--columns",
                        "prompt=q_text,response=a_text")
    assert (code, json.loads(out)["proposed_columns"]) == (0, None)


@pytest.mark.parametrize("spec,words", [
    ("prompt=q_txt,response=a_text", "field 'q_txt' (prompt) is in none of the first 12 rows"),
    ("prompt=q_text,prompt=id,response=a_text", "role prompt is assigned twice"),
    ("prompt=id.x,response=a_text", "row 1: field 'id.x': 'id' is a number, not an object"),
])
def test_check_data_bad_mapping_is_one_line(tmp_path, capsys, spec, words):
    code, out, err = _run(capsys, "check-data", _jsonl(tmp_path / "qa.jsonl", QA),
                          "--columns", spec)
    assert code == 2 and out == ""
    assert err.startswith("error: columns: ") and err.count("\n") == 1 and words in err


@pytest.mark.parametrize("rows,columns", [(QA, "prompt=q_text,response=a_text"),
                                          (NESTED, NESTED_COLUMNS)])
def test_a_file_of_unknown_shape_trains_after_set_columns(tmp_path, capsys, tiny_model_dir,
                                                          rows, columns):
    data = _jsonl(tmp_path / "d.jsonl", rows)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model: {tiny_model_dir}\ndataset: {data}\noutput_dir: {tmp_path / 'run'}\n"
                   "method: full\nmax_steps: 2\nbatch_size: 2\neval_split: 0\nmax_length: 64\n"
                   "learning_rate: 0.01\n", "utf-8")
    code, _, err = _run(capsys, "train", cfg, "--quiet")
    assert code == 2 and f"the fields look like columns {columns}" in err
    code, _, err = _run(capsys, "train", cfg, "--quiet", "--set", f"columns={columns}")
    assert code == 0, err
    steps = [r for r in runs.read_metrics(tmp_path / "run") if r.type == "step"]
    assert len(steps) == 2
    saved = config_mod.load(tmp_path / "run" / "config.yaml")
    assert saved.columns == columns  # the run's config.yaml keeps the mapping
