"""Instruments for the GPU stand-in (array_api_strict on ``device1``): nothing here is a test.

- :func:`count_host_reads`: counts every read of a stand-in array's values by the host
  (``float()``, ``int()``, ``bool()``, ``to_device`` onto the CPU, DLPack), the
  operations that on a GPU wait for the device.
- :func:`cupy_like_devices`: makes array_api_strict behave like CuPy with several GPUs:
  creation functions ignore ``device=`` and allocate on the *current* device (the one
  ``backend.activate()`` makes current; the CPU outside any), and computing an array on a
  stand-in device that is not current raises. A line of xpnn that forgets to enter the
  device then fails, or leaves an array on the wrong device, as it would on CuPy.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import array_api_strict
from array_api_strict._array_object import Array

from xpnn.backends import strict as strict_backend

CPU = array_api_strict.Device("CPU_DEVICE")
_READS = ("__float__", "__int__", "__bool__", "__index__", "__complex__", "__dlpack__")
_CREATION = (
    "asarray", "arange", "empty", "empty_like", "eye", "full", "full_like", "linspace",
    "ones", "ones_like", "zeros", "zeros_like",
)  # fmt: skip


class HostReads:
    """The stand-in arrays' host reads seen so far, by method name."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __len__(self) -> int:
        return len(self.calls)

    def clear(self) -> None:
        self.calls.clear()


@contextlib.contextmanager
def count_host_reads(monkeypatch: Any) -> Iterator[HostReads]:
    reads = HostReads()

    def counting(name: str, method: Any) -> Any:
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            if self.device != CPU and not (name == "to_device" and args and args[0] != CPU):
                reads.calls.append(name)
            return method(self, *args, **kwargs)

        return wrapper

    for name in (*_READS, "to_device"):
        monkeypatch.setattr(Array, name, counting(name, getattr(Array, name)))
    yield reads


@contextlib.contextmanager
def cupy_like_devices(monkeypatch: Any) -> Iterator[None]:
    def current() -> Any:
        return strict_backend.current_device.get() or CPU

    def on_current_device(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            kwargs["device"] = current()  # CuPy: device= is ignored
            return fn(*args, **kwargs)

        return wrapper

    for name in _CREATION:
        monkeypatch.setattr(
            array_api_strict, name, on_current_device(getattr(array_api_strict, name))
        )
    real_new = Array._new.__func__

    def new(cls, x, /, device):
        if device is not None and device != CPU and device != current():
            raise RuntimeError(
                f"computed on {device} while the current device is {current()} "
                "(CuPy would launch this on the wrong GPU or refuse it)"
            )
        return real_new(cls, x, device=device)

    monkeypatch.setattr(Array, "_new", classmethod(new))
    yield
