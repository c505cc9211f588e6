"""Array backends: which array library xpnn computes with, and on which device.

A :class:`Backend` bundles an Array API namespace (``xp``), a device, and the few things the
standard leaves out: moving host (NumPy) data on and off the device, waiting for the device,
and a seeded random generator.

The default backend is read once, when ``xpnn`` is imported, from the environment variable
``XPNN_BACKEND`` (``numpy`` when unset or empty; stripped and case-insensitive), on the device
named by ``XPNN_DEVICE`` (the backend's default device when unset or empty). Any other
backend is available at any time through :func:`get_backend`.

This is the one module besides :mod:`xpnn.random` that knows the concrete array libraries.
"""

from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .random import Generator, make_generator

__all__ = [
    "BACKEND_NAMES",
    "Backend",
    "BackendError",
    "backend_from_env",
    "backend_of",
    "get_backend",
]

#: The names accepted by ``XPNN_BACKEND`` and :func:`get_backend`.
BACKEND_NAMES: tuple[str, ...] = ("numpy", "cupy", "torch", "array_api_strict")

_ALIASES = {"np": "numpy", "cp": "cupy", "pytorch": "torch", "strict": "array_api_strict"}


class BackendError(ImportError):
    """A backend was asked for that cannot be used here (unknown, not installed, no device)."""


@dataclass(frozen=True, eq=False)
class Backend:
    """An array library and a device to compute on.

    Attributes
    ----------
    name:
        One of :data:`BACKEND_NAMES`.
    xp:
        The Array API namespace (the ``array_api_compat`` wrapper for NumPy, CuPy and torch;
        ``array_api_strict`` itself).
    device:
        The device arrays are created on (``"cpu"`` for NumPy, a ``cupy.cuda.Device``, a
        ``torch.device``, an ``array_api_strict.Device``).
    """

    name: str
    xp: Any
    device: Any
    _lib: Any = field(repr=False)

    @property
    def is_cpu(self) -> bool:
        """True when arrays live in host memory (reading a value costs no device sync)."""
        if self.name == "cupy":
            return False
        if self.name == "torch":
            return self.device.type == "cpu"
        return True  # numpy; array_api_strict's devices are all host memory

    # -- data movement ------------------------------------------------------------------
    def asarray(self, data: Any, dtype: Any = None, *, copy: bool | None = None) -> Any:
        """Move ``data`` (a host NumPy array, a scalar, a list, or an array of this backend)
        to this backend's device, optionally converting to ``dtype`` (a dtype of ``xp`` or a
        name such as ``"float32"``)."""
        if dtype is not None:
            dtype = self.dtype(dtype)
        if self.name == "array_api_strict" and isinstance(data, np.ndarray):
            # array_api_strict rejects some NumPy scalar types; go through a plain buffer
            # (np.asarray, not np.ascontiguousarray, which turns a 0-d array into shape (1,)).
            data = np.asarray(data, order="C")
        if self.name == "torch" and isinstance(data, np.ndarray):
            if copy or not data.flags.writeable:
                # torch warns on read-only buffers, and torch.asarray(copy=True) fails on a
                # 0-d array with a dtype change ("can't alias tensor with dtype 'Double'
                # into dtype 'Float'"): take a private host copy and let torch convert it.
                data, copy = np.array(data), None
        return self.xp.asarray(data, dtype=dtype, device=self.device, copy=copy)

    def to_numpy(self, array: Any) -> np.ndarray:
        """Copy an array of this backend (or a host array) to a host NumPy array."""
        if isinstance(array, np.ndarray):
            return array
        if self.name == "cupy":
            return self._lib.asnumpy(array)
        if self.name == "torch":
            return array.detach().cpu().numpy()
        if self.name == "array_api_strict":
            return np.asarray(array.to_device(self._lib.Device("CPU_DEVICE")))
        return np.asarray(array)

    def synchronize(self) -> None:
        """Block until all work queued on the device has finished (a no-op on the CPU)."""
        if self.name == "cupy":
            self._lib.cuda.get_current_stream().synchronize()
        elif self.name == "torch" and self.device.type == "cuda":
            self._lib.cuda.synchronize(self.device)

    # -- types and randomness -----------------------------------------------------------
    def dtype(self, dtype: Any) -> Any:
        """Resolve a dtype name (``"float32"``, ``"float64"``, ...) to this namespace's dtype;
        a dtype object is returned unchanged."""
        if isinstance(dtype, str):
            name = dtype.strip().lower()
            if name not in ("float32", "float64", "float16", "int32", "int64", "bool"):
                raise ValueError(
                    f"unknown dtype {dtype!r}; use 'float32' or 'float64' (or an xp dtype)"
                )
            return getattr(self.xp, name)
        is_numpy_type = isinstance(dtype, type) and issubclass(dtype, np.generic)
        if is_numpy_type or isinstance(dtype, np.dtype):
            return getattr(self.xp, np.dtype(dtype).name)
        return dtype

    def rng(self, seed: int | np.random.SeedSequence | None = None) -> Generator:
        """A seeded random generator that draws on this backend's device.

        The same seed on the same backend gives the same numbers. ``seed`` may be an int,
        ``None`` (fresh entropy) or a :class:`numpy.random.SeedSequence`.
        """
        return make_generator(self, seed)

    def __repr__(self) -> str:
        return f"Backend(name={self.name!r}, device={self.device!r})"


