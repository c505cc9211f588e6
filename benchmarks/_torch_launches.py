"""Kernel launches of PyTorch eager, counted where they are made: the ATen operations a
training step dispatches.

A ``TorchDispatchMode`` sees every operation torch dispatches (forward, autograd's backward,
``torch.optim``; xpnn on its torch backend too). A **launch** is one such operation except
a view (``func.is_view``), an allocation (``empty``, ``empty_like``, ``empty_strided``), the
profiler's markers, and a host read (``_local_scalar_dense``: ``float()``/``.item()``),
counted apart. It is a model too, close to a CUDA launch count: cuDNN may run a
convolution as two kernels, and a ``_foreach_`` operation launches one kernel per chunk of
tensors. The same code counts on the CPU (the dry run) and on CUDA.

A step's launches are the difference between an epoch of 2 batches and an epoch of 1, so
that what an epoch does once (the permutation, the last loss read, evaluation) and what the
first step does (an optimizer creating its state) cancel::

    per_step = launches_per_step(torch, lambda k: make_epoch_of(k * batch))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["count_launches", "launches_per_step"]

_NO_KERNEL = frozenset({"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided"})
_READS = frozenset({"_local_scalar_dense"})


def _counter_class(torch: Any) -> type:
    from torch.utils._python_dispatch import TorchDispatchMode

    class LaunchCounter(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.ops = self.launches = self.reads = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            out = func(*args, **(kwargs or {}))
            namespace = getattr(func, "namespace", "aten")
            name = func.overloadpacket.__name__
            if namespace == "profiler":
                return out
            self.ops += 1
            if name in _READS:
                self.reads += 1
            elif not (func.is_view or name in _NO_KERNEL):
                self.launches += 1
            return out

    return LaunchCounter


def count_launches(torch: Any, fn: Callable[[], Any]) -> dict[str, int]:
    """``{"launches", "ops", "reads"}`` of what ``fn()`` dispatches to torch."""
    with _counter_class(torch)() as counter:
        fn()
    return {"launches": counter.launches, "ops": counter.ops, "reads": counter.reads}


def launches_per_step(torch: Any, make_epoch: Callable[[int], Callable[[], Any]]) -> int:
    """Launches of one steady-state step: ``make_epoch(k)`` builds (uncounted) a callable
    running a fresh epoch of ``k`` batches; the count of 2 batches less that of 1."""
    two, one = make_epoch(2), make_epoch(1)
    return count_launches(torch, two)["launches"] - count_launches(torch, one)["launches"]
