"""``common.functions``: the book's activation and loss functions (chapters 3 and 4), on
any backend.

Each function takes an array of any backend (NumPy, CuPy, torch, array_api_strict; its
namespace comes from the input) or, where a script passes one, a Python list or number,
which is read as a NumPy array. Results are arrays of the input's backend, on its device;
the losses are 0-d arrays (``float(loss)`` reads one).

``from common.functions import *`` also gives ``np`` (NumPy), as the book's module does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from xpnn._array_api import one_hot
from xpnn.backends import backend_of

__all__ = [
    "cross_entropy_error",
    "identity_function",
    "np",
    "relu",
    "relu_grad",
    "sigmoid",
    "sigmoid_grad",
    "softmax",
    "softmax_loss",
    "step_function",
    "sum_squared_error",
]

#: Added to the probability inside the logarithm of :func:`cross_entropy_error`, as the book
#: does, so that a probability of 0 gives a large finite loss instead of infinity.
DELTA = 1e-7


def _array(x: Any) -> tuple[Any, Any]:
    """``(xp, x)``: an array of any backend as it is; a list or number as a NumPy array."""
    try:
        return array_namespace(x), x
    except TypeError:
        x = np.asarray(x)
        return array_namespace(x), x


def _like(x: Any, other: Any) -> Any:
    """``other`` (an array of any backend, a list or a number) as an array of ``x``'s
    backend, on its device."""
    xp = array_namespace(x)
    try:
        if array_namespace(other) is xp:
            return other
    except TypeError:
        pass
    return backend_of(x).asarray(other)


def identity_function(x: Any) -> Any:
    """``x`` itself (the output activation of a regression network)."""
    return x


def step_function(x: Any) -> Any:
    """1 where ``x > 0``, else 0, as int64 (the book's ``dtype=int``)."""
    xp, x = _array(x)
    return xp.astype(x > 0, xp.int64)


def sigmoid(x: Any) -> Any:
    """``1 / (1 + exp(-x))``, elementwise."""
    xp, x = _array(x)
    return 1.0 / (1.0 + xp.exp(-x))


def sigmoid_grad(x: Any) -> Any:
    """The derivative of :func:`sigmoid` at ``x``: ``(1 - sigmoid(x)) * sigmoid(x)``."""
    y = sigmoid(x)
    return (1.0 - y) * y


def relu(x: Any) -> Any:
    """``max(0, x)``, elementwise (integers stay integers)."""
    xp, x = _array(x)
    return xp.maximum(x, 0.0 if xp.isdtype(x.dtype, "real floating") else 0)


def relu_grad(x: Any) -> Any:
    """The book's derivative of :func:`relu`: 1 where ``x >= 0``, else 0, in ``x``'s dtype."""
    xp, x = _array(x)
    return xp.astype(x >= 0, x.dtype)


def softmax(x: Any) -> Any:
    """``exp(x) / Σ exp(x)`` over the last axis (a vector (K,) or a batch (N, K)), with the
    maximum subtracted first so that large scores do not overflow."""
    xp, x = _array(x)
    e = xp.exp(x - xp.max(x, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


def sum_squared_error(y: Any, t: Any) -> Any:
    """``½ Σ (y - t)²`` over all elements (the book's "mean squared error", eq. 4.1)."""
    xp, y = _array(y)
    d = y - _like(y, t)
    return 0.5 * xp.sum(d * d)


def cross_entropy_error(y: Any, t: Any) -> Any:
    """``-(1/N) Σ_n log(y[n, t_n] + 1e-7)``: the mean cross-entropy of probabilities ``y``.

    ``y`` is one sample (K,) or a batch (N, K); ``t`` the labels as integers ((), (N,)) or
    one-hot ((K,), (N, K)). One-hot labels are read as the index of their largest entry, as
    the book does (so soft labels count as their most likely class).
    """
    xp, y = _array(y)
    t = _like(y, t)
    if y.ndim == 1:
        y = xp.reshape(y, (1, y.shape[0]))
        t = xp.reshape(t, (1, math.prod(t.shape)))
    n, k = y.shape
    if math.prod(t.shape) == math.prod(y.shape):  # one-hot: the index of the 1
        t = xp.argmax(t, axis=1)
    t = xp.reshape(t, (n,))
    picked = xp.sum(y * one_hot(t, k, y.dtype), axis=1)  # y[n, t_n]
    return -xp.sum(xp.log(picked + DELTA)) / n


def softmax_loss(X: Any, t: Any) -> Any:
    """``cross_entropy_error(softmax(X), t)``: the loss of raw scores ``X``."""
    return cross_entropy_error(softmax(X), t)
