"""Layers of chapters 5 and 6, written once against the Array API standard.

Each layer is a small class in the book's style::

    out = layer.forward(x, train_flg=True)    # remembers what backward needs
    dx = layer.backward(dout)                 # sets the parameter gradients

**A layer owns its parameters.** It declares them (:attr:`Layer.PARAMS`: the attribute
holding the array, the one holding its gradient, and whether weight decay applies) and its
other state (:attr:`Layer.BUFFERS`, e.g. BatchNorm's running statistics); a network reads
these declarations to register, flatten, decay and save them. They are also exposed by name in
``layer.params`` and ``layer.grads`` (dicts) and as the book's attributes (``W``, ``b``,
``dW``, ``db``, ``gamma``, ``beta``, ``dgamma``, ``dbeta``). A parameter is the very array the
layer computes with: update it in place (``p -= lr * g``) and the layer sees it.

**Kernels.** The hot operations go through the layer's backend (the kernel seam of
:mod:`xpnn.backends.base`; the portable references are :mod:`xpnn.ops`): a network sets each
layer's ``backend``; a layer used on its own finds it from its input. Scalars are Python
floats, so a float32 input stays float32. Nothing here reads values back to the host.

**Gradients into a buffer.** By default ``backward`` sets each parameter gradient to a new
array. A network binds them instead (:meth:`Layer.bind`) to views of its one flat gradient
buffer, which ``backward`` then overwrites in place (with the backend's ``matmul_into`` and
``sum_into``: one operation each where the library has ``out=``), so an optimizer can update
every parameter in one pass. Bound gradients are valid until the next ``backward``, as in
PyTorch.

**Fused activations.** A network's forward pass runs an Affine (or Convolution) layer and the
activation layer after it as one step (:meth:`Affine.forward_with`): the bias and the
activation are one operation of the backend (``bias_act``), and the activation layer keeps
its output for its backward pass as if it had computed it. Each layer's own ``forward`` is
unchanged.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from ._array_api import namespace_of, one_hot
from .backends import Backend, backend_of
from .ops.dropout import dropout_mask

__all__ = [
    "Activation",
    "Affine",
    "BatchNormalization",
    "Dropout",
    "Layer",
    "Param",
    "Plans",
    "Relu",
    "Sigmoid",
    "SoftmaxWithLoss",
    "Tanh",
    "backward_plan",
    "fused_plan",
    "held_dropout_masks",
    "train_pass",
]


_NO_PARAMS: Mapping[str, Any] = MappingProxyType({})  # parameterless layers: read-only, empty


@dataclass(frozen=True)
class Param:
    """A parameter a layer declares: the attribute holding its array (``"W"``), the one
    holding its gradient (``"dW"``), and whether weight decay applies to it."""

    name: str
    grad: str
    decay: bool = False


class Layer:
    """What every layer shares: its declared parameters and state, its backend, and gradients
    bound into given arrays.

    ``PARAMS`` and ``BUFFERS`` are class attributes; ``GRAD_ATTRS`` (parameter name ->
    gradient attribute) is derived from ``PARAMS``.
    """

    PARAMS: ClassVar[tuple[Param, ...]] = ()
    BUFFERS: ClassVar[tuple[str, ...]] = ()
    GRAD_ATTRS: ClassVar[Mapping[str, str]] = MappingProxyType({})

    #: Whether each sample's output and gradients depend on that sample alone, so that a
    #: batch cut into parts gives the whole batch's results (:mod:`xpnn.data_parallel`).
    #: Off unless a layer says so: BatchNormalization's statistics are the batch's.
    per_sample: ClassVar[bool] = False
    #: The backend whose kernels this layer uses (set by a network; ``None``: the input's).
    backend: Backend | None = None
    _into: Backend | None = None  # the backend writing bound gradients (None: new arrays)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "PARAMS" in vars(cls):  # a subclass that declares its own parameters
            cls.GRAD_ATTRS = MappingProxyType({p.name: p.grad for p in cls.PARAMS})

    def _ops(self, x: Any) -> Backend:
        backend = self.backend
        return backend if backend is not None else backend_of(x)

    def bind(
        self,
        backend: Backend,
        params: Mapping[str, Any] | None = None,
        grads: Mapping[str, Any] | None = None,
    ) -> None:
        """Compute with ``backend``'s kernels; take the arrays in ``params`` (by parameter
        name) as this layer's parameters (views of a network's flat buffer, holding the
        same values); write each gradient into the array in ``grads`` (see
        :meth:`bind_grads`)."""
        self.backend = backend
        for name, array in (params or {}).items():
            setattr(self, name, array)
        if grads:
            self.bind_grads(backend, grads)

    def bind_grads(self, into: Backend, arrays: Mapping[str, Any]) -> None:
        """From now on, write the gradient of each parameter named in ``arrays`` into
        that array (of the parameter's shape and dtype), using the backend ``into``'s
        ``matmul_into``/``sum_into``; the gradient attributes (``dW``...) are those arrays.
        """
        for name, array in arrays.items():
            setattr(self, self.GRAD_ATTRS[name], array)
        self._into = into

    @property
    def params(self) -> Mapping[str, Any]:
        """The parameters by name (``{'W': ..., 'b': ...}``: a new dict of the layer's own
        arrays; a read-only empty mapping for a layer without)."""
        if not self.PARAMS:
            return _NO_PARAMS
        return {p.name: getattr(self, p.name) for p in self.PARAMS}

    @property
    def grads(self) -> Mapping[str, Any]:
        """The gradients of the last ``backward`` by parameter name."""
        if not self.PARAMS:
            return _NO_PARAMS
        return {p.name: getattr(self, p.grad) for p in self.PARAMS}


class Affine(Layer):
    """Fully connected layer: ``out = x @ W + b``.

    Shapes: ``x`` (N, D) — or (N, d1, d2, ...), flattened to (N, D) and ``dx`` given back in
    the original shape —, ``W`` (D, M), ``b`` (M,), ``out`` (N, M). Gradients::

        dx = dout @ W.T      dW = x.T @ dout      db = Σ_n dout

    ``input_grad=False`` skips ``dx`` (``backward`` returns ``None``): a network's first
    layer needs no gradient for its data, and on MNIST that product is a fifth of the
    backward pass's arithmetic.
    """

    per_sample = True

    PARAMS = (Param("W", "dW", decay=True), Param("b", "db"))

    def __init__(self, W: Any, b: Any, input_grad: bool = True) -> None:
        self.W = W
        self.b = b
        self.input_grad = input_grad
        self.x: Any = None
        self.original_x_shape: tuple[int, ...] | None = None
        self.dW: Any = None
        self.db: Any = None

    def forward(self, x: Any, train_flg: bool = False) -> Any:
        return self._forward(x, "identity")

    def forward_with(self, x: Any, activation: Activation, train_flg: bool = False) -> Any:
        """``activation.forward(self.forward(x))`` in one pass over the output (the bias
        and the activation: the backend's ``bias_act``); ``activation`` keeps the output
        for its ``backward``."""
        out = activation.out = self._forward(x, activation.kind)
        return out

    def _forward(self, x: Any, act: str) -> Any:
        self.original_x_shape = tuple(x.shape)
        if x.ndim != 2:  # the size is explicit: -1 cannot be inferred for an empty batch
            x = namespace_of(x).reshape(x, (x.shape[0], math.prod(x.shape[1:])))
        self.x = x
        return self._ops(x).bias_act(x @ self.W, self.b, act)

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


class Activation(Layer):
    """An elementwise activation, ``out = f(x)``, ``dx = dout · f'(x)`` written with ``out``
    (``kind``: ``"relu"``, ``"sigmoid"``, ``"tanh"``; see :mod:`xpnn.ops.activation`).
    ``backward`` returns a new array; ``dout`` is left as it was."""

    per_sample = True

    kind: ClassVar[str] = "identity"

    def __init__(self) -> None:
        self.out: Any = None

    def forward(self, x: Any, train_flg: bool = False) -> Any:
        self.out = self._ops(x).act_forward(x, self.kind)
        return self.out

    def backward(self, dout: Any) -> Any:
        return self._ops(dout).act_backward(dout, self.out, self.kind)


class Relu(Activation):
    """``out = max(x, 0)``; ``dx = dout`` where ``out > 0``, else 0.

    NaN passes through (as in the book), so a diverged network shows a NaN loss instead of
    a plausible one.
    """

    kind = "relu"

    @property
    def mask(self) -> Any:
        """The book's attribute: where the input was not positive (computed on demand)."""
        return None if self.out is None else self.out <= 0.0


class Sigmoid(Activation):
    """``out = 1 / (1 + exp(-x))``; ``dx = dout * out * (1 - out)``.

    For very negative ``x`` (below about -88 in float32) ``exp(-x)`` overflows to ``inf`` and
    ``out`` is exactly 0, the correctly rounded value (NumPy warns about the overflow).
    """

    kind = "sigmoid"


class Tanh(Activation):
    """``out = tanh(x)``; ``dx = dout * (1 - out²)``."""

    kind = "tanh"


class BatchNormalization(Layer):
    """Batch normalisation (Ioffe & Szegedy, 2015); the formulas are
    :mod:`xpnn.ops.batchnorm`'s::

        training:   μ, σ² = mean and (biased) variance of the batch, running averages kept
        inference:  μ, σ² = running_mean, running_var
        x̂ = (x - μ) / √(σ² + eps)          out = γ·x̂ + β

    Input (N, D), statistics per feature; or (N, C, H, W), statistics per channel (over N,
    H and W, as convolutional networks need; the book's code normalises each element of a
    4-D input separately). ``gamma``, ``beta``, ``running_mean``, ``running_var`` have
    shape (D,) or (C,); the running averages use ``momentum`` (0.9).

    ``running_var`` starts at ones (as in PyTorch and Keras), ``running_mean`` at zeros; the
    book starts both at zeros, which makes an untrained network divide by √eps at inference.
    ``eps`` is the book's 1e-6 (written ``10e-7`` there). As in the book, ``forward``
    defaults to training mode (``train_flg=True``), like :class:`Dropout`.
    """

    PARAMS = (Param("gamma", "dgamma"), Param("beta", "dbeta"))
    BUFFERS = ("running_mean", "running_var")

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

    def forward(self, x: Any, train_flg: bool = True) -> Any:
        if x.ndim in (2, 4) and x.shape[1] != self.gamma.shape[0]:
            raise ValueError(
                f"BatchNormalization has {self.gamma.shape[0]} features, input has {x.shape[1]}"
            )
        self.train_flg = bool(train_flg)
        out, self.xn, self.std = self._ops(x).batchnorm_forward(
            x,
            self.gamma,
            self.beta,
            self.running_mean,
            self.running_var,
            self.momentum,
            self.eps,
            self.train_flg,
        )
        return out

    def backward(self, dout: Any) -> Any:
        bound = self._into is not None
        dx, dgamma, dbeta = self._ops(dout).batchnorm_backward(
            dout,
            self.xn,
            self.std,
            self.gamma,
            self.train_flg,
            self.dgamma if bound else None,
            self.dbeta if bound else None,
        )
        self.dgamma, self.dbeta = dgamma, dbeta
        return dx


class Dropout(Layer):
    """Inverted dropout with drop probability ``p = dropout_ratio``::

        training:   mask = (u ≥ p) / (1 - p),  u ~ U[0, 1)    out = x·mask    dx = dout·mask
        inference:  out = x                                                   dx = dout

    The scaling at training time keeps E[out] = x, so inference is the identity (the book
    scales at inference instead). ``u`` is drawn by ``generator`` (an
    :class:`xpnn.random.Generator`) on the input's device; without one, a generator with
    fresh entropy is made for the input's backend on first use (not reproducible).

    ``fixed_mask``: when set (a boolean or 0/1 keep-mask of the input's shape), training
    uses it instead of drawing one, still scaled by 1/(1 - p) — for gradient checks (see
    :func:`held_dropout_masks`).
    """

    per_sample = True

    def __init__(self, dropout_ratio: float = 0.5, generator: Any = None) -> None:
        p = float(dropout_ratio)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout_ratio must be in [0, 1), got {dropout_ratio!r}")
        self.dropout_ratio = p
        self.generator = generator
        self.fixed_mask: Any = None
        self.mask: Any = None  # the scaled mask of the last training forward; None: identity

    def forward(self, x: Any, train_flg: bool = True) -> Any:
        if not train_flg or (self.dropout_ratio == 0.0 and self.fixed_mask is None):
            self.mask = None
            return x
        if self.fixed_mask is not None:
            keep = self.fixed_mask
            if tuple(keep.shape) != tuple(x.shape):
                raise ValueError(
                    f"Dropout.fixed_mask has shape {tuple(keep.shape)}, the input {tuple(x.shape)}"
                )
            if keep.dtype != namespace_of(x).bool:
                keep = keep != 0
            self.mask = dropout_mask(keep, self.dropout_ratio, x.dtype)
            return x * self.mask
        ops = self._ops(x)
        if self.generator is None:
            self.generator = ops.rng()
        out, self.mask = ops.dropout_forward(x, self.dropout_ratio, self.generator)
        return out

    def backward(self, dout: Any) -> Any:
        return dout if self.mask is None else dout * self.mask


@contextlib.contextmanager
def held_dropout_masks(
    dropouts: Sequence[Dropout],
    draw: Callable[[], Any] | None = None,
    masks: Mapping[int, Any] | None = None,
) -> Iterator[None]:
    """Within the block, each of ``dropouts`` without a ``fixed_mask`` reuses one mask in
    training mode (a gradient check compares one function, not a random one): the keep-mask
    ``masks[i]`` for ``dropouts[i]`` when given, else — when ``draw`` is given — the mask of
    one training pass ``draw()`` makes, else the mask of the layer's last training pass.
    Afterwards the layers draw again."""
    held = [d for d in dropouts if d.fixed_mask is None]
    try:
        for i, d in enumerate(dropouts):
            if d in held and masks is not None and masks.get(i) is not None:
                d.fixed_mask = masks[i]
        missing = [d for d in held if d.fixed_mask is None]
        if missing and draw is not None:
            draw()
        for d in missing:
            if d.mask is not None:
                d.fixed_mask = d.mask != 0.0
        yield
    finally:
        for d in held:
            d.fixed_mask = None


class SoftmaxWithLoss(Layer):
    """Softmax followed by the mean cross-entropy over the batch (:mod:`xpnn.ops.softmax`)::

        loss = -(1/N) Σ_n Σ_k t_nk · log softmax(x)_nk          dx = (y - t) · dout / N

    ``x`` (N, K) scores; ``t`` integer labels (N,) in [0, K) or one-hot (N, K) (soft labels,
    rows summing to 1, work as well). ``loss`` is a 0-d array of ``x``'s dtype, on ``x``'s
    device (reading it is the caller's choice).

    ``want_grad=True`` (what a network's training step passes) computes ``dx`` in the same
    pass, for the ``backward(1.0)`` that follows.
    """

    per_sample = True

    def __init__(self) -> None:
        self.loss: Any = None
        self.y: Any = None  # softmax output (N, K)
        self.t: Any = None  # the targets as (N, K), in x's dtype
        self._dx: Any = None  # dx for dout = 1, when forward computed it

    def _targets(self, x: Any, t: Any) -> Any:
        xp = namespace_of(x)
        n, k = x.shape
        if t.ndim == 1:
            return one_hot(t, k, x.dtype)
        if t.ndim != 2 or t.shape[1] != k:
            raise ValueError(
                f"SoftmaxWithLoss: t has shape {tuple(t.shape)}; for scores of shape "
                f"{(n, k)} labels are integers (N,) or one-hot (N, {k})"
            )
        return t if t.dtype == x.dtype else xp.astype(t, x.dtype)

    def forward(self, x: Any, t: Any, train_flg: bool = False, *, want_grad: bool = False) -> Any:
        self.t = self._targets(x, t)
        self.loss, self.y, self._dx = self._ops(x).softmax_xent(x, self.t, want_grad)
        return self.loss

    def backward(self, dout: Any = 1.0) -> Any:
        dx, self._dx = self._dx, None
        if dx is not None and isinstance(dout, int | float) and dout == 1.0:
            return dx
        return self._ops(self.y).softmax_xent_backward(self.y, self.t, dout / self.y.shape[0])


def fused_plan(layers: Sequence[Any]) -> list[tuple[Any, Activation | None]]:
    """How a network's forward pass runs ``layers``: each layer with the activation layer
    fused into it (a layer with ``forward_with`` — Affine, Convolution — followed by an
    :class:`Activation`) or ``None``; a fused activation is not listed on its own."""
    plan: list[tuple[Any, Activation | None]] = []
    i = 0
    while i < len(layers):
        layer, after = layers[i], layers[i + 1] if i + 1 < len(layers) else None
        if hasattr(layer, "forward_with") and isinstance(after, Activation):
            plan.append((layer, after))
            i += 2
        else:
            plan.append((layer, None))
            i += 1
    return plan


def backward_plan(layers: Sequence[Any]) -> list[tuple[Any, Activation | None]]:
    """How a network's backward pass runs ``layers``, last first: each layer with the
    activation before it folded in (a layer with ``backward_after`` — max pooling —
    preceded by a ReLU) or ``None``; a folded activation is not listed on its own. Only
    ReLU is folded: its fold gives the unfolded values in every case, NaN included (see
    :meth:`xpnn.conv.Pooling.backward_after`)."""
    plan: list[tuple[Any, Activation | None]] = []
    i = len(layers) - 1
    while i >= 0:
        layer, before = layers[i], layers[i - 1] if i > 0 else None
        if (
            hasattr(layer, "backward_after")
            and isinstance(before, Activation)
            and before.kind == "relu"
        ):
            plan.append((layer, before))
            i -= 2
        else:
            plan.append((layer, None))
            i -= 1
    return plan


class Plans:
    """A network's forward (:func:`fused_plan`) and backward (:func:`backward_plan`) plans,
    built again whenever its layers are no longer the same objects (the book's scripts swap
    layers into ``net.layers``). ``group``, where given, first replaces runs of layers by
    blocks that run them together (:func:`xpnn.conv_pool.blocks`); both plans then hold the
    same block objects."""

    def __init__(self, group: Callable[[list[Any]], list[Any]] | None = None) -> None:
        self._group = group
        self._key: tuple[int, ...] | None = None
        self._plans: tuple[list[Any], list[Any]] = ([], [])

    def of(self, layers: Mapping[str, Any]) -> tuple[list[Any], list[Any]]:
        """``(forward plan, backward plan)`` of ``layers`` (name → layer, in order)."""
        key = tuple(map(id, layers.values()))
        if key != self._key:
            listed = list(layers.values())
            if self._group is not None:
                listed = self._group(listed)
            self._plans, self._key = (fused_plan(listed), backward_plan(listed)), key
        return self._plans


def forward_pass(plans: Plans, layers: Mapping[str, Any], x: Any, train_flg: bool) -> Any:
    """``layers``' output for ``x``, as a network's plans run them (before its last layer)."""
    for layer, act in plans.of(layers)[0]:
        x = layer.forward(x, train_flg) if act is None else layer.forward_with(x, act)
    return x


def train_pass(plans: Plans, layers: Mapping[str, Any], last_layer: Any, x: Any, t: Any) -> Any:
    """One forward pass of ``layers`` in training mode through ``last_layer`` (the loss) and
    the backward pass, as a network's plans run them: the layers hold their gradients
    afterwards. Returns the loss the last layer computed (a 0-d array)."""
    loss = last_layer.forward(forward_pass(plans, layers, x, True), t, want_grad=True)
    dout = last_layer.backward(1.0)
    for layer, act in plans.of(layers)[1]:  # the first layer returns None
        dout = layer.backward(dout) if act is None else layer.backward_after(dout, act)
    return loss
