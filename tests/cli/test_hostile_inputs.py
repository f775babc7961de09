"""Hostile input, every sub-command: damaged files of each kind, files that are not regular
files, numbers that are not finite or do not fit, places that cannot be written, missing or
wrong-type arguments.

Each case asserts exit 2, exactly one stderr line `error: ...` naming the problem, no traceback,
no hang (SIGALRM after a time limit), and that every file that existed before is byte-identical
after. Cases run in-process (`studio.cli.main`): the imports and the tiny model load once, so
~70 cases take seconds each instead of a subprocess start each. Two cases also run as real
processes, where library noise (progress bars, notices, warnings) would reach the terminal.
"""

from __future__ import annotations

import contextlib
import faulthandler
import hashlib
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from studio.cli import main

ROOT = Path(__file__).resolve().parents[2]
LIMIT_S = 60  # per case; the slowest loads the tiny model twice (~2 s)


class Hang(BaseException):
    """Raised by SIGALRM: a BaseException so that no `except Exception` in the code swallows it."""


def run_cli(*argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `python main.py ARGV`, in this process, with a time limit."""
    out, err = io.StringIO(), io.StringIO()

    def on_alarm(signum, frame):
        raise Hang(f"no answer after {LIMIT_S} s: {' '.join(map(str, argv))}")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(LIMIT_S)
    # a hang inside native code (Rust retries open() on EINTR) never returns to the alarm's
    # handler: then the whole test process ends, with every thread's stack, instead of hanging
    faulthandler.dump_traceback_later(2 * LIMIT_S, exit=True)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in argv])
            except SystemExit as e:  # argparse
                code = e.code
    except Hang as e:
        pytest.fail(str(e))
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return code, out.getvalue(), err.getvalue()


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under root: a hash for regular files, the kind for the rest (a pipe is
    never opened: that would block)."""
    seen = {}
    for p in sorted(root.rglob("*")):
        mode = p.lstat().st_mode
        if stat.S_ISREG(mode):
            seen[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif stat.S_ISLNK(mode):
            seen[str(p)] = "link to " + os.readlink(p)
        else:
            seen[str(p)] = "dir" if stat.S_ISDIR(mode) else "special"
    return seen


def assert_refused(code: int, err: str, words: tuple[str, ...]) -> None:
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2, f"exit {code}; stderr:\n{err}"
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error: "), f"not one line:\n{err}"
    for w in words:
        assert w.lower() in lines[0].lower(), f"{w!r} not in: {lines[0]}"


# --- the world each case damages: copies of a model, a finished run, a dataset, a config -------

@dataclass
class World:
    root: Path
    model: Path          # a copy of the tiny starter
    run: Path            # a finished LoRA run (checkpoints 2 and 4) on that copy
    data: Path           # a good dataset
    cfg: Path            # a train config: model, data, output_dir root/out
    read_only: Callable[[], Path]

    def fifo(self, name: str) -> Path:
        p = self.root / name
        os.mkfifo(p)
        return p

    def endless(self, name: str) -> Path:
        """A link to /dev/zero under an ordinary-looking name."""
        p = self.root / name
        p.symlink_to("/dev/zero")
        return p

    def file(self, name: str, text: str = "x") -> Path:
        p = self.root / name
        p.write_text(text, encoding="utf-8")
        return p


def truncate(path: Path, keep: float = 0.5) -> Path:
    with open(path, "r+b") as f:
        f.truncate(int(path.stat().st_size * keep))
    return path


def replace_with_fifo(path: Path) -> Path:
    path.unlink()
    os.mkfifo(path)
    return path


@pytest.fixture()
def world(tmp_path, tiny_model_dir, trained_run, request):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    run = tmp_path / "run"
    shutil.copytree(trained_run("lora"), run)
    conf = (run / "config.yaml").read_text(encoding="utf-8")
    (run / "config.yaml").write_text(conf.replace(str(tiny_model_dir), str(model)),
                                     encoding="utf-8")
    data = tmp_path / "data.jsonl"
    rows = [{"instruction": f"问题 {i}", "output": f"回答 {i}"} for i in range(12)]
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model: {model}\ndataset: {data}\noutput_dir: {tmp_path / 'out'}\n"
                   "max_steps: 2\nbatch_size: 2\neval_split: 0\nmax_length: 32\n",
                   encoding="utf-8")
    return World(tmp_path, model, run, data, cfg,
                 lambda: request.getfixturevalue("read_only_dir"))


@pytest.fixture()
def read_only_dir(tmp_path):
    """A folder no one may write into: a tmpfs mounted read-only (root), else mode 0555."""
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "existing.txt").write_text("keep me", encoding="utf-8")
    if os.geteuid() != 0:
        ro.chmod(0o555)
        yield ro
        ro.chmod(0o755)
        return
    shutil.rmtree(ro)
    ro.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(ro)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {r.stderr.strip()}")
    (ro / "existing.txt").write_text("keep me", encoding="utf-8")
    subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
    yield ro
    subprocess.run(["umount", "-l", str(ro)], capture_output=True)


