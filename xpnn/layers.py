"""Layers of chapters 5 and 6, written once against the Array API standard.

Each layer is a small class in the book's style::

    out = layer.forward(x, train_flg=True)    # remembers what backward needs
    dx = layer.backward(dout)                 # sets the parameter gradients

Parameters and their gradients are exposed by name in ``layer.params`` and ``layer.grads``
(dicts, keys ``'W'``, ``'b'``, ``'gamma'``, ``'beta'``) and as the book's attributes (``W``,
``b``, ``dW``, ``db``, ``gamma``, ``beta``, ``dgamma``, ``dbeta``). A parameter is the very
array the layer computes with: update it in place (``p -= lr * g``) and the layer sees it.

The namespace comes from the input (``xp = array_namespace(x)``), so the same code runs on
NumPy, CuPy, torch and array_api_strict, on whatever device the input lives on. Scalars are
Python floats, so a float32 input stays float32. Nothing here reads values back to the host.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from .random import Generator, make_generator

__all__ = [
    "Affine",
    "BatchNormalization",
    "Dropout",
    "Relu",
    "Sigmoid",
    "SoftmaxWithLoss",
    "Tanh",
]


_NO_PARAMS: Mapping[str, Any] = MappingProxyType({})  # parameterless layers: read-only, empty


class Affine:
    """Fully connected layer: ``out = x @ W + b``.

    Shapes: ``x`` (N, D) — or (N, d1, d2, ...), flattened to (N, D) and ``dx`` given back in
    the original shape —, ``W`` (D, M), ``b`` (M,), ``out`` (N, M). Gradients::

        dx = dout @ W.T      dW = x.T @ dout      db = Σ_n dout

    ``input_grad=False`` skips ``dx`` (``backward`` returns ``None``): a network's first
    layer needs no gradient for its data, and on MNIST that product is a fifth of the
    backward pass's arithmetic.
    """

    def __init__(self, W: Any, b: Any, input_grad: bool = True) -> None:
        self.W = W
        self.b = b
        self.input_grad = input_grad
        self.x: Any = None
        self.original_x_shape: tuple[int, ...] | None = None
        self.dW: Any = None
        self.db: Any = None

    @property
    def params(self) -> dict[str, Any]:
        return {"W": self.W, "b": self.b}

    @property
    def grads(self) -> dict[str, Any]:
        return {"W": self.dW, "b": self.db}

    def forward(self, x: Any, train_flg: bool = False) -> Any:
        self.original_x_shape = tuple(x.shape)
        if x.ndim != 2:  # the size is explicit: -1 cannot be inferred for an empty batch
            x = array_namespace(x).reshape(x, (x.shape[0], math.prod(x.shape[1:])))
        self.x = x
        out = x @ self.W
        out += self.b
        return out

    def backward(self, dout: Any) -> Any:
        xp = array_namespace(dout)
        self.dW = self.x.T @ dout
        self.db = xp.sum(dout, axis=0)
        if not self.input_grad:
            return None
        dx = dout @ self.W.T
        if len(self.original_x_shape) != 2:
            dx = xp.reshape(dx, self.original_x_shape)
        return dx


class Relu:
    """``out = max(x, 0)``; ``dx = dout`` where ``x > 0``, else 0.

    NaN passes through (as in the book), so a diverged network shows a NaN loss instead of
    a plausible one. ``backward`` returns a new array; ``dout`` is left as it was.
    """

    params = _NO_PARAMS
    grads = _NO_PARAMS

    def __init__(self) -> None:
        self.out: Any = None

    def forward(self, x: Any, train_flg: bool = False) -> Any:
        self.out = array_namespace(x).maximum(x, 0.0)  # NaN propagates; -inf gives 0
        return self.out

    @property
    def mask(self) -> Any:
        """The book's attribute: where the input was not positive (computed on demand)."""
        return None if self.out is None else self.out <= 0.0

    def backward(self, dout: Any) -> Any:
        xp = array_namespace(dout)
        return dout * xp.astype(self.out > 0.0, dout.dtype)


class Sigmoid:
    """``out = 1 / (1 + exp(-x))``; ``dx = dout * out * (1 - out)``.

    For very negative ``x`` (below about -88 in float32) ``exp(-x)`` overflows to ``inf`` and
    ``out`` is exactly 0, the correctly rounded value (NumPy warns about the overflow).
    """

    params = _NO_PARAMS
    grads = _NO_PARAMS

    def __init__(self) -> None:
        self.out: Any = None

    def forward(self, x: Any, train_flg: bool = False) -> Any:
        xp = array_namespace(x)
        e = xp.exp(-x)
        e += 1.0
        self.out = 1.0 / e
        return self.out

    def backward(self, dout: Any) -> Any:
        return dout * (1.0 - self.out) * self.out


