"""The threads of NumPy's BLAS, limited for a while: one per part of a data-parallel step.

NumPy has no call of its own for its BLAS's thread count (OpenBLAS in the wheels, MKL or
BLIS elsewhere), and each library names and exports that call its own way, in a shared
library NumPy loaded from its own folder. ``threadpoolctl`` (from scikit-learn's
maintainers) finds the libraries this process loaded and calls the right function of each:
that is all it is used for here. Finding them walks the process's loaded libraries
(milliseconds), so it happens once, on first use; each change afterwards is one call into
the library (~2 µs).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from threadpoolctl import ThreadpoolController

__all__ = ["blas_threads"]

_libraries: list[Any] | None = None
_lock = threading.Lock()


def _blas() -> list[Any]:
    """The controllers of the BLAS libraries loaded now (found on the first call)."""
    global _libraries
    with _lock:
        if _libraries is None:
            _libraries = list(ThreadpoolController().select(user_api="blas").lib_controllers)
        return _libraries


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Within the block, every BLAS library loaded runs each product on at most ``n``
    threads; afterwards each has its own count again.

    The count is the library's, for the whole process: products other threads make
    meanwhile run on ``n`` threads too, and of two blocks open at once on different
    threads (two networks trained side by side), the first to end gives the libraries
    their own counts back for the rest of the other."""
    libraries = _blas()
    before = [lib.num_threads for lib in libraries]
    try:
        for lib, was in zip(libraries, before, strict=True):
            if was > n:
                lib.set_num_threads(n)
        yield
    finally:
        for lib, was in zip(libraries, before, strict=True):
            if was > n:
                lib.set_num_threads(was)
