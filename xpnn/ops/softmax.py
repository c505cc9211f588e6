"""Softmax followed by the mean cross-entropy over the batch, and its gradient::

    y = softmax(x) = exp(x - lse(x)),   lse(x) = m + log Σ_k exp(x_k - m),   m = max_k x_k
    loss = -(1/N) Σ_n Σ_k t_nk · log y_nk                dx = (y - t) · dout / N

The log-sum-exp is taken with the row maximum subtracted, so large scores neither overflow
nor give ``log(0)``. ``x`` (N, K) scores, ``t`` (N, K) targets (one-hot or soft rows) in x's
dtype.
"""

from __future__ import annotations

from typing import Any

from .._array_api import namespace_of

__all__ = ["softmax_xent", "softmax_xent_backward"]


def softmax_xent(x: Any, t: Any, want_grad: bool) -> tuple[Any, Any, Any]:
    """``(loss, y, dx)``: the loss as a 0-d array of x's dtype on its device, the softmax y
    (N, K), and — when ``want_grad`` (a backward pass with ``dout = 1`` follows) — the input
    gradient ``(y - t) / N``, else ``None``."""
    xp = namespace_of(x)
    n = x.shape[0]
    z = x - xp.max(x, axis=1, keepdims=True)
    e = xp.exp(z)
    s = xp.sum(e, axis=1, keepdims=True)
    e /= s
    z -= xp.log(s)  # z is now log y
    loss = xp.sum(t * z) * (-1.0 / n)
    dx = softmax_xent_backward(e, t, 1.0 / n) if want_grad else None
    return loss, e, dx


def softmax_xent_backward(y: Any, t: Any, scale: float) -> Any:
    """``(y - t) · scale`` as a new array (``scale`` = dout / N, a Python float)."""
    dx = y - t
    dx *= scale
    return dx
