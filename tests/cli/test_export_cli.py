"""`python main.py export`: formats, --merge, refusals as one line with exit 2."""

from __future__ import annotations

from studio.cli import main


def _run(capsys, *argv):
    code = main(["export", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_adapter_is_the_default_for_lora(trained_run, tmp_path, capsys):
    code, out, err = _run(capsys, trained_run("lora"), "--to", tmp_path / "a")
    assert code == 0
    assert (tmp_path / "a" / "adapter_config.json").is_file()
    assert "exported adapter" in out and "max abs diff" in out
    assert "[100%] done" in out  # progress on stdout: stderr is for an error line only


def test_merge_flag_means_merged(trained_run, tmp_path, capsys):
    code, out, _ = _run(capsys, trained_run("lora"), "--to", tmp_path / "m", "--merge",
                        "--step", "2")
    assert code == 0 and "exported merged" in out
    assert (tmp_path / "m" / "config.json").is_file()


def test_refusals_exit_2_with_one_line(trained_run, tmp_path, capsys):
    run = trained_run("lora")
    capsys.readouterr()  # whatever training the fixture printed
    cases = [
        (["--to", tmp_path / "g", "--format", "gguf", "--quant", "q3_z"], "unknown GGUF type"),
        (["--to", tmp_path / "x", "--merge", "--format", "adapter"], "--merge means"),
        (["--to", run], "holds the run itself"),
        (["--to", tmp_path / "s", "--step", "3"], "no checkpoint at step 3"),
    ]
    for extra, message in cases:
        code, out, err = _run(capsys, run, *extra)
        assert code == 2, (extra, err)
        assert message in err and err.startswith("error: ") and err.count("\n") == 1
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    code, _, err = _run(capsys, run, "--to", tmp_path / "busy")
    assert code == 2 and "not empty" in err
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["notes.txt"]


def test_missing_run_exit_2(tmp_path, capsys):
    code, _, err = _run(capsys, tmp_path / "none", "--to", tmp_path / "out")
    assert code == 2 and "run directory not found" in err


def test_sigkill_during_an_export_leaves_no_half_export(trained_run, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    run, dest = trained_run("lora"), tmp_path / "out"

    def export(faults=""):
        env = {**os.environ, "STUDIO_FAULTS": faults}
        return subprocess.run([sys.executable, "main.py", "export", str(run), "--to", str(dest)],
                              cwd=root, env=env, capture_output=True, text=True, timeout=300)

    assert export("kill_in_export").returncode == -signal.SIGKILL
    assert not dest.exists()  # never a half export under the chosen name
    assert [p.name for p in tmp_path.iterdir() if ".tmp-export-" in p.name]
    r = export()
    assert r.returncode == 0, r.stderr[-2000:]
    assert (dest / "adapter_config.json").is_file()
    assert not [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name]  # leftover cleaned
