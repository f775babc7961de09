"""The main window: pages in workflow order, drag-and-drop routing, closing during a run."""

from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QLabel

from studio.services.session import Session
from studio.ui.main_window import MainWindow


def _drop(widget, path: Path) -> tuple[bool, bool]:
    """Send a real drag-enter + drop of `path`; returns (enter accepted, drop accepted)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    drop = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    return enter.isAccepted(), drop.isAccepted()


def test_pages_take_their_workflow_place_whatever_order_they_are_added(qtbot):
    w = MainWindow(Session())
    qtbot.addWidget(w)
    for key in ("train", "welcome", "chat", "data"):
        w.add_page(key, key.title(), QLabel(key))
    assert w.page_keys() == ["welcome", "data", "train", "chat"]
    assert w.show_page("data") is w.page("data")
    assert w.current_page() == "data"
    w.add_page("data", "Data 2", QLabel("again"))  # replacing keeps one tab
    assert w.page_keys() == ["welcome", "data", "train", "chat"]
    assert [a.text() for a in w.view_menu.actions()] == ["Welcome", "Data 2", "Train", "Chat"]


def test_a_lazy_page_is_built_once_when_its_tab_is_first_shown_or_it_is_asked_for(qtbot):
    w = MainWindow(Session())
    qtbot.addWidget(w)
    built: list[str] = []

    def builder(key):
        return lambda: (built.append(key), QLabel(key))[1]

    w.add_page("welcome", "Welcome", QLabel("welcome"))
    for key in ("chat", "train", "data"):
        w.add_lazy_page(key, key.title(), builder(key))
    w.show()
    assert built == []  # added and painted: nothing built
    assert w.page_keys() == ["welcome", "data", "train", "chat"]
    assert w.built_page("data") is None and w.current_page() == "welcome"
    w.tabs.setCurrentIndex(1)  # the user clicks the Data tab
    assert built == ["data"] and w.current_page() == "data"
    assert w.built_page("data").text() == "data" and w.built_page("data").isVisible()
    w.view_menu.actions()[3].trigger()  # View > Chat
    assert built == ["data", "chat"] and w.current_page() == "chat"
    train = w.page("train")  # code asks for it: built, not shown
    assert built == ["data", "chat", "train"] and w.current_page() == "chat"
    assert w.show_page("train") is train and w.page("train") is train
    w.tabs.setCurrentIndex(1)
    assert built == ["data", "chat", "train"]  # each once
    assert w.page("missing") is None
    w.add_lazy_page("export", "Export", builder("export"))
    w.add_page("export", "Export", QLabel("made"))  # a built page replaces a lazy one
    assert w.page("export").text() == "made" and "export" not in built
    assert w.page_keys() == ["welcome", "data", "train", "chat", "export"]


def test_dropping_a_dataset_file_anywhere_emits_its_path(qtbot, tmp_path):
    w = MainWindow(Session())
    qtbot.addWidget(w)
    w.show()
    data = tmp_path / "rows.jsonl"
    data.write_text('{"instruction": "hi", "output": "hello"}\n', encoding="utf-8")
    with qtbot.waitSignal(w.sig_file_dropped, timeout=2000) as blocker:
        entered, dropped = _drop(w, data)
    assert entered and dropped
    assert blocker.args == [str(data)]


def test_every_dataset_file_type_the_engine_reads_is_accepted(qtbot, tmp_path):
    from studio.core.data.load import file_type_of
    from studio.core.data.types import FILE_TYPES

    w = MainWindow(Session())
    qtbot.addWidget(w)
    got = []
    w.sig_file_dropped.connect(got.append)
    for suffix in FILE_TYPES:
        data = tmp_path / f"rows{suffix.upper()}"  # the suffix's case does not matter
        data.write_text("{}\n", encoding="utf-8")
        file_type_of(data)  # the engine reads it (else DataError)
        _drop(w, data)
    assert got == [str(tmp_path / f"rows{s.upper()}") for s in FILE_TYPES]
    assert {".tsv", ".ndjson"} <= set(FILE_TYPES)


def test_dropping_another_file_type_says_what_studio_opens(qtbot, tmp_path):
    w = MainWindow(Session())
    qtbot.addWidget(w)
    paper = tmp_path / "paper.pdf"
    paper.write_bytes(b"%PDF-1.4")
    got = []
    w.sig_file_dropped.connect(got.append)
    _drop(w, paper)
    assert got == []
    assert w.last_message is not None
    assert "paper.pdf" in w.last_message.text() and ".jsonl" in w.last_message.text()
    w.last_message.close()


def test_dropping_a_run_folder_asks_to_follow_it(qtbot, tmp_path):
    w = MainWindow(Session())
    qtbot.addWidget(w)
    run = tmp_path / "run-1"
    run.mkdir()
    (run / "metrics.jsonl").write_text("")
    with qtbot.waitSignal(w.sig_follow_requested, timeout=2000) as blocker:
        _drop(w, run)
    assert blocker.args == [str(run)]


def test_closing_during_an_in_app_run_stops_it_first(qtbot, monkeypatch):
    s = Session()
    w = MainWindow(s)
    qtbot.addWidget(w)
    w.show()
    asked = []
    monkeypatch.setattr(w, "confirm_close_during_run", lambda: asked.append(1) or True)
    stopped = []
    monkeypatch.setattr(s, "stop", lambda: stopped.append(1))
    s.state = "running"  # as while a run trains
    assert not w.close()  # refused for now: the run checkpoints first
    assert asked == [1] and stopped == [1]
    s._set_state("idle")  # the run has stopped: the window closes by itself
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=2000)


def test_status_bar_shows_the_run_state(qtbot):
    s = Session()
    w = MainWindow(s)
    qtbot.addWidget(w)
    s._set_state("following")
    assert w.status.run_label.text() == "Following a run"


def test_choosing_a_language_is_saved_and_offers_a_restart(qtbot):
    from studio.ui import i18n

    s = Session()
    w = MainWindow(s)
    qtbot.addWidget(w)
    w.choose_language("zh_CN")
    assert i18n.chosen_language() == "zh_CN"
    box = w.last_message
    assert "starts again" in box.text()
    restart = next(b for b in box.buttons() if b.text() == "Restart now")
    assert restart.isEnabled()
    box.close()
    s.state = "running"  # no restart in the middle of a run
    w.choose_language("en")
    restart = next(b for b in w.last_message.buttons() if b.text() == "Restart now")
    assert not restart.isEnabled()
    w.last_message.close()
    s.state = "idle"


def test_errors_show_the_reason_with_details_a_click_away(qtbot):
    from studio.core.errors import DataError
    from studio.ui.errors import show_exception

    w = MainWindow(Session())
    qtbot.addWidget(w)
    box = show_exception(w, DataError("row 7: 'output' is empty"))
    assert box.text() == "row 7: 'output' is empty" and box.detailedText() == ""
    box.close()
    try:
        {}["nope"]
    except KeyError as e:
        box = show_exception(w, e)
    assert box.text() == "KeyError: 'nope'"
    assert "Traceback" in box.detailedText()
    assert box.isVisible()  # open(), not exec(): the window keeps running
    box.close()
