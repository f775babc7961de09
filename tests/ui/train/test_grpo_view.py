"""Stage grpo on the Train page: reward, KL, clip and length curves (a curve per reward), the
current group's completions, and the question before a reward file runs."""

import dataclasses
import json

import pytest
from PySide6.QtWidgets import QMessageBox

from studio.core import config
from studio.core.events import StepMetrics
from studio.ui.train.completions_view import CompletionsView
from studio.ui.train.plots import PlotsView
from studio.ui.train.reward_trust import trust_reward_file


def grpo_step(i):
    return StepMetrics(step=i, loss=0.01, lr=1e-3, grad_norm=0.5, tokens=10, tokens_per_s=50.0,
                       mem_mb=100.0, total_steps=20, reward=0.1 * i, reward_std=0.05, kl=0.01 * i,
                       clip_fraction=0.02, completion_length=12.0 - i * 0.5,
                       rewards={"format": {"mean": 0.05 * i, "std": 0.1},
                                "ends_turn": {"mean": 0.5, "std": 0.4}})


def drawn(curve) -> int:
    x = curve.getData()[0]
    return 0 if x is None else len(x)


GROUP = {"step": 7, "row": 3, "prompt": "What colour is the sky? Reply as: Answer: <word>",
         "reference": "blue", "completions": [
             {"text": "Aswer blue", "tokens": 4, "ended": True,
              "rewards": {"format": 0.31, "ends_turn": 1.0}, "total": 0.51, "advantage": 1.2},
             {"text": "Answer: blue", "tokens": 5, "ended": True,
              "rewards": {"format": 1.0, "ends_turn": 1.0}, "total": 1.2, "advantage": 1.6},
             {"text": "天空很好看", "tokens": 8, "ended": False,
              "rewards": {"format": 0.0, "ends_turn": 0.0}, "total": 0.0, "advantage": -1.1}]}


def test_grpo_steps_draw_each_reward_kl_clip_and_length(qtbot, tmp_path):
    view = PlotsView()
    qtbot.addWidget(view)
    view.resize(900, 900)
    for i in range(1, 11):
        view.add_step(grpo_step(i))
    qtbot.waitUntil(lambda: drawn(view.curves["reward"]) == 10, timeout=10_000)
    assert view.preference_shown and view.grpo_shown
    assert view.points("kl") == 10 and view.points("clip_fraction") == 10
    assert view.points("completion_length") == 10
    x, y = view._part_curves["format"].getData()
    assert list(x) == list(range(1, 11)) and y[-1] == pytest.approx(0.5)
    title = view.plots["rewards"].titleLabel.text
    assert "format" in title and "ends_turn" in title and "total reward" in title
    view.grab().save(str(tmp_path / "grpo_plots.png"))
    # a resume from step 5 redoes the later points of every reward too
    view.add_step(dataclasses.replace(grpo_step(5), reward=9.0))
    view.redraw()
    assert view.points("reward") == 5 and len(view.live.reward_parts["format"]) == 5
    view.clear()
    assert not view.grpo_shown and not view._part_curves


def test_the_group_panel_lists_completions_best_first(qtbot, tmp_path):
    panel = CompletionsView()
    qtbot.addWidget(panel)
    panel.resize(700, 300)
    panel.show_group(GROUP, {"format": {"mean": 0.44, "std": 0.5}})
    assert panel.table.rowCount() == 3
    assert panel.table.item(0, 0).text() == "Answer: blue\nformat 1.00, ends_turn 1.00"
    assert panel.table.item(2, 0).text().split("\n")[0].endswith("…")  # cut at the limit
    assert panel.table.item(0, 2).text() == "+1.60"
    assert "Reference answer: blue" in panel.header.text() and "format 0.440" in \
        panel.header.text()
    panel.grab().save(str(tmp_path / "grpo_group.png"))


def test_the_app_asks_before_a_reward_file_runs(qtbot, tmp_path, monkeypatch):
    f = tmp_path / "r.py"
    f.write_text("def mine(completion, prompt, reference):\n    return 1.0\n")
    cfg = config.from_dict({"model": "m", "dataset": "d", "stage": "grpo",
                            "grpo_rewards": "mine", "grpo_reward_file": str(f)})
    asked = []

    class Draft:
        def update(self, **kw):
            asked.append(("draft", kw))

    def answer(allow):
        def exec_(box):
            asked.append(box.text())
            wanted = "Allow this file" if allow else "Don't allow"
            box.setProperty("clicked", wanted)
            for b in box.buttons():
                if b.text() == wanted:
                    b.click()
            return 0
        return exec_

    monkeypatch.setattr(QMessageBox, "exec", answer(False))
    assert trust_reward_file(None, cfg, Draft()) is None
    import hashlib

    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    assert str(f) in asked[0] and digest in asked[0]
    monkeypatch.setattr(QMessageBox, "exec", answer(True))
    allowed = trust_reward_file(None, cfg, Draft())
    assert allowed.grpo_reward_file_sha256 == digest
    assert ("draft", {"grpo_reward_file_sha256": digest}) in asked
    asked.clear()
    assert trust_reward_file(None, allowed, Draft()) is allowed and not asked  # asked once
    f.write_text(json.dumps("changed"))
    monkeypatch.setattr(QMessageBox, "exec", answer(False))
    assert trust_reward_file(None, allowed, Draft()) is None  # a changed file asks again
