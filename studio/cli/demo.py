"""`python main.py demo [--steps N] [--screenshots DIR] [--quit]`: the app's tour, unattended.

Qt is imported inside `run` only (the command line stays Qt-free for every other command).
Without a display the tour runs offscreen: the screenshots are rendered all the same.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from studio.cli.args import number
from studio.core.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the app's built-in tour, unattended",
                       description="Open the app and take its tour: the pretrained starter and "
                                   "the identity sample, live LoRA training for N steps, each "
                                   "view. "
                                   "With --quit it exits when done and prints, last, "
                                   "'gui latency p50=X ms p99=Y ms max=Z ms'.")
    p.add_argument("--steps", type=number(int, key="max_steps"), default=60,
                   help="training steps (default 60: enough for the starter to learn its name)")
    p.add_argument("--screenshots", metavar="DIR", help="save a PNG of every view here")
    p.add_argument("--quit", action="store_true", help="exit when the tour is done")
    p.add_argument("--stalls", metavar="FILE",
                   help="write the GUI thread's stack to FILE whenever its event loop is 50 ms "
                        "late, and print where those stalls were spent (with --quit)")
    p.add_argument("--lang", choices=["en", "zh_CN"],
                   help="UI language (default: your setting, else the system's)")
    p.add_argument("--workdir", metavar="DIR",
                   help="where the starter model and the run go (default: a new temp folder)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.steps < 1:
        raise UserError(f"--steps must be at least 1, got {args.steps}")
    from studio.core import files

    for flag, folder in (("--screenshots", args.screenshots), ("--workdir", args.workdir)):
        if folder:
            files.check_writable(folder, flag)
    if args.stalls:
        files.check_writable(str(Path(args.stalls).resolve().parent), "--stalls")
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
            or os.environ.get("QT_QPA_PLATFORM")) and sys.platform.startswith("linux"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # headless machine: render off-screen
    from studio.ui import i18n, prefs  # Qt from here on

    lang = args.lang or i18n.chosen_language()  # read before switching the settings file
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="studio-tour-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    # The tour keeps its own settings: it must not move the user's window or runs folder.
    os.environ["STUDIO_SETTINGS"] = str(workdir / "settings.ini")
    prefs.set_runs_root(workdir)

    from studio.app import Studio, create_app

    app = create_app([], lang=lang)
    studio = Studio()
    studio.show()  # as the app starts: device detection, GUI imports in workers after the paint
    studio.window.resize(1400, 900)
    codes: list[int] = []
    studio.start_tour(steps=args.steps, workdir=workdir,
                      screenshots=Path(args.screenshots).resolve() if args.screenshots else None,
                      quit_when_done=args.quit,
                      stalls=Path(args.stalls).resolve() if args.stalls else None)
    if args.quit:
        studio.tour.sig_done.connect(lambda code: (codes.append(code), app.exit(code)))
    app.exec()
    return codes[0] if codes else 0
