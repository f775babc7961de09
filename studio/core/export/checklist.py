"""An export's verification as a checklist: each check, its figure, passed or not, and what to
do when not. The Export page shows it at a glance; verification.md / .json carry it next to the
export. Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class Check:
    name: str
    passed: Optional[bool]      # None: a figure reported, not judged
    figure: str
    fix: str = ""               # what to do when it did not pass



def write_report(folder: Path, checks: list[Check], title: str) -> None:
    """verification.md (a person reads it) and verification.json (a script does)."""
    (folder / "verification.json").write_text(
        json.dumps({"export": title, "checks": [asdict(c) for c in checks]},
                   ensure_ascii=False, indent=2), encoding="utf-8")
    lines = [f"# Verification: {title}", "", "| check | result | figure |", "|---|---|---|"]
    for c in checks:
        lines.append(f"| {c.name} | {VERDICT[c.passed]} | {c.figure} |")
    fixes = [f"- {c.name}: {c.fix}" for c in checks if c.passed is False and c.fix]
    if fixes:
        lines += ["", "What to do:", *fixes]
    (folder / "verification.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


VERDICT = {True: "passed", False: "FAILED", None: "reported"}