def _normalise(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in BACKEND_NAMES:
        raise BackendError(
            f"unknown xpnn backend {name!r}; valid names are: {', '.join(BACKEND_NAMES)} "
            "(set XPNN_BACKEND to one of them, or leave it unset for numpy)"
        )
    return key


def _import(module: str, install_hint: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendError(
            f"the {module!r} backend was requested but {module} is not installed "
            f"({exc}); install it with: {install_hint}"
        ) from None


def _numpy_backend(device: Any) -> Backend:
    from array_api_compat import numpy as xp

    if device not in (None, "cpu"):
        raise BackendError(f"numpy has only the 'cpu' device, not {device!r}")
    return Backend("numpy", xp, "cpu", np)


def _strict_backend(device: Any) -> Backend:
    xp = _import("array_api_strict", "pip install array-api-strict")
    if device is None:
        dev = xp.Device("CPU_DEVICE")
    elif isinstance(device, str):
        dev = xp.Device(device)
    else:
        dev = device
    return Backend("array_api_strict", xp, dev, xp)


def _cupy_backend(device: Any) -> Backend:
    cupy = _import("cupy", "pip install 'xpnn[cuda]'  (or the cupy-cudaXXx wheel for your CUDA)")
    try:
        available = bool(cupy.cuda.is_available())
    except Exception:  # a broken driver install raises instead of answering
        available = False
    if not available:
        raise BackendError(
            "the 'cupy' backend was requested but CuPy finds no usable CUDA device; "
            "check `nvidia-smi`, the NVIDIA driver and CUDA_VISIBLE_DEVICES, "
            "or unset XPNN_BACKEND to run on numpy"
        )
    from array_api_compat import cupy as xp

    dev = cupy.cuda.Device(0 if device is None else int(getattr(device, "id", device)))
    return Backend("cupy", xp, dev, cupy)


def _torch_backend(device: Any) -> Backend:
    torch = _import("torch", "pip install torch  (CPU or CUDA build)")
    from array_api_compat import torch as xp

    dev = torch.device("cpu" if device is None else device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BackendError(
            "torch was asked for a CUDA device but torch.cuda.is_available() is False; "
            "check the driver, or use device='cpu'"
        )
    return Backend("torch", xp, dev, torch)


_FACTORIES = {
    "numpy": _numpy_backend,
    "array_api_strict": _strict_backend,
    "cupy": _cupy_backend,
    "torch": _torch_backend,
}


@functools.cache
def _cached(name: str, device: Any) -> Backend:
    return _FACTORIES[name](device)


def get_backend(name: str | Backend | None = None, device: Any = None) -> Backend:
    """Return the backend called ``name`` on ``device`` (its default device when ``None``).

    ``name=None`` returns the default backend (the one ``XPNN_BACKEND`` chose at import).
    A :class:`Backend` is returned as is. Raises :class:`BackendError` (an ``ImportError``)
    for an unknown name, a library that is not installed, or CuPy without a CUDA device.
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
    try:
        return _cached(key, device)
    except TypeError:  # an unhashable device object
        return _FACTORIES[key](device)


def backend_from_env(environ: Any = None) -> Backend:
    """The backend named by ``XPNN_BACKEND`` in ``environ`` (default ``os.environ``), on the
    device named by ``XPNN_DEVICE`` (``device1``, ``1``, ``cuda:1``, ...; unset or empty: the
    backend's default device)."""
    env = os.environ if environ is None else environ
    raw = env.get("XPNN_BACKEND", "")
    name = raw.strip()
    raw_device = env.get("XPNN_DEVICE", "")
    device = raw_device.strip() or None
    try:
        key = _normalise(name) if name else "numpy"
    except BackendError as exc:
        raise BackendError(f"XPNN_BACKEND={raw!r}: {exc}") from None
    if device is None:
        return _cached(key, None)
    try:
        return _cached(key, device)
    except (BackendError, TypeError, ValueError, RuntimeError) as exc:
        raise BackendError(f"XPNN_DEVICE={raw_device!r} is not a device of {key}: {exc}") from None


def backend_of(array: Any) -> Backend:
    """The backend (library and device) an array belongs to."""
    if isinstance(array, np.ndarray | np.generic):
        return _cached("numpy", None)
    from array_api_compat import device as device_of
    from array_api_compat import is_cupy_array, is_torch_array

    mod = type(array).__module__.split(".")[0]
    if mod == "array_api_strict":
        return get_backend("array_api_strict", device_of(array))
    if is_cupy_array(array):
        return get_backend("cupy", device_of(array).id)
    if is_torch_array(array):
        return get_backend("torch", str(device_of(array)))
    raise TypeError(
        f"expected an array of numpy, cupy, torch or array_api_strict, got {type(array).__name__}"
    )


#: The default backend, chosen once from ``XPNN_BACKEND`` when xpnn is imported.
default_backend: Backend = backend_from_env()
