"""A convolution, the ReLU after it and a max pooling whose windows lie side by side, as
one block through a patch matrix ordered by window position: the portable reference of
:class:`xpnn.conv_pool.ConvReluPool`'s kernel.

For x (N, C, H, W), filters W (FN, C, FH, FW), bias b (FN,), PH x PW windows at stride PH =
PW over the convolution's OH x OW output, OH' = OH // PH, OW' = OW // PW, M = N·OH'·OW'::

    P[(c·FH + i)·FW + j, a·PW + e, (n·OH' + p)·OW' + q]
        = x_pad[n, c, (p·PH + a)·s + i, (q·PW + e)·s + j]      P[C·FH·FW, :, :] = 1
    Y = [W | b] · P            (FN, PH·PW, M): element a·PW + e of every window in Y[:, a·PW + e]
    out = relu(max_k Y[:, k])  (FN, M), returned as a (N, FN, OH', OW') view

The backward takes g = dout · (out > 0) and gives it to each window's first maximum in
row-major order (``Y[:, k] == out``, no earlier k), walking k and keeping what is left; the
last position takes the rest (g is 0 wherever ``out`` is not the window's maximum: a ReLU
that clipped it, a NaN). ``[dW | db] = dY · Pᵀ``: the ones row makes the bias's column Σ dY.

The layers' values up to rounding (the bias is added inside the product, dW and db sum
their terms in another order); a backend's replacement gives these bits
(``tests/test_conv_pool.py``).
"""

from __future__ import annotations

from typing import Any

from array_api_compat import device as device_of

from .._array_api import namespace_of
from .conv import output_hw, patches

__all__ = ["PoolOrderedConv", "max_relu", "pool_order", "spread"]


def pool_order(x: Any, fh: int, fw: int, stride: int, pad: int, ph: int, pw: int) -> Any:
    """P (C·FH·FW + 1, PH·PW, M) of x (N, C, H, W), its last row ones (see above)."""
    xp = namespace_of(x)
    n, c = x.shape[:2]
    p = patches(x, fh, fw, stride, pad)  # (K, N·OH·OW)
    k = c * fh * fw
    oh, ow = output_hw(x.shape[2], x.shape[3], fh, fw, stride, pad)
    ohp, owp = oh // ph, ow // pw
    p = xp.reshape(p, (k, n, oh, ow))[:, :, : ohp * ph, : owp * pw]
    p = xp.permute_dims(xp.reshape(p, (k, n, ohp, ph, owp, pw)), (0, 3, 5, 1, 2, 4))
    p = xp.reshape(p, (k, ph * pw, n * ohp * owp))
    ones = xp.ones((1, ph * pw, n * ohp * owp), dtype=x.dtype, device=device_of(x))
    return xp.concat((p, ones), axis=0)


def max_relu(y: Any) -> Any:
    """relu of the maximum over y's (FN, PH·PW, M) window positions: (FN, M)."""
    xp = namespace_of(y)
    out = y[:, 0, :]
    for k in range(1, y.shape[1]):
        out = xp.maximum(out, y[:, k, :])
    return xp.maximum(out, xp.zeros_like(out))


def spread(y: Any, out: Any, g: Any) -> Any:
    """dY (FN, PH·PW, M): g (FN, M) at each window's first maximum, 0 elsewhere."""
    xp = namespace_of(y)
    parts, rest = [], g
    for k in range(y.shape[1] - 1):
        part = rest * xp.astype(y[:, k, :] == out, g.dtype)
        parts.append(part)
        rest = rest - part
    parts.append(rest)
    return xp.stack(parts, axis=1)


class PoolOrderedConv:
    """The block's forward and backward (:meth:`forward` keeps what :meth:`backward`
    needs)."""

    def __init__(self) -> None:
        self._p: Any = None
        self._y: Any = None
        self._out: Any = None

    def forward(self, x: Any, W: Any, b: Any, stride: int, pad: int, ph: int, pw: int,
                oh: int, ow: int) -> Any:  # fmt: skip
        """(N, FN, OH/PH, OW/PW), a view of a (FN, N, OH', OW') array."""
        xp = namespace_of(x)
        fn, c, fh, fw = W.shape
        n, ohp, owp = x.shape[0], oh // ph, ow // pw
        k = c * fh * fw
        self._p = pool_order(x, fh, fw, stride, pad, ph, pw)
        wb = xp.concat((xp.reshape(W, (fn, k)), xp.reshape(b, (fn, 1))), axis=1)
        self._y = xp.reshape(wb @ xp.reshape(self._p, (k + 1, -1)), (fn, ph * pw, -1))
        self._out = max_relu(self._y)
        return xp.permute_dims(xp.reshape(self._out, (fn, n, ohp, owp)), (1, 0, 2, 3))

    def backward(self, dout: Any) -> Any:
        """``[dW | db]`` (FN, C·FH·FW + 1) for dout (N, FN, OH', OW')."""
        xp = namespace_of(dout)
        p, out = self._p, self._out
        fn = out.shape[0]
        positive = xp.astype(out > 0, dout.dtype)
        g = xp.reshape(xp.permute_dims(dout, (1, 0, 2, 3)), (fn, -1)) * positive
        dy = spread(self._y, out, g)
        return xp.reshape(dy, (fn, -1)) @ xp.matrix_transpose(xp.reshape(p, (p.shape[0], -1)))
