"""The patch matrix of a convolution (im2col) and its adjoint (col2im), channel-major.

For an input x (N, C, H, W), a ``fh`` x ``fw`` filter, ``stride`` s and ``pad`` p (zeros
around H and W), with OH = (H + 2p - fh) // s + 1 (OW alike)::

    P[(c·fh + i)·fw + j, (n·OH + oh)·OW + ow] = x_pad[n, c, oh·s + i, ow·s + j]

P is (C·fh·fw, N·OH·OW): the book's ``col`` transposed, so that a convolution's three
products (W·P, dout·Pᵀ, Wᵀ·dout) are each one large matmul with no transpose of P. The
standard has neither ``as_strided`` nor ``add.at``, so a window position is a strided slice:
``x_pad[c, n, i:i + s·(OH-1) + 1:s, j:...]`` is element (i, j) of every window at once. The
fh·fw such slices of the input viewed as (C, N, H, W), stacked, *are* P; the adjoint adds
fh·fw slices back into a zero image. Padding builds a zero array and assigns the interior
(the standard has no ``pad``).
"""

from __future__ import annotations

from typing import Any

from array_api_compat import device as device_of

from .._array_api import namespace_of

__all__ = ["output_hw", "pad_image", "patches", "patches_adjoint", "window"]


def output_hw(h: int, w: int, fh: int, fw: int, stride: int, pad: int) -> tuple[int, int]:
    """(OH, OW): the windows along each axis."""
    return (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1


def pad_image(x: Any, pad: int, value: float = 0.0) -> Any:
    """``x`` (A, B, H, W) with ``pad`` rows and columns of ``value`` around H and W, on x's
    device (``x`` itself for ``pad=0``)."""
    if pad == 0:
        return x
    xp = namespace_of(x)
    a, b, h, w = x.shape
    out = xp.full((a, b, h + 2 * pad, w + 2 * pad), value, dtype=x.dtype, device=device_of(x))
    out[:, :, pad : pad + h, pad : pad + w] = x
    return out


def window(i: int, j: int, oh: int, ow: int, stride: int) -> tuple[slice, ...]:
    """The index of element (i, j) of every window: an (A, B, OH, OW) strided view."""
    return (
        slice(None),
        slice(None),
        slice(i, i + stride * (oh - 1) + 1, stride),
        slice(j, j + stride * (ow - 1) + 1, stride),
    )


def patches(x: Any, fh: int, fw: int, stride: int, pad: int, out: Any = None) -> Any:
    """P (C·fh·fw, N·OH·OW) of x (N, C, H, W) in any strides (see the module docstring);
    written into ``out`` when given (a C-contiguous array of P's shape and x's dtype, on
    x's device), else into a new array."""
    xp = namespace_of(x)
    n, c, h, w = x.shape
    oh, ow = output_hw(h, w, fh, fw, stride, pad)
    x_cn = pad_image(xp.permute_dims(x, (1, 0, 2, 3)), pad)  # (C, N, Hp, Wp)
    windows = [x_cn[window(i, j, oh, ow, stride)] for i in range(fh) for j in range(fw)]
    if out is None:
        stacked = xp.stack(windows, axis=1)  # (C, fh·fw, N, OH, OW)
        return xp.reshape(stacked, (c * fh * fw, n * oh * ow))
    out5 = xp.reshape(out, (c, fh * fw, n, oh, ow))
    for k, win in enumerate(windows):
        out5[:, k, ...] = win
    return out


def patches_adjoint(
    dp: Any, x_shape: tuple[int, ...], fh: int, fw: int, stride: int, pad: int
) -> Any:
    """The adjoint of :func:`patches`: each entry of ``dp`` (C·fh·fw, N·OH·OW) is added to
    the input pixel it was copied from. Returns dx of shape ``x_shape`` = (N, C, H, W), a
    view of a (C, N, H, W) array, in dp's dtype and on its device."""
    xp = namespace_of(dp)
    n, c, h, w = x_shape
    oh, ow = output_hw(h, w, fh, fw, stride, pad)
    dpatch = xp.reshape(dp, (c, fh, fw, n, oh, ow))
    hp, wp = h + 2 * pad, w + 2 * pad
    img = xp.zeros((c, n, hp, wp), dtype=dp.dtype, device=device_of(dp))
    for i in range(fh):
        for j in range(fw):
            img[window(i, j, oh, ow, stride)] += dpatch[:, i, j, :, :, :]
    if pad:
        img = img[:, :, pad : hp - pad, pad : wp - pad]
    return xp.permute_dims(img, (1, 0, 2, 3))
