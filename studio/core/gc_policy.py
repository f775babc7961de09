"""Who collects cyclic garbage, and where.

The desktop app turns Python's automatic collection off and collects in its GUI thread only
(studio/services/gc_collector.py): a collection runs in whatever thread happens to allocate,
and one in a training or chat worker finalized Qt objects owned by the GUI thread from the
wrong thread, which deadlocked the app (found in a test: an out-of-memory ending's gc.collect()
in the worker against the GUI thread's repaint). The engine's own "free this memory now"
calls go through collect_garbage(), which respects that choice; on the command line automatic
collection stays on and it collects as usual.
"""

from __future__ import annotations

import gc


def collect_garbage() -> None:
    """gc.collect(), unless the host collects elsewhere (automatic collection turned off)."""
    if gc.isenabled():
        gc.collect()
