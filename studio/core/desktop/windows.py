"""Windows: a Start-menu shortcut and "Open with" entries for dataset files.

UNTESTED: written from Microsoft's documentation, never run on Windows here (docs/contract.md).
  %APPDATA%/Microsoft/Windows/Start Menu/Programs/Studio.lnk   made by PowerShell's WScript.Shell
  HKCU/Software/Classes/Studio.Dataset/shell/open/command       "<studio>" --open "%1"
  HKCU/Software/Classes/<.suffix>/OpenWithProgids/Studio.Dataset  per dataset suffix
  HKCU/Software/Classes/Directory/shell/Studio/command          "Open in Studio" on folders
All under the current user: no administrator rights needed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from studio.core import desktop

PROG_ID = "Studio.Dataset"


def shortcut_path(home: Path | None = None) -> Path:
    appdata = Path(home) if home else Path(os.environ.get("APPDATA", Path.home()))
    return appdata / "Microsoft" / "Windows" / "Start Menu" / "Programs" / "Studio.lnk"


def command_line() -> str:
    return subprocess.list2cmdline([*desktop.launcher_argv(), "--open"]) + ' "%1"'


def install(home: Path | None = None) -> list[Path]:
    lnk = shortcut_path(home)
    lnk.parent.mkdir(parents=True, exist_ok=True)
    argv = desktop.launcher_argv()
    script = ("$s = (New-Object -ComObject WScript.Shell).CreateShortcut($env:STUDIO_LNK); "
              "$s.TargetPath = $env:STUDIO_EXE; $s.Arguments = $env:STUDIO_ARGS; $s.Save()")
    env = {**os.environ, "STUDIO_LNK": str(lnk), "STUDIO_EXE": argv[0],
           "STUDIO_ARGS": subprocess.list2cmdline(argv[1:])}
    subprocess.run(["powershell", "-NoProfile", "-NonInteractive", "-Command", script],
                   env=env, check=True, capture_output=True, timeout=60)
    _register(command_line())
    return [lnk]


def uninstall(home: Path | None = None) -> list[Path]:
    lnk = shortcut_path(home)
    removed = []
    if lnk.is_file():
        lnk.unlink()
        removed.append(lnk)
    _unregister()
    return removed


def _register(command: str) -> None:
    import winreg  # Windows only

    classes = r"Software\Classes"
    with winreg.CreateKey(winreg.HKEY_CURRENT_USER, rf"{classes}\{PROG_ID}") as k:
        winreg.SetValue(k, "", winreg.REG_SZ, "Dataset (Studio)")
    with winreg.CreateKey(winreg.HKEY_CURRENT_USER,
                          rf"{classes}\{PROG_ID}\shell\open\command") as k:
        winreg.SetValue(k, "", winreg.REG_SZ, command)
    for suffix in desktop.dataset_mime_types():
        with winreg.CreateKey(winreg.HKEY_CURRENT_USER,
                              rf"{classes}\{suffix}\OpenWithProgids") as k:
            winreg.SetValueEx(k, PROG_ID, 0, winreg.REG_NONE, b"")
    with winreg.CreateKey(winreg.HKEY_CURRENT_USER,
                          rf"{classes}\Directory\shell\Studio") as k:
        winreg.SetValue(k, "", winreg.REG_SZ, "Open in Studio")
    with winreg.CreateKey(winreg.HKEY_CURRENT_USER,
                          rf"{classes}\Directory\shell\Studio\command") as k:
        winreg.SetValue(k, "", winreg.REG_SZ, command)


def _unregister() -> None:
    import winreg  # Windows only

    classes = r"Software\Classes"
    for key in (rf"{classes}\Directory\shell\Studio\command", rf"{classes}\Directory\shell\Studio",
                rf"{classes}\{PROG_ID}\shell\open\command", rf"{classes}\{PROG_ID}\shell\open",
                rf"{classes}\{PROG_ID}\shell", rf"{classes}\{PROG_ID}"):
        try:
            winreg.DeleteKey(winreg.HKEY_CURRENT_USER, key)
        except OSError:
            pass  # not there
    for suffix in desktop.dataset_mime_types():
        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, rf"{classes}\{suffix}\OpenWithProgids",
                                0, winreg.KEY_SET_VALUE) as k:
                winreg.DeleteValue(k, PROG_ID)
        except OSError:
            pass
