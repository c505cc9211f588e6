"""``common.layers``: the book's layers (chapters 5-7) are xpnn's own (:mod:`xpnn.layers`).

``Relu``, ``Sigmoid``, ``Affine``, ``SoftmaxWithLoss``, ``BatchNormalization`` take the
book's arguments and compute on any backend (the arrays given decide which). Where xpnn
differs from the book's code, on purpose:

- ``Dropout(dropout_ratio)`` is *inverted* dropout: training multiplies the kept units by
  1/(1 - ratio) and inference is the identity; the book's scales by (1 - ratio) at
  inference instead. The expected outputs are the same. Its masks are drawn from a
  generator seeded from NumPy's global one (so ``np.random.seed`` makes them repeatable).
- ``BatchNormalization`` normalises 4-D input per channel (the book's: per element) and
  starts ``running_var`` at ones (the book's: zeros).
- ``SoftmaxWithLoss`` computes the loss with a log-sum-exp (the book's adds 1e-7 inside the
  logarithm) and takes integer or one-hot labels, and integer labels as a column (N, 1), as
  the book's chapter 7 gradient check passes them (``T = np.array([1]).reshape((1, 1))``).
- ``Relu.backward`` leaves ``dout`` as it was (the book's overwrites it).

``Convolution`` and ``Pooling`` are :mod:`xpnn.conv`'s; ``Convolution`` also takes a number
for its bias, one for every filter, as the book's ``ch07/apply_filter.py`` passes ``b = 0``.
``from common.layers import *`` also gives
what the book's star import does: ``np``, the functions of :mod:`common.functions`,
``im2col`` and ``col2im``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as device_of

from xpnn import conv as _conv
from xpnn import layers as _layers
from xpnn.backends import backend_of
from xpnn.conv import Pooling, col2im, im2col

from .._network import seed_from_numpy
from .functions import (
    cross_entropy_error,
    identity_function,
    relu,
    relu_grad,
    sigmoid,
    sigmoid_grad,
    softmax,
    softmax_loss,
    step_function,
    sum_squared_error,
)

__all__ = [
    "Affine",
    "BatchNormalization",
    "Convolution",
    "Dropout",
    "Pooling",
    "Relu",
    "Sigmoid",
    "SoftmaxWithLoss",
    "col2im",
    "cross_entropy_error",
    "identity_function",
    "im2col",
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

Affine = _layers.Affine
BatchNormalization = _layers.BatchNormalization
Relu = _layers.Relu
Sigmoid = _layers.Sigmoid
Tanh = _layers.Tanh


class SoftmaxWithLoss(_layers.SoftmaxWithLoss):
    """:class:`xpnn.layers.SoftmaxWithLoss`, which also takes integer labels as a column
    (N, 1), the book's chapter 7 way; a float column is refused as before (it would
    broadcast against the scores into a wrong loss)."""

    def forward(self, x: Any, t: Any, train_flg: bool = False, *, want_grad: bool = False) -> Any:
        xp = array_namespace(t)
        if t.ndim == 2 and t.shape[1] == 1 != x.shape[1] and xp.isdtype(t.dtype, "integral"):
            t = xp.reshape(t, (t.shape[0],))
        return super().forward(x, t, train_flg, want_grad=want_grad)


class Convolution(_conv.Convolution):
    """:class:`xpnn.conv.Convolution` with the book's arguments; a number ``b`` (the book's
    ``apply_filter.py`` passes ``0``) is the bias of every filter, an array (FN,) of W's
    dtype on W's device."""

    def __init__(self, W: Any, b: Any, stride: int = 1, pad: int = 0) -> None:
        if isinstance(b, int | float) and not isinstance(b, bool) and getattr(W, "ndim", 0) == 4:
            xp = array_namespace(W)
            b = xp.full((W.shape[0],), float(b), dtype=W.dtype, device=device_of(W))
        super().__init__(W, b, stride, pad)


class Dropout(_layers.Dropout):
    """:class:`xpnn.layers.Dropout` (inverted dropout) with the book's arguments.

    Without a ``generator``, the first training pass makes one for the input's backend,
    seeded from NumPy's global generator (``np.random``), as the book's masks are drawn.
    """

    def forward(self, x: Any, train_flg: bool = True) -> Any:
        if self.generator is None and train_flg:
            self.generator = backend_of(x).rng(seed_from_numpy(None))
        return super().forward(x, train_flg)
