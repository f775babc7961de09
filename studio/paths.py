"""Where the studio's shipped files are: one function, `resource(...)`.

The icons, translations, starter corpus and weights, fonts and sample data are package data
(studio/resources/), so a wheel, a pipx / uv tool install and a PyInstaller folder find them the
same way a source checkout does: through importlib.resources, never through the source tree.
Standard library only (core, ui and cli all use it).
"""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path


def resource(*parts: str) -> Path:
    """studio/resources/<parts...> as a file-system path (every install path keeps the package
    as real files on disk: wheel, editable, PyInstaller's one-folder build)."""
    return Path(str(files("studio").joinpath("resources", *parts)))


def frozen() -> bool:
    """True in the stand-alone build (PyInstaller sets sys.frozen)."""
    return bool(getattr(sys, "frozen", False))


def studio_command() -> list[str]:
    """The argv prefix that runs a studio sub-command in a new process: `python -m studio`,
    or the app itself in the stand-alone build (there sys.executable is the app, no Python)."""
    return [sys.executable] if frozen() else [sys.executable, "-m", "studio"]
