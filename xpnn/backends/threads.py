"""Elementwise NumPy work spread over the CPU's cores: the threads of the NumPy backend.

NumPy threads its matrix products (through its BLAS) but runs every other operation on one
core. A convolutional network's step spends half its time there: the patch copies, pooling,
the bias and ReLU, the optimizer's update. Those operations are elementwise along the
batch, and NumPy releases the GIL inside its copy and ufunc loops, so they split into
independent parts along the batch axis (or an array's outermost axis), run at once on a
pool of threads. The values are the same bits as on one thread: every element is computed
by the same operations in the same order, only by another core.

**Off by default** (one thread), because what it gains depends on the machine, and on
this project's 2-core virtual machines it measured from a clear gain to a clear loss:

- On one, with ``OPENBLAS_THREAD_TIMEOUT=4`` (OpenBLAS's idle threads sleep at once
  instead of spinning ~0.1 s after each product, which took the second core), a
  DeepConvNet step went 121.6 -> 92.8 ms and SimpleConvNet 15.8 -> 12.9
  (``python benchmarks/bench_conv.py --layers --no-epochs --threads 2 --limit 200``).
- On another, handing a part to a second thread cost 130-200 µs (a sleeping virtual CPU
  woken up): two threads were slower than one on any operation under ~4 M elements, a
  DeepConvNet step took 148 ms on two threads against 134 on one (OpenBLAS's default
  timeout; 139 with parts of 2**20 elements or more), and ``OPENBLAS_THREAD_TIMEOUT=4``
  made it 163 and an MLP step 1.25 -> 2.0 ms (each product waking its sleeping threads).

So set ``XPNN_NUM_THREADS`` (or call :func:`set_num_threads`) where measured to pay:
``python benchmarks/bench_conv.py --layers --no-epochs --xpnn-threads follow`` shows
it. ``XPNN_NUM_THREADS`` is read at import: a count, or ``auto`` for the CPUs this process
may use (at most 8). The pool is made on first use, made anew in a child after ``fork``,
and never holds a part of the work a caller is not waiting for: the calling thread runs
one part itself and waits for the others, re-raising their first error.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from .._validate import count

__all__ = [
    "MIN_PART",
    "available_cpus",
    "count_or_auto",
    "get_num_threads",
    "on_this_thread_only",
    "run_all",
    "run_parts",
    "set_num_threads",
    "splits",
]

T = TypeVar("T")

#: Elements below which a part is not worth a thread: a hand-off costs 20-200 µs, and NumPy
#: runs ~1-4 float32 elements per ns through a ufunc or copy on one core (measured: above).
MIN_PART = 1 << 20

_MAX_DEFAULT = 8


def _default_threads() -> int:
    text = os.environ.get("XPNN_NUM_THREADS", "").strip()
    if not text:
        return 1
    return count_or_auto(
        text, "XPNN_NUM_THREADS", "threads", "the CPUs this process may use",
        "unset it for one thread",
    )  # fmt: skip


def count_or_auto(value: Any, name: str, unit: str, auto: str, hint: str) -> int:
    """``value`` — an int, or text: a whole number or ``auto`` (:func:`available_cpus`) —
    as a count >= 1 (:func:`xpnn._validate.count`); otherwise ``ValueError`` naming
    ``name``, the ``unit`` counted, what ``auto`` gives and a ``hint``."""
    number = value
    if isinstance(value, str):
        if value.strip().lower() == "auto":
            return available_cpus()
        with contextlib.suppress(ValueError):
            number = int(value.strip())
    try:
        return count(name, number, 1)
    except ValueError:  # count's errors, of the wrong kind of value too, are ValueErrors
        raise ValueError(
            f"{name} must be a whole number of {unit} >= 1 or 'auto' ({auto}), got "
            f"{value!r}; {hint}"
        ) from None


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity where the OS tells), at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, _MAX_DEFAULT))


_threads = _default_threads()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_lock = threading.Lock()
_local = threading.local()  # .alone: this thread's kernels stay on it (a data-parallel part)


def get_num_threads() -> int:
    """The threads the NumPy backend's elementwise kernels use (its BLAS has its own)."""
    return _threads


@contextlib.contextmanager
def on_this_thread_only() -> Iterator[None]:
    """Within the block, the kernels this thread calls run on it alone, whatever
    :func:`get_num_threads` says: a part of a data-parallel step already has a core."""
    before = getattr(_local, "alone", False)
    _local.alone = True
    try:
        yield
    finally:
        _local.alone = before


def set_num_threads(n: int) -> None:
    """Run the NumPy backend's elementwise kernels (patch copies, pooling, bias and
    activations, optimizer updates) on ``n`` threads (``1``: the calling thread only).

    The matrix products use NumPy's BLAS threads, which this does not change (set them
    with ``threadpoolctl`` or ``OPENBLAS_NUM_THREADS``). Results are the same bits for
    any ``n``."""
    global _threads
    _threads = count("n", n, 1)


def _forget_pool() -> None:
    """After ``fork``: the parent's worker threads do not exist in the child."""
    global _pool, _pool_size, _lock
    _pool, _pool_size, _lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _workers(n: int) -> ThreadPoolExecutor:
    """A pool of at least ``n`` worker threads (grown, never shrunk: idle ones cost nothing)."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < n:
            old = _pool
            _pool = ThreadPoolExecutor(n, thread_name_prefix="xpnn")
            _pool_size = n
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def _count(length: int, elements: int) -> int:
    """How many parts: one a thread, none of fewer than :data:`MIN_PART` of ``elements``,
    never more than ``length`` items."""
    if _threads == 1 or getattr(_local, "alone", False):
        return 1
    return min(_threads, length, max(1, elements // MIN_PART))


def splits(elements: int) -> bool:
    """Whether work touching ``elements`` would be cut into parts (along any axis long
    enough): callers skip setting the parts up where not (a few µs, which small layers'
    steps notice)."""
    return _count(elements, elements) > 1


def parts(length: int, elements: int) -> list[tuple[int, int]]:
    """``[(lo, hi), ...]``: ``range(length)`` cut into as many near-equal parts as there are
    threads, but none of fewer than :data:`MIN_PART` of the ``elements`` the work touches."""
    k = _count(length, elements)
    if k <= 1:
        return [(0, length)]
    cuts = [length * i // k for i in range(k + 1)]
    return list(itertools.pairwise(cuts))


def run_parts(task: Callable[[int, int], object], length: int, elements: int) -> None:
    """Call ``task(lo, hi)`` over parts of ``range(length)`` at once (:func:`parts`), one
    of them on the calling thread; return when all are done, raising the first error.

    ``task`` must write disjoint memory for disjoint parts (an elementwise operation on
    slices along one axis does)."""
    run_all([functools.partial(task, lo, hi) for lo, hi in parts(length, elements)])


def run_all(tasks: Sequence[Callable[[], T]]) -> list[T]:
    """Call every one of ``tasks`` at once, the first on the calling thread and the others
    on the pool's threads; return their results in order when all are done. The first
    error raised (in the order of ``tasks``) is raised again, after every task has ended:
    none is left running when this returns or raises."""
    if len(tasks) == 1:
        return [tasks[0]()]
    futures: list[Future[T]] = []
    first: list[T] = []
    pool = _workers(len(tasks) - 1)
    try:
        futures = [pool.submit(task) for task in tasks[1:]]
        first.append(tasks[0]())
    finally:
        errors = [f.exception() for f in futures]  # waits for each: none left writing
    for error in errors:
        if error is not None:
            raise error
    return first + [f.result() for f in futures]
