"""The Chat page on real tiny models: base and tuned side by side, streamed, stoppable, with the
probability view, checkpoints picked from the list or the loss curve; the GUI stays responsive."""

from __future__ import annotations

import time

import pytest
from loop_check import assert_responsive, idle_baseline
from PySide6.QtGui import QTextCursor

from studio.core.chat.engine import GenSettings
from studio.core.model.run_model import load_chat_models
from studio.services.chat_worker import ChatSource
from studio.services.latency import LatencyProbe
from studio.ui.chat.panel import ChatPanel

ASK = "What is 3 plus one?"


@pytest.fixture
def panel(qtbot):
    p = ChatPanel()
    qtbot.addWidget(p)
    p.resize(1200, 800)
    p.show()
    yield p
    p.shutdown()


def _load(qtbot, panel, src: ChatSource):
    with qtbot.waitSignal(panel.sig_loaded, timeout=120_000):
        panel.load_source(src)


def _ask(qtbot, panel, text=ASK, timeout=120_000):
    with qtbot.waitSignal(panel.sig_answered, timeout=timeout):
        assert panel.send(text)


def test_base_and_tuned_answer_side_by_side(qtbot, panel, trained_run, tmp_path):
    run = trained_run("lora")
    _load(qtbot, panel, ChatSource(run=str(run)))
    assert panel.loaded.shared and panel.sides() == ("tuned", "base")
    assert panel.view_boxes["base"].isVisible() and panel.view_boxes["tuned"].isVisible()
    panel.temperature.setValue(0.0)
    panel.max_tokens.setValue(12)
    _ask(qtbot, panel)
    expected = load_chat_models(run=run)
    msgs = [{"role": "user", "content": ASK}]
    greedy = GenSettings(temperature=0.0, max_new_tokens=12)
    for side in ("base", "tuned"):
        reply = expected.reply(side, msgs, greedy).text
        text = panel.text_of(side)
        assert text.startswith(f"You: {ASK}")
        assert f"{'Base' if side == 'base' else 'Tuned'}: {reply}" in text
        assert "tokens/s" in text
    assert panel.text_of("base") != panel.text_of("tuned")
    # the next question carries the history on each side
    _ask(qtbot, panel, "And 4?")
    assert panel.conv["tuned"].turns[0]["content"] == ASK and len(panel.conv["tuned"].turns) == 4
    panel.grab().save(str(tmp_path / "chat_panel.png"))
    assert (tmp_path / "chat_panel.png").stat().st_size > 10_000


def test_stays_responsive_while_generating_and_stop_works(qtbot, panel, trained_run,
                                                          monkeypatch):
    _load(qtbot, panel, ChatSource(run=str(trained_run("lora"))))
    long_reply = GenSettings(temperature=0.0, max_new_tokens=4000, min_new_tokens=4000)
    monkeypatch.setattr(panel, "settings", lambda: long_reply)
    idle = idle_baseline(qtbot)
    probe = LatencyProbe()
    probe.start()
    started = time.perf_counter()
    assert panel.send(ASK)
    qtbot.waitUntil(lambda: len(panel.text_of("tuned")) > 200, timeout=60_000)
    assert panel.stop_button.isEnabled() and not panel.send_button.isEnabled()
    qtbot.wait(1000)  # streaming on
    with qtbot.waitSignal(panel.sig_answered, timeout=10_000):
        panel.stop_button.click()
    probe.stop()
    assert "stopped" in panel.text_of("tuned")
    assert "Base:" not in panel.text_of("base")  # the stop also cancelled the base answer
    assert panel.send_button.isEnabled() and not panel.stop_button.isEnabled()
    print("chat streaming:", assert_responsive(probe, time.perf_counter() - started, idle))


def test_probability_view_colours_tokens_with_alternatives(qtbot, panel, tiny_model_dir):
    _load(qtbot, panel, ChatSource(model=str(tiny_model_dir)))
    panel.probs_box.setChecked(True)
    panel.temperature.setValue(0.0)
    panel.max_tokens.setValue(10)
    _ask(qtbot, panel)
    view = panel.views["base"]
    assert 1 <= len(view.chunks) <= 10
    tip = view.tooltip_for("tok:0")
    assert "p = " in tip and tip.count("<br>") == 5  # the token, then 5 alternatives
    start = view.toPlainText().index("Base: ") + len("Base: ")
    cursor = QTextCursor(view.document())
    cursor.setPosition(start + 1)
    fmt = cursor.charFormat()
    assert fmt.isAnchor() and fmt.anchorHref() == "tok:0"
    assert fmt.background().color().isValid()
    assert view.tooltip_for("tok:999") == "" and view.tooltip_for("http://x") == ""


def test_plain_model_answers_alone(qtbot, panel, tiny_model_dir):
    _load(qtbot, panel, ChatSource(model=str(tiny_model_dir)))
    assert panel.sides() == ("base",) and not panel.compare_box.isEnabled()
    assert panel.view_boxes["base"].isVisible() and not panel.view_boxes["tuned"].isVisible()
    panel.max_tokens.setValue(5)
    _ask(qtbot, panel)
    assert "Base: " in panel.text_of("base") and panel.text_of("tuned") == ""


