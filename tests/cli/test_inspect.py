"""`python main.py inspect ...`: .npz files that load without pickle, one-line errors."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studio.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_attention_npz_for_the_tiny_decoder(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "sub" / "att.npz"
    rc = main(["inspect", "attention", "--model", str(tiny_model_dir), "--text",
               "Hello there, 你好", "--out", str(out)])
    assert rc == 0
    assert "causal" in capsys.readouterr().out
    with np.load(out, allow_pickle=False) as f:
        att, tokens = f["attention"], f["tokens"]
        assert bool(f["is_causal"]) and not bool(f["truncated"])
    layers, heads, t, t2 = att.shape
    assert (layers, heads) == (2, 4) and t == t2 == len(tokens) and tokens.dtype.kind == "U"
    assert np.triu(att, 1).max() == 0.0


def test_attention_and_embeddings_npz_for_minilm(minilm_dir, tmp_path):
    att = tmp_path / "att.npz"
    assert main(["inspect", "attention", "--model", str(minilm_dir), "--text",
                 "The cat sat on the mat.", "--out", str(att)]) == 0
    with np.load(att, allow_pickle=False) as f:
        assert f["attention"].shape[:2] == (6, 12)
        assert f["tokens"][0] == "[CLS]" and not bool(f["is_causal"])
    emb = tmp_path / "emb.npz"
    assert main(["inspect", "embeddings", "--model", str(minilm_dir), "--words",
                 "king,queen,man,woman", "--layer", "2", "--out", str(emb)]) == 0
    with np.load(emb, allow_pickle=False) as f:
        assert f["vectors"].shape == (4, 384) and f["vectors"].dtype == np.float32
        assert list(f["words"]) == ["king", "queen", "man", "woman"]
        assert str(f["source"]) == "hidden_states[2]"


def test_tokens_prints_the_split(tiny_model_dir, capsys):
    assert main(["inspect", "tokens", "--model", str(tiny_model_dir), "--text", "hello 世界",
                 "--chat"]) == 0
    out = capsys.readouterr().out
    assert "tokens per character" in out and "<|im_start|>" in out


@pytest.mark.parametrize("argv, reason", [
    (["attention", "--model", "/no/such/model", "--text", "hi", "--out", "x.npz"], "not found"),
    (["attention", "--model", "{tiny}", "--text", "  ", "--out", "x.npz"], "empty"),
    (["attention", "--model", "{tiny}", "--text", "hi", "--out", "x.txt"], ".npz"),
    (["embeddings", "--model", "{tiny}", "--words", " , ", "--out", "x.npz"], "no words"),
    (["embeddings", "--model", "{tiny}", "--words", "a", "--layer", "5", "--out", "x.npz"],
     "does not exist"),
    (["tokens", "--model", "{tiny}", "--text-file", "/no/such/file.txt"], "not found"),
])
def test_bad_input_is_one_line_and_exit_2(argv, reason, tiny_model_dir, tmp_path, capsys,
                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [a.replace("{tiny}", str(tiny_model_dir)) for a in argv]
    assert main(["inspect", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and reason in err and "\n" not in err


def test_help_lists_inspect_without_importing_torch():
    code = ("import sys; from studio.cli import build_parser; build_parser(); "
            "print('torch' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert res.stdout.strip() == "False"
    res = subprocess.run([sys.executable, "main.py", "inspect", "--help"], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 0 and "attention" in res.stdout and "embeddings" in res.stdout


def test_adapter_and_run_directory_give_the_tuned_model(trained_run, tiny_model_dir, tmp_path):
    run = trained_run("lora")
    base, via_adapter, via_run = (tmp_path / f"{n}.npz" for n in ("base", "adapter", "run"))
    text = ["--text", "What is 7 plus one?"]
    assert main(["inspect", "attention", "--model", str(tiny_model_dir), *text,
                 "--out", str(base)]) == 0
    assert main(["inspect", "attention", "--model", str(tiny_model_dir), "--adapter",
                 str(run / "adapter"), *text, "--out", str(via_adapter)]) == 0
    assert main(["inspect", "attention", "--model", str(run), *text, "--out", str(via_run)]) == 0
    load = lambda p: np.load(p, allow_pickle=False)["attention"]  # noqa: E731
    np.testing.assert_allclose(load(via_adapter), load(via_run), atol=1e-6)
    assert np.abs(load(via_adapter) - load(base)).max() > 1e-5  # the adapter changes attention
