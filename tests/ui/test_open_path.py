"""`studio --open PATH` (the desktop's "Open with Studio"): a dataset opens on the Data page,
a run folder on the Train page, anything else is one line in the status bar."""

from studio.paths import resource


def test_open_path_routes_datasets_runs_and_refuses_the_rest(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_SETTINGS", str(tmp_path / "settings.ini"))
    from studio.app import Studio, create_app

    create_app([], lang="en")
    studio = Studio()
    qtbot.addWidget(studio.window)
    (tmp_path / "notes.bin").write_bytes(b"\0")
    studio.open_path(str(tmp_path / "notes.bin"))
    assert studio.window.status.currentMessage().startswith("Cannot open")
    assert "not a dataset file or a run folder" in studio.window.status.currentMessage()
    studio.open_path(str(resource("samples", "identity_zh_en.json")))
    assert studio.window.current_page() == "data"
    assert studio.session.draft.get("dataset").endswith("identity_zh_en.json")
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    studio.open_path(str(run))
    assert studio.window.current_page() == "train"
