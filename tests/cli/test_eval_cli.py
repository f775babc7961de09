"""`python main.py eval`: a model folder or a run, one line per checkpoint, exit 2 on bad input."""

import json

from studio.cli import main
from studio.core.eval.run_eval import read_records


def test_eval_a_model_on_the_held_out_corpus(pretrained_dir, capsys):
    assert main(["eval", str(pretrained_dir), "--data", "corpus"]) == 0
    out = capsys.readouterr().out
    assert "perplexity" in out and "tokens" in out


def test_eval_a_run_writes_eval_jsonl_per_checkpoint(trained_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run("lora"), run)
    data = tmp_path / "q.jsonl"
    data.write_text(json.dumps({"question": "What is 3 plus one?", "answer": "It is 4."}) + "\n",
                    encoding="utf-8")
    assert main(["eval", str(run), "--data", str(data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines[1:4]] == ["base", "step-2", "step-4"]
    assert all("exact accuracy" in ln for ln in lines[1:4])
    assert [r["metric"] for r in read_records(run)] == ["exact"] * 3


def test_bad_input_is_one_line_and_exit_2(pretrained_dir, tmp_path, capsys):
    cases = [
        ["eval", str(tmp_path / "nothing"), "--data", "corpus"],
        ["eval", str(pretrained_dir), "--data", str(tmp_path / "missing.txt")],
        ["eval", str(pretrained_dir), "--data", "corpus", "--metric", "choice"],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and len(err.splitlines()) == 1, err


def test_the_dataset_doctor_recognises_question_files(tmp_path, capsys):
    exact = tmp_path / "q.jsonl"
    exact.write_text(json.dumps({"question": "q?", "answer": "a"}) + "\n", encoding="utf-8")
    choice = tmp_path / "mc.jsonl"
    choice.write_text(json.dumps({"question": "q?", "choices": ["a", "b"], "answer": 1}) + "\n",
                      encoding="utf-8")
    assert main(["check-data", str(exact)]) == 0
    assert "evaluation: exact-match questions" in capsys.readouterr().out
    main(["check-data", str(choice)])   # not trainable (no text answer), but an evaluation file
    assert "evaluation: multiple-choice questions" in capsys.readouterr().out
    main(["check-data", str(choice), "--json"])
    assert json.loads(capsys.readouterr().out)["evaluation"] == "choice"
