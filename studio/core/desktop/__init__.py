"""Desktop integration: `studio --install-desktop` / `--uninstall-desktop`.

Linux (freedesktop, tested): linux.py. Windows Start menu (windows.py) and the macOS app bundle
(macos.py): written from the platforms' documentation, not run on those systems here.
Standard library only; nothing here imports torch or Qt.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

from studio.core.data.types import FILE_TYPES
from studio.paths import frozen

APP_ID = "studio"  # the .desktop file's name; app.setDesktopFileName matches it
APP_NAME = "Studio"
# A MIME type per dataset suffix the loader reads (FILE_TYPES). The first four are the
# shared-mime-info standard types; the others are declared by the studio's own MIME package.
MIME_TYPES = {".json": "application/json", ".csv": "text/csv",
              ".tsv": "text/tab-separated-values", ".txt": "text/plain",
              ".jsonl": "application/jsonl", ".ndjson": "application/x-ndjson",
              ".parquet": "application/vnd.apache.parquet"}
OWN_MIME_TYPES = {".jsonl": "JSON Lines dataset", ".ndjson": "Newline-delimited JSON dataset",
                  ".parquet": "Apache Parquet table"}
RUN_FOLDER_MIME = "inode/directory"  # a run folder is a folder: "Open with Studio" on folders


def dataset_mime_types() -> dict[str, str]:
    """suffix -> MIME type for every suffix in FILE_TYPES (a new reader needs its type here)."""
    missing = sorted(set(FILE_TYPES) - set(MIME_TYPES))
    if missing:
        raise KeyError(f"no MIME type for dataset suffixes {missing}: add them to MIME_TYPES")
    return {suffix: MIME_TYPES[suffix] for suffix in FILE_TYPES}


def launcher_argv() -> list[str]:
    """The command that opens the app from a launcher: the stand-alone app itself, the `studio`
    script of this environment (pip / pipx / uv tool), else `python -m studio`."""
    if frozen():
        return [sys.executable]
    script = Path(sys.executable).parent / ("studio.exe" if sys.platform == "win32" else "studio")
    if script.is_file():
        return [str(script)]
    found = shutil.which("studio")
    return [found] if found else [sys.executable, "-m", "studio"]


def quoted(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def install(home: Path | None = None) -> list[Path]:
    """Install the launcher, icon and file associations for this system; the files written."""
    return _platform().install(home)


def uninstall(home: Path | None = None) -> list[Path]:
    """Remove what install wrote; the files removed."""
    return _platform().uninstall(home)


def _platform():
    if sys.platform == "win32":
        from studio.core.desktop import windows as mod
    elif sys.platform == "darwin":
        from studio.core.desktop import macos as mod
    else:
        from studio.core.desktop import linux as mod
    return mod
