"""The app icon renders (the launcher that shows it: tests/core/desktop, the wheel:
tests/test_install.py)."""

from studio.paths import resource


def test_the_shipped_icon_renders(qapp):
    from PySide6.QtGui import QIcon

    icon = QIcon(str(resource("icons", "studio.svg")))
    image = icon.pixmap(64, 64).toImage()
    assert not image.isNull() and image.pixelColor(32, 32).alpha() == 255
