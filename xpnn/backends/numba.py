"""NumPy with compiled, multithreaded CPU kernels (Numba) at the kernel seam: the backend
``"numba"`` (``XPNN_BACKEND=numba``, ``pip install 'xpnn[numba]'``).

Everything is NumPy's (:class:`~xpnn.backends.numpy.NumpyBackend`: the arrays, the
generator, the blocked optimizer updates); what NumPy cannot fuse is replaced by one
compiled loop each, spread over the cores with ``numba.prange``:

- ``conv_patches``: each row of P (one channel and filter offset) copied sample by sample,
  the padding written as zeros in the same pass (no padded copy of the input);
- ``conv_patches_adjoint``: each (channel, sample) image summed from its patches in one
  pass, in the reference's order of additions;
- ``maxpool_forward``: the maximum of each window and the position of its first maximum in
  one pass (``ctx``: that position, 1 byte per window); ``maxpool_backward``: each window's
  gradient written to its position in one pass;
- ``bias_act`` (identity and ReLU): the bias added and the ReLU applied in one pass;
  ``act_backward`` (ReLU): the mask and the product in one pass.

Each gives exactly the NumPy reference's values, ties, NaN, infinities and signed zeros
included (``tests/test_cpu_kernels.py`` runs every case on both backends): the comparisons
are written as NumPy's ``maximum`` makes them (the second operand on ties and signed zeros,
NaN propagated), and additions happen in the reference's order. The sigmoid and tanh stay
NumPy's (a compiled ``exp`` may round differently in the last bit).

The kernels compile on first use (seconds; cached on disk by Numba after that) and run on
``numba.get_num_threads()`` threads (set it with ``numba.set_num_threads`` or
``NUMBA_NUM_THREADS``). Numba is imported when the backend is first created, so this file
imports without it.

**Threading layer.** Unless ``NUMBA_THREADING_LAYER`` says otherwise, the backend picks
Numba's own ``workqueue`` layer: on the shared 2-core machine the OpenMP layer Numba
picked by default made the patches of DeepConvNet's 16→16 layer 2.8x slower (24.8 vs
8.7 ms median, even on one thread), its idle threads competing for the cores. The
workqueue layer cannot be entered by two Python threads at once (a thread pool running
two networks would abort the process), so every kernel call takes one lock.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from ..ops.conv import output_hw
from .base import DeviceBackendError, import_library
from .numpy import NumpyBackend

__all__ = ["NumbaBackend", "create", "device_key", "owns"]

_KERNELS: dict[str, Any] = {}  # the compiled kernels, made once per process
_LOCK = threading.Lock()  # the workqueue threading layer takes one caller at a time


class NumbaBackend(NumpyBackend):
    """NumPy arrays and generator; compiled kernels for convolutions, pooling and ReLU."""

    name = "numba"

    @classmethod
    def create(cls, key: Any) -> NumbaBackend:
        from array_api_compat import numpy as xp

        if not _KERNELS:
            numba = import_library("numba", "pip install 'xpnn[numba]' (or: pip install numba)")
            if not os.environ.get("NUMBA_THREADING_LAYER"):
                numba.config.THREADING_LAYER = "workqueue"  # see the module docstring
            # the kernels' module imports Numba: imported here, on first use, compiled then
            from ._numba_kernels import KERNELS

            _KERNELS.update(KERNELS)
        return cls(xp, "cpu", np)

    def conv_patches(self, x: Any, fh: int, fw: int, stride: int, pad: int, out: Any = None) -> Any:
        n, c, h, w = x.shape
        oh, ow = output_hw(h, w, fh, fw, stride, pad)
        if out is None:
            out = np.empty((c * fh * fw, n * oh * ow), dtype=x.dtype)
        _run("patches", _channel_major(x), fh, fw, stride, pad, oh, ow, out)
        return out

    def conv_patches_adjoint(
        self, dp: Any, x_shape: tuple[int, ...], fh: int, fw: int, stride: int, pad: int
    ) -> Any:
        n, c, h, w = x_shape
        oh, ow = output_hw(h, w, fh, fw, stride, pad)
        img = np.empty((c, n, h, w), dtype=dp.dtype)
        _run("patches_adjoint", np.ascontiguousarray(dp), fh, fw, stride, pad, oh, ow, img)
        return img.transpose(1, 0, 2, 3)

    def maxpool_forward(self, x: Any, ph: int, pw: int, stride: int, pad: int) -> tuple[Any, Any]:
        if ph * pw > 127:  # the first maximum's position is kept in one byte
            return super().maxpool_forward(x, ph, pw, stride, pad)
        n, c, h, w = x.shape
        oh, ow = output_hw(h, w, ph, pw, stride, pad)
        if pad == 0 and stride >= max(ph, pw):  # windows apart: row by row, channel-major
            out = np.empty((c, n, oh, ow), dtype=x.dtype)
            first = np.empty((c, n, oh, ow), dtype=np.int8)
            _run("maxpool_forward_tiled", _channel_major(x), ph, pw, stride, out, first)
            return out.transpose(1, 0, 2, 3), _PoolContext(first, x, True)
        out = np.empty_like(x, shape=(n, c, oh, ow))  # in x's layout, as NumPy's would be
        first = np.empty((n, c, oh, ow), dtype=np.int8)
        _run("maxpool_forward", x, ph, pw, stride, pad, out, first)
        return out, _PoolContext(first, x, False)

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
        if not isinstance(ctx, _PoolContext):
            return super().maxpool_backward(dout, out, ctx, x_shape, ph, pw, stride, pad)
        if ctx.apart:
            n, c, h, w = x_shape
            _, _, oh, ow = dout.shape
            tiles = stride == ph == pw and oh * stride == h and ow * stride == w
            dx = np.empty((c, n, h, w), dtype=dout.dtype)
            d = _channel_major(dout)
            _run("maxpool_backward_tiled", d, ctx.first, ph, pw, stride, tiles, dx)
            return dx.transpose(1, 0, 2, 3)
        dx = np.empty_like(ctx.x, dtype=dout.dtype)  # in x's layout, as NumPy's would be
        overlap = stride < ph or stride < pw
        _run("maxpool_backward", dout, ctx.first, ph, pw, stride, pad, overlap, dx)
        return dx

    def bias_act(self, z: Any, b: Any, act: str) -> Any:
        if act not in ("identity", "relu") or z.ndim != 2 or not z.flags.c_contiguous:
            return super().bias_act(z, b, act)
        if b.shape == (z.shape[0], 1):
            column = np.ascontiguousarray(b[:, 0], dtype=z.dtype)
            _run("bias_act_rows", z, column, act == "relu")
        elif b.shape == (z.shape[1],):
            _run("bias_act_cols", z, np.ascontiguousarray(b, dtype=z.dtype), act == "relu")
        else:
            return super().bias_act(z, b, act)
        return z

    def act_backward(self, dout: Any, out: Any, act: str) -> Any:
        flat = _flat_pair(dout, out) if act == "relu" else None
        if flat is None:
            return super().act_backward(dout, out, act)
        dx = np.empty_like(dout)
        _run("relu_backward", flat[0], flat[1], _flat(dx))
        return dx


class _PoolContext:
    """What the compiled pooling forward hands its backward: the position (i·PW + j) of
    each window's first maximum (-1: a NaN window, whose gradient is zero), the input (for
    its layout), and whether the windows lie apart (pad 0, stride >= window: the
    positions are then (C, N, OH, OW), channel-major)."""

    __slots__ = ("apart", "first", "x")

    def __init__(self, first: np.ndarray, x: np.ndarray, apart: bool) -> None:
        self.first = first
        self.x = x
        self.apart = apart


def _channel_major(x: np.ndarray) -> np.ndarray:
    """x (N, C, H, W) as a C-contiguous (C, N, H, W) array: a view when x's memory is
    channel-major already (a Convolution's output, and the gradients after it)."""
    return np.ascontiguousarray(x.transpose(1, 0, 2, 3))


def _flat(a: np.ndarray) -> np.ndarray | None:
    """A 1-D view of ``a``'s memory in the order of its strides, or None (not contiguous)."""
    order = np.argsort(a.strides, kind="stable")[::-1]
    view = a.transpose(order)
    return view.reshape(-1) if view.flags.c_contiguous else None


def _flat_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """1-D views of two arrays laid out alike (same shape, dtype, strides), or None."""
    if a.shape != b.shape or a.strides != b.strides or a.dtype != b.dtype:
        return None
    fa, fb = _flat(a), _flat(b)
    return None if fa is None or fb is None else (fa, fb)


def _run(name: str, *args: Any) -> None:
    """Call the kernel ``name``, one thread of Python at a time (see ``_LOCK``)."""
    with _LOCK:
        _KERNELS[name](*args)


def device_key(device: Any) -> str:
    if device not in (None, "cpu"):
        raise DeviceBackendError(f"numba has only the 'cpu' device, not {device!r}")
    return "cpu"


create = NumbaBackend.create


def owns(array: Any) -> str | None:
    return None  # NumPy arrays belong to the numpy backend
