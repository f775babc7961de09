"""Import the engine's heavy libraries (torch, transformers, peft) once, in a worker thread,
with the cyclic garbage collector paused, then freeze what they built.

Why: the imports create about a million objects that live as long as the app. With the collector
on, each full collection during the import walked all of them while holding the GIL (95-170 ms
each, measured on 2 cores), and the GUI thread, which needs the GIL to paint, waited: one
300 ms freeze when a model was picked. Frozen objects are skipped by every later collection,
so training steps and data jobs do not pay for them either. Call it first in any worker that
is about to touch the engine; after the first call it costs nothing.

torch's shared libraries are loaded first through libc's dlopen called by ctypes, which
releases the GIL for the call (Python's own import holds the GIL while it loads an extension,
and ctypes.CDLL too: the window froze for the ~0.3-1 s that libtorch's load and static
initialisers take; measured 890 ms of the main thread stopped against 24 ms this way). The
import then finds them loaded. (The GUI side's own imports: studio/ui/prewarm.py.)
"""

from __future__ import annotations

import ctypes
import gc
import glob
import importlib.util
import os
import sys
import threading

# Held by whoever imports a heavy library (also studio/ui/prewarm.py): one at a time.
IMPORT_LOCK = threading.Lock()
_done = False


def import_engine() -> None:
    global _done
    if _done:
        return
    with IMPORT_LOCK:
        if _done:
            return
        enabled = gc.isenabled()
        gc.disable()
        try:
            preload_libraries("torch", TORCH_LIBRARIES)
            import peft  # noqa: F401  (imports torch and transformers)
            import transformers  # noqa: F401
        finally:
            gc.freeze()
            if enabled:
                gc.enable()
            _done = True


# In load order (each needs the ones before it); _C is torch's extension module itself.
TORCH_LIBRARIES = ("lib/libc10.so", "lib/libtorch_cpu.so", "lib/libtorch.so",
                   "lib/libtorch_python.so", "_C.*.so")


def preload_libraries(package: str, patterns: tuple[str, ...]) -> int:
    """dlopen `package`'s shared libraries with the GIL released; returns how many loaded.
    Linux only (elsewhere, and for any library that fails, the import loads it as usual)."""
    if not sys.platform.startswith("linux") or package in sys.modules:
        return 0
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return 0
    libc = ctypes.CDLL(None)  # a CDLL function call releases the GIL; PyDLL's would not
    libc.dlopen.restype = ctypes.c_void_p
    libc.dlopen.argtypes = (ctypes.c_char_p, ctypes.c_int)
    root = os.path.dirname(spec.origin)
    loaded = 0
    for pattern in patterns:
        for path in glob.glob(os.path.join(root, pattern)):
            # RTLD_GLOBAL as torch itself loads them; RTLD_NOW resolves symbols now, not later
            loaded += bool(libc.dlopen(os.fsencode(path), os.RTLD_NOW | os.RTLD_GLOBAL))
    return loaded
