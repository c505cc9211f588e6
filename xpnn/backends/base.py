"""The :class:`Backend` interface: an array library, a device, what the standard lacks, and
the kernel seam.

A backend bundles an Array API namespace (``xp``) and a device with what the Array API
standard leaves out: moving host (NumPy) data on and off the device, waiting for the device,
making it the current one, and a seeded random generator. Each library's specifics live in
its own file beside this one (``numpy.py``, ``strict.py``, ``torch.py``, ``cupy.py``), each a
subclass of :class:`Backend`; nothing else in xpnn asks which library it computes with.

**The kernel seam.** Each hot operation a library can do in one kernel is one method here
(:data:`SEAM`): the patch matrix of a convolution and its adjoint, max pooling forward and
backward, bias + activation and the activation's backward, softmax cross-entropy forward and
backward, BatchNorm forward and backward, dropout's draw-mask-and-scale, and an optimizer
rule's update. Each default calls the portable reference (:mod:`xpnn.ops`, or the
optimizer's own ``apply``); a backend overrides the ones it can do faster. The layers and
optimizers call these methods and never learn which implementation they got.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from array_api_compat import is_numpy_array

from ..ops import activation, batchnorm, conv, conv_pool, dropout, pool, softmax

__all__ = [
    "SEAM",
    "Backend",
    "BackendError",
    "DeviceBackendError",
    "cached_backend",
    "created_backends",
    "import_library",
]

_DTYPE_NAMES = ("float32", "float64", "float16", "int32", "int64", "bool")
_NO_CONTEXT = contextlib.nullcontext()  # reusable: entering it does nothing

#: The kernel seam: the methods of :class:`Backend` a library may replace with its own kernels.
SEAM: tuple[str, ...] = (
    "conv_patches",
    "conv_patches_adjoint",
    "maxpool_forward",
    "maxpool_backward",
    "bias_act",
    "act_forward",
    "act_backward",
    "softmax_xent",
    "softmax_xent_backward",
    "batchnorm_forward",
    "batchnorm_backward",
    "dropout_forward",
    "optimizer_step",
)


class BackendError(ImportError):
    """A backend was asked for that cannot be used here (unknown, not installed, no device)."""


class DeviceBackendError(BackendError):
    """The library is usable but has no such device (an unknown name, an index past the
    devices it sees)."""


def import_library(module: str, install_hint: str) -> Any:
    """Import an array library, or raise :class:`BackendError` saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendError(
            f"the {module!r} backend was requested but {module} is not installed "
            f"({exc}); install it with: {install_hint}"
        ) from None


_BACKENDS: dict[tuple[str, Any], Backend] = {}


def cached_backend(name: str, key: Any, create: Callable[[Any], Backend]) -> Backend:
    """The one backend of library ``name`` on the device ``key``, made by ``create(key)`` the
    first time it is asked for."""
    backend = _BACKENDS.get((name, key))
    if backend is None:
        backend = _BACKENDS[name, key] = create(key)
    return backend


