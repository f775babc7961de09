"""Linux desktops (GNOME, KDE, Xfce ...): the freedesktop.org standards.

Writes, under $XDG_DATA_HOME (default ~/.local/share), per the Desktop Entry, Icon Theme and
Shared MIME-info specifications:
  applications/studio.desktop             the launcher; MimeType= lists dataset files and folders
  icons/hicolor/scalable/apps/studio.svg  its icon
  mime/packages/studio.xml                the dataset types the system may not know (.jsonl ...)
then refreshes the caches with update-desktop-database / update-mime-database when present.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from xml.sax.saxutils import escape

from studio.core import desktop
from studio.paths import resource

ENTRY = """[Desktop Entry]
Type=Application
Version=1.5
Name={name}
Name[zh_CN]={name} 模型微调工作室
GenericName=LLM fine-tuning studio
GenericName[zh_CN]=大模型微调工具
Comment=Fine-tune language models on your own computer and watch them learn
Comment[zh_CN]=在自己的电脑上微调语言模型，实时观看训练过程
Exec={exec_line}
Icon={app_id}
Terminal=false
Categories=Development;Science;ArtificialIntelligence;
Keywords=LLM;fine-tuning;LoRA;QLoRA;training;微调;大模型;
MimeType={mime_types}
StartupWMClass={app_id}
"""


def data_home(home: Path | None = None) -> Path:
    if home is not None:
        return Path(home)
    env = os.environ.get("XDG_DATA_HOME")
    return Path(env) if env else Path.home() / ".local" / "share"


def paths(home: Path | None = None) -> dict[str, Path]:
    root = data_home(home)
    return {"entry": root / "applications" / f"{desktop.APP_ID}.desktop",
            "icon": root / "icons" / "hicolor" / "scalable" / "apps" / f"{desktop.APP_ID}.svg",
            "mime": root / "mime" / "packages" / f"{desktop.APP_ID}.xml"}


def exec_arg(arg: str) -> str:
    """One Exec= argument: double-quoted when it holds a reserved character, with the
    spec's escapes (\\ " ` $ inside quotes), then the string-value escape of backslashes."""
    if not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`='):
        return arg
    inner = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return f'"{inner}"'.replace("\\", "\\\\")


def entry_text() -> str:
    argv = [*desktop.launcher_argv(), "--open"]
    types = sorted(set(desktop.dataset_mime_types().values()) | {desktop.RUN_FOLDER_MIME})
    return ENTRY.format(name=desktop.APP_NAME, app_id=desktop.APP_ID,
                        exec_line=" ".join(exec_arg(a) for a in argv) + " %f",
                        mime_types="".join(f"{t};" for t in types))


def mime_package() -> str:
    """A shared-mime-info package declaring the dataset types the system database may lack."""
    own = desktop.OWN_MIME_TYPES
    types = []
    for suffix, mime in desktop.dataset_mime_types().items():
        if suffix in own:
            types.append(f'  <mime-type type="{mime}">\n'
                         f"    <comment>{escape(own[suffix])}</comment>\n"
                         f'    <glob pattern="*{suffix}"/>\n  </mime-type>\n')
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<mime-info xmlns="http://www.freedesktop.org/standards/shared-mime-info">\n'
            + "".join(types) + "</mime-info>\n")


def install(home: Path | None = None) -> list[Path]:
    p = paths(home)
    for f in p.values():
        f.parent.mkdir(parents=True, exist_ok=True)
    p["entry"].write_text(entry_text(), encoding="utf-8")
    shutil.copyfile(resource("icons", "studio.svg"), p["icon"])
    p["mime"].write_text(mime_package(), encoding="utf-8")
    _refresh(home)
    return list(p.values())


def uninstall(home: Path | None = None) -> list[Path]:
    removed = []
    for f in paths(home).values():
        if f.is_file():
            f.unlink()
            removed.append(f)
    _refresh(home)
    return removed


def _refresh(home: Path | None) -> None:
    """The desktop's caches, when their tools are installed (they are optional: without them
    the desktop rescans the folders itself, later)."""
    root = data_home(home)
    for tool, folder in (("update-desktop-database", root / "applications"),
                         ("update-mime-database", root / "mime"),
                         ("gtk-update-icon-cache", root / "icons" / "hicolor")):
        if shutil.which(tool) and folder.is_dir():
            flags = ["-f", "-t"] if tool.startswith("gtk") else []
            subprocess.run([tool, *flags, str(folder)], capture_output=True, check=False,
                           timeout=60)
