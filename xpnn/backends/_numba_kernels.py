"""The compiled kernels of the ``numba`` backend (:mod:`xpnn.backends.numba`), which
imports this file when it is first created: importing it imports Numba.

Each kernel is one parallel loop (``prange``) over independent pieces of the output (rows of
the patch matrix, (sample, channel) images, blocks of a flat array), so threads never write
the same element. No ``fastmath``: every operation is the IEEE one NumPy performs, in the
same order, on the same dtype (``zero``/``one`` scalars are read from arrays of the data's
dtype, so float32 stays float32), which is what makes the results bit-identical to the
references of :mod:`xpnn.ops`.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

__all__ = ["KERNELS"]

_jit = numba.njit(parallel=True, cache=True, nogil=True)  # no fastmath: IEEE as NumPy
_BLOCK = 16384  # elements per parallel piece of a flat array


def _valid(n_out: int, offset: int, stride: int, size: int) -> tuple[int, int]:
    """The output positions o (0 <= o < n_out) whose input o·stride + offset lies in
    [0, size): a range [lo, hi)."""
    lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
    hi = min(n_out, (size - 1 - offset) // stride + 1) if size - 1 - offset >= 0 else 0
    return lo, max(lo, hi)


_valid_jit = numba.njit(cache=True, inline="always")(_valid)


@_jit
def patches(xc, fh, fw, stride, pad, oh, ow, out):
    """P (C·FH·FW, N·OH·OW) of xc (C, N, H, W), C-contiguous: one task per row of P (one
    channel and filter offset), each writing every sample's (OH, OW) block as one 2-D
    copy of the window's valid part and zeros around it (whole-block copies: per-row
    loops cost 2x on 8x8 images)."""
    c, n, h, w = xc.shape
    for r in prange(c * fh * fw):
        ci, i, j = r // (fh * fw), (r // fw) % fh, r % fw
        x0, x1 = _valid_jit(ow, j - pad, stride, w)
        y0, y1 = _valid_jit(oh, i - pad, stride, h)
        ya, xa = y0 * stride + i - pad, x0 * stride + j - pad
        blocks = out[r].reshape(n, oh, ow)
        for ni in range(n):
            block = blocks[ni]
            block[:y0, :] = 0
            block[y1:, :] = 0
            block[y0:y1, :x0] = 0
            block[y0:y1, x1:] = 0
            if stride == 1:
                block[y0:y1, x0:x1] = xc[ci, ni, ya : ya + y1 - y0, xa : xa + x1 - x0]
            else:
                src = xc[ci, ni, ya::stride, xa::stride]
                block[y0:y1, x0:x1] = src[: y1 - y0, : x1 - x0]


@_jit
def patches_adjoint(dp, fh, fw, stride, pad, oh, ow, img):
    """img (C, N, H, W) = the sum of each pixel's entries of dP, added in (i, j) order
    (row by row: 2-D slice additions measured 2.3x slower)."""
    c, n, h, w = img.shape
    for task in prange(c * n):
        ci, ni = task // n, task % n
        plane = img[ci, ni]
        plane[:, :] = 0
        for i in range(fh):
            y0, y1 = _valid_jit(oh, i - pad, stride, h)
            for j in range(fw):
                x0, x1 = _valid_jit(ow, j - pad, stride, w)
                r = (ci * fh + i) * fw + j
                for oy in range(y0, y1):
                    col = (ni * oh + oy) * ow
                    src = dp[r, col + x0 : col + x1]
                    dst = plane[oy * stride + i - pad, x0 * stride + j - pad :: stride]
                    for q in range(src.size):
                        dst[q] += src[q]


@_jit
def maxpool_forward(x, ph, pw, stride, pad, out, first):
    """out: each window's maximum as NumPy's ``maximum`` chain makes it (NaN propagated,
    the later operand on ties); first: the position of its first maximum (-1 for NaN)."""
    n, c, h, w = x.shape
    _, _, oh, ow = out.shape
    for task in prange(n * c):
        ni, ci = task // c, task % c
        for oy in range(oh):
            for ox in range(ow):
                m = -math.inf
                best = -math.inf
                k = 0
                for i in range(ph):
                    yy = oy * stride + i - pad
                    for j in range(pw):
                        xx = ox * stride + j - pad
                        v = -math.inf
                        if 0 <= yy < h and 0 <= xx < w:
                            v = x[ni, ci, yy, xx]
                        if i == 0 and j == 0:
                            m = v
                            best = v
                        else:
                            if not math.isnan(m) and (math.isnan(v) or not m > v):
                                m = v
                            if v > best:
                                best = v
                                k = i * pw + j
                out[ni, ci, oy, ox] = m
                first[ni, ci, oy, ox] = -1 if math.isnan(m) else k


@_jit
def maxpool_backward(dout, first, ph, pw, stride, pad, overlap, dx):
    """dx: each window's dout at its first maximum, dout·0 at its other elements, added
    in the reference's (i, j) order where windows overlap."""
    n, c, h, w = dx.shape
    _, _, oh, ow = dout.shape
    zero = np.zeros(1, dtype=dx.dtype)[0]
    for task in prange(n * c):
        ni, ci = task // c, task % c
        dx[ni, ci, :, :] = 0
        for i in range(ph):
            y0, y1 = _valid_jit(oh, i - pad, stride, h)
            for j in range(pw):
                x0, x1 = _valid_jit(ow, j - pad, stride, w)
                at = i * pw + j
                for oy in range(y0, y1):
                    yy = oy * stride + i - pad
                    for ox in range(x0, x1):
                        d = dout[ni, ci, oy, ox]
                        g = d if first[ni, ci, oy, ox] == at else d * zero
                        if overlap:
                            dx[ni, ci, yy, ox * stride + j - pad] += g
                        else:
                            dx[ni, ci, yy, ox * stride + j - pad] = g


