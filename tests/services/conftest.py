"""Each Qt test gets its own settings file (never the user's) and runs in its own folder."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def gui_thread_gc(qapp):
    """As in the app: cyclic garbage is collected in the GUI thread only (core/gc_policy.py)."""
    from studio.services.gc_collector import GuiThreadCollector

    if not hasattr(qapp, "gc_collector"):
        qapp.gc_collector = GuiThreadCollector(qapp).start()
    yield


@pytest.fixture(autouse=True)
def studio_settings(tmp_path, monkeypatch):
    path = tmp_path / "settings.ini"
    monkeypatch.setenv("STUDIO_SETTINGS", str(path))
    monkeypatch.chdir(tmp_path)  # the default runs folder "runs" lands in the test's folder
    return path
