"""English and Simplified Chinese: every UI string translated, the compiled .qm current."""

import pytest
from PySide6.QtCore import QCoreApplication

from studio.services.session import Session
from studio.ui import i18n
from studio.ui.main_window import MainWindow


def test_every_ui_string_has_a_chinese_translation_and_the_qm_is_current():
    problems = i18n.build(check_only=True)
    assert not problems, ("add these to resources/i18n/zh_CN.json, then run "
                          "`python -m studio.ui.i18n`: " + "; ".join(problems[:20]))


def test_placeholders_survive_translation():
    import re

    for en, zh in i18n.catalogue().items():
        assert set(re.findall(r"\{[^}]*\}", en)) == set(re.findall(r"\{[^}]*\}", zh)), en


@pytest.fixture
def chinese(qapp):
    yield i18n.install(qapp, "zh_CN")
    i18n.install(qapp, "en")


def test_the_window_speaks_chinese_when_chosen(qtbot, chinese):
    assert chinese == "zh_CN"
    w = MainWindow(Session())
    qtbot.addWidget(w)
    menus = [a.text() for a in w.menuBar().actions()]
    assert menus == ["文件(&F)", "视图(&V)", "设置(&S)", "帮助(&H)"]
    # Qt's own strings too (standard buttons), from Qt's translations
    assert QCoreApplication.translate("QPlatformTheme", "Cancel") == "取消"


def test_language_choice_is_remembered_and_system_is_the_default(qtbot):
    i18n.set_language("")
    assert i18n.chosen_language() == i18n.system_language()
    i18n.set_language("zh_CN")
    assert i18n.chosen_language() == "zh_CN"
    i18n.set_language("klingon")  # unknown: back to following the system
    assert i18n.chosen_language() == i18n.system_language()
