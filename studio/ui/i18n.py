"""English and Simplified Chinese UI text with Qt's own translation machinery.

At run time: code writes English in `self.tr("...")` (QObject subclasses) or
`QCoreApplication.translate("Context", "...")` (anywhere else, see `tr` below); `install()` loads
studio/resources/i18n/studio_zh_CN.qm (a standard compiled Qt translation) plus Qt's own qtbase
translation for stock buttons. The language follows the system locale unless chosen in
Settings; a change applies when the app next starts (widgets are built once, translated).

Adding text (for every helper writing UI):
  1. write the English string through tr()/translate() (str.format placeholders are fine:
     `self.tr("{n} rows").format(n=n)`; never build the English from pieces);
  2. add "English": "中文" to studio/resources/i18n/zh_CN.json (one flat catalogue: the same English
     always gets the same Chinese);
  3. run `python -m studio.ui.i18n`: pyside6-lupdate extracts every string, the catalogue fills
     them, pyside6-lrelease compiles studio_zh_CN.qm; missing ones are listed (exit 1).
  tests/ui/test_i18n.py fails while a string is missing or the .qm is stale.
Config field help texts (studio.core.config) are translated too, under context "RunConfig", and
the method descriptions of the method registry under context "Method".
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

from studio.paths import resource
from studio.ui import prefs

LANGUAGES = {"en": "English", "zh_CN": "简体中文"}
ROOT = Path(__file__).resolve().parents[2]
I18N_DIR = resource("i18n")
CATALOGUE = I18N_DIR / "zh_CN.json"
TS_FILE = I18N_DIR / "studio_zh_CN.ts"
QM_FILE = I18N_DIR / "studio_zh_CN.qm"
# Python sources whose strings are UI text (core and cli are English-only by design).
SOURCES = ("studio/ui", "studio/app.py", "studio/services")

_installed: list[QTranslator] = []


def tr(context: str, text: str) -> str:
    """Translate outside a QObject method; lupdate extracts `QCoreApplication.translate` calls,
    so write those literally where you want extraction, and use this for runtime-only text."""
    return QCoreApplication.translate(context, text)


def system_language() -> str:
    return "zh_CN" if QLocale.system().name().lower().startswith("zh") else "en"


def chosen_language() -> str:
    """The language in Settings, or the system's when none was chosen."""
    saved = str(prefs.get("ui/language", "") or "")
    return saved if saved in LANGUAGES else system_language()


def set_language(lang: str) -> None:
    """Remember a choice ("" = follow the system); applies at the next start."""
    prefs.put("ui/language", lang if lang in LANGUAGES else "")


def install(app: QCoreApplication, lang: Optional[str] = None) -> str:
    """Install the translators for `lang` (default: chosen_language()); returns the language."""
    lang = lang or chosen_language()
    for t in _installed:
        app.removeTranslator(t)
    _installed.clear()
    if lang == "en":
        return lang
    qt_dir = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    for name, folder in ((f"qtbase_{lang}", qt_dir), (f"studio_{lang}", str(I18N_DIR))):
        t = QTranslator(app)
        if t.load(name, folder):
            app.installTranslator(t)
            _installed.append(t)
    return lang


# --- building the translation (python -m studio.ui.i18n) -------------------------------------

def _tool(name: str) -> str:
    import PySide6

    return str(Path(PySide6.__file__).parent / name)


def _source_files() -> list[str]:
    files: list[str] = []
    for s in SOURCES:
        p = ROOT / s
        files += [str(f) for f in sorted(p.rglob("*.py"))] if p.is_dir() else [str(p)]
    return files


def extract() -> list[tuple[str, str]]:
    """(context, English) for every string the sources translate, plus config help texts."""
    with tempfile.TemporaryDirectory() as tmp:
        ts = Path(tmp) / "x.ts"
        subprocess.run([_tool("lupdate"), "-silent", "-locations", "none", *_source_files(),
                        "-ts", str(ts)], check=True, capture_output=True)
        root = ET.parse(ts).getroot()
    pairs = []
    for ctx in root.iter("context"):
        name = ctx.findtext("name") or ""
        pairs += [(name, m.findtext("source") or "") for m in ctx.iter("message")]
    from studio.core.config import field_specs
    from studio.core.methods.registry import all_methods

    pairs += [("RunConfig", f.metadata["help"]) for f in field_specs()]
    pairs += [("Method", m.description) for m in all_methods()]
    return sorted(set(pairs))


def catalogue() -> dict[str, str]:
    return json.loads(CATALOGUE.read_text(encoding="utf-8"))


def render_ts(pairs: list[tuple[str, str]], cat: dict[str, str]) -> str:
    root = ET.Element("TS", version="2.1", language="zh_CN")
    by_ctx: dict[str, list[str]] = {}
    for ctx, src in pairs:
        by_ctx.setdefault(ctx, []).append(src)
    for ctx, sources in by_ctx.items():
        c = ET.SubElement(root, "context")
        ET.SubElement(c, "name").text = ctx
        for src in sources:
            m = ET.SubElement(c, "message")
            ET.SubElement(m, "source").text = src
            t = ET.SubElement(m, "translation")
            if src in cat:
                t.text = cat[src]
            else:
                t.set("type", "unfinished")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n' + \
        ET.tostring(root, encoding="unicode") + "\n"


def build(check_only: bool = False) -> list[str]:
    """Regenerate the .ts and .qm; returns the English strings lacking a translation. With
    check_only, write nothing and also report a stale .ts as a problem."""
    pairs = extract()
    cat = catalogue()
    missing = sorted({src for _, src in pairs if src not in cat})
    text = render_ts(pairs, cat)
    if check_only:
        current = TS_FILE.read_text(encoding="utf-8") if TS_FILE.exists() else ""
        if current != text or not QM_FILE.exists():
            missing.append("(studio_zh_CN.ts / .qm are stale: run python -m studio.ui.i18n)")
        return missing
    TS_FILE.write_text(text, encoding="utf-8")
    subprocess.run([_tool("lrelease"), "-silent", str(TS_FILE), "-qm", str(QM_FILE)],
                   check=True, capture_output=True)
    return missing


def main(argv: list[str]) -> int:
    missing = build(check_only="--check" in argv)
    for m in missing:
        print(f"missing zh_CN: {m!r}")
    if not missing:
        print(f"ok: {QM_FILE.relative_to(ROOT)}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
