"""Host memory for the NumPy backend: large freed arrays reused by glibc's ``malloc``, not
mapped afresh by the kernel at every step.

A training step allocates and frees the same large arrays again and again (a layer's
output, its gradient, pooling's masks: 1-7 MB each for SimpleConvNet at batch 100). glibc
serves an allocation above its ``mmap`` threshold with a fresh mapping, and returns free
memory at the top of its heap to the kernel above its trim threshold, so those arrays keep
coming back as new pages, each zeroed by the kernel on first touch: 1,300-1,900 page faults
per SimpleConvNet step here (5-7 MB). Raising the two thresholds once (``mallopt``:
``M_MMAP_THRESHOLD`` 32 MiB, ``M_TRIM_THRESHOLD`` 256 MiB) lets the heap keep and reuse
them: 0 faults per step, and a SimpleConvNet step 29.6-30.4 -> 24.7-26.3 ms, DeepConvNet
184-189 -> 180-181 ms (one BLAS thread, alternated runs, ``/proc`` counts from
``getrusage``). The cost: up to 256 MiB of freed memory stays with the process for its
next arrays instead of going back to the system.

:func:`keep_freed_memory` applies it once, when the NumPy backend is first made, on Linux
with glibc only, and not where the process's allocator was tuned already (any
``MALLOC_*_`` variable set) or ``XPNN_MALLOC=system`` asks to leave glibc's defaults.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

#: Allocations up to this size come from the heap (glibc's default starts at 128 KiB).
MMAP_THRESHOLD = 32 << 20
#: Free memory at the heap's top kept for later allocations (glibc's default: 128 KiB).
TRIM_THRESHOLD = 256 << 20

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
_applied: bool | None = None


def _wanted() -> bool:
    choice = os.environ.get("XPNN_MALLOC", "").strip().lower()
    if choice not in ("", "keep", "system"):
        raise ValueError(
            f"XPNN_MALLOC must be 'keep' (the default: freed large arrays reused) or 'system' "
            f"(glibc's own settings), got {choice!r}"
        )
    tuned = any(k.startswith("MALLOC_") and k.endswith("_") for k in os.environ)
    return choice != "system" and not tuned


def keep_freed_memory() -> bool:
    """Raise glibc's ``mmap`` and trim thresholds once per process (see the module
    docstring); ``True`` where they are raised, ``False`` where left as they were."""
    global _applied
    if _applied is None:
        _applied = False
        if _wanted() and sys.platform == "linux" and platform.libc_ver()[0] == "glibc":
            try:
                mallopt = ctypes.CDLL(None).mallopt
            except (OSError, AttributeError):
                return False
            mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
            _applied = bool(
                mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
            )
    return _applied
