"""``array_api_strict``: the Array API standard and nothing else — xpnn's proof of portability.

Its default device, ``CPU_DEVICE``, behaves like NumPy. Its other devices (``"device1"``,
``"device2"``) are xpnn's **GPU stand-in**: arrays there cannot be read by NumPy
(``np.asarray`` raises), arrays of two devices cannot be mixed, and xpnn treats them as
device memory (``is_cpu`` is false) — so every branch xpnn has for a GPU (losses kept on the
device, no value checks of device arrays, reads only at bounded points, the device made
current around work) runs, in CI, on a machine without one.

``activate()`` on a stand-in device sets :data:`current_device`, the stand-in's "current
device": CuPy allocates on its current device whatever ``device=`` says, and a test can make
array_api_strict do the same (see ``tests/conftest.py``) to show that xpnn enters the device
wherever it must.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import numpy as np

from .base import Backend, DeviceBackendError, import_library
from .numpy import HostGenerator

__all__ = ["StrictBackend", "create", "current_device", "device_key", "owns"]

#: The stand-in's current device while a :meth:`StrictBackend.activate` block runs
#: (``None`` outside any).
current_device: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "xpnn_strict_current_device", default=None
)


class StrictBackend(Backend):
    """``array_api_strict`` on one of its devices (see the module docstring)."""

    name = "array_api_strict"

    @classmethod
    def create(cls, key: Any) -> StrictBackend:
        xp = import_library("array_api_strict", "pip install array-api-strict")
        try:
            dev = xp.Device(key)
        except ValueError as exc:
            raise DeviceBackendError(f"array_api_strict has no device {key!r} ({exc})") from None
        return cls(xp, dev, xp)

    @property
    def is_cpu(self) -> bool:
        return self.device == self._lib.Device("CPU_DEVICE")

    def activate(self) -> contextlib.AbstractContextManager[Any]:
        return _current(self.device)

    def asarray(self, data: Any, dtype: Any = None, *, copy: bool | None = None) -> Any:
        if isinstance(data, np.ndarray):
            # array_api_strict rejects some NumPy scalar types; go through a plain buffer
            # (np.asarray, not np.ascontiguousarray, which turns a 0-d array into shape (1,)).
            data = np.asarray(data, order="C")
        return super().asarray(data, dtype, copy=copy)

    def to_numpy(self, array: Any) -> np.ndarray:
        if isinstance(array, np.ndarray):
            return array.copy()
        # to_device onto another device copies; onto its own it returns the same array
        host = array.to_device(self._lib.Device("CPU_DEVICE"))
        return np.array(host, copy=host is array)

    def rng(self, seed: Any = None) -> HostGenerator:
        return HostGenerator(self, seed)

    def device_key(self) -> str:
        return device_key(self.device)


@contextlib.contextmanager
def _current(device: Any) -> Iterator[None]:
    token = current_device.set(device)
    try:
        yield
    finally:
        current_device.reset(token)


def device_key(device: Any) -> str:
    if device is None:
        return "CPU_DEVICE"
    if isinstance(device, str):
        return device
    text = str(device)  # "array_api_strict.Device('device1')"
    return text.split("'")[1] if "'" in text else text


create = StrictBackend.create


def owns(array: Any) -> str | None:
    if type(array).__module__.split(".")[0] != "array_api_strict":
        return None
    return device_key(array.device)
