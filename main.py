#!/usr/bin/env python3
"""Studio: `python main.py` opens the desktop app; `python main.py --help` lists the commands."""

import sys

from studio.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
