"""`python main.py chat`: one-shot and interactive replies streamed to stdout; bad paths exit 2."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from studio.cli import main
from studio.core.chat.engine import GenSettings
from studio.core.model.run_model import load_chat_models

ROOT = Path(__file__).resolve().parents[2]
ASK = "What is 3 plus one?"


def _run(capsys, *argv):
    code = main(["chat", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_one_shot_prints_the_tuned_reply(trained_run, capsys):
    run = trained_run("lora")
    code, out, err = _run(capsys, "--run", run, "--prompt", ASK, "--temperature", "0",
                          "--max-new-tokens", "12")
    assert code == 0
    expected = load_chat_models(run=run).reply(
        "tuned", [{"role": "user", "content": ASK}],
        GenSettings(temperature=0.0, max_new_tokens=12)).text
    assert out == expected + "\n"
    assert "tokens" in err and "tok/s" in err and "first token" in err


def test_compare_prints_base_then_tuned(trained_run, tiny_model_dir, capsys):
    run = trained_run("lora")
    code, out, err = _run(capsys, "--run", run, "--step", "2", "--prompt", ASK,
                          "--temperature", "0", "--max-new-tokens", "6", "--compare")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("[base] ") and lines[1].startswith("[tuned] ")
    _, base_only, _ = _run(capsys, "--model", tiny_model_dir, "--prompt", ASK,
                           "--temperature", "0", "--max-new-tokens", "6")
    assert lines[0] == "[base] " + base_only.rstrip("\n")
    assert "share one copy" in err


def test_interactive_keeps_history_until_reset(tiny_model_dir, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\nagain\n/reset\nhello\n"
                                                  "/system Be brief.\nhi\n/quit\nnever\n"))
    code, out, err = _run(capsys, "--model", tiny_model_dir, "--temperature", "0",
                          "--max-new-tokens", "5")
    assert code == 0
    replies = out.splitlines()
    assert len(replies) == 4
    assert replies[0] == replies[2]  # the same first message after /reset: the same reply
    assert "conversation cleared" in err and "system prompt: Be brief." in err


@pytest.mark.parametrize("argv, message", [
    (["--run", "/no/such/run"], "not a run directory"),
    (["--adapter", "/no/such/adapter"], "not an adapter folder"),
    (["--model", "/no/such/model", "--prompt", "x"], "model folder not found"),
    (["--step", "3", "--model", "m"], "--step needs --run"),
    ([], "nothing to chat with"),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, message):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_bad_settings_exit_2(tiny_model_dir, capsys):
    code, _, err = _run(capsys, "--model", tiny_model_dir, "--prompt", "x", "--top-p", "0")
    assert code == 2 and "top_p" in err


def test_real_process_streams_a_reply(tiny_model_dir):
    proc = subprocess.run([sys.executable, "main.py", "chat", "--model", str(tiny_model_dir),
                           "--prompt", ASK, "--max-new-tokens", "8", "--seed", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() and "8 tokens" in proc.stderr
