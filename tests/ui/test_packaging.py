"""The desktop entry and its icon: a launcher the desktop can read."""

import configparser
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_desktop_entry_names_the_app_and_an_icon_that_renders(qapp):
    from PySide6.QtGui import QIcon

    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(ROOT / "packaging" / "studio.desktop", encoding="utf-8")
    d = entry["Desktop Entry"]
    assert d["Type"] == "Application" and d["Exec"] == "studio" and d["Icon"] == "studio"
    assert d["Name[zh_CN]"] and d["Comment[zh_CN]"]
    icon = QIcon(str(ROOT / "resources" / "icons" / "studio.svg"))
    image = icon.pixmap(64, 64).toImage()
    assert not image.isNull() and image.pixelColor(32, 32).alpha() == 255


def test_install_script_writes_a_launcher_for_this_checkout(tmp_path):
    venv_studio = ROOT / ".venv" / "bin" / "studio"
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    r = subprocess.run(["sh", str(ROOT / "packaging" / "install-linux.sh")], env=env,
                       capture_output=True, text=True)
    if not venv_studio.exists():
        assert r.returncode == 2 and "make setup" in r.stderr
        return
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "applications" / "studio.desktop").read_text(encoding="utf-8")
    assert f"Exec={venv_studio}\n" in text
    assert (tmp_path / "icons" / "hicolor" / "scalable" / "apps" / "studio.svg").is_file()
