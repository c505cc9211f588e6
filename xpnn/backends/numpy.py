"""NumPy on the CPU: the default backend, its random generator, and its replacements at the
kernel seam.

**Optimizer updates in blocks.** A rule runs over a large flat buffer in cache-sized blocks
of :data:`NUMPY_BLOCK` elements (views), so that the temporaries of an update stay in the
CPU cache instead of streaming through main memory once per operator, and are small enough
for the allocator to reuse. Measured on a 2-core EPYC (512 KB L2), one Adam update, float32,
µs: a network's flat buffer of 130 K parameters 723 unblocked, 695 in blocks of 65,536, 283
in blocks of 32,768, 334 of 16,384; four (2000, 1000) tensors 28.4 / 26.8 / 30.4 ms at
65,536 / 32,768 / 16,384. The more temporaries a rule makes, the sooner blocks pay; measured
whole vs blocked, µs per update of 130 K parameters / ms for four (2000, 1000) tensors: SGD
35 vs 42 / 7.4 vs 9.0 (never blocked), Momentum 83 vs 122 / 18.0 vs 14.2 and Nesterov 166 vs
178 / 43.4 vs 18.2 (blocked above 32 blocks), Adam 383 vs 324 / 89.2 vs 33.6 (blocked above
two, the default): :data:`BLOCK_ABOVE`. The results are the same bits, since every operation
is elementwise. NumPy only: it runs one thread per operation and its slices are always views.

**Convolution and activation kernels with fewer passes.** The same values as the portable
references of :mod:`xpnn.ops` (ties and NaN included; ``tests/test_cpu_kernels.py``), with
fewer passes over memory and no temporaries that are not reused:

- ``conv_patches``: the patch matrix as one copy of a ``sliding_window_view`` of the
  (padded) input into P's buffer, instead of FH·FW slice assignments.
- ``maxpool_forward``: the ``maximum`` chain written in place into the first result.
- ``maxpool_backward``: four ufunc calls per window position into three boolean buffers
  allocated once (``equal``; ``greater`` of two masks is "hit and not yet found";
  ``logical_or``; ``multiply`` straight into dx's strided slice), where the reference
  makes seven operations and as many temporaries.
- ``bias_act``: the bias added and the activation applied in place in the matmul's result.
- ``act_backward``: the ReLU mask written by ``greater`` into the result itself and
  multiplied there; the sigmoid's and tanh's derivatives in one buffer.

**On several threads, where asked** (``XPNN_NUM_THREADS``; one by default). Each of these
kernels, and the blocks of an optimizer update, can cut its work along the batch (or an
array's outermost axis) into parts run at once on the threads of
:mod:`xpnn.backends.threads`: the same bits, since each element is computed alike.

Measured on the real arguments of a training step, each kernel against the reference on
the same arrays, interleaved (one thread, process time, float32, batch 100; the sum over
the step's calls, ms): SimpleConvNet bias_act 0.66 vs 1.09, pooling forward 1.63 vs 2.11,
backward 4.07 vs 5.34, ReLU backward 1.28 vs 1.31, patches 0.94 vs 0.87: 8.6 vs 10.7 in
all (0.80); DeepConvNet patches 38.3 vs 39.0, pooling backward 8.1 vs 8.8: 62.0 vs 64.5
(0.96). NumPy's loops here run over the windows' rows (8 to 28 elements), so most of
their time is the per-row overhead of the ufunc machinery rather than memory traffic,
which no arrangement of NumPy calls removes. Compiled kernels (a ``numba`` backend,
``prange`` loops with the same bits) were built and measured against these and removed:
they tied with NumPy on one machine and were 1.3-1.4x slower per epoch on another.
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..ops.conv import output_hw, pad_image, window
from ..ops.pool import maxpool_forward as _maxpool_reference
from ..random import Generator, shape_of
from .base import Backend, DeviceBackendError
from .blas_threads import blas_threads
from .host_memory import keep_freed_memory
from .numpy_conv_pool import PoolOrderedConv
from .threads import run_parts, splits

__all__ = [
    "BLOCK_ABOVE",
    "NUMPY_BLOCK",
    "ROWS_MIN_CHANNELS",
    "HostGenerator",
    "NumpyBackend",
    "create",
    "device_key",
    "maxpool_backward",
    "maxpool_forward",
    "owns",
    "patches",
    "patches_adjoint",
    "rows_pay",
]

#: Elements per block of a blocked optimizer update (see the module docstring).
NUMPY_BLOCK = 32768

#: A rule's update is blocked above this many blocks (by the optimizer's ``rule`` name;
#: other rules: :data:`DEFAULT_BLOCK_ABOVE`).
BLOCK_ABOVE: dict[str, float] = {"sgd": math.inf, "momentum": 32, "nesterov": 32}
DEFAULT_BLOCK_ABOVE = 2.0


class NumpyBackend(Backend):
    """NumPy through ``array_api_compat.numpy``; one device, ``"cpu"``."""

    name = "numpy"

    @classmethod
    def create(cls, key: Any) -> NumpyBackend:
        from array_api_compat import numpy as xp

        keep_freed_memory()  # large arrays reused by malloc, not mapped afresh each step
        return cls(xp, "cpu", np)

    def needs_transfer(self, x: Any) -> bool:
        return False  # host arrays are this backend's own

    def parts_on_threads(self) -> contextlib.AbstractContextManager[Any]:
        return blas_threads(1)  # NumPy's BLAS threads each product: one thread a part

    def to_numpy(self, array: Any) -> np.ndarray:
        return np.array(array, copy=True)

    def matmul_into(self, a: Any, b: Any, out: Any) -> None:
        np.matmul(a, b, out=out)

    def sum_into(self, x: Any, axis: int | tuple[int, ...], out: Any) -> None:
        np.add.reduce(x, axis=axis, out=out)  # np.sum's Python wrapper costs ~3 µs a call

    def optimizer_step(
        self, optimizer: Any, p: Any, g: Any, state: dict[str, Any], step: int
    ) -> None:
        above = BLOCK_ABOVE.get(getattr(optimizer, "rule", None) or "", DEFAULT_BLOCK_ABOVE)
        blocks = _blocks(p, g, state, above)
        if blocks is None:
            super().optimizer_step(optimizer, p, g, state, step)
            return
        scalars = optimizer.scalars(step, self.xp, p.dtype)

        def apply(some: Any) -> None:
            for block_p, block_g, block_state in some:
                optimizer.apply(self.xp, block_p, block_g, block_state, scalars)

        if not splits(p.size):
            apply(blocks)
            return
        listed = list(blocks)
        run_parts(lambda lo, hi: apply(listed[lo:hi]), len(listed), p.size)

    def conv_by_rows(
        self, w_shape: tuple[int, ...], x_shape: tuple[int, ...], stride: int, pad: int
    ) -> bool:
        return rows_pay(w_shape, x_shape, stride, pad)

    def conv_pool_kernel(self) -> PoolOrderedConv:
        return PoolOrderedConv()

    def conv_patches(self, x: Any, fh: int, fw: int, stride: int, pad: int, out: Any = None) -> Any:
        return patches(x, fh, fw, stride, pad, out)

    def maxpool_forward(self, x: Any, ph: int, pw: int, stride: int, pad: int) -> tuple[Any, Any]:
        return maxpool_forward(x, ph, pw, stride, pad)

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
        return maxpool_backward(dout, out, ctx, x_shape, ph, pw, stride, pad)

    def conv_patches_adjoint(
        self, dp: Any, x_shape: tuple[int, ...], fh: int, fw: int, stride: int, pad: int
    ) -> Any:
        return patches_adjoint(dp, x_shape, fh, fw, stride, pad)

    def bias_act(self, z: Any, b: Any, act: str) -> Any:
        if act not in _IN_PLACE:
            return super().bias_act(z, b, act)  # the reference names the unknown activation
        steps = _IN_PLACE[act]
        axis = _broadcast_axis(z, b) if splits(z.size) else None

        def part(lo: int, hi: int) -> None:
            zs = z if axis is None else z[(slice(None),) * axis + (slice(lo, hi),)]
            np.add(zs, b, out=zs)
            for step in steps:
                step(zs)

        if axis is None:
            part(0, 0)
        else:
            run_parts(part, z.shape[axis], z.size)
        return z

    def act_backward(self, dout: Any, out: Any, act: str) -> Any:
        if (
            dout.dtype != out.dtype
            or act not in ("relu", "sigmoid", "tanh")
            or dout.shape != out.shape
            or dout.ndim == 0
        ):
            return super().act_backward(dout, out, act)
        dx = np.empty_like(dout)
        backward = _BACKWARD[act]
        if not splits(dx.size):
            backward(dout, out, dx)
            return dx
        axis = int(np.argmax(dx.strides))  # the outermost axis of dx's memory

        def part(lo: int, hi: int) -> None:
            at = (slice(None),) * axis + (slice(lo, hi),)
            backward(dout[at], out[at], dx[at])

        run_parts(part, dx.shape[axis], dx.size)
        return dx

    def rng(self, seed: Any = None) -> HostGenerator:
        return HostGenerator(self, seed)


def _sigmoid_in_place(z: np.ndarray) -> None:
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1.0
    np.divide(1.0, z, out=z)  # 1 / (1 + exp(-z)), the reference's operations in its order


def _relu_backward(dout: np.ndarray, out: np.ndarray, dx: np.ndarray) -> None:
    np.greater(out, 0.0, out=dx)  # 1.0 where out > 0, else 0.0 (NaN: 0.0)
    np.multiply(dout, dx, out=dx)


def _sigmoid_backward(dout: np.ndarray, out: np.ndarray, dx: np.ndarray) -> None:
    np.subtract(1.0, out, out=dx)
    np.multiply(dout, dx, out=dx)
    np.multiply(dx, out, out=dx)  # (dout · (1 - out)) · out


def _tanh_backward(dout: np.ndarray, out: np.ndarray, dx: np.ndarray) -> None:
    np.multiply(out, out, out=dx)
    np.subtract(1.0, dx, out=dx)
    np.multiply(dout, dx, out=dx)  # dout · (1 - out²)


#: The activations' backward passes, each writing into the given ``dx``.
_BACKWARD = {"relu": _relu_backward, "sigmoid": _sigmoid_backward, "tanh": _tanh_backward}


def _broadcast_axis(z: np.ndarray, b: Any) -> int | None:
    """The outermost axis of ``z`` along which ``b`` broadcasts (size 1 or absent in
    ``b``), so that ``z`` splits along it with ``b`` whole; ``None`` if there is none."""
    shape = getattr(b, "shape", ())
    lead = z.ndim - len(shape)
    for axis in range(z.ndim):
        if axis < lead or shape[axis - lead] == 1:
            return axis
    return None


#: The activations ``bias_act`` applies in place, as a sequence of in-place operations.
_IN_PLACE: dict[str, tuple[Any, ...]] = {
    "identity": (),
    "relu": (lambda z: np.maximum(z, 0.0, out=z),),
    "sigmoid": (_sigmoid_in_place,),
    "tanh": (lambda z: np.tanh(z, out=z),),
}


#: The fewest input channels for which a convolution runs by shifted rows on NumPy.
ROWS_MIN_CHANNELS = 8


def rows_pay(w_shape: tuple[int, ...], x_shape: tuple[int, ...], stride: int, pad: int) -> bool:
    """Whether NumPy convolves by shifted rows (:mod:`xpnn.ops.conv_rows`): stride 1, pad
    smaller than the filter, and at least :data:`ROWS_MIN_CHANNELS` input channels. Its
    products contract over FW·C instead of C·FH·FW, and OpenBLAS runs a thin one slowly:
    forward, ms, rows vs patches (float32, N = 100, two threads): 1→16 on 28x28 pad 1 1.83
    vs 0.98; 16→16 5.9 vs 19.4; 32→32 on 14x14 pad 2 4.2 vs 9.3; 64→64 on 8x8 3.6 vs 6.8."""
    _, c, fh, fw = w_shape
    return stride == 1 and pad < min(fh, fw) and c >= ROWS_MIN_CHANNELS


def patches(x: Any, fh: int, fw: int, stride: int, pad: int, out: Any = None) -> Any:
    """:func:`xpnn.ops.conv.patches` as one copy: P (C·FH·FW, N·OH·OW) of x (N, C, H, W),
    into ``out`` (C-contiguous, P's shape and x's dtype) when given; the samples in parts
    on the backend's threads."""
    n, c, h, w = x.shape
    oh, ow = output_hw(h, w, fh, fw, stride, pad)
    if out is None:
        out = np.empty((c * fh * fw, n * oh * ow), dtype=x.dtype)
    x_cn = x.transpose(1, 0, 2, 3)  # (C, N, H, W)
    out6 = out.reshape(c, fh, fw, n, oh, ow)
    rows, cols = slice(0, stride * (oh - 1) + 1, stride), slice(0, stride * (ow - 1) + 1, stride)

    def part(lo: int, hi: int) -> None:
        views = sliding_window_view(pad_image(x_cn[:, lo:hi], pad), (fh, fw), axis=(2, 3))
        views = views[:, :, rows, cols]  # (C, n, OH, OW, FH, FW)
        np.copyto(out6[:, :, :, lo:hi], views.transpose(0, 4, 5, 1, 2, 3))

    run_parts(part, n, out.size)
    return out


