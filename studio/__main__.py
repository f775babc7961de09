"""Entry point: no arguments -> the desktop app; a sub-command -> the command line."""

import os
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if getattr(sys, "frozen", False):  # the stand-alone build: spawned workers re-enter here
        import multiprocessing

        multiprocessing.freeze_support()
    # Apple silicon: operations MPS lacks run on the CPU instead of failing. PyTorch reads this
    # when it loads, so it is set before anything imports torch.
    if sys.platform == "darwin":
        os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")
    if not argv or argv[0] == "--open":  # `--open PATH`: the desktop's "Open with Studio"
        from studio.app import run_app  # Qt only when the window is wanted

        return run_app([], open_paths=argv[1:])
    from studio.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
