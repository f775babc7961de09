"""The Data page's field mapping panel: a file of unknown shape opens it with the doctor's
proposal applied; a role changed there re-reads the rows (table, preview, problems, lengths),
goes into the run's config and is remembered for the file; a bad mapping is one line."""

import json
from pathlib import Path

import pytest

from studio.ui import prefs
from studio.ui.data.panel import DataPanel


def _write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def _rows(n: int = 12) -> list:
    """`title` looks like the prompt and `body` like the reply; the real reply is `answer_v2`
    (longer), empty in row 3."""
    return [{"title": f"Ticket {i}: printer jams", "body": "See the manual.",
             "answer_v2": "" if i == 2 else f"Open tray {i}, remove the paper, close it again, "
                                            "then print a test page to check the rollers."}
            for i in range(n)]


@pytest.fixture
def panel(qtbot):
    p = DataPanel()
    qtbot.addWidget(p)
    p.resize(1300, 850)
    p.show()
    yield p
    p.shutdown()


def _wait(qtbot, panel, lengths=False, timeout=60000):
    def done():
        ok = panel._report is not None and not panel.doctor.busy()
        return ok and (not lengths or (panel.doctor.lengths is not None
                                       and panel.doctor.lengths.done))
    qtbot.waitUntil(done, timeout=timeout)
    return panel._report


def _combo(panel, field):
    m = panel.mapping
    return m._combos[[f.path for f in m._fields].index(field)]


def test_unknown_shape_opens_the_panel_with_the_proposal(qtbot, panel, tmp_path):
    path = _write_jsonl(tmp_path / "tickets.jsonl", _rows())
    panel.open_file(str(path))
    r = _wait(qtbot, panel)
    assert r.columns == "prompt=title,response=body" and r.good_rows == 12
    assert panel.mapping.isVisible() and panel.map_button.isChecked()
    assert "could not tell the shape" in panel.mapping.intro.text()
    assert panel.mapping.text.text() == "prompt=title,response=body"
    assert panel.draft.get("columns") == "prompt=title,response=body"
    assert [f.path for f in panel.mapping._fields] == ["title", "body", "answer_v2"]
    assert panel.mapping.table.item(0, 1).text() == "Ticket 0: printer jams"
    assert _combo(panel, "title").currentData() == "prompt"
    assert panel.rows.summary(0).reply == "See the manual."
    assert "through the field mapping" in panel.format_value.text()


def test_a_role_change_updates_preview_problems_lengths_and_is_remembered(
        qtbot, panel, tmp_path, tiny_model_dir):
    path = _write_jsonl(tmp_path / "tickets.jsonl", _rows())
    panel.draft.update(model=str(tiny_model_dir))
    panel.open_file(str(path))
    _wait(qtbot, panel, lengths=True)
    before = int(panel.doctor.lengths.lengths.max())
    qtbot.waitUntil(lambda: "See the manual." in panel.preview.toPlainText(), timeout=30000)

    _combo(panel, "body").setCurrentIndex(0)  # "—": prompt alone is not a mapping yet
    assert panel.mapping.error.text() == "columns: prompt needs response (the reply to learn)"
    assert panel.draft.get("columns") == "prompt=title,response=body"  # nothing half-made
    combo = _combo(panel, "answer_v2")
    combo.setCurrentIndex(combo.findData("response"))

    r = _wait(qtbot, panel, lengths=True)
    assert r.columns == "prompt=title,response=answer_v2"
    assert panel.draft.get("columns") == "prompt=title,response=answer_v2"
    assert not panel.mapping.error.isVisible()
    assert panel.problems.stringList() == ["row 3: empty assistant reply (field 'answer_v2')"]
    assert int(panel.doctor.lengths.lengths.max()) > before  # the longer replies are measured
    panel.jump_to_row(2)
    qtbot.waitUntil(lambda: "Open tray 1, remove the paper" in panel.preview.toPlainText(),
                    timeout=30000)
    panel.grab().save(str(tmp_path / "mapping_panel.png"))  # looked at while writing this test
    assert prefs.remembered_columns(str(path)) == "prompt=title,response=answer_v2"

    again = DataPanel()  # the file opened again, later: read with the mapping chosen for it
    qtbot.addWidget(again)
    try:
        again.open_file(str(path))
        assert _wait(qtbot, again).columns == "prompt=title,response=answer_v2"
        assert again.draft.get("columns") == "prompt=title,response=answer_v2"
    finally:
        again.shutdown()


