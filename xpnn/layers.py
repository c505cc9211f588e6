"""Layers of chapters 5 and 6, written once against the Array API standard.

Each layer is a small class in the book's style::

    out = layer.forward(x, train_flg=True)    # remembers what backward needs
    dx = layer.backward(dout)                 # sets the parameter gradients

Parameters and their gradients are exposed by name in ``layer.params`` and ``layer.grads``
(dicts, keys ``'W'``, ``'b'``, ``'gamma'``, ``'beta'``) and as the book's attributes (``W``,
``b``, ``dW``, ``db``, ``gamma``, ``beta``, ``dgamma``, ``dbeta``). A parameter is the very
array the layer computes with: update it in place (``p -= lr * g``) and the layer sees it.

The namespace comes from the input (``xp = namespace_of(x)``, looked up once per array
type), so the same code runs on NumPy, CuPy, torch and array_api_strict, on whatever device
the input lives on. Scalars are Python floats, so a float32 input stays float32. Nothing here
reads values back to the host.

**Gradients into a buffer.** By default ``backward`` sets each parameter gradient to a new
array. A network binds them instead (:meth:`Affine.bind_grads`) to views of its one flat
gradient buffer, which ``backward`` then overwrites in place (with the backend's
``matmul_into`` and ``sum_into``: one operation each where the library has ``out=``), so an
optimizer can update every parameter in one pass. Bound gradients are valid until the next
``backward``, as in PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from array_api_compat import device as device_of

from ._array_api import namespace_of
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


class _Parametric:
    """What layers with parameters share: gradients bound into given arrays."""

    #: parameter name -> the attribute holding its gradient
    GRAD_ATTRS: Mapping[str, str] = MappingProxyType({})
    _into: Any = None  # the backend that writes bound gradients (None: new arrays)

    def bind_grads(self, into: Any, arrays: Mapping[str, Any]) -> None:
        """From now on, write the gradient of each parameter named in ``arrays`` into
        that array (of the parameter's shape and dtype), using the backend ``into``'s
        ``matmul_into``/``sum_into``; the gradient attributes (``dW``...) are those arrays.
        """
        for name, array in arrays.items():
            setattr(self, self.GRAD_ATTRS[name], array)
        self._into = into

    @property
    def params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.GRAD_ATTRS}

    @property
    def grads(self) -> dict[str, Any]:
        return {name: getattr(self, attr) for name, attr in self.GRAD_ATTRS.items()}


class Affine(_Parametric):
    """Fully connected layer: ``out = x @ W + b``.

    Shapes: ``x`` (N, D) — or (N, d1, d2, ...), flattened to (N, D) and ``dx`` given back in
    the original shape —, ``W`` (D, M), ``b`` (M,), ``out`` (N, M). Gradients::

        dx = dout @ W.T      dW = x.T @ dout      db = Σ_n dout

    ``input_grad=False`` skips ``dx`` (``backward`` returns ``None``): a network's first
    layer needs no gradient for its data, and on MNIST that product is a fifth of the
    backward pass's arithmetic.
    """

    GRAD_ATTRS = MappingProxyType({"W": "dW", "b": "db"})

    def __init__(self, W: Any, b: Any, input_grad: bool = True) -> None:
        self.W = W
        self.b = b
        self.input_grad = input_grad
        self.x: Any = None
        self.original_x_shape: tuple[int, ...] | None = None
        self.dW: Any = None
        self.db: Any = None

    def forward(self, x: Any, train_flg: bool = False) -> Any:
        self.original_x_shape = tuple(x.shape)
        if x.ndim != 2:  # the size is explicit: -1 cannot be inferred for an empty batch
            x = namespace_of(x).reshape(x, (x.shape[0], math.prod(x.shape[1:])))
        self.x = x
        out = x @ self.W
        out += self.b
        return out

    def backward(self, dout: Any) -> Any:
        into = self._into
        if into is None:
            self.dW = self.x.T @ dout
            self.db = namespace_of(dout).sum(dout, axis=0)
        else:
            into.matmul_into(self.x.T, dout, self.dW)
            into.sum_into(dout, 0, self.db)
        if not self.input_grad:
            return None
        dx = dout @ self.W.T
        shape = self.original_x_shape
        if shape is not None and len(shape) != 2:
            dx = namespace_of(dx).reshape(dx, shape)
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
        self.out = namespace_of(x).maximum(x, 0.0)  # NaN propagates; -inf gives 0
        return self.out

    @property
    def mask(self) -> Any:
        """The book's attribute: where the input was not positive (computed on demand)."""
        return None if self.out is None else self.out <= 0.0

    def backward(self, dout: Any) -> Any:
        # a 0/1 multiply: on NumPy 7x faster than xp.where(out > 0, dout, 0.0)
        return dout * namespace_of(dout).astype(self.out > 0.0, dout.dtype)


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
        xp = namespace_of(x)
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
        self.out = namespace_of(x).tanh(x)
        return self.out

    def backward(self, dout: Any) -> Any:
        return dout * (1.0 - self.out * self.out)


def _as_is(v: Any) -> Any:
    return v


class BatchNormalization(_Parametric):
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

    GRAD_ATTRS = MappingProxyType({"gamma": "dgamma", "beta": "dbeta"})

    def __init__(
        self,
        gamma: Any,
        beta: Any,
        momentum: float = 0.9,
        running_mean: Any = None,
        running_var: Any = None,
        eps: float = 1e-6,
    ) -> None:
        xp = namespace_of(gamma)
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

    def _layout(self, x: Any) -> tuple[tuple[int, ...], Callable[[Any], Any]]:
        """(axes reduced over, a function shaping a per-feature vector to broadcast against
        x: the vector itself for 2-D input, a (C, 1, 1) view of it for 4-D)."""
        if x.ndim == 2:
            return (0,), _as_is
        if x.ndim == 4:
            xp, shape = namespace_of(x), (x.shape[1], 1, 1)
            return (0, 2, 3), lambda v: xp.reshape(v, shape)
        raise ValueError(
            f"BatchNormalization takes 2-D (N, D) or 4-D (N, C, H, W) input, got shape "
            f"{tuple(x.shape)}"
        )

    def forward(self, x: Any, train_flg: bool = True) -> Any:
        xp = namespace_of(x)
        axes, per_feature = self._layout(x)
        if x.shape[1] != self.gamma.shape[0]:
            raise ValueError(
                f"BatchNormalization has {self.gamma.shape[0]} features, input has {x.shape[1]}"
            )
        self.train_flg = bool(train_flg)
        if train_flg:
            mu = xp.mean(x, axis=axes)
            xc = x - per_feature(mu)
            var = xp.mean(xc * xc, axis=axes)
            keep = 1.0 - self.momentum
            self.running_mean *= self.momentum
            self.running_mean += mu * keep
            self.running_var *= self.momentum
            self.running_var += var * keep
        else:
            xc = x - per_feature(self.running_mean)
            var = self.running_var
        std = xp.sqrt(var + self.eps)
        xn = xc  # a fresh array: normalised in place
        xn /= per_feature(std)
        self.xn, self.std = xn, std
        out = xn * per_feature(self.gamma)
        out += per_feature(self.beta)
        return out

    def backward(self, dout: Any) -> Any:
        xp = namespace_of(dout)
        axes, per_feature = self._layout(dout)
        into = self._into
        if into is None:
            self.dbeta = xp.sum(dout, axis=axes)
            self.dgamma = xp.sum(dout * self.xn, axis=axes)
        else:
            into.sum_into(dout, axes, self.dbeta)
            into.sum_into(dout * self.xn, axes, self.dgamma)
        scale = per_feature(self.gamma / self.std)
        if not self.train_flg:  # μ and σ² are constants at inference
            return dout * scale
        m = math.prod(dout.shape) // dout.shape[1]
        dx = self.xn * per_feature(self.dgamma)
        dx += per_feature(self.dbeta)
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
        xp = namespace_of(x)
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
    [0, K) (or the same as a column (N, 1), as the book's chapter 7 gradient check passes
    them) or one-hot (N, K) (soft labels, rows summing to 1, work as well). ``loss`` is a
    0-d array of ``x``'s dtype, on ``x``'s device (reading it is the caller's choice).
    """

    params = _NO_PARAMS
    grads = _NO_PARAMS

    def __init__(self) -> None:
        self.loss: Any = None
        self.y: Any = None  # softmax output (N, K)
        self.t: Any = None  # the targets as (N, K), in x's dtype
        self._classes: Any = None  # arange(K) for integer labels, made once

    def forward(self, x: Any, t: Any, train_flg: bool = False) -> Any:
        xp = namespace_of(x)
        n, k = x.shape
        if t.ndim == 2 and t.shape[1] != k:
            if t.shape[1] == 1 and xp.isdtype(t.dtype, "integral"):
                t = xp.reshape(t, (t.shape[0],))  # the book's labels as a column (N, 1)
            else:
                raise ValueError(
                    f"SoftmaxWithLoss: t has shape {tuple(t.shape)}; for scores of shape "
                    f"{(n, k)} labels are integers (N,) (or a column (N, 1)) or one-hot (N, {k})"
                )
        if t.ndim == 1:
            classes = self._classes
            if (
                classes is None
                or classes.shape[0] != k
                or classes.dtype != t.dtype
                or device_of(classes) != device_of(x)
            ):
                classes = self._classes = xp.arange(k, dtype=t.dtype, device=device_of(x))
            t = xp.astype(t[:, None] == classes, x.dtype)
        elif t.dtype != x.dtype:
            t = xp.astype(t, x.dtype)
        z = x - xp.max(x, axis=1, keepdims=True)
        e = xp.exp(z)
        s = xp.sum(e, axis=1, keepdims=True)
        e /= s
        self.y = e
        self.t = t
        z -= xp.log(s)  # z is now log y
        self.loss = xp.sum(t * z) * (-1.0 / n)
        return self.loss

    def backward(self, dout: Any = 1.0) -> Any:
        dx = self.y - self.t
        dx *= dout / self.y.shape[0]
        return dx
