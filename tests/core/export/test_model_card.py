"""The model card of an export: base, method, data name and hash, hyperparameters, final eval
loss and the command that trains it again."""

from __future__ import annotations

import json
from pathlib import Path

from studio.core import runs
from studio.core.export.folder import export
from studio.core.export.model_card import data_info, file_sha256


def test_model_card_says_what_was_trained(trained_run, tmp_path):
    run = trained_run("lora")
    export(run, tmp_path / "a", fmt="adapter")
    card = (tmp_path / "a" / "README.md").read_text(encoding="utf-8")
    cfg = runs.load_config(runs.open_run(run))
    assert cfg.model in card and "| Method | lora |" in card
    assert file_sha256(Path(cfg.dataset)) in card
    assert "chat.jsonl" in card and "same file the run trained on" in card
    last_eval = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()
                 if '"eval"' in x][-1]
    assert f"{last_eval['eval_loss']:.4f}" in card
    assert "python main.py train config.yaml" in card
    assert "| lora_r | 4 |" in card and "| learning_rate | 0.01 |" in card
    assert (tmp_path / "a" / "config.yaml").read_text() == (run / "config.yaml").read_text()


def test_a_changed_or_missing_dataset_is_flagged(trained_run, tmp_path):
    import shutil

    run = trained_run("lora")
    cfg = runs.load_config(runs.open_run(run))
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    moved = cfg.replace(dataset=str(tmp_path / "gone.jsonl"))
    assert "no longer at this path" in data_info(moved, runs.RunDir(copy)).note
    changed = tmp_path / "changed.jsonl"
    changed.write_text(Path(cfg.dataset).read_text() + "\n")
    info = data_info(cfg.replace(dataset=str(changed)), runs.RunDir(copy))
    assert info.note.startswith("CHANGED") and info.sha256 == file_sha256(changed)
