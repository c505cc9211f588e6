"""A convolution, the ReLU after it and a max pooling over windows that tile its output,
as one NumPy kernel (:class:`xpnn.conv_pool.ConvReluPool` runs it).

The patch matrix is built with its columns **ordered by window position**: P
(C·FH·FW + 1, PH·PW, M), M = N·OH'·OW' the pooled positions, so that the convolution's
output Y = [W | b] · P (FN, PH·PW, M) holds element k of every window in one contiguous
block Y[:, k]. Then:

- the pooling is a ``maximum`` chain over PH·PW contiguous blocks, and the ReLU runs on the
  pooled quarter (``relu(max(y)) = max(relu(y))``, NaN included); neither the
  convolution's full-size output nor a gather of the windows is ever written in (N, C, H,
  W) order;
- the backward routes each window's gradient g = dout · (out > 0) to its first maximum
  with three passes per window position over contiguous blocks (what is left of g is the
  last position's share), cut into row groups that stay in the cache, and dW and db come
  from one product ``dY · Pᵀ``: P's last row is ones, so the bias's column of that
  product is Σ dY = db, and the forward's product adds the bias the same way.

Measured for SimpleConvNet's block (1 → 30 channels, 5x5 filters on 28², 2x2 pooling,
N = 100, float32, two BLAS threads, forward + backward, medians of 30 calls): 5.4-5.8 ms
against 8.1-8.3 for ``Convolution.forward_with`` + ``Pooling.forward`` +
``Pooling.backward_after`` + ``Convolution.backward`` on the same arrays.

The values are the unfused layers' up to rounding: the bias is added inside the product
rather than after it, and dW and db sum the same terms in another order; ties go to the
first maximum in row-major (i, j) order, as :mod:`xpnn.ops.pool` says, NaN windows give NaN
and a zero gradient. Runs on one thread besides BLAS's.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..ops.conv import pad_image

__all__ = ["PoolOrderedConv", "pool_max_relu", "pool_patches", "window_grads"]

#: Elements per pass of :func:`window_grads`' row groups: a group's blocks (Y's PH·PW, the
#: output, the gradients) then fit a core's L2 cache (1.27 -> 0.96 ms for SimpleConvNet's).
GROUP_ELEMENTS = 72_000


def pool_patches(x: np.ndarray, fh: int, fw: int, stride: int, pad: int, ph: int, pw: int,
                 out: np.ndarray) -> None:  # fmt: skip
    """Write the pool-ordered patches of x (N, C, H, W) into ``out[:-1]``, ``out`` being
    (C·FH·FW + 1, PH·PW, N·OH'·OW'): ``out[(c·FH + i)·FW + j, a·PW + b, (n·OH' + p)·OW' + q]``
    = ``x_pad[n, c, (p·PH + a)·stride + i, (q·PW + b)·stride + j]``. One copy."""
    n, c = x.shape[:2]
    k = out.shape[0]
    x_pad = pad_image(x, pad)
    v = sliding_window_view(x_pad, (fh, fw), axis=(2, 3))[:, :, ::stride, ::stride]
    ohp, owp = v.shape[2] // ph, v.shape[3] // pw
    v = v[:, :, : ohp * ph, : owp * pw].reshape(n, c, ohp, ph, owp, pw, fh, fw)
    target = out[: k - 1].reshape(c, fh, fw, ph, pw, n, ohp, owp)
    np.copyto(target, v.transpose(1, 6, 7, 3, 5, 0, 2, 4))


def pool_max_relu(y: np.ndarray, out: np.ndarray) -> None:
    """``out`` (FN, M) = ReLU of the maximum over y's (FN, PH·PW, M) window positions."""
    kk = y.shape[1]
    np.maximum(y[:, 0], y[:, 1] if kk > 1 else 0.0, out=out)
    for k in range(2, kk):
        np.maximum(out, y[:, k], out=out)
    if kk > 1:
        np.maximum(out, 0.0, out=out)


def window_grads(y: np.ndarray, out: np.ndarray, dy: np.ndarray) -> None:
    """Spread the window gradients g, which the caller wrote into ``dy[:, -1]``, over the
    window positions: ``dy[:, k]`` = g where position k holds its window's first maximum
    (``y[:, k] == out``, the positions before it not), else 0. ``y`` and ``dy`` are
    (FN, PH·PW, M), ``out`` (FN, M). Where ``out`` is not y's maximum (ReLU made it 0, or a
    NaN) g is 0, so the comparison with the ReLU's output is enough."""
    fn, kk, m = y.shape
    rows = max(1, GROUP_ELEMENTS // m)
    hit = np.empty((min(rows, fn), m), dtype=bool)
    for lo in range(0, fn, rows):
        hi = min(fn, lo + rows)
        ys, os, ds, h = y[lo:hi], out[lo:hi], dy[lo:hi], hit[: hi - lo]
        rest = ds[:, kk - 1]  # g, then what no earlier position took
        for k in range(kk - 1):
            np.equal(ys[:, k], os, out=h)
            np.multiply(rest, h, out=ds[:, k])
            np.subtract(rest, ds[:, k], out=rest)


class PoolOrderedConv:
    """One block's buffers (kept while the shapes stay the same: they are a step's largest
    arrays) and what its backward needs from its forward."""

    def __init__(self) -> None:
        self._p: np.ndarray | None = None  # (K + 1, PH·PW, M), last row ones
        self._y: np.ndarray | None = None  # (FN, PH·PW, M)
        self._dy: np.ndarray | None = None  # Y's gradient, the same shape
        self._out: np.ndarray | None = None  # (FN, M): the block's output, channel-major
        self._wb: np.ndarray | None = None  # (FN, K + 1): [W | b]
        self._pooled: tuple[int, ...] = ()  # (N, FN, OH', OW')

    def forward(self, x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int, pad: int,
                ph: int, pw: int, oh: int, ow: int) -> np.ndarray:  # fmt: skip
        """The block's output (N, FN, OH/PH, OW/PW), a view of a channel-major array, for
        x (N, C, H, W), W (FN, C, FH, FW), b (FN,), the convolution's output OH x OW (which
        the PH x PW windows tile)."""
        fn, c, fh, fw = W.shape
        n = x.shape[0]
        ohp, owp = oh // ph, ow // pw
        m, k = n * ohp * owp, c * fh * fw
        dtype = np.result_type(x.dtype, W.dtype)
        if self._p is None or self._p.shape != (k + 1, ph * pw, m) or self._p.dtype != dtype:
            self._p = np.empty((k + 1, ph * pw, m), dtype=dtype)
            self._p[k] = 1
            self._y = np.empty((fn, ph * pw, m), dtype=dtype)
            self._dy = None  # made by the first backward: inference needs none
            self._out = np.empty((fn, m), dtype=dtype)
            self._wb = np.empty((fn, k + 1), dtype=dtype)
        p, y, out, wb = self._p, self._y, self._out, self._wb
        assert y is not None and out is not None and wb is not None
        pool_patches(x, fh, fw, stride, pad, ph, pw, p)
        wb[:, :k] = W.reshape(fn, k)
        wb[:, k] = b
        np.matmul(wb, p.reshape(k + 1, -1), out=y.reshape(fn, -1))
        pool_max_relu(y, out)
        self._pooled = (n, fn, ohp, owp)
        return out.reshape(fn, n, ohp, owp).transpose(1, 0, 2, 3)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """``[dW | db]`` (FN, C·FH·FW + 1) for dout (N, FN, OH', OW'), the gradient of the
        block's output (a new array each call)."""
        p, y, out = self._p, self._y, self._out
        assert p is not None and y is not None and out is not None
        if self._dy is None:
            self._dy = np.empty_like(y)
        dy = self._dy
        n, fn, ohp, owp = self._pooled
        g = dy[:, -1].reshape(fn, n, ohp, owp)
        np.multiply(dout.transpose(1, 0, 2, 3), out.reshape(fn, n, ohp, owp) > 0, out=g)
        window_grads(y, out, dy)
        return dy.reshape(fn, -1) @ p.reshape(p.shape[0], -1).T