def test_a_bad_mapping_typed_by_hand_is_one_line_and_not_applied(qtbot, panel, tmp_path):
    panel.open_file(str(_write_jsonl(tmp_path / "tickets.jsonl", _rows())))
    _wait(qtbot, panel)
    panel.mapping.text.setText("prompt=title,prompt=body,response=answer_v2")
    panel.mapping.text.editingFinished.emit()
    assert panel.mapping.error.text() == \
        "columns: role prompt is assigned twice (title and body)"
    assert panel.draft.get("columns") == "prompt=title,response=body"


def test_a_mapped_field_missing_from_the_file_is_named(qtbot, panel, tmp_path):
    panel.open_file(str(_write_jsonl(tmp_path / "tickets.jsonl", _rows())))
    _wait(qtbot, panel)
    panel.draft.update(columns="prompt=titel,response=body")  # from a config, say
    qtbot.waitUntil(lambda: "titel" in panel.notice.text(), timeout=30000)
    assert panel.notice.text().startswith("columns: field 'titel' (prompt) is in none of the "
                                          "first 12 rows; row 1 has fields: title, body")


def test_known_shapes_keep_the_panel_closed_until_asked(qtbot, panel, tmp_path):
    rows = [{"conversation": [{"human": "你好", "assistant": "你好！"}]} for _ in range(3)]
    panel.open_file(str(_write_jsonl(tmp_path / "conv.jsonl", rows)))
    r = _wait(qtbot, panel)
    assert r.columns == "messages=conversation,user_tag=human,assistant_tag=assistant"
    assert not panel.mapping.isVisible() and panel.draft.get("columns") == ""
    panel.map_button.click()
    assert panel.mapping.isVisible()
    assert _combo(panel, "conversation").currentData() == "messages"


def test_a_config_with_its_own_mapping_wins_over_the_remembered_one(qtbot, panel, tmp_path):
    path = _write_jsonl(tmp_path / "tickets.jsonl", _rows())
    prefs.remember_columns(str(path), "prompt=title,response=body")
    panel.draft.update(dataset=str(path), columns="prompt=title,response=answer_v2")
    assert _wait(qtbot, panel).columns == "prompt=title,response=answer_v2"
    assert panel.mapping.text.text() == "prompt=title,response=answer_v2"


def test_a_role_changed_beside_a_turn_list_keeps_its_tags(qtbot, panel, tmp_path):
    rows = [{"intro": f"You are agent {i}.",
             "data": {"dialog": [{"ask_text": f"Order {i}?", "reply_text": "Shipped."}]}}
            for i in range(4)]
    panel.open_file(str(_write_jsonl(tmp_path / "nested.jsonl", rows)))
    tags = "user_tag=ask_text,assistant_tag=reply_text"
    assert _wait(qtbot, panel).columns == f"messages=data.dialog,{tags}"
    combo = _combo(panel, "intro")
    combo.setCurrentIndex(combo.findData("system"))
    r = _wait(qtbot, panel)
    assert r.columns == f"system=intro,messages=data.dialog,{tags}" and r.good_rows == 4
    assert panel.rows.summary(0).sample.messages[0].content == "You are agent 0."


def test_a_turn_list_chosen_again_gets_the_proposed_tags(qtbot, panel, tmp_path):
    rows = [{"q": f"Question {i}?", "a": "Answer.",
             "data": {"dialog": [{"ask_text": f"Order {i}?", "reply_text": "Shipped."}]}}
            for i in range(4)]
    panel.open_file(str(_write_jsonl(tmp_path / "both.jsonl", rows)))
    proposed = "messages=data.dialog,user_tag=ask_text,assistant_tag=reply_text"
    assert _wait(qtbot, panel).columns == proposed
    for field, role in (("q", "prompt"), ("a", "response"), ("data.dialog", "")):
        combo = _combo(panel, field)
        combo.setCurrentIndex(combo.findData(role))
    assert _wait(qtbot, panel).columns == "prompt=q,response=a"
    for field in ("q", "a"):
        _combo(panel, field).setCurrentIndex(0)
    assert panel.mapping.error.text().startswith("No field has a role yet")
    combo = _combo(panel, "data.dialog")
    combo.setCurrentIndex(combo.findData("messages"))
    assert _wait(qtbot, panel).columns == proposed and panel.draft.get("columns") == proposed
