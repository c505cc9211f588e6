"""Inverted dropout's forward pass: draw, mask and scale.

With drop probability p, u ~ U[0, 1) drawn by the layer's generator on x's device::

    mask = (u ≥ p) / (1 - p)        out = x · mask

The scaling at training time keeps E[out] = x, so inference is the identity. The backward
pass is ``dout · mask``.
"""

from __future__ import annotations

from typing import Any

from .._array_api import namespace_of

__all__ = ["dropout_forward", "dropout_mask"]


def dropout_mask(keep: Any, ratio: float, dtype: Any) -> Any:
    """The scaled mask ``keep / (1 - ratio)`` in ``dtype`` from a boolean keep-mask."""
    mask = namespace_of(keep).astype(keep, dtype)
    if ratio != 0.0:
        mask *= 1.0 / (1.0 - ratio)
    return mask


def dropout_forward(x: Any, ratio: float, generator: Any) -> tuple[Any, Any]:
    """``(out, mask)`` for ``x`` with drop probability ``ratio`` (0 < ratio < 1), drawing
    ``u`` from ``generator`` (an :class:`xpnn.random.Generator` of x's backend)."""
    u = generator.random(tuple(x.shape), dtype=x.dtype)
    mask = dropout_mask(u >= ratio, ratio, x.dtype)
    return x * mask, mask
