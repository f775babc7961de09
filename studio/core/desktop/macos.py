"""macOS: ~/Applications/Studio.app, a small app bundle that starts the studio.

Contents/Info.plist declares the dataset suffixes and folders as documents it opens (Finder's
"Open With"); Contents/MacOS/Studio is a shell script that runs the studio's command.
UNTESTED on a Mac (written from Apple's bundle documentation; tests/core/desktop checks the
files it writes). Known limit: Finder hands documents to a bundle as Apple events, which a
script launcher does not forward, so "Open With" starts the app without opening the file; the
stand-alone build (make package on a Mac) is the full app.
"""

from __future__ import annotations

import plistlib
import shutil
from pathlib import Path

from studio.core import desktop
from studio.paths import resource


def bundle_path(home: Path | None = None) -> Path:
    return (Path(home) if home else Path.home() / "Applications") / f"{desktop.APP_NAME}.app"


def info_plist() -> dict:
    return {
        "CFBundleName": desktop.APP_NAME,
        "CFBundleDisplayName": desktop.APP_NAME,
        "CFBundleIdentifier": "org.studio.llm-studio",
        "CFBundleExecutable": desktop.APP_NAME,
        "CFBundlePackageType": "APPL",
        "CFBundleShortVersionString": "0.1.0",
        "LSMinimumSystemVersion": "11.0",
        "NSHighResolutionCapable": True,
        "CFBundleDocumentTypes": [
            {"CFBundleTypeName": "Dataset", "CFBundleTypeRole": "Editor",
             "CFBundleTypeExtensions": [s.lstrip(".") for s in desktop.dataset_mime_types()],
             "CFBundleTypeMIMETypes": sorted(set(desktop.dataset_mime_types().values()))},
            {"CFBundleTypeName": "Run folder", "CFBundleTypeRole": "Viewer",
             "LSItemContentTypes": ["public.folder"]},
        ],
    }


def install(home: Path | None = None) -> list[Path]:
    app = bundle_path(home)
    (app / "Contents" / "MacOS").mkdir(parents=True, exist_ok=True)
    (app / "Contents" / "Resources").mkdir(parents=True, exist_ok=True)
    with open(app / "Contents" / "Info.plist", "wb") as f:
        plistlib.dump(info_plist(), f)
    launcher = app / "Contents" / "MacOS" / desktop.APP_NAME
    launcher.write_text("#!/bin/sh\nexec " + desktop.quoted(desktop.launcher_argv())
                        + ' --open "$@"\n', encoding="utf-8")
    launcher.chmod(0o755)
    shutil.copyfile(resource("icons", "studio.svg"), app / "Contents" / "Resources" / "studio.svg")
    return [app]


def uninstall(home: Path | None = None) -> list[Path]:
    app = bundle_path(home)
    if not app.is_dir():
        return []
    shutil.rmtree(app)
    return [app]
