"""The comparison table: every number is the one in the run's own files."""

import csv
import io
import json
import statistics

import pytest
import yaml

from studio.cli import main
from studio.core.errors import UserError
from studio.core.experiments import compare


def _lines(run_dir):
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_the_table_s_numbers_are_those_in_each_run_s_files(trained_run):
    lora, full = trained_run("lora"), trained_run("full")
    (full / "evaluation.json").write_text(json.dumps({"metrics": {"forgetting": 0.25}}))
    try:
        rows = {r["run"] + r["method"]: r for r in compare.table([lora, full])}
    finally:
        (full / "evaluation.json").unlink()
    for run_dir in (lora, full):
        method = yaml.safe_load((run_dir / "config.yaml").read_text())["method"]
        row = rows[run_dir.name + method]
        lines = _lines(run_dir)
        steps = [x for x in lines if x["type"] == "step"]
        evals = [x for x in lines if x["type"] == "eval"]
        started = next(x for x in lines if x.get("event") == "started")["data"]
        assert row["status"] == json.loads((run_dir / "run.json").read_text())["status"]
        assert row["steps"] == steps[-1]["step"] == 4
        assert row["trainable_pct"] == pytest.approx(
            100 * started["trainable_params"] / started["total_params"])
        assert row["peak_mem_mb"] == max(x["mem_mb"] for x in steps)
        assert row["train_loss"] == steps[-1]["loss"]
        assert row["eval_loss"] == evals[-1]["eval_loss"]
        assert row["perplexity"] == evals[-1]["perplexity"]
        seconds = sum(x["tokens"] / x["tokens_per_s"] for x in steps)
        assert row["tokens_per_s"] == pytest.approx(sum(x["tokens"] for x in steps) / seconds)
        gaps = [b["time"] - a["time"] for a, b in zip(lines, lines[1:])
                if a["type"] == b["type"] == "step"]  # one step apart, nothing in between
        assert row["s_per_step"] == pytest.approx(statistics.median(gaps))
    assert rows[full.name + "full"]["trainable_pct"] == pytest.approx(100.0)
    assert rows[lora.name + "lora"]["trainable_pct"] < 100.0
    assert rows[full.name + "full"]["eval:forgetting"] == 0.25


def test_exports_and_sorting(trained_run, tmp_path, capsys):
    lora, full = trained_run("lora"), trained_run("full")
    rows = compare.table([lora, full])
    parsed = list(csv.DictReader(io.StringIO(compare.to_csv(rows))))
    assert [float(r["train_loss"]) for r in parsed] == [r["train_loss"] for r in rows]
    md = compare.to_markdown(rows).splitlines()
    assert md[0].startswith("| run | method |") and len(md) == 2 + len(rows)
    by_mem = compare.sort_rows(rows, "peak_mem_mb", descending=True)
    assert by_mem[0]["peak_mem_mb"] >= by_mem[1]["peak_mem_mb"]
    out = tmp_path / "table.md"
    assert main(["compare", str(lora), str(full), "--sort=-eval_loss", "--out", str(out)]) == 0
    assert out.read_text().splitlines()[0] == md[0]
    assert main(["compare", str(lora), "--sort", "nope"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err
    with pytest.raises(UserError, match="neither a run folder"):
        compare.table([tmp_path / "missing"])


def test_each_run_answers_the_same_prompt_as_its_own_model_does(trained_run, capsys):
    from studio.core.chat.engine import ChatEngine, GenSettings
    from studio.core.model.run_model import load_run_model

    lora, full = trained_run("lora"), trained_run("full")
    prompt = "What is 3 plus one?"
    assert main(["compare", str(lora), str(full), "--prompt", prompt, "--max-new-tokens", "8",
                 "--format", "json"]) == 0
    shown = {r["run"] + r["method"]: r[f"answer: {prompt}"]
             for r in json.loads(capsys.readouterr().out)}
    for run_dir, method in ((lora, "lora"), (full, "full")):
        rm = load_run_model(run_dir)
        own = ChatEngine(rm.model, rm.tokenizer).reply(
            [{"role": "user", "content": prompt}],
            GenSettings(temperature=0.0, max_new_tokens=8)).text.strip()
        assert shown[run_dir.name + method] == own


def test_forgetting_comes_from_the_run_s_eval_jsonl(trained_run, tmp_path):
    import shutil

    runs_ = {}
    for method, metric, values in (("lora", "perplexity", (100.0, 104.0, 110.0)),
                                   ("full", "choice", (0.75, 0.7, 0.5))):
        run = runs_[method] = tmp_path / method
        shutil.copytree(trained_run(method), run)  # eval.jsonl is added: a copy
        recs = [{"step": s, "checkpoint": c, "data": "/data/held_out.txt", "metric": metric,
                 "value": v} for s, c, v in zip((0, 2, 4), ("base", "step-2", "step-4"), values)]
        (run / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs)
                                        + '{"step": 5, "torn', encoding="utf-8")
    rows = {r["run"]: r for r in compare.table([runs_["lora"], runs_["full"]])}
    assert rows["lora"]["forgetting"] == pytest.approx(10.0)   # perplexity 100 -> 110: +10 %
    assert rows["lora"]["eval:held_out.txt perplexity"] == 110.0
    assert rows["full"]["forgetting"] == pytest.approx(25.0)   # accuracy 75 % -> 50 %: 25 points
    assert "forgetting %" in compare.to_text(list(rows.values())).splitlines()[0]