def created_backends() -> list[Backend]:
    """Every backend this process has made so far."""
    return list(_BACKENDS.values())


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

    A subclass implements :meth:`create` (the backend of a device key) and :meth:`rng`, and
    overrides whatever else its library does better.
    """

    name: ClassVar[str] = "?"

    def __init__(self, xp: Any, device: Any, lib: Any) -> None:
        self.xp = xp
        self.device = device
        self._lib = lib

    @classmethod
    def create(cls, key: Any) -> Backend:
        """A new backend of this library on the device ``key`` (what ``device_key``
        gives); raises :class:`BackendError` where it cannot be used."""
        raise NotImplementedError

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

    def parts_on_threads(self) -> contextlib.AbstractContextManager[Any] | None:
        """A context manager within which parts of a batch run at once on threads of this
        process, each part's matrix products on one thread (:mod:`xpnn.data_parallel`), or
        ``None`` where parts are not run so: by default (a GPU already runs a whole batch
        at once; measured only on NumPy)."""
        return None

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

    # -- the kernel seam (see the module docstring and xpnn.ops) ---------------------------
    def conv_by_rows(
        self, w_shape: tuple[int, ...], x_shape: tuple[int, ...], stride: int, pad: int
    ) -> bool:
        """Whether a convolution of an input ``x_shape`` (N, C, H, W) by filters ``w_shape``
        (F, C, FH, FW) runs by shifted rows (:mod:`xpnn.ops.conv_rows`, stride 1 only)
        rather than through the patch matrix. No, by default: one patch kernel and one
        product are what a GPU library does best."""
        return False

    def conv_pool_kernel(self) -> Any:
        """A new kernel that runs a convolution, the ReLU after it and a max pooling whose
        windows lie side by side as one block (:class:`xpnn.conv_pool.ConvReluPool` says
        when), or ``None``: the block runs its three layers. By default the portable
        reference, :class:`xpnn.ops.conv_pool.PoolOrderedConv`."""
        return conv_pool.PoolOrderedConv()

    def conv_patches(self, x: Any, fh: int, fw: int, stride: int, pad: int, out: Any = None) -> Any:
        """The patch matrix P (C·fh·fw, N·OH·OW) of x (N, C, H, W):
        :func:`xpnn.ops.conv.patches`."""
        return conv.patches(x, fh, fw, stride, pad, out)

    def conv_patches_adjoint(
        self, dp: Any, x_shape: tuple[int, ...], fh: int, fw: int, stride: int, pad: int
    ) -> Any:
        """dx (N, C, H, W) from dP: :func:`xpnn.ops.conv.patches_adjoint`."""
        return conv.patches_adjoint(dp, x_shape, fh, fw, stride, pad)

    def maxpool_forward(self, x: Any, ph: int, pw: int, stride: int, pad: int) -> tuple[Any, Any]:
        """``(out, ctx)``: :func:`xpnn.ops.pool.maxpool_forward` (``ctx`` is this backend's
        own, for its :meth:`maxpool_backward`)."""
        return pool.maxpool_forward(x, ph, pw, stride, pad)

    def maxpool_backward(
        self,
        dout: Any,
        out: Any,
        ctx: Any,
        x_shape: tuple[int, ...],
        ph: int,
        pw: int,
        stride: int,
        pad: int,
    ) -> Any:
        """dx: :func:`xpnn.ops.pool.maxpool_backward`."""
        return pool.maxpool_backward(dout, out, ctx, x_shape, ph, pw, stride, pad)

    def bias_act(self, z: Any, b: Any, act: str) -> Any:
        """``act(z + b)``, ``z`` given up by the caller: :func:`xpnn.ops.activation.bias_act`."""
        return activation.bias_act(z, b, act)

    def act_forward(self, x: Any, act: str) -> Any:
        """``act(x)``, a new array: :func:`xpnn.ops.activation.act_forward`."""
        return activation.act_forward(x, act)

    def act_backward(self, dout: Any, out: Any, act: str) -> Any:
        """``dout · act'``: :func:`xpnn.ops.activation.act_backward`."""
        return activation.act_backward(dout, out, act)

    def softmax_xent(self, x: Any, t: Any, want_grad: bool) -> tuple[Any, Any, Any]:
        """``(loss, y, dx or None)``: :func:`xpnn.ops.softmax.softmax_xent`."""
        return softmax.softmax_xent(x, t, want_grad)

    def softmax_xent_backward(self, y: Any, t: Any, scale: float) -> Any:
        """``(y - t)·scale``: :func:`xpnn.ops.softmax.softmax_xent_backward`."""
        return softmax.softmax_xent_backward(y, t, scale)

    def batchnorm_forward(
        self,
        x: Any,
        gamma: Any,
        beta: Any,
        running_mean: Any,
        running_var: Any,
        momentum: float,
        eps: float,
        train: bool,
    ) -> tuple[Any, Any, Any]:
        """``(out, xn, std)``: :func:`xpnn.ops.batchnorm.batchnorm_forward`."""
        return batchnorm.batchnorm_forward(
            x, gamma, beta, running_mean, running_var, momentum, eps, train
        )

    def batchnorm_backward(
        self,
        dout: Any,
        xn: Any,
        std: Any,
        gamma: Any,
        train: bool,
        dgamma: Any = None,
        dbeta: Any = None,
    ) -> tuple[Any, Any, Any]:
        """``(dx, dgamma, dbeta)``: :func:`xpnn.ops.batchnorm.batchnorm_backward` (given
        ``dgamma``/``dbeta`` are written with :meth:`sum_into`)."""
        return batchnorm.batchnorm_backward(
            dout, xn, std, gamma, train, dgamma, dbeta, self.sum_into
        )

    def dropout_forward(self, x: Any, ratio: float, generator: Any) -> tuple[Any, Any]:
        """``(out, mask)``: :func:`xpnn.ops.dropout.dropout_forward`."""
        return dropout.dropout_forward(x, ratio, generator)

    def optimizer_step(
        self, optimizer: Any, p: Any, g: Any, state: dict[str, Any], step: int
    ) -> None:
        """Apply ``optimizer``'s rule at ``step`` to ``p`` (in place), its gradient ``g`` and
        its state arrays (``state``, by slot, updated in place): the rule's portable formula,
        ``optimizer.apply(xp, p, g, state, optimizer.scalars(step, xp, p.dtype))``."""
        xp = self.xp
        optimizer.apply(xp, p, g, state, optimizer.scalars(step, xp, p.dtype))

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

    def rng(self, seed: int | np.random.SeedSequence | None = None) -> Any:
        """A seeded :class:`xpnn.random.Generator` that draws on this backend's device.

        The same seed on the same backend gives the same numbers. ``seed`` may be an int,
        ``None`` (fresh entropy) or a :class:`numpy.random.SeedSequence`."""
        raise NotImplementedError

    # -- identity ------------------------------------------------------------------------
    def device_key(self) -> Any:
        """A hashable, picklable name of the device (what :func:`xpnn.get_backend` takes)."""
        return str(self.device)

    @classmethod
    def _restore(cls, key: Any) -> Backend:
        return cached_backend(cls.name, key, cls.create)

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        return type(self)._restore, (self.device_key(),)

    def __repr__(self) -> str:
        return f"Backend(name={self.name!r}, device={self.device!r})"