@_jit
def maxpool_forward_tiled(xc, ph, pw, stride, out, first):
    """:func:`maxpool_forward` for pad 0 and stride >= the window, on xc (C, N, H, W) and
    out, first (C, N, OH, OW), all C-contiguous: each window in registers, stored once."""
    c, n, _, _ = xc.shape
    _, _, oh, ow = out.shape
    for task in prange(c * n):
        ci, ni = task // n, task % n
        plane, o, f = xc[ci, ni], out[ci, ni], first[ci, ni]
        for oy in range(oh):
            for ox in range(ow):
                m = plane[oy * stride, ox * stride]
                k = 0
                for i in range(ph):
                    for j in range(pw):
                        if i + j > 0:
                            v = plane[oy * stride + i, ox * stride + j]
                            k = i * pw + j if v > m else k  # a later maximum if larger
                            m = m if (m > v or m != m) else v  # NumPy's maximum(m, v)
                o[oy, ox] = m
                f[oy, ox] = -1 if m != m else k


@_jit
def maxpool_backward_tiled(dout_c, first, ph, pw, stride, tiles, dxc):
    """:func:`maxpool_backward` for pad 0 and stride >= the window, on C-contiguous
    (C, N, ...) arrays: each element written once (zeroed first where windows leave gaps)."""
    c, n, _, _ = dxc.shape
    _, _, oh, ow = dout_c.shape
    zero = np.zeros(1, dtype=dxc.dtype)[0]
    one = np.ones(1, dtype=dxc.dtype)[0]
    for task in prange(c * n):
        ci, ni = task // n, task % n
        if not tiles:
            dxc[ci, ni, :, :] = 0
        for oy in range(oh):
            d, f = dout_c[ci, ni, oy], first[ci, ni, oy]
            for at in range(ph * pw):
                row = dxc[ci, ni, oy * stride + at // pw, at % pw :: stride]
                for ox in range(ow):
                    row[ox] = d[ox] * (one if f[ox] == at else zero)


@_jit
def bias_act_rows(z, b, relu):
    """z (R, P) += b[:, None], then max(z, 0) as NumPy makes it (NaN kept, +0.0 on ties)."""
    rows, cols = z.shape
    zero = np.zeros(1, dtype=z.dtype)[0]
    pieces = (cols + _BLOCK - 1) // _BLOCK
    for task in prange(rows * pieces):
        r, p = task // pieces, task % pieces
        br = b[r]
        zr = z[r, p * _BLOCK : (p + 1) * _BLOCK]
        for q in range(zr.size):
            v = zr[q] + br
            zr[q] = v if (not relu or v > 0 or v != v) else zero


@_jit
def bias_act_cols(z, b, relu):
    """z (N, M) += b[None, :], then max(z, 0) as NumPy makes it."""
    rows, cols = z.shape
    zero = np.zeros(1, dtype=z.dtype)[0]
    for r in prange(rows):
        for q in range(cols):
            v = z[r, q] + b[q]
            z[r, q] = v if (not relu or v > 0 or v != v) else zero


@_jit
def relu_backward(dout, out, dx):
    """dx = dout · (out > 0), flat arrays of one dtype (a product by 1 or 0, as NumPy's)."""
    zero = np.zeros(1, dtype=dx.dtype)[0]
    one = np.ones(1, dtype=dx.dtype)[0]
    for p in prange((dx.size + _BLOCK - 1) // _BLOCK):
        lo, hi = p * _BLOCK, (p + 1) * _BLOCK
        d, o, g = dout[lo:hi], out[lo:hi], dx[lo:hi]
        for q in range(g.size):
            g[q] = d[q] * (one if o[q] > 0 else zero)


#: The kernels by name, as :mod:`xpnn.backends.numba` calls them.
KERNELS = {
    "patches": patches,
    "patches_adjoint": patches_adjoint,
    "maxpool_forward": maxpool_forward,
    "maxpool_backward": maxpool_backward,
    "maxpool_forward_tiled": maxpool_forward_tiled,
    "maxpool_backward_tiled": maxpool_backward_tiled,
    "bias_act_rows": bias_act_rows,
    "bias_act_cols": bias_act_cols,
    "relu_backward": relu_backward,
}
