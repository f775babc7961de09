"""The welcome page: the way in, and the recent runs."""

from pathlib import Path

from studio.core.runs import RunSummary
from studio.ui.welcome import WelcomePage


def _summary(name: str, status: str) -> RunSummary:
    return RunSummary(run_dir=Path("/runs") / name, status=status, step=20, total_steps=20,
                      method="lora", model="m", dataset="d", started=1_700_000_000.0)


def test_recent_runs_show_when_there_are_some_and_open_on_double_click(qtbot):
    page = WelcomePage()
    qtbot.addWidget(page)
    page.show()
    assert not page.runs.isVisible()  # nothing to show yet
    page.set_runs([_summary("b", "finished"), _summary("a", "stopped")])
    assert page.runs.isVisible() and page.runs.count() == 2
    assert page.runs.item(0).text().startswith("b   ·   finished   ·   20/20   ·   lora")
    with qtbot.waitSignal(page.sig_open_run) as blocker:
        page.runs.itemDoubleClicked.emit(page.runs.item(1))
    assert blocker.args == [str(Path("/runs") / "a")]


def test_buttons_lead_into_the_app(qtbot):
    page = WelcomePage()
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.sig_tour):
        page.tour_button.click()