def patches_adjoint(
    dp: Any, x_shape: tuple[int, ...], fh: int, fw: int, stride: int, pad: int
) -> Any:
    """:func:`xpnn.ops.conv.patches_adjoint` (the same additions in the same order), the
    samples in parts on the backend's threads; dx (N, C, H, W) as a view of (C, N, H, W)."""
    n, c, h, w = x_shape
    oh, ow = output_hw(h, w, fh, fw, stride, pad)
    dpatch = dp.reshape(c, fh, fw, n, oh, ow)
    hp, wp = h + 2 * pad, w + 2 * pad
    img = np.empty((c, n, hp, wp), dtype=dp.dtype)

    def part(lo: int, hi: int) -> None:
        part_img = img[:, lo:hi]
        part_img[...] = 0
        for i in range(fh):
            for j in range(fw):
                part_img[window(i, j, oh, ow, stride)] += dpatch[:, i, j, lo:hi]

    run_parts(part, n, img.size)
    if pad:
        img = img[:, :, pad : hp - pad, pad : wp - pad]
    return img.transpose(1, 0, 2, 3)


def maxpool_forward(x: Any, ph: int, pw: int, stride: int, pad: int) -> tuple[Any, Any]:
    """:func:`xpnn.ops.pool.maxpool_forward` with the ``maximum`` chain in place, the
    samples in parts on the backend's threads. Windows that tile the input (stride = pool
    size, no padding) go through :class:`_Tiles`, whose ``ctx`` is the windows' elements
    gathered; otherwise the ``ctx`` is the reference's (the padded input)."""
    if ph * pw == 1:
        return _maxpool_reference(x, ph, pw, stride, pad)
    if stride == ph == pw and pad == 0:
        return _Tiles.forward(x, ph, pw)
    n, c, h, w = x.shape
    oh, ow = output_hw(h, w, ph, pw, stride, pad)
    x_pad = pad_image(x, pad, -math.inf)
    out = np.empty_like(x, shape=(n, c, oh, ow))  # in x's layout (channel-major or not)

    def part(lo: int, hi: int) -> None:
        xs, o = x_pad[lo:hi], out[lo:hi]
        np.maximum(xs[window(0, 0, oh, ow, stride)], xs[window(0, 1, oh, ow, stride)], out=o)
        for k in range(2, ph * pw):
            np.maximum(o, xs[window(k // pw, k % pw, oh, ow, stride)], out=o)

    run_parts(part, n, x.size)
    return out, x_pad


class _Tiles:
    """Max pooling over windows that tile the input, on contiguous arrays: the forward
    gathers element k = (i, j) of every window into ``g[k]`` (one strided copy each, in
    the input's memory order: channel-major stays so), and everything after runs on whole
    contiguous arrays, where NumPy's loops are long: the ``maximum`` chain, and the
    backward's masks (the reference's rules, ties and NaN included), whose products with
    dout go straight into dx's strided view of k, one call per k. The gather costs the
    forward more than the contiguous chain saves, and the backward gains more: 2x2 pooling
    of channel-major float32 input, two threads, ms, forward / backward, against the strided
    ``maximum`` chain and strided masks (the commit before, alternated processes, medians
    of 21 calls):
    (100, 30, 24, 24) 1.75 / 2.9 vs 1.25 / 3.6; (100, 16, 28, 28) 1.25 / 2.15 vs 0.87 /
    2.5; (100, 32, 14, 14) 0.62 / 1.06 vs 0.52 / 1.42; (100, 64, 8, 8) 0.47 / 0.80 vs 0.45 /
    1.0. Inside a training step, where the arrays are no longer in cache, the gain is
    smaller: DeepConvNet 102.9 → 99.4 ms a step, SimpleConvNet unchanged within the noise
    (18.8 vs 18.7 ms; two BLAS threads, medians of six alternated processes)."""

    def __init__(self, g: np.ndarray, shape: tuple[int, ...], order: tuple[int, ...]) -> None:
        self.g = g  # (PH·PW, A, B, OH, OW): the windows' elements, in x's memory order
        self.shape = shape  # x's (A, B, H, W)
        self.order = order  # (A, B) = (N, C)[order]: (1, 0) for channel-major x

    @classmethod
    def forward(cls, x: np.ndarray, ph: int, pw: int) -> tuple[np.ndarray, _Tiles]:
        _, _, h, w = x.shape
        oh, ow = h // ph, w // pw
        order = (1, 0, 2, 3) if x.strides[1] > x.strides[0] else (0, 1, 2, 3)
        xm = x.transpose(order)  # (A, B, H, W), A the outer axis in memory
        g = np.empty((ph * pw, *xm.shape[:2], oh, ow), dtype=x.dtype)
        out = np.empty_like(g[0])

        def part(lo: int, hi: int) -> None:
            for k in range(ph * pw):
                g[k, lo:hi] = xm[_tile(slice(lo, hi), k, ph, pw, oh, ow)]
            np.maximum(g[0, lo:hi], g[1, lo:hi], out=out[lo:hi])
            for k in range(2, ph * pw):
                np.maximum(out[lo:hi], g[k, lo:hi], out=out[lo:hi])

        run_parts(part, xm.shape[0], x.size)
        return out.transpose(order), cls(g, tuple(xm.shape), order)

    def backward(self, dout: np.ndarray, out: np.ndarray, ph: int, pw: int) -> np.ndarray:
        """dx (N, C, H, W) in x's memory layout."""
        g, last = self.g, self.g.shape[0] - 1
        _, _, oh, ow = g.shape[1:]
        om = out.transpose(self.order)
        d = np.empty_like(om)
        d[...] = dout.transpose(self.order)  # dout in the windows' layout
        dxm = np.empty(self.shape, dtype=dout.dtype)  # (A, B, H, W)
        if self.shape[2] != ph * oh or self.shape[3] != pw * ow:
            dxm[...] = 0  # rows or columns no window covers
        found, hit = np.empty_like(d, dtype=bool), np.empty_like(d, dtype=bool)
        first = np.empty_like(found)

        def part(lo: int, hi: int) -> None:
            at, o = slice(lo, hi), om[lo:hi]
            for k in range(last + 1):
                if k == 0:
                    mask = np.equal(g[0, at], o, out=found[at])
                else:
                    np.equal(g[k, at], o, out=hit[at])
                    mask = np.greater(hit[at], found[at], out=first[at])  # hit, not found
                    if k != last:
                        np.logical_or(found[at], hit[at], out=found[at])
                # straight into dx: a contiguous product then a strided copy take 1.4x
                np.multiply(d[at], mask, out=dxm[_tile(at, k, ph, pw, oh, ow)])

        run_parts(part, self.shape[0], dxm.size)
        return dxm.transpose(self.order)


def _tile(part: slice, k: int, ph: int, pw: int, oh: int, ow: int) -> tuple[slice, ...]:
    """Element k = (i, j) of every tiling window of the outer axis's ``part``: an index
    of (A, B, H, W)."""
    i, j = divmod(k, pw)
    return (part, slice(None), slice(i, i + ph * oh, ph), slice(j, j + pw * ow, pw))


def maxpool_backward(
    dout: Any, out: Any, ctx: Any, x_shape: tuple[int, ...], ph: int, pw: int, stride: int, pad: int
) -> Any:
    """:func:`xpnn.ops.pool.maxpool_backward` in four ufunc calls per window position into
    buffers allocated once (see the module docstring), the samples in parts on the
    backend's threads; the same values, ties included."""
    if isinstance(ctx, _Tiles):
        return ctx.backward(dout, out, ph, pw)
    x_pad = ctx
    n, _, oh, ow = dout.shape
    _, _, hp, wp = x_pad.shape
    tiles = stride == ph == pw and oh * stride == hp and ow * stride == wp
    dx = np.empty_like(x_pad, dtype=dout.dtype) if tiles else np.zeros_like(x_pad, dtype=dout.dtype)
    buffers = _PoolBuffers(out, dout, overlap=stride < ph or stride < pw)

    def part(lo: int, hi: int) -> None:
        buffers.backward(lo, hi, x_pad[lo:hi], out[lo:hi], dout[lo:hi], dx[lo:hi], ph, pw, stride)

    run_parts(part, n, x_pad.size)
    if pad == 0:
        return dx
    _, _, h, w = x_shape
    return dx[:, :, pad : pad + h, pad : pad + w]


class _PoolBuffers:
    """The pooling backward's buffers, in the output's layout: dout copied into it (as the
    reference), the windows whose first maximum is placed, this position's hits, the first
    hits, and (windows overlapping) the gradient to add."""

    def __init__(self, out: np.ndarray, dout: np.ndarray, overlap: bool) -> None:
        self.d = np.empty_like(out, dtype=dout.dtype)
        self.found = np.empty_like(out, dtype=bool)
        self.hit, self.first = np.empty_like(self.found), np.empty_like(self.found)
        self.spread = np.empty_like(self.d) if overlap else None

    def backward(self, lo: int, hi: int, x_pad: np.ndarray, out: np.ndarray, dout: np.ndarray,
                 dx: np.ndarray, ph: int, pw: int, stride: int) -> None:  # fmt: skip
        """Samples ``lo:hi`` (the other arguments are their slices already)."""
        d, found = self.d[lo:hi], self.found[lo:hi]
        hit, first = self.hit[lo:hi], self.first[lo:hi]
        spread = None if self.spread is None else self.spread[lo:hi]
        d[...] = dout
        _, _, oh, ow = out.shape
        last = ph * pw - 1
        for k in range(ph * pw):
            at = window(k // pw, k % pw, oh, ow, stride)
            if k == 0:
                mask = np.equal(x_pad[at], out, out=found)
            else:
                np.equal(x_pad[at], out, out=hit)
                mask = np.greater(hit, found, out=first)  # hit and not found
                if k != last:
                    np.logical_or(found, hit, out=found)
            if spread is None:  # each element in one window at most: written once
                np.multiply(d, mask, out=dx[at])
            else:
                dx[at] += np.multiply(d, mask, out=spread)


def _blocks(p: Any, g: Any, state: dict[str, Any], above: float) -> Any:
    """Blocks ``(p, g, state)`` of flat views of a parameter of more than ``above`` blocks,
    or ``None`` (smaller, or not viewable as flat without a copy)."""
    block = NUMPY_BLOCK
    n = p.size
    if n <= above * block or not isinstance(p, np.ndarray):
        return None
    if not all(a.flags.c_contiguous for a in (p, *state.values())):
        return None  # a flat view would be a copy, and the update would be lost
    flat_p = p.reshape(-1)
    flat_state = {k: a.reshape(-1) for k, a in state.items()}
    flat_g = g.reshape(-1)  # only read: a copy is fine
    return (
        (
            flat_p[i : i + block],
            flat_g[i : i + block],
            {k: a[i : i + block] for k, a in flat_state.items()},
        )
        for i in range(0, n, block)
    )


class HostGenerator(Generator):
    """NumPy's PCG64 on the host, moved to the device (numpy and array_api_strict)."""

    def _start(self) -> None:
        self._rng = np.random.Generator(np.random.PCG64(self.current_seed))

    def normal(self, shape, std=1.0, mean=0.0, dtype="float32"):
        z = self._rng.standard_normal(shape_of(shape), dtype=np.dtype(self._float_name(dtype)))
        z *= float(std)
        if mean:
            z += float(mean)
        return self.backend.asarray(z)

    def uniform(self, shape, low=0.0, high=1.0, dtype="float32"):
        u = self._rng.random(shape_of(shape), dtype=np.dtype(self._float_name(dtype)))
        if (low, high) != (0.0, 1.0):
            u *= float(high) - float(low)
            u += float(low)
        return self.backend.asarray(u)

    def permutation(self, n):
        return self.backend.asarray(self._rng.permutation(int(n)).astype(np.int64))

    def _get_state(self):
        return {"state": np.asarray(json.dumps(self._rng.bit_generator.state))}

    def _set_state(self, state):
        self._rng.bit_generator.state = json.loads(str(np.asarray(state["state"])))


def device_key(device: Any) -> str:
    if device not in (None, "cpu"):
        raise DeviceBackendError(f"numpy has only the 'cpu' device, not {device!r}")
    return "cpu"


create = NumpyBackend.create


def owns(array: Any) -> str | None:
    return "cpu" if isinstance(array, np.ndarray | np.generic) else None
