"""Arrays a layer keeps from step to step: reused while the shape, dtype and device stay."""

from __future__ import annotations

from typing import Any

from array_api_compat import device as device_of

from ._array_api import namespace_of

__all__ = ["reuse"]


def reuse(old: Any, like: Any, shape: tuple[int, ...], zeros: bool = False) -> Any:
    """``old`` if it is an array of ``shape`` with ``like``'s dtype and device, else a new
    one: of zeros if ``zeros``, else uninitialised. (A fresh array as large as DeepConvNet's
    patch matrix, 45 MB, is mapped fresh by the allocator each time, and the kernel's zeroing
    of its pages took ~10 % of a step.)"""
    if (
        old is not None
        and tuple(old.shape) == shape
        and old.dtype == like.dtype
        and device_of(old) == device_of(like)
    ):
        return old
    xp = namespace_of(like)
    make = xp.zeros if zeros else xp.empty
    return make(shape, dtype=like.dtype, device=device_of(like))
