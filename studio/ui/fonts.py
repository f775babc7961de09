"""A Chinese font for machines that have none: Chinese never renders as empty boxes.

Many Linux installs (containers, minimal desktops) ship no CJK font, and Qt then draws every
hanzi as a box. The studio ships a subset of Noto Sans CJK SC (studio/resources/fonts/README.md) and
registers it at start-up only when the system has no Simplified Chinese font. Qt's glyph
fallback finds it for Han text; Latin text keeps the system font.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtGui import QFont, QFontDatabase

from studio.paths import resource

FONT_FILE = resource("fonts", "NotoSansSC-Subset.otf")


def system_has_cjk_font() -> bool:
    return bool(QFontDatabase.families(QFontDatabase.WritingSystem.SimplifiedChinese))


def install_cjk_font(app_font: QFont, force: bool = False) -> Optional[str]:
    """Register the shipped font when the system has no Chinese font (or `force`); returns its
    family, or None when nothing was installed. Needs a QGuiApplication."""
    if not force and system_has_cjk_font():
        return None
    font_id = QFontDatabase.addApplicationFont(str(FONT_FILE))
    families = QFontDatabase.applicationFontFamilies(font_id) if font_id >= 0 else []
    if not families:
        return None
    # A substitution names it as the fallback of the UI font, ahead of anything Qt would guess.
    QFont.insertSubstitution(app_font.family(), families[0])
    return families[0]
