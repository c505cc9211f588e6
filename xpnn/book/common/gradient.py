"""``common.gradient``: the book's numerical gradient (chapter 4), on any backend.

::

    dW = numerical_gradient(lambda W: net.loss(x, t), net.W)

The central difference ``(f(x + h) - f(x - h)) / 2h`` with ``h = 1e-4``, one element at a
time: each element of ``x`` is changed in place, ``f(x)`` is called with the array and read
as a Python float (a host read per call: a checking tool, slow on a GPU), and the element is
put back bit for bit. The difference is divided by the distance between the two values
actually stored, which is ``2h`` in float64 and the rounded distance in float32. Use float64
arrays to compare with backpropagation: in float32 the result has about 3 correct digits.

``from common.gradient import *`` also gives ``np`` (NumPy), as the book's module does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from xpnn.gradcheck import numerical_gradient as _central_differences

__all__ = ["np", "numerical_gradient", "numerical_gradient_2d"]

#: The book's step.
H = 1e-4


def _float_array(x: Any, name: str = "x") -> Any:
    try:
        xp = array_namespace(x)
    except TypeError:
        raise TypeError(
            f"numerical_gradient changes {name} in place and needs an array (e.g. "
            f"np.array([...], dtype=float)), not a {type(x).__name__}"
        ) from None
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(
            f"{name} has dtype {x.dtype}; numerical_gradient needs a floating-point array "
            "(e.g. x.astype(float))"
        )
    return xp


def numerical_gradient(f: Callable[[Any], Any], x: Any) -> Any:
    """∂f/∂x at ``x`` by central differences, an array of ``x``'s shape, dtype and device.

    ``f(x)`` returns a number or a 0-d array of any backend. ``x`` (any shape, floating) is
    changed in place during the computation and restored bit for bit.
    """
    _float_array(x)
    return _central_differences(lambda _: f(x), {"x": x}, h=H, order=2)["x"]


def numerical_gradient_1d(f: Callable[[Any], Any], x: Any) -> Any:
    """:func:`numerical_gradient` of a vector ``x`` (the book's ``_numerical_gradient_1d``)."""
    return numerical_gradient(f, x)


_numerical_gradient_1d = numerical_gradient_1d


def numerical_gradient_2d(f: Callable[[Any], Any], X: Any) -> Any:
    """The gradient of ``f`` at each row of ``X``: for a vector ``X``, that of ``f`` at ``X``;
    for a matrix (N, D), row ``n`` of the result is the gradient of ``f`` at ``X[n]`` (``f``
    takes one point (D,), as the book's ``function_2``). ``X`` is left as it was.
    """
    xp = _float_array(X, "X")
    if X.ndim == 1:
        return numerical_gradient(f, X)
    rows = []
    for n in range(X.shape[0]):
        row = xp.asarray(X[n, ...], copy=True)
        rows.append(numerical_gradient(f, row))
    return xp.stack(rows)
