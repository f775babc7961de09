"""Hand freed tensor memory back to the operating system at once (glibc's malloc, Linux).

glibc serves an allocation above its mmap threshold with a mapping of its own that `free`
unmaps, and anything smaller from its heaps, which keep freed memory for reuse. The threshold
starts at 128 KiB but rises to the size of each mapped block freed, up to 32 MiB, so after the
first step nearly every activation of a training step (a few MiB each) comes from the heaps: they
then hold the freed activations of the forward while the backward allocates new ones in other
places, and the process's resident memory grows well past what is alive. Measured on the 12 x 768
body at 4 x 512 (docs/performance.md): peak RSS 4.0 GB with the moving threshold, 2.9 GB with it
fixed at 128 KiB; but every large allocation then maps fresh pages the kernel must zero, which
cost 5-20% of the CPU time there. So the threshold is fixed only for a CPU run whose estimate
comes near the memory the machine has free (`tight`); otherwise the memory estimate counts what
the heaps keep (memory.CPU_HEAP_RETENTION).

On other C libraries, or where mallopt is missing, nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_MMAP_THRESHOLD = -3       # glibc's malloc.h
MMAP_THRESHOLD = 128 << 10  # glibc's initial value, kept from then on


TIGHT_SHARE = 0.8           # of the memory free when the run starts


def tight(estimate_mb: float, available_mb: float) -> bool:
    """Would the run use most of what the machine has free? (estimate with the heaps' share)"""
    return estimate_mb > TIGHT_SHARE * available_mb


def release_freed_memory() -> bool:
    """Fix glibc's mmap threshold for this process; True when it took effect."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
