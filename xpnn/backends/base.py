"""The :class:`Backend` interface: an array library, a device, and what the standard lacks.

A backend bundles an Array API namespace (``xp``) and a device with the few things the
Array API standard leaves out: moving host (NumPy) data on and off the device, waiting for
the device, making it the current one, and a seeded random generator. Each library's
specifics live in its own file beside this one (``numpy.py``, ``strict.py``, ``torch.py``,
``cupy.py``), each a subclass of :class:`Backend`; nothing else in xpnn asks which library
it computes with.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from array_api_compat import is_numpy_array

if TYPE_CHECKING:  # pragma: no cover
    from ..random import Generator

__all__ = ["Backend", "BackendError"]

_DTYPE_NAMES = ("float32", "float64", "float16", "int32", "int64", "bool")
_NO_CONTEXT = contextlib.nullcontext()  # reusable: entering it does nothing


class BackendError(ImportError):
    """A backend was asked for that cannot be used here (unknown, not installed, no device)."""


class Backend:
    """An array library and a device to compute on.

    Attributes
    ----------
    name:
        The backend's name, one of :data:`xpnn.BACKEND_NAMES`.
    xp:
        The Array API namespace (the ``array_api_compat`` wrapper for NumPy, CuPy and torch;
        ``array_api_strict`` itself).
    device:
        The device arrays are created on (``"cpu"`` for NumPy, a ``cupy.cuda.Device``, a
        ``torch.device``, an ``array_api_strict.Device``).

    Backends are made by :func:`xpnn.get_backend` (cached: one object per library and
    device) and compare by identity. They pickle by name and device, so a backend can be
    sent to a worker process and is looked up again there.
    """

    name: ClassVar[str] = "?"

    def __init__(self, xp: Any, device: Any, lib: Any) -> None:
        self.xp = xp
        self.device = device
        self._lib = lib

    # -- where arrays live ---------------------------------------------------------------
    @property
    def is_cpu(self) -> bool:
        """True when arrays live in host memory, so reading a value costs no device sync.

        Where it is false xpnn keeps losses on the device, checks no values of device
        arrays, and reads from the device only at bounded points (the Trainer's progress
        refreshes, the end of an epoch, evaluation)."""
        return True

    @property
    def fork_safe(self) -> bool:
        """False when a process started by ``fork`` after this backend was used cannot use
        it (CUDA cannot be re-initialised in a forked child): worker pools must ``spawn``."""
        return True

    def activate(self) -> contextlib.AbstractContextManager[Any]:
        """A context manager that makes this backend's device the current one (re-entrant).

        xpnn enters it around everything that creates arrays or launches work (building a
        network, its forward and backward passes, optimizer updates, training): libraries
        such as CuPy allocate on the *current* device whatever ``device=`` says. A no-op
        for libraries that honour ``device=``."""
        return _NO_CONTEXT

    def synchronize(self) -> None:
        """Block until all work queued on the device has finished (a no-op on the CPU)."""

    # -- data movement ------------------------------------------------------------------
    def asarray(self, data: Any, dtype: Any = None, *, copy: bool | None = None) -> Any:
        """Move ``data`` (a host NumPy array, a scalar, a list, or an array of this backend)
        to this backend's device, optionally converting to ``dtype`` (a dtype of ``xp`` or a
        name such as ``"float32"``)."""
        if dtype is not None:
            dtype = self.dtype(dtype)
        return self.xp.asarray(data, dtype=dtype, device=self.device, copy=copy)

    def needs_transfer(self, x: Any) -> bool:
        """True when ``x`` is a host NumPy array that this backend must convert (with
        :meth:`asarray`) before computing with it: on every backend but NumPy's."""
        return is_numpy_array(x)

    def to_numpy(self, array: Any) -> np.ndarray:
        """A host NumPy copy of ``array`` (an array of this backend, or a host array).

        Always a new array that owns its memory: editing it never edits ``array``."""
        return np.array(array, copy=True)

    # -- what the standard lacks: writing a result into an existing array ---------------
    def matmul_into(self, a: Any, b: Any, out: Any) -> None:
        """``out[...] = a @ b``: one operation where the library has ``out=``, two here."""
        out[...] = a @ b

    def sum_into(self, x: Any, axis: int | tuple[int, ...], out: Any) -> None:
        """``out[...] = sum(x, axis)``: one operation where the library has ``out=``."""
        out[...] = self.xp.sum(x, axis=axis)

    def fused_update(
        self, optimizer: Any, p: Any, g: Any, state: dict[str, Any], step: int
    ) -> bool:
        """Apply ``optimizer``'s rule to the flat buffers ``p`` (in place), ``g`` and
        ``state`` in one fused kernel, if this backend has one for it (``True``); the
        portable path (``optimizer._update_param``) is the reference and the default."""
        return False

    # -- types and randomness -----------------------------------------------------------
    def dtype(self, dtype: Any) -> Any:
        """Resolve a dtype name (``"float32"``, ``"float64"``, ...) to this namespace's dtype;
        a dtype object is returned unchanged."""
        if isinstance(dtype, str):
            name = dtype.strip().lower()
            if name not in _DTYPE_NAMES:
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
        ``None`` (fresh entropy) or a :class:`numpy.random.SeedSequence`. The default draws
        on the host with NumPy and moves the numbers to the device."""
        from ..random import HostGenerator

        return HostGenerator(self, seed)

    # -- identity ------------------------------------------------------------------------
    def device_key(self) -> Any:
        """A hashable, picklable name of the device (what :func:`xpnn.get_backend` takes)."""
        return str(self.device)

    def __reduce__(self) -> tuple[Any, tuple[str, Any]]:
        from . import get_backend

        return get_backend, (self.name, self.device_key())

    def __repr__(self) -> str:
        return f"Backend(name={self.name!r}, device={self.device!r})"
