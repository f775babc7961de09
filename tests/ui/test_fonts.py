"""Chinese renders as real glyphs, with the shipped font when the system has none."""

import re

from PySide6.QtGui import QRawFont, QTextLayout
from PySide6.QtWidgets import QLabel

from studio.ui import fonts

ZH_TS = fonts.FONT_FILE.parents[1] / "i18n" / "studio_zh_CN.ts"


def glyph_indexes(text, font):
    """The glyphs Qt draws for `text` in `font`, fallback fonts included (0 = the empty box)."""
    layout = QTextLayout(text, font)
    layout.beginLayout()
    layout.createLine()
    layout.endLayout()
    return [g for run in layout.glyphRuns() for g in run.glyphIndexes()]


def test_the_shipped_font_covers_every_chinese_string_of_the_interface():
    raw = QRawFont(str(fonts.FONT_FILE), 12)  # supportsCharacter takes the code point
    assert raw.isValid() and raw.familyName() == "Noto Sans CJK SC"
    translations = re.findall(r"<translation>(.*?)</translation>",
                              ZH_TS.read_text(encoding="utf-8"), re.S)
    hanzi = {c for t in translations for c in t if ord(c) >= 0x2E80}
    assert len(hanzi) > 300
    assert not [c for c in sorted(hanzi) if not raw.supportsCharacter(ord(c))]
    assert all(raw.supportsCharacter(ord(c)) for c in "的一是在不了有和人这中大为上个国")


def test_a_chinese_label_renders_real_glyphs(qapp):
    from studio.app import create_app

    app = create_app()  # registers the shipped font when the system has no Chinese font
    label = QLabel("训练模型：损失下降了。数据集")
    glyphs = glyph_indexes(label.text(), label.font())
    assert len(glyphs) == len(label.text()) and 0 not in glyphs
    assert app.cjk_font in (None, "Noto Sans CJK SC")  # None: the system had one


def test_the_shipped_font_draws_chinese_when_installed(qapp):
    family = fonts.install_cjk_font(qapp.font(), force=True)
    assert family == "Noto Sans CJK SC"
    assert 0 not in glyph_indexes("你好，世界", qapp.font())


def test_a_system_chinese_font_is_left_alone(qapp, monkeypatch):
    monkeypatch.setattr(fonts, "system_has_cjk_font", lambda: True)
    assert fonts.install_cjk_font(qapp.font()) is None
