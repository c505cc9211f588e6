"""NumPy on the CPU: the default backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Backend, BackendError

__all__ = ["NumpyBackend", "create", "device_key", "owns"]


class NumpyBackend(Backend):
    """NumPy through ``array_api_compat.numpy``; one device, ``"cpu"``."""

    name = "numpy"

    def needs_transfer(self, x: Any) -> bool:
        return False  # host arrays are this backend's own

    def to_numpy(self, array: Any) -> np.ndarray:
        return np.array(array, copy=True)

    def matmul_into(self, a: Any, b: Any, out: Any) -> None:
        np.matmul(a, b, out=out)

    def sum_into(self, x: Any, axis: int | tuple[int, ...], out: Any) -> None:
        np.add.reduce(x, axis=axis, out=out)  # np.sum's Python wrapper costs ~3 µs a call


def device_key(device: Any) -> str:
    if device not in (None, "cpu"):
        raise BackendError(f"numpy has only the 'cpu' device, not {device!r}")
    return "cpu"


def create(key: str) -> NumpyBackend:
    from array_api_compat import numpy as xp

    return NumpyBackend(xp, "cpu", np)


def owns(array: Any) -> str | None:
    return "cpu" if isinstance(array, np.ndarray | np.generic) else None
