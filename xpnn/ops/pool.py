"""Max pooling, forward and backward.

For x (N, C, H, W), ``ph`` x ``pw`` windows, ``stride`` s and ``pad`` p (rows and columns
of -inf around H and W, p smaller than the window, so every window holds an input element)::

    out[n, c, oh, ow] = max_{i < ph, j < pw} x_pad[n, c, oh·s + i, ow·s + j]

The forward pass takes the elementwise maximum of the ph·pw window slices (ph·pw - 1
``maximum`` calls, no stacked copy). The backward pass gives each window's gradient to one
element, its **first maximum in row-major (i, j) order** (what the book's ``argmax`` picks):
it walks the slices in that order, keeping a boolean mask of the windows whose maximum is
placed, so ties never double a gradient. An element that is the maximum of several
overlapping windows (s < ph or s < pw) gets the sum. A NaN in a window makes its output NaN
and its gradient zero. Every backend's replacement follows these rules, ties included.
"""

from __future__ import annotations

import math
from typing import Any

from .._array_api import namespace_of
from .conv import output_hw, pad_image, window

__all__ = ["maxpool_backward", "maxpool_forward"]


def maxpool_forward(x: Any, ph: int, pw: int, stride: int, pad: int) -> tuple[Any, Any]:
    """``(out, ctx)``: out (N, C, OH, OW) in x's dtype, on its device; ``ctx`` is what
    :func:`maxpool_backward` needs (here: the padded input)."""
    xp = namespace_of(x)
    _, _, h, w = x.shape
    oh, ow = output_hw(h, w, ph, pw, stride, pad)
    x_pad = pad_image(x, pad, -math.inf)
    out = None
    for i in range(ph):
        for j in range(pw):
            v = x_pad[window(i, j, oh, ow, stride)]
            out = v if out is None else xp.maximum(out, v)
    if ph * pw == 1:
        out = xp.asarray(out, copy=True)  # a 1x1 window: not a view of the input
    return out, x_pad


def maxpool_backward(
    dout: Any, out: Any, ctx: Any, x_shape: tuple[int, ...], ph: int, pw: int, stride: int, pad: int
) -> Any:
    """dx (N, C, H, W) = ``x_shape``: each window's ``dout`` at its first maximum (see the
    module docstring); ``out`` and ``ctx`` are what :func:`maxpool_forward` returned."""
    xp = namespace_of(dout)
    x_pad = ctx
    _, _, oh, ow = dout.shape
    # dx in the input's memory layout (channel-major after a Convolution): the strided
    # writes below and the layers before, which combine dx with their own outputs, then
    # walk memory in order (a C-ordered dx made the pooling's backward 1.5x slower)
    _, _, hp, wp = x_pad.shape
    overlap = stride < ph or stride < pw
    if stride == ph == pw and oh * stride == hp and ow * stride == wp:  # windows tile x:
        dx = xp.empty_like(x_pad, dtype=dout.dtype)  # each element written once
    else:
        dx = xp.zeros_like(x_pad, dtype=dout.dtype)
    # dout in the output's layout (after an Affine layer it is C-ordered, the output
    # channel-major): one copy of the small array, and the passes below walk memory alike
    d = xp.empty_like(out, dtype=dout.dtype)
    d[...] = dout
    # (the temporaries are not kept in variables across iterations: freed at once, their
    # memory is reused, where holding them made the allocator map fresh pages: 1.5x)
    found = None  # the windows whose first maximum is already placed
    for i in range(ph):
        for j in range(pw):
            at = window(i, j, oh, ow, stride)
            hit = x_pad[at] == out
            if found is None:
                first = found = hit
            else:
                first = xp.logical_and(hit, xp.logical_not(found))
                if (i, j) != (ph - 1, pw - 1):
                    found = xp.logical_or(found, hit)
            if overlap:
                dx[at] += d * xp.astype(first, d.dtype)
            else:  # each element is in one window at most: written once
                dx[at] = d * xp.astype(first, d.dtype)
    if pad == 0:
        return dx
    _, _, h, w = x_shape
    return dx[:, :, pad : pad + h, pad : pad + w]