class Tanh:
    """``out = tanh(x)``; ``dx = dout * (1 - out²)``."""

    params = _NO_PARAMS
    grads = _NO_PARAMS

    def __init__(self) -> None:
        self.out: Any = None

    def forward(self, x: Any, train_flg: bool = False) -> Any:
        self.out = array_namespace(x).tanh(x)
        return self.out

    def backward(self, dout: Any) -> Any:
        return dout * (1.0 - self.out * self.out)


class BatchNormalization:
    """Batch normalisation (Ioffe & Szegedy, 2015)::

        training:   μ, σ² = mean and (biased) variance of the batch
                    running_mean ← momentum·running_mean + (1 - momentum)·μ   (same for σ²)
        inference:  μ, σ² = running_mean, running_var
        x̂ = (x - μ) / √(σ² + eps)          out = γ·x̂ + β

    Input (N, D), statistics per feature; or (N, C, H, W), statistics per channel (over N,
    H and W, as convolutional networks need; the book's code normalises each element of a
    4-D input separately). ``gamma``, ``beta``, ``running_mean``, ``running_var`` have
    shape (D,) or (C,). Backward (training mode), with m = the number of values averaged::

        dβ = Σ dout       dγ = Σ dout·x̂       dx = γ/√(σ² + eps) · (dout - (dβ + x̂·dγ)/m)

    ``running_var`` starts at ones (as in PyTorch and Keras), ``running_mean`` at zeros; the
    book starts both at zeros, which makes an untrained network divide by √eps at inference.
    ``eps`` is the book's 1e-6 (written ``10e-7`` there). As in the book, ``forward``
    defaults to training mode (``train_flg=True``), like :class:`Dropout`.
    """

    def __init__(
        self,
        gamma: Any,
        beta: Any,
        momentum: float = 0.9,
        running_mean: Any = None,
        running_var: Any = None,
        eps: float = 1e-6,
    ) -> None:
        xp = array_namespace(gamma)
        self.gamma = gamma
        self.beta = beta
        self.momentum = float(momentum)
        self.eps = float(eps)
        self.running_mean = xp.zeros_like(gamma) if running_mean is None else running_mean
        self.running_var = xp.ones_like(gamma) if running_var is None else running_var
        self.xn: Any = None
        self.std: Any = None
        self.train_flg = False
        self.dgamma: Any = None
        self.dbeta: Any = None

    @property
    def params(self) -> dict[str, Any]:
        return {"gamma": self.gamma, "beta": self.beta}

    @property
    def grads(self) -> dict[str, Any]:
        return {"gamma": self.dgamma, "beta": self.dbeta}

    def _layout(self, x: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(axes reduced over, shape that broadcasts a per-feature vector against x)."""
        if x.ndim == 2:
            return (0,), (x.shape[1],)
        if x.ndim == 4:
            return (0, 2, 3), (x.shape[1], 1, 1)
        raise ValueError(
            f"BatchNormalization takes 2-D (N, D) or 4-D (N, C, H, W) input, got shape "
            f"{tuple(x.shape)}"
        )

    def forward(self, x: Any, train_flg: bool = True) -> Any:
        xp = array_namespace(x)
        axes, shape = self._layout(x)
        if shape[0] != self.gamma.shape[0]:
            raise ValueError(
                f"BatchNormalization has {self.gamma.shape[0]} features, input has {shape[0]}"
            )
        self.train_flg = bool(train_flg)
        if train_flg:
            mu = xp.mean(x, axis=axes)
            xc = x - xp.reshape(mu, shape)
            var = xp.mean(xc * xc, axis=axes)
            self.running_mean *= self.momentum
            self.running_mean += (1.0 - self.momentum) * mu
            self.running_var *= self.momentum
            self.running_var += (1.0 - self.momentum) * var
        else:
            xc = x - xp.reshape(self.running_mean, shape)
            var = self.running_var
        std = xp.sqrt(var + self.eps)
        xn = xc  # a fresh array: normalised in place
        xn /= xp.reshape(std, shape)
        self.xn, self.std = xn, std
        out = xn * xp.reshape(self.gamma, shape)
        out += xp.reshape(self.beta, shape)
        return out

    def backward(self, dout: Any) -> Any:
        xp = array_namespace(dout)
        axes, shape = self._layout(dout)
        self.dbeta = xp.sum(dout, axis=axes)
        self.dgamma = xp.sum(dout * self.xn, axis=axes)
        scale = xp.reshape(self.gamma / self.std, shape)
        if not self.train_flg:  # μ and σ² are constants at inference
            return dout * scale
        m = math.prod(dout.shape) // dout.shape[1]
        dx = self.xn * xp.reshape(self.dgamma, shape)
        dx += xp.reshape(self.dbeta, shape)
        dx *= -1.0 / m
        dx += dout
        dx *= scale
        return dx


class Dropout:
    """Inverted dropout with drop probability ``p = dropout_ratio``::

        training:   mask = (u ≥ p) / (1 - p),  u ~ U[0, 1)    out = x·mask    dx = dout·mask
        inference:  out = x                                                   dx = dout

    The scaling at training time keeps E[out] = x, so inference is the identity (the book
    scales at inference instead). ``u`` is drawn by ``generator`` (an
    :class:`xpnn.random.Generator`) on the input's device; without one, a generator with
    fresh entropy is made for the input's backend on first use (not reproducible).

    ``fixed_mask``: when set (a boolean or 0/1 keep-mask of the input's shape), training
    uses it instead of drawing one, still scaled by 1/(1 - p) — for gradient checks.
    """

    params = _NO_PARAMS
    grads = _NO_PARAMS

    def __init__(self, dropout_ratio: float = 0.5, generator: Generator | None = None) -> None:
        p = float(dropout_ratio)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout_ratio must be in [0, 1), got {dropout_ratio!r}")
        self.dropout_ratio = p
        self.generator = generator
        self.fixed_mask: Any = None
        self.mask: Any = None  # the scaled mask of the last training forward; None: identity

    def forward(self, x: Any, train_flg: bool = True) -> Any:
        if not train_flg:
            self.mask = None
            return x
        xp = array_namespace(x)
        if self.fixed_mask is not None:
            keep = self.fixed_mask
            if tuple(keep.shape) != tuple(x.shape):
                raise ValueError(
                    f"Dropout.fixed_mask has shape {tuple(keep.shape)}, the input {tuple(x.shape)}"
                )
            if keep.dtype != xp.bool:
                keep = keep != 0
        elif self.dropout_ratio == 0.0:
            self.mask = None
            return x
        else:
            if self.generator is None:
                from .backends import backend_of

                self.generator = make_generator(backend_of(x))
            u = self.generator.random(tuple(x.shape), dtype=x.dtype)
            keep = u >= self.dropout_ratio
        self.mask = xp.astype(keep, x.dtype)
        if self.dropout_ratio != 0.0:
            self.mask *= 1.0 / (1.0 - self.dropout_ratio)
        return x * self.mask

    def backward(self, dout: Any) -> Any:
        return dout if self.mask is None else dout * self.mask


class SoftmaxWithLoss:
    """Softmax followed by the mean cross-entropy over the batch::

        y = softmax(x) = exp(x - lse(x)),  lse(x) = m + log Σ_k exp(x_k - m),  m = max_k x_k
        loss = -(1/N) Σ_n Σ_k t_nk · log y_nk                 dx = (y - t) · dout / N

    The log-sum-exp is taken with the row maximum subtracted, so large scores neither
    overflow nor give ``log(0)``. ``x`` (N, K) scores; ``t`` integer labels (N,) in
    [0, K) or one-hot (N, K) (soft labels, rows summing to 1, work as well). ``loss`` is a
    0-d array of ``x``'s dtype, on ``x``'s device (reading it is the caller's choice).
    """

    params = _NO_PARAMS
    grads = _NO_PARAMS

    def __init__(self) -> None:
        self.loss: Any = None
        self.y: Any = None  # softmax output (N, K)
        self.t: Any = None  # the targets as (N, K), in x's dtype

    def forward(self, x: Any, t: Any, train_flg: bool = False) -> Any:
        xp = array_namespace(x)
        n, k = x.shape
        if t.ndim == 1:
            classes = xp.arange(k, dtype=t.dtype, device=device_of(x))
            t = xp.astype(t[:, None] == classes, x.dtype)
        elif t.dtype != x.dtype:
            t = xp.astype(t, x.dtype)
        z = x - xp.max(x, axis=1, keepdims=True)
        e = xp.exp(z)
        s = xp.sum(e, axis=1, keepdims=True)
        self.y = e / s
        self.t = t
        z -= xp.log(s)  # z is now log y
        self.loss = xp.sum(t * z) * (-1.0 / n)
        return self.loss

    def backward(self, dout: Any = 1.0) -> Any:
        dx = self.y - self.t
        dx *= dout / self.y.shape[0]
        return dx