# --- the cases: (argv, words the error line names) built on a world -----------------------------

HUGE = str(2**70)
DIGITS = "9" * 5000  # more digits than Python converts by default


def _cases() -> dict[str, Callable[[World], tuple[list, tuple]]]:
    c: dict[str, Callable[[World], tuple[list, tuple]]] = {}
    # new-model
    c["new-model: corpus is a named pipe"] = lambda w: (
        ["new-model", w.root / "nm", "--corpus", w.fifo("c.txt")], ("c.txt", "named pipe"))
    c["new-model: corpus links to an endless device"] = lambda w: (
        ["new-model", w.root / "nm", "--corpus", w.endless("c.txt")], ("c.txt", "device"))
    c["new-model: seed does not fit"] = lambda w: (
        ["new-model", w.root / "nm", "--seed", "9" * 30], ("--seed", "<="))
    c["new-model: seed is not a number"] = lambda w: (
        ["new-model", w.root / "nm", "--seed", "nan"], ("--seed", "integer"))
    c["new-model: OUT below a file"] = lambda w: (
        ["new-model", w.file("afile") / "m"], ("afile", "is a file"))
    c["new-model: OUT on a read-only disk"] = lambda w: (
        ["new-model", w.read_only() / "m"], ("cannot be written",))
    c["new-model: OUT missing"] = lambda w: (["new-model"], ("OUT",))
    # train: files
    c["train: config is a named pipe"] = lambda w: (
        ["train", w.fifo("p.yaml")], ("p.yaml", "named pipe"))
    c["train: config links to an endless device"] = lambda w: (
        ["train", w.endless("z.yaml")], ("z.yaml", "device"))
    c["train: config is a folder"] = lambda w: (["train", w.root], ("folder",))
    c["train: config is not UTF-8"] = lambda w: (
        ["train", w.root / "gbk.yaml"] if (w.root / "gbk.yaml").write_bytes(
            "model: 模型".encode("gbk")) else [], ("gbk.yaml", "UTF-8"))
    c["train: dataset is a named pipe"] = lambda w: (
        ["train", w.cfg, "--set", f"dataset={w.fifo('d.jsonl')}"], ("d.jsonl", "named pipe"))
    c["train: dataset links to an endless device"] = lambda w: (
        ["train", w.cfg, "--set", f"dataset={w.endless('d.json')}"], ("d.json", "device"))
    c["train: truncated model weights"] = lambda w: (
        ["train", w.cfg] if truncate(w.model / "model.safetensors") else [],
        ("model.safetensors", "damaged", "truncated"))
    c["train: empty model weights"] = lambda w: (
        ["train", w.cfg] if truncate(w.model / "model.safetensors", 0) or True else [],
        ("model.safetensors", "empty"))
    c["train: model weights are a named pipe"] = lambda w: (
        ["train", w.cfg] if replace_with_fifo(w.model / "model.safetensors") else [],
        ("model.safetensors", "named pipe"))
    c["train: garbled tokenizer"] = lambda w: (
        ["train", w.cfg] if truncate(w.model / "tokenizer.json") else [],
        ("tokenizer", str(w.model)))
    c["train: model config.json is a named pipe"] = lambda w: (
        ["train", w.cfg] if replace_with_fifo(w.model / "config.json") else [],
        ("config.json", "named pipe"))
    c["train: model config.json is garbled"] = lambda w: (
        ["train", w.cfg] if truncate(w.model / "config.json") else [],
        ("config.json", "JSON"))
    # train: numbers
    for key, value, words in [
            ("learning_rate", "nan", ("learning_rate", "finite")),
            ("learning_rate", ".inf", ("learning_rate", "finite")),
            ("lora_alpha", "1e400", ("lora_alpha", "finite")),
            ("warmup_ratio", ".NaN", ("warmup_ratio", "finite")),
            ("max_steps", HUGE, ("max_steps", "<=")),
            ("max_steps", DIGITS, ("max_steps",)),
            ("max_steps", "1.0e+30", ("max_steps", "<=")),
            ("batch_size", "-.inf", ("batch_size",)),
            ("seed", HUGE, ("seed", "<=")),
            ("epochs", "1e308", ("epochs", "<=")),
            ("learning_rate", "[1, 2]", ("learning_rate", "float"))]:
        c[f"train: {key}={value[:12]}"] = lambda w, k=key, v=value, ws=words: (
            ["train", w.cfg, "--set", f"{k}={v}"], ws)
    c["train: a huge number in the config file"] = lambda w: (
        ["train", w.file("big.yaml", f"model: m\nmax_steps: {DIGITS}\n")], ("big.yaml", "digits"))
    c["train: deeply nested YAML"] = lambda w: (
        ["train", w.file("deep.yaml", "[" * 5000 + "]" * 5000)], ("deep.yaml",))
    # train: places, arguments
    c["train: output_dir on a read-only disk"] = lambda w: (
        ["train", w.cfg, "--set", f"output_dir={w.read_only() / 'r'}"],
        ("output_dir", "cannot be written"))
    c["train: output_dir below a file"] = lambda w: (
        ["train", w.cfg, "--set", f"output_dir={w.file('f') / 'r'}"], ("output_dir", "file"))
    c["train: --set without a value"] = lambda w: (
        ["train", w.cfg, "--set", "batch_size"], ("KEY=VALUE",))
    c["train: no config"] = lambda w: (["train"], ("config",))
    # resume
    c["resume: every checkpoint's weights truncated"] = lambda w: (
        ["resume", w.run, "--set", "max_steps=6"] if all(
            truncate(w.run / "checkpoints" / s / "trainable.safetensors")
            for s in ("step-2", "step-4")) else [],
        ("no intact checkpoint", "step-4", "trainable.safetensors", "step-2"))
    c["resume: optimizer states truncated / empty"] = lambda w: (
        ["resume", w.run, "--set", "max_steps=6"]
        if truncate(w.run / "checkpoints/step-4/optimizer.pt")
        and (truncate(w.run / "checkpoints/step-2/rng.pt", 0) or True) else [],
        ("no intact checkpoint", "optimizer.pt", "rng.pt"))
    c["resume: trainer_state garbled"] = lambda w: (
        ["resume", w.run, "--set", "max_steps=6"] if all(
            truncate(w.run / "checkpoints" / s / "trainer_state.json")
            for s in ("step-2", "step-4")) else [], ("trainer_state.json", "damaged"))
    c["resume: checkpoint weights are a named pipe"] = lambda w: (
        ["resume", w.run, "--set", "max_steps=6"] if all(
            replace_with_fifo(w.run / "checkpoints" / s / "trainable.safetensors")
            for s in ("step-2", "step-4")) else [], ("named pipe",))
    c["resume: run config is a named pipe"] = lambda w: (
        ["resume", w.run] if replace_with_fifo(w.run / "config.yaml") else [],
        ("config.yaml", "named pipe"))
    c["resume: base model truncated"] = lambda w: (
        ["resume", w.run, "--set", "max_steps=6"]
        if truncate(w.model / "model.safetensors") else [], ("model.safetensors", "damaged"))
    c["resume: max_steps=nan"] = lambda w: (
        ["resume", w.run, "--set", "max_steps=.nan"], ("max_steps",))
    c["resume: max_steps too big"] = lambda w: (
        ["resume", w.run, "--set", f"max_steps={HUGE}"], ("max_steps", "<="))
    c["resume: a key that may not change"] = lambda w: (
        ["resume", w.run, "--set", "learning_rate=1"], ("learning_rate",))
    c["resume: no run directory"] = lambda w: (["resume"], ("run_dir",))
    # check-data
    c["check-data: a named pipe"] = lambda w: (
        ["check-data", w.fifo("d.jsonl")], ("d.jsonl", "named pipe"))
    c["check-data: a link to an endless device"] = lambda w: (
        ["check-data", w.endless("d.csv")], ("d.csv", "device"))
    c["check-data: --max-length nan"] = lambda w: (
        ["check-data", w.data, "--model", w.model, "--max-length", "nan"], ("--max-length",))
    c["check-data: --max-length too big"] = lambda w: (
        ["check-data", w.data, "--model", w.model, "--max-length", HUGE],
        ("--max-length", "<="))
    c["check-data: --max-rows negative"] = lambda w: (
        ["check-data", w.data, "--max-rows", "-3"], ("--max-rows", "positive"))
    c["check-data: --max-rows overflows"] = lambda w: (
        ["check-data", w.data, "--max-rows", "9" * 30], ("--max-rows", "<="))
    c["check-data: --model with a truncated tokenizer"] = lambda w: (
        ["check-data", w.data, "--model", w.model] if truncate(w.model / "tokenizer.json")
        else [], ("tokenizer", str(w.model)))
    c["check-data: --model holding a named pipe"] = lambda w: (
        ["check-data", w.data, "--model", w.model]
        if replace_with_fifo(w.model / "tokenizer_config.json") else [], ("named pipe",))
    # inspect
    c["inspect: --text-file is a named pipe"] = lambda w: (
        ["inspect", "tokens", "--model", w.model, "--text-file", w.fifo("t.txt")],
        ("t.txt", "named pipe"))
    c["inspect: --text-file links to an endless device"] = lambda w: (
        ["inspect", "tokens", "--model", w.model, "--text-file", w.endless("t.txt")],
        ("t.txt", "device"))
    c["inspect: truncated model weights"] = lambda w: (
        ["inspect", "attention", "--model", w.model, "--text", "hi", "--out", w.root / "a.npz"]
        if truncate(w.model / "model.safetensors") else [], ("model.safetensors", "damaged"))
    c["inspect: truncated adapter weights"] = lambda w: (
        ["inspect", "attention", "--model", w.run, "--text", "hi", "--out", w.root / "a.npz"]
        if truncate(w.run / "adapter/adapter_model.safetensors") else [],
        ("adapter_model.safetensors", "damaged"))
    c["inspect: --layer does not fit"] = lambda w: (
        ["inspect", "embeddings", "--model", w.model, "--words", "a", "--layer", HUGE,
         "--out", w.root / "e.npz"], ("--layer", "<="))
    c["inspect: --out on a read-only disk"] = lambda w: (
        ["inspect", "attention", "--model", w.model, "--text", "hi", "--out",
         w.read_only() / "a.npz"], ("cannot be written",))
    c["inspect: --out is a named pipe"] = lambda w: (
        ["inspect", "attention", "--model", w.model, "--text", "hi", "--out", w.fifo("a.npz")],
        ("a.npz", "named pipe"))
    c["inspect: no WHAT"] = lambda w: (["inspect"], ("WHAT",))
    # chat
    c["chat: truncated adapter of a run"] = lambda w: (
        ["chat", "--run", w.run, "--prompt", "hi"]
        if truncate(w.run / "adapter/adapter_model.safetensors") else [],
        ("adapter_model.safetensors", "damaged"))
    c["chat: empty model weights"] = lambda w: (
        ["chat", "--model", w.model, "--prompt", "hi"]
        if truncate(w.model / "model.safetensors", 0) or True else [],
        ("model.safetensors", "empty"))
    c["chat: truncated checkpoint weights"] = lambda w: (
        ["chat", "--run", w.run, "--step", "2", "--prompt", "hi"]
        if truncate(w.run / "checkpoints/step-2/trainable.safetensors") else [],
        ("trainable.safetensors", "damaged"))
    c["chat: adapter config is a named pipe"] = lambda w: (
        ["chat", "--adapter", w.run / "adapter", "--prompt", "hi"]
        if replace_with_fifo(w.run / "adapter/adapter_config.json") else [],
        ("adapter_config.json", "named pipe"))
    for flag, value in [("--temperature", "nan"), ("--temperature", "inf"), ("--top-p", "inf"),
                        ("--max-new-tokens", HUGE), ("--seed", HUGE), ("--top-k", "-1"),
                        ("--repetition-penalty", "1e999")]:
        c[f"chat: {flag} {value[:8]}"] = lambda w, f=flag, v=value: (
            ["chat", "--model", w.model, "--prompt", "hi", f, v], (f,))
    c["chat: --step is not a number"] = lambda w: (
        ["chat", "--run", w.run, "--step", "two"], ("--step", "integer"))
    # export
    c["export: truncated adapter"] = lambda w: (
        ["export", w.run, "--to", w.root / "exp"]
        if truncate(w.run / "adapter/adapter_model.safetensors") else [],
        ("adapter_model.safetensors", "damaged"))
    c["export: truncated checkpoint"] = lambda w: (
        ["export", w.run, "--to", w.root / "exp", "--step", "2"]
        if truncate(w.run / "checkpoints/step-2/trainable.safetensors") else [],
        ("trainable.safetensors", "damaged"))
    c["export: truncated base model"] = lambda w: (
        ["export", w.run, "--to", w.root / "exp"]
        if truncate(w.model / "model.safetensors") else [], ("model.safetensors", "damaged"))
    c["export: --max-shard-size is not a size"] = lambda w: (
        ["export", w.run, "--to", w.root / "exp", "--max-shard-size", "lots"],
        ("--max-shard-size",))
    c["export: --max-shard-size overflows"] = lambda w: (
        ["export", w.run, "--to", w.root / "exp", "--max-shard-size", DIGITS + "GB"],
        ("--max-shard-size",))
    c["export: --step negative"] = lambda w: (
        ["export", w.run, "--to", w.root / "exp", "--step", "-1"], ("--step", ">="))
    c["export: --to on a read-only disk"] = lambda w: (
        ["export", w.run, "--to", w.read_only() / "exp"], ("writ",))
    c["export: --to below a file"] = lambda w: (
        ["export", w.run, "--to", w.file("f") / "exp"], ("f",))
    c["export: no --to"] = lambda w: (["export", w.run], ("--to",))
    # demo (checked before Qt starts)
    c["demo: --steps nan"] = lambda w: (["demo", "--steps", "nan"], ("--steps", "integer"))
    c["demo: --steps too big"] = lambda w: (["demo", "--steps", HUGE], ("--steps", "<="))
    c["demo: --screenshots on a read-only disk"] = lambda w: (
        ["demo", "--screenshots", w.read_only() / "shots", "--quit"], ("--screenshots",))
    c["demo: --workdir below a file"] = lambda w: (
        ["demo", "--workdir", w.file("f") / "work", "--quit"], ("--workdir", "file"))
    # eval
    c["eval: --data is a named pipe"] = lambda w: (
        ["eval", w.run, "--data", w.fifo("q.jsonl")], ("q.jsonl", "named pipe"))
    c["eval: no such run or model"] = lambda w: (
        ["eval", w.root / "nothing", "--data", "corpus"], ("nothing",))
    c["eval: --max-length nan"] = lambda w: (
        ["eval", w.run, "--data", "corpus", "--max-length", "nan"], ("--max-length",))
    # sweep
    c["sweep: config is a named pipe"] = lambda w: (
        ["sweep", w.fifo("s.yaml"), "--grid", "lora_r=4,8"], ("s.yaml", "named pipe"))
    c["sweep: a grid value out of range"] = lambda w: (
        ["sweep", w.cfg, "--grid", "learning_rate=.nan,1e-3"], ("learning_rate",))
    c["sweep: an unknown key"] = lambda w: (
        ["sweep", w.cfg, "--grid", "no_such_key=1,2"], ("no_such_key",))
    # compare
    c["compare: not a run"] = lambda w: (["compare", w.root / "nothing"], ("nothing",))
    c["compare: run config is a named pipe"] = lambda w: (
        ["compare", w.run] if replace_with_fifo(w.run / "config.yaml") else [],
        ("config.yaml", "named pipe"))
    # queue
    c["queue: add a config that is a named pipe"] = lambda w: (
        ["queue", "add", w.fifo("q.yaml"), "--root", w.root / "runs"], ("q.yaml", "named pipe"))
    c["queue: cancel an entry that does not exist"] = lambda w: (
        ["queue", "cancel", "q999", "--root", w.root / "runs"], ("q999",))
    return c


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_one_line_exit_2_and_changes_nothing(name, world):
    argv, words = CASES[name](world)
    assert argv, "the case could not damage its file"
    before = snapshot(world.root)
    code, out, err = run_cli(*argv)
    assert_refused(code, err, words)
    assert snapshot(world.root) == before