def test_checkpoints_from_the_list_and_the_curve(qtbot, panel, trained_run):
    run = trained_run("lora")
    picker = panel.picker
    assert picker.add_source(run)
    qtbot.waitUntil(lambda: picker.step_combo.count() == 3, timeout=20_000)
    assert [picker.step_combo.itemText(i) for i in range(3)] == ["final", "step 4", "step 2"]
    assert [s for _, _, s in picker.checkpoint_points()] == [2, 4]
    assert picker.curve_box.isVisible()
    with qtbot.waitSignal(panel.sig_loaded, timeout=120_000) as sig:
        picker.click_checkpoint(2)
    assert sig.args[0].source.step == 2 and sig.args[0].label.endswith("step 2)")
    picker.refresh()  # what showing the page again does: the choice stays
    qtbot.wait(500)
    qtbot.waitUntil(lambda: picker.step_combo.count() == 3, timeout=20_000)
    assert picker.step_combo.currentData() == 2 and picker.current_source().run == str(run)


def test_runs_under_the_runs_folder_are_listed(qtbot, panel, trained_run):
    from studio.ui import prefs

    run = trained_run("lora")
    prefs.set_runs_root(str(run.parent))
    panel.picker.refresh()
    qtbot.waitUntil(lambda: panel.picker.source_combo.count() >= 1, timeout=20_000)
    assert panel.picker.source_combo.itemData(0) == ("run", str(run))
    assert not panel.picker.add_source(run.parent / "nope")
    assert "not a run, model or adapter folder" in panel.status.text()


def test_load_errors_are_shown_not_raised(qtbot, panel, tmp_path):
    with qtbot.waitSignal(panel.service.sig_error, timeout=30_000):
        panel.load_source(ChatSource(run=str(tmp_path / "missing")))
    assert "not found" in panel.status.text()
    assert not panel.send("hello")  # nothing loaded: nothing sent


def test_a_dpo_run_answers_beside_the_sft_model_it_started_from(qtbot, panel, trained_run,
                                                                tmp_path):
    """SFT, then DPO on the SFT model: the page shows the SFT model (the DPO run's reference)
    and the DPO model side by side."""
    import json

    from studio.core import config
    from studio.core.train import trainer

    sft_model = trained_run("full") / "model"
    rows = [{"prompt": f"What is {i} plus one?", "chosen": f"It is {i + 1}.",
             "rejected": "I do not know."} for i in range(8)]
    data = tmp_path / "pairs.json"
    data.write_text(json.dumps(rows), encoding="utf-8")
    cfg = config.from_dict(dict(model=str(sft_model), dataset=str(data), stage="dpo",
                                method="lora", target_modules="all-linear,lm_head",
                                output_dir=str(tmp_path / "dpo"), max_steps=2, batch_size=4,
                                eval_split=0.0, max_length=64, learning_rate=1e-2))
    assert trainer.train(cfg).status == "finished"
    _load(qtbot, panel, ChatSource(run=str(tmp_path / "dpo")))
    assert panel.loaded.stage == "dpo" and panel.sides() == ("tuned", "base")
    assert panel.view_boxes["base"].title().startswith("Before DPO")
    panel.temperature.setValue(0.0)
    panel.max_tokens.setValue(8)
    _ask(qtbot, panel)
    expected = load_chat_models(run=tmp_path / "dpo")
    greedy = GenSettings(temperature=0.0, max_new_tokens=8)
    base = expected.reply("base", [{"role": "user", "content": ASK}], greedy).text
    sft = load_chat_models(model=str(sft_model)).reply(
        "base", [{"role": "user", "content": ASK}], greedy).text
    assert base == sft and f"Base: {base}" in panel.text_of("base")  # the SFT model answers


def test_a_hub_id_typed_in_loads_from_the_cache_offline(qtbot, panel, hub_cache):
    panel.picker.hub_edit.setText(hub_cache)
    with qtbot.waitSignal(panel.sig_loaded, timeout=120_000):
        panel.picker.hub_edit.returnPressed.emit()
    assert panel.loaded.source.model == hub_cache
    panel.temperature.setValue(0.0)
    panel.max_tokens.setValue(3)
    _ask(qtbot, panel)
    assert panel.text_of("tuned") or panel.text_of("base")


def test_a_hub_download_shows_progress_and_stop_cancels_it(qtbot, panel, slow_hub, tmp_path):
    # byte counting and resume: tests/core/model/test_hub.py; here the page's part of it, on a
    # real download (in the engine host) that waits at 3/4 until Stop was pressed
    panel.picker.hub_edit.setText(slow_hub.repo)
    panel.picker.hub_edit.returnPressed.emit()
    qtbot.waitUntil(lambda: "75%" in panel.status.text(), timeout=60_000)
    assert "Downloading" in panel.status.text() and panel.stop_button.isEnabled()
    panel.grab().save(str(tmp_path / "chat-download.png"))
    with qtbot.waitSignal(panel.service.sig_error, timeout=30_000):
        panel.stop_button.click()
        slow_hub.release.set()  # the rest arrives: the download sees the stop at its next read
    assert "stopped" in panel.status.text() and panel.loaded is None
