"""Import the engine's heavy libraries (torch, transformers, peft) once, in a worker thread,
with the cyclic garbage collector paused, then freeze what they built.

Why: the imports create about a million objects that live as long as the app. With the collector
on, each full collection during the import walked all of them while holding the GIL (95-170 ms
each, measured on 2 cores), and the GUI thread, which needs the GIL to paint, waited: one
300 ms freeze when a model was picked. Frozen objects are skipped by every later collection,
so training steps and data jobs do not pay for them either. Call it first in any worker that
is about to touch the engine; after the first call it costs nothing.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_done = False


def import_engine() -> None:
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        enabled = gc.isenabled()
        gc.disable()
        try:
            import peft  # noqa: F401  (imports torch and transformers)
            import transformers  # noqa: F401
        finally:
            gc.freeze()
            if enabled:
                gc.enable()
            _done = True