def test_every_sub_command_has_hostile_cases():
    from studio.cli import COMMANDS

    covered = {name.split(":")[0] for name in CASES}
    assert covered == {c.replace("_", "-") for c in COMMANDS}


# --- as real processes: the library noise of a model load stays off stderr ----------------------

def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "default"})


def test_an_error_after_the_model_loads_is_alone_on_stderr(world):
    # the checkpoint is found damaged after the base model and data are loaded (progress bars,
    # kernel notices and FutureWarnings come before it)
    truncate(world.run / "checkpoints/step-2/trainable.safetensors")
    before = snapshot(world.root)
    r = cli("chat", "--run", world.run, "--step", "2", "--prompt", "hi")
    assert_refused(r.returncode, r.stderr, ("trainable.safetensors", "damaged"))
    assert snapshot(world.root) == before


def test_resume_falls_back_past_a_damaged_checkpoint_and_finishes_at_the_planned_step(world):
    run = world.run
    truncate(run / "checkpoints/step-4/trainable.safetensors")
    r = cli("resume", run, "--set", "max_steps=6")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "skipped step-4" in r.stdout and "trainable.safetensors is damaged" in r.stdout
    status = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert status["status"] == "finished" and status["step"] == 6
    from studio.core import runs

    resumed = [m for m in runs.read_metrics(run) if getattr(m, "event", "") == "resumed"]
    assert resumed[-1].step == 2  # from the intact checkpoint
    steps = [m.step for m in runs.read_metrics(run) if getattr(m, "type", "") == "step"]
    assert steps[-1] == 6
