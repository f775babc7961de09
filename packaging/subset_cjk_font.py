"""Rebuild studio/resources/fonts/NotoSansSC-Subset.otf (see studio/resources/fonts/README.md).

    python packaging/subset_cjk_font.py NotoSansCJK-Regular.ttc

needs fonttools (pip install fonttools). The .ttc comes with Debian's fonts-noto-cjk
(/usr/share/fonts/opentype/noto/) or from github.com/notofonts/noto-cjk; face 2 is SC.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "studio" / "resources" / "fonts" / "NotoSansSC-Subset.otf"
SC_FACE = 2  # JP, KR, SC, TC, HK, then the Mono faces


def characters() -> str:
    """GB2312 (everyday simplified Chinese) + CJK punctuation + full-width forms + every
    character of the studio's Chinese strings and resources; Latin comes from the system."""
    chars = set()
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    chars |= {chr(c) for c in range(0x3000, 0x3040)} | {chr(c) for c in range(0xFF00, 0xFFF0)}
    res = ROOT / "studio" / "resources"
    for p in [*res.glob("i18n/*.ts"), *res.glob("i18n/*.json"), *res.glob("corpus/zh_*.txt"),
              *res.glob("samples/*")]:
        chars |= set(p.read_text(encoding="utf-8"))
    return "".join(sorted(c for c in chars if ord(c) >= 0x2E80))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ttc", type=Path, help="NotoSansCJK-Regular.ttc")
    args = ap.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as text:
        text.write(characters())
        text.flush()
        subprocess.run([sys.executable, "-m", "fontTools.subset", str(args.ttc),
                        f"--font-number={SC_FACE}", f"--text-file={text.name}",
                        f"--output-file={OUT}", "--no-hinting"], check=True)
    print(f"wrote {OUT} ({OUT.stat().st_size / 2**20:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
