"""Where the studio's shipped files are: one function, `resource(...)`.

The icons, translations, starter corpus and weights, fonts and sample data are package data
(studio/resources/), so a wheel, a pipx / uv tool install and a PyInstaller folder find them the
same way a source checkout does: through importlib.resources, never through the source tree.
Standard library only (core, ui and cli all use it).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def resource(*parts: str) -> Path:
    """studio/resources/<parts...> as a file-system path (every install path keeps the package
    as real files on disk: wheel, editable, PyInstaller's one-folder build)."""
    return Path(str(files("studio").joinpath("resources", *parts)))
