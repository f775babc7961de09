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


def test_run_buttons_follow_the_selected_runs_state_and_name_it(qtbot):
    page = WelcomePage()
    qtbot.addWidget(page)
    page.show()
    assert page.runs_empty.isVisible()  # no runs: it says what to do
    page.set_runs([_summary("done", "finished"), _summary("cut", "stopped")])
    assert not page.runs_empty.isVisible()
    assert page.chat_button.isEnabled() and page.export_button.isEnabled()
    assert not page.resume_button.isEnabled()  # a finished run has nothing to resume
    with qtbot.waitSignal(page.sig_chat_run) as blocker:
        page.chat_button.click()
    assert blocker.args == [str(Path("/runs") / "done")]
    page.runs.setCurrentRow(1)
    assert page.resume_button.isEnabled() and not page.chat_button.isEnabled()
    with qtbot.waitSignal(page.sig_resume_run) as blocker:
        page.resume_button.click()
    assert blocker.args == [str(Path("/runs") / "cut")]


def test_the_machine_card_shows_what_fits_and_each_problem_with_its_fix(qtbot):
    from studio.core.environment import Environment, Fit, Problem

    page = WelcomePage()
    qtbot.addWidget(page)
    env = Environment("2.13.0+cpu", None, "cuda", "RTX 4080", 16376.0, "0.50.2", 900.0, "/r",
                      fits=[Fit("LoRA on 7B", 16880.0, False), Fit("QLoRA on 7B", 7192.0, True)],
                      problems=[Problem("only 0.9 GB free", "free some space")])
    page.set_environment(env)
    text = page.machine.facts.text()
    assert "RTX 4080" in text and "LoRA on 7B: no (16.5 GB)" in text
    assert "QLoRA on 7B: yes (7.0 GB)" in text
    assert "only 0.9 GB free" in page.machine.problems.text()
    assert "Fix: free some space" in page.machine.problems.text()
