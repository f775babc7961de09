"""Desktop integration: the freedesktop launcher, icon and MIME types installed into a temporary
XDG_DATA_HOME by the real command, read back as the desktop reads them, and removed again."""

import configparser
import os
import plistlib
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from studio.core import desktop
from studio.core.data.types import FILE_TYPES
from studio.core.desktop import linux, macos

ROOT = Path(__file__).resolve().parents[3]


def studio(*args: str, xdg: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_DATA_HOME": str(xdg), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "studio", *args], env=env, cwd=xdg,
                          capture_output=True, text=True, timeout=120)


def read_entry(path: Path) -> configparser.SectionProxy:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(path, encoding="utf-8")
    return entry["Desktop Entry"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="freedesktop: Linux")
def test_install_desktop_writes_a_valid_launcher_icon_and_types_then_uninstall_removes_them(
        tmp_path):
    r = studio("--install-desktop", xdg=tmp_path)
    assert r.returncode == 0, r.stderr
    files = linux.paths(tmp_path)
    assert all(f.is_file() for f in files.values())
    d = read_entry(files["entry"])
    assert d["Type"] == "Application" and d["Icon"] == desktop.APP_ID
    assert d["Name[zh_CN]"] and d["Comment[zh_CN]"]
    assert d["Exec"].endswith(" --open %f")
    launcher = d["Exec"].split(" --open")[0].strip('"')
    assert os.access(launcher, os.X_OK) or launcher == sys.executable
    mimes = set(d["MimeType"].rstrip(";").split(";"))
    assert {desktop.MIME_TYPES[s] for s in FILE_TYPES} | {"inode/directory"} == mimes
    assert files["icon"].read_bytes() == (ROOT / "studio" / "resources" / "icons" /
                                          "studio.svg").read_bytes()
    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    declared = {t.get("type"): t.find("m:glob", ns).get("pattern")
                for t in ET.parse(files["mime"]).getroot().findall("m:mime-type", ns)}
    assert declared == {desktop.MIME_TYPES[s]: f"*{s}" for s in desktop.OWN_MIME_TYPES}
    if shutil.which("update-mime-database"):  # the system's own tool accepted the package
        globs = (tmp_path / "mime" / "globs2").read_text(encoding="utf-8")
        assert "application/jsonl:*.jsonl" in globs and ":*.parquet" in globs
    if shutil.which("desktop-file-validate"):
        v = subprocess.run(["desktop-file-validate", str(files["entry"])],
                           capture_output=True, text=True)
        assert v.returncode == 0, v.stdout + v.stderr

    r = studio("--uninstall-desktop", xdg=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not any(f.exists() for f in files.values())
    assert "nothing to remove" in studio("--uninstall-desktop", xdg=tmp_path).stdout


def test_install_desktop_with_a_command_is_a_usage_error(tmp_path):
    r = studio("--install-desktop", "train", "x.yaml", xdg=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "take no command" in r.stderr


def test_exec_arguments_are_quoted_per_the_desktop_entry_spec():
    assert linux.exec_arg("/usr/bin/studio") == "/usr/bin/studio"
    # "my apps/$x" -> "my apps/\$x" (spec quoting) -> backslash doubled (string escape)
    assert linux.exec_arg("/home/a b/$x") == '"/home/a b/\\\\$x"'


def test_every_dataset_suffix_has_a_mime_type(monkeypatch):
    assert set(desktop.dataset_mime_types()) == set(FILE_TYPES)
    monkeypatch.setitem(FILE_TYPES, ".xlsx", "excel")  # a reader added without its MIME type
    with pytest.raises(KeyError, match="xlsx"):
        desktop.dataset_mime_types()


def test_the_macos_bundle_declares_the_dataset_types_and_starts_the_studio(tmp_path):
    # Written and read here; never run on a Mac (docs/contract.md).
    [app] = macos.install(tmp_path)
    plist = plistlib.loads((app / "Contents" / "Info.plist").read_bytes())
    exe = app / "Contents" / "MacOS" / plist["CFBundleExecutable"]
    assert os.access(exe, os.X_OK) and "--open" in exe.read_text(encoding="utf-8")
    [datasets, folders] = plist["CFBundleDocumentTypes"]
    assert {f".{e}" for e in datasets["CFBundleTypeExtensions"]} == set(FILE_TYPES)
    assert folders["LSItemContentTypes"] == ["public.folder"]
    assert macos.uninstall(tmp_path) == [app] and not app.exists()
