"""Array backends: which array library xpnn computes with, and on which device.

A :class:`Backend` bundles an Array API namespace (``xp``), a device, and the few things the
standard leaves out (see :mod:`xpnn.backends.base`). Each library has its own file here —
``numpy.py``, ``strict.py``, ``torch.py``, ``cupy.py`` — with its ``Backend`` subclass,
its random generator and anything else only that library needs; this module is the
registry that finds them.

The default backend is read once, when ``xpnn`` is imported, from the environment variable
``XPNN_BACKEND`` (``numpy`` when unset or empty; stripped and case-insensitive), on the
device named by ``XPNN_DEVICE`` (the library's default when unset: ``"cpu"``, GPU 0,
``CPU_DEVICE``). Any other backend is available at any time through :func:`get_backend`.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

from . import cupy as _cupy
from . import numpy as _numpy
from . import strict as _strict
from . import torch as _torch
from .base import (
    SEAM,
    Backend,
    BackendError,
    DeviceBackendError,
    cached_backend,
    created_backends,
    import_library,
)

__all__ = [
    "BACKEND_NAMES",
    "SEAM",
    "Backend",
    "BackendError",
    "DeviceBackendError",
    "backend_from_env",
    "backend_of",
    "created_backends",
    "get_backend",
    "import_library",
]

#: The names accepted by ``XPNN_BACKEND`` and :func:`get_backend`.
BACKEND_NAMES: tuple[str, ...] = ("numpy", "cupy", "torch", "array_api_strict")

_ALIASES = {"np": "numpy", "cp": "cupy", "pytorch": "torch", "strict": "array_api_strict"}
#: Each backend's file: its ``create(key)``, ``device_key(device)`` and ``owns(array)``.
_MODULES: dict[str, ModuleType] = {
    "numpy": _numpy,
    "cupy": _cupy,
    "torch": _torch,
    "array_api_strict": _strict,
}


def _normalise(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in BACKEND_NAMES:
        raise BackendError(
            f"unknown xpnn backend {name!r}; valid names are: {', '.join(BACKEND_NAMES)} "
            "(set XPNN_BACKEND to one of them, or leave it unset for numpy)"
        )
    return key


def _cached(name: str, key: Any) -> Backend:
    return cached_backend(name, key, _MODULES[name].create)


def get_backend(name: str | Backend | None = None, device: Any = None) -> Backend:
    """Return the backend called ``name`` on ``device`` (its default device when ``None``).

    ``name=None`` returns the default backend (the one ``XPNN_BACKEND`` chose at import).
    A :class:`Backend` is returned as is. ``device`` is what the library calls a device
    (``"cpu"``; a GPU index or ``cupy.cuda.Device``; ``"cuda:1"`` or a ``torch.device``;
    ``"device1"`` or an ``array_api_strict.Device``). The same library and device give the
    same object. Raises :class:`BackendError` (an ``ImportError``) for an unknown name or
    device, a library that is not installed, or CuPy without a usable CUDA device.
    """
    if isinstance(name, Backend):
        return name
    if name is None:
        if device is None:
            return default_backend
        name = default_backend.name
    if not isinstance(name, str):
        raise TypeError(f"backend must be a name or a Backend, not {type(name).__name__}")
    key = _normalise(name)
    return _cached(key, _MODULES[key].device_key(device))


def backend_from_env(environ: Any = None) -> Backend:
    """The backend named by ``XPNN_BACKEND`` in ``environ`` (default ``os.environ``), on the
    device named by ``XPNN_DEVICE`` (``device1``, ``1``, ``cuda:1``, ...; unset or empty: the
    backend's default device)."""
    env = os.environ if environ is None else environ
    raw = env.get("XPNN_BACKEND", "")
    raw_device = env.get("XPNN_DEVICE", "")
    name, device = raw.strip(), raw_device.strip() or None
    try:
        key = _normalise(name) if name else "numpy"
    except BackendError as exc:
        raise BackendError(f"XPNN_BACKEND={raw!r}: {exc}") from None
    if device is None:
        return _cached(key, _MODULES[key].device_key(None))
    try:
        return _cached(key, _MODULES[key].device_key(device))
    except DeviceBackendError as exc:
        raise DeviceBackendError(
            f"XPNN_DEVICE={raw_device!r} is not a device of {key}: {exc}"
        ) from None


def backend_of(array: Any) -> Backend:
    """The backend (library and device) an array belongs to.

    An array type that wraps another library's arrays (as the benchmarks' operation counter
    does) names its backend with a ``__xpnn_backend__`` attribute."""
    owner = getattr(array, "__xpnn_backend__", None)
    if owner is not None:
        return owner
    for name in ("numpy", "array_api_strict", "cupy", "torch"):
        if name not in sys.modules:  # each backend is named after its library:
            continue  # an array of a library nobody imported cannot exist
        key = _MODULES[name].owns(array)
        if key is not None:
            return _cached(name, key)
    raise TypeError(
        f"expected an array of numpy, cupy, torch or array_api_strict, got {type(array).__name__}"
    )


#: The default backend, chosen once from ``XPNN_BACKEND`` when xpnn is imported.
default_backend: Backend = backend_from_env()
