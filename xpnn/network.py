"""Network: what every xpnn network shares — input checks, loss, gradients, state.

A network is an ordered dict of layers (``self.layers``), a ``SoftmaxWithLoss`` last layer and
a dict of parameters (``self.params``: the very arrays the layers compute with). Subclasses
(:class:`~xpnn.mlp.MultiLayerNet`, the convolutional networks) only build them, in their
constructor, with :meth:`Network._add_param` and :meth:`Network._add_layer`; everything a
user calls is here::

    scores = net.predict(x)                       # (N, output_size), on the device
    loss = net.loss(x, t)                         # 0-d array: cross-entropy + ½λΣ‖W‖²
    grads = net.gradient(x, t)                    # dict keyed like net.params
    optimizer.update(net.params, grads)           # trains net in place
    net.accuracy(x, t)                            # a Python float
    net.save_params("params.pkl")                 # an xpnn checkpoint (never a pickle)

Updating ``params`` in place (``p -= lr * g``, as every optimizer does) trains the network.
Rebinding a key (``net.params['W1'] = new``) does not reach the layer: use
``load_state_dict``.

**Inputs.** ``x`` is (N, ...) with ``input_size`` values per sample, floating point; a
network whose first layer is a convolution reshapes (N, C·H·W) to (N, C, H, W). Labels ``t``
are integers (N,) in [0, output_size) or one-hot (N, output_size). Each may be a host NumPy
array (moved to the network's device and converted to its dtype) or an array of the
network's backend, on its device and of its dtype (a different float dtype raises
``TypeError``: convert it once, up front, instead of paying a silent copy every batch).
Integer images raise ``TypeError`` (normalise to float, e.g. ``x / 255``).

**Value checks** (NaN or infinity in ``x``, host values beyond the range of the network's
dtype, labels out of range, one-hot values outside [0, 1] or not finite) run where reading a
value costs no device synchronisation: on host NumPy input before it is moved, and on any
input when the backend computes in host memory (``backend.is_cpu``). Arrays already on a
GPU are not value-checked (that would stall the device every batch); the Trainer checks its
data once, on the host.

**Randomness.** ``seed`` is split with :func:`xpnn.random.spawn_seeds` into two streams:
one draws the initial weights, the other (``net.dropout_rng``) the dropout masks during
training. ``state_dict()`` includes the dropout generator's state, so a run resumes
exactly; the same seed on numpy and array_api_strict gives bitwise-equal results.
"""

from __future__ import annotations

import math
import operator
import os
import warnings
from collections.abc import Mapping
from typing import Any

from array_api_compat import array_namespace, is_numpy_array
from array_api_compat import device as device_of

from ._array_api import namespace_of
from .backends import Backend, backend_of, get_backend
from .flat import FlatDict, FlatLayout
from .gradcheck import numerical_gradient as _numerical_gradient
from .layers import Dropout, SoftmaxWithLoss
from .params_io import load_params, save_params
from .random import spawn_seeds

__all__ = ["Network"]

_FLOAT_DTYPES = ("float32", "float64")


def _name(dtype: Any) -> str:
    """'float32' for numpy's, torch's, cupy's and array_api_strict's float32 alike."""
    return str(dtype).rsplit(".", 1)[-1].strip("'>")


def positive_int(name: str, value: Any) -> int:
    """``value`` as an ``int`` ≥ 1, or a ``TypeError``/``ValueError`` naming ``name``."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a positive integer, not a bool")
    try:
        out = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be a positive integer, got {value!r}") from None
    if out < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return out


def non_negative_float(name: str, value: Any) -> float:
    """``value`` as a finite ``float`` ≥ 0, or a ``TypeError``/``ValueError`` naming ``name``."""
    if isinstance(value, bool | str | bytes):
        raise TypeError(f"{name} must be a real number ≥ 0, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number ≥ 0, got {value!r}") from None
    if not math.isfinite(out) or out < 0.0:
        raise ValueError(f"{name} must be finite and ≥ 0, got {value!r}")
    return out


class Network:
    """The base of xpnn's networks (see the module docstring for what it provides).

    Parameters
    ----------
    input_shape:
        The shape of one sample, e.g. ``(784,)`` or ``(1, 28, 28)``.
    output_size:
        The number of classes.
    weight_decay_lambda:
        λ ≥ 0: the loss gains ½λΣ‖W‖² over the weights registered with ``decay=True``, and
        each of their gradients λW (biases, γ, β untouched).
    dtype:
        ``'float32'`` (default) or ``'float64'`` (or a dtype of the backend).
    backend:
        A backend name, a :class:`~xpnn.backends.Backend`, or ``None`` for the default
        (``XPNN_BACKEND``).
    seed:
        An int, ``None`` (fresh entropy) or a ``numpy.random.SeedSequence``.
    reshape_input:
        Whether (N, input_size) input is reshaped to (N, *input_shape) for the first layer.
    """

    #: Samples per forward pass in :meth:`accuracy` (``None``: the whole batch at once).
    #: Convolutional networks set it: their patch matrices grow with the batch (a
    #: DeepConvNet's would take gigabytes for 10,000 images at once).
    eval_batch_size: int | None = None

    def __init__(
        self,
        input_shape: tuple[int, ...],
        output_size: int,
        *,
        weight_decay_lambda: float = 0.0,
        dtype: Any = "float32",
        backend: str | Backend | None = None,
        seed: Any = None,
        reshape_input: bool = False,
    ) -> None:
        self.input_shape = tuple(input_shape)
        self.input_size = math.prod(self.input_shape)
        self.output_size = positive_int("output_size", output_size)
        self.weight_decay_lambda = non_negative_float("weight_decay_lambda", weight_decay_lambda)
        self._reshape_input = bool(reshape_input)
        if len(self.input_shape) == 1:
            self._input_doc = str(self.input_size)
            self._input_name = f"input_size={self.input_size}"
        else:
            dims = ", ".join(map(str, self.input_shape))
            self._input_doc = f"{dims}) or (N, {self.input_size}"
            self._input_name = f"input_dim=({dims}), {self.input_size} values"

        self.backend = get_backend(backend)
        self.dtype = self.backend.dtype(dtype)
        names = [n for n in _FLOAT_DTYPES if self.dtype == getattr(self.backend.xp, n)]
        if not names:
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.dtype_name: str = names[0]

        init_seed, dropout_seed = spawn_seeds(seed, 2)
        self.init_rng = self.backend.rng(init_seed)
        self.dropout_rng = self.backend.rng(dropout_seed)

        self.params: dict[str, Any] = {}
        self.layers: dict[str, Any] = {}
        self.last_layer = SoftmaxWithLoss()
        self._grad_refs: list[tuple[str, Any, str]] = []  # (param key, layer, grad attr)
        self._buffer_refs: dict[str, tuple[Any, str]] = {}  # state key -> (layer, attr)
        self._dropouts: list[Dropout] = []
        self._weights: list[tuple[str, Any]] = []  # (key, array) weight decay applies to
        self._array_type: type | None = None
        self._grads: FlatDict | None = None  # the flat gradient buffer (None: not flat)
        self._flat_params: FlatDict | None = None  # ``params`` when it is flat
        self._decay: Any = None  # flat λ at the weights, 0 elsewhere (made when first used)
        self._decay_lambda = 0.0
        with self.backend.activate():  # CuPy allocates on the current device
            self._build()
            if not self.params:
                raise TypeError(f"{type(self).__name__}._build() registered no parameters")
            self._flatten()

    def _build(self) -> None:
        """Create the parameters and layers (subclasses), with :meth:`_add_param` and
        :meth:`_add_layer`; runs with the backend's device current."""
        raise NotImplementedError

    # -- building (subclass constructors) -------------------------------------------------
    def _add_param(self, key: str, array: Any, *, decay: bool = False) -> Any:
        """Register ``array`` as ``params[key]`` (``decay``: weight decay applies to it)."""
        self.params[key] = array
        if decay:
            self._weights.append((key, array))
        self._array_type = type(array)
        return array

    def _add_layer(
        self,
        name: str,
        layer: Any,
        grads: Mapping[str, str] | None = None,
        buffers: Mapping[str, str] | None = None,
    ) -> Any:
        """Append ``layer`` as ``layers[name]``. ``grads`` maps parameter keys to the layer's
        gradient attributes (``{"W1": "dW", "b1": "db"}``); ``buffers`` maps state keys to
        its non-parameter state (``{"running_mean1": "running_mean"}``)."""
        self.layers[name] = layer
        for key, attr in (grads or {}).items():
            if key not in self.params:
                raise KeyError(f"{name}: gradient of unknown parameter {key!r}")
            self._grad_refs.append((key, layer, attr))
        for key, attr in (buffers or {}).items():
            self._buffer_refs[key] = (layer, attr)
        if isinstance(layer, Dropout):
            self._dropouts.append(layer)
        order = {key: i for i, key in enumerate(self.params)}
        self._grad_refs.sort(key=lambda ref: order[ref[0]])  # grads keyed in params' order
        return layer

    def _flatten(self) -> None:
        """Move the parameters into one flat buffer (``params`` becomes a
        :class:`~xpnn.flat.FlatDict` of its views, which the layers now compute with) and
        bind the layers' gradients to views of a second one, so that an optimizer updates
        every parameter in one pass. Where the backend's views do not share memory, the
        parameters stay as they are and gradients are new arrays every step."""
        layout = FlatLayout.of(self.params, self.backend)
        if layout is None:
            return
        old = self.params
        self.params = self._flat_params = layout.pack(old)
        key_of = {id(a): k for k, a in old.items()}
        for layer in self.layers.values():
            for name, array in layer.params.items():
                if id(array) in key_of:
                    setattr(layer, name, self.params[key_of[id(array)]])
        self._weights = [(key, self.params[key]) for key, _ in self._weights]
        self._grads = layout.zeros()
        bound: dict[int, tuple[Any, dict[str, Any]]] = {}
        for key, layer, attr in self._grad_refs:
            name = next(n for n, a in layer.GRAD_ATTRS.items() if a == attr)
            bound.setdefault(id(layer), (layer, {}))[1][name] = self._grads[key]
        for layer, views in bound.values():
            layer.bind_grads(self.backend, views)

    def _decay_vector(self) -> Any:
        """The flat buffer of λ at the weights and 0 elsewhere (remade if λ changed)."""
        lam = self.weight_decay_lambda
        if self._decay is None or self._decay_lambda != lam:
            assert self._flat_params is not None, "only flat networks have a decay vector"
            decay = self._flat_params.layout.zeros()
            for key, _ in self._weights:
                decay[key][...] = lam
            self._decay, self._decay_lambda = decay.flat, lam
        return self._decay

    # -- input validation ----------------------------------------------------------------
    def _check_array(self, a: Any, name: str) -> bool:
        """Check that ``a`` is host NumPy or an array of this backend and device; return
        whether its values can be read without a device sync."""
        if is_numpy_array(a):
            return True
        if type(a) is not self._array_type:
            try:
                other = backend_of(a)
            except TypeError:
                raise TypeError(
                    f"{name} must be a NumPy array or an array of the network's backend "
                    f"({self.backend.name}), not {type(a).__name__}"
                ) from None
            if other.name != self.backend.name:
                raise TypeError(
                    f"{name} is a {other.name} array but the network computes with "
                    f"{self.backend.name}; pass a NumPy array (it is moved for you) or an "
                    f"array of {self.backend.name}"
                )
        dev = device_of(a)
        if dev != self.backend.device and str(dev) != str(self.backend.device):
            raise ValueError(
                f"{name} is on device {dev}, the network on {self.backend.device}; move it "
                "there first (or pass a NumPy array)"
            )
        return self.backend.is_cpu

    def check_input(self, x: Any, name: str = "x") -> Any:
        """Validate a batch of inputs and return it as an array of the network's backend,
        device and dtype (host NumPy input is moved and converted; nothing else is copied).

        Raises ``TypeError`` for a foreign array type, integer/bool/complex values or
        (for backend arrays) a different float dtype; ``ValueError`` for a wrong shape or
        feature size, another device, or (where checked, see the module docstring) NaN or
        infinity.
        """
        cheap = self._check_array(x, name)
        xp = array_namespace(x)
        if not xp.isdtype(x.dtype, "real floating"):
            kind = _name(x.dtype)
            if xp.isdtype(x.dtype, ("integral", "bool")):
                raise TypeError(
                    f"{name} has dtype {kind}; the network takes floating-point input: "
                    f"normalise images to float first, e.g. x.astype('float32') / 255"
                )
            raise TypeError(f"{name} has dtype {kind}; the network takes real floating input")
        if x.ndim < 2:
            raise ValueError(
                f"{name} must be a batch of shape (N, {self._input_doc}), got shape "
                f"{tuple(x.shape)}; for one sample use x[None, {':' if x.ndim == 1 else '...'}]"
            )
        features = math.prod(x.shape[1:])
        if features != self.input_size:
            raise ValueError(
                f"{name} has {features} values per sample (shape {tuple(x.shape)}), but the "
                f"network expects {self._input_name}"
            )
        if cheap and not math.isfinite(float(xp.sum(x))):
            bad = "NaN" if bool(xp.any(xp.isnan(x))) else "infinity"
            if bad == "NaN" or bool(xp.any(xp.isinf(x))):
                raise ValueError(
                    f"{name} contains {bad}; clean the input (e.g. np.nan_to_num) first"
                )
        if is_numpy_array(x) and x.size and x.dtype != getattr(xp, self.dtype_name):
            # Host input is converted to the network's dtype: from a wider float, values
            # beyond the narrower one's range would turn into infinity there.
            limit = float(xp.finfo(getattr(xp, self.dtype_name)).max)
            if float(xp.finfo(x.dtype).max) > limit and (
                float(xp.max(x)) > limit or float(xp.min(x)) < -limit
            ):
                raise ValueError(
                    f"{name} has values beyond the range of {self.dtype_name} (|x| > "
                    f"{limit:.4g}): converted, they would be infinity; rescale the input"
                )
        if self.backend.needs_transfer(x):
            x = self.backend.asarray(x, dtype=self.dtype)
        elif x.dtype != self.dtype:
            if not is_numpy_array(x):
                raise TypeError(
                    f"{name} has dtype {_name(x.dtype)} but the network is {self.dtype_name}; "
                    f"convert it once, up front (xp.astype(x, xp.{self.dtype_name}))"
                )
            x = xp.astype(x, self.dtype)  # numpy backend: host input is converted, like on others
        return self._shape_input(x)

    def _shape_input(self, x: Any) -> Any:
        """``x`` as the first layer takes it: (N, *input_shape) for a network whose first
        layer needs that layout (a convolution), else as given (an Affine layer flattens)."""
        if self._reshape_input and tuple(x.shape[1:]) != self.input_shape:
            xp = array_namespace(x)
            return xp.reshape(x, (x.shape[0], *self.input_shape))
        return x

    def check_labels(self, t: Any, n: int, name: str = "t") -> Any:
        """Validate labels for a batch of ``n`` samples: integers (n,) in
        [0, output_size) or one-hot (n, output_size) rows of class probabilities (values in
        [0, 1]; soft labels are fine; NaN and infinity are not, where values are checked,
        see the module docstring). Returns them on the network's device
        (integer labels as int64 when moved from the host, one-hot in the network's dtype).
        """
        cheap = self._check_array(t, name)
        xp = array_namespace(t)
        k = self.output_size
        shape = tuple(t.shape)
        if t.ndim == 1:
            if not xp.isdtype(t.dtype, "integral"):
                raise TypeError(
                    f"{name} has dtype {_name(t.dtype)}; labels are integer "
                    f"class indices (N,) or one-hot (N, {k})"
                )
            if shape[0] != n:
                raise ValueError(f"{name} has {shape[0]} labels for {n} samples")
            if cheap and n:
                lo, hi = int(xp.min(t)), int(xp.max(t))
                if lo < 0 or hi >= k:
                    raise ValueError(
                        f"{name} has labels in [{lo}, {hi}], outside [0, {k - 1}] (output_size={k})"
                    )
            if self.backend.needs_transfer(t):
                return self.backend.asarray(t, dtype="int64")
            return t
        if t.ndim == 2:
            if shape != (n, k):
                raise ValueError(
                    f"{name} has shape {shape}; one-hot labels for this batch have shape ({n}, {k})"
                )
            if xp.isdtype(t.dtype, "complex floating"):
                raise TypeError(f"{name} has complex dtype; labels must be real")
            if cheap and n and not xp.isdtype(t.dtype, "bool"):
                low, high = float(xp.min(t)), float(xp.max(t))
                if not (math.isfinite(low) and math.isfinite(high)):
                    bad = "NaN" if bool(xp.any(xp.isnan(t))) else "infinity"
                    raise ValueError(
                        f"{name} contains {bad}; one-hot labels are class probabilities"
                    )
                if low < 0.0 or high > 1.0:
                    raise ValueError(
                        f"{name} has values outside [0, 1] (from {low:g} to {high:g}); one-hot "
                        "(or soft) labels are class probabilities"
                    )
            if self.backend.needs_transfer(t):
                return self.backend.asarray(t, dtype=self.dtype)
            return t
        raise ValueError(f"{name} has shape {shape}; labels are integers (N,) or one-hot (N, {k})")

    def _inputs(self, x: Any, t: Any) -> tuple[Any, Any]:
        x = self.check_input(x)
        if int(x.shape[0]) == 0:
            raise ValueError("x is an empty batch (0 samples)")
        return x, self.check_labels(t, int(x.shape[0]))

    # -- forward and backward ------------------------------------------------------------
    def _predict(self, x: Any, train_flg: bool) -> Any:
        for layer in self.layers.values():
            x = layer.forward(x, train_flg)
        return x

    def _loss(self, x: Any, t: Any, train_flg: bool) -> Any:
        loss = self.last_layer.forward(self._predict(x, train_flg), t)
        lam = self.weight_decay_lambda
        if lam:
            if self._flat_params is not None:  # flat: ½ Σ λ_i p_i², one pass at any depth
                p = self._flat_params.flat
                # 1-D @ 1-D is the inner product (a 0-d array); array_api_compat's vecdot
                # on torch took 1-4 ms for 600 float64 values, 24 ms for 447,000 float32
                loss = loss + 0.5 * (self._decay_vector() @ (p * p))
            else:
                xp = namespace_of(loss)
                for _, W in self._weights:
                    loss = loss + (0.5 * lam) * xp.sum(W * W)
        return loss

    def predict(self, x: Any, train_flg: bool = False) -> Any:
        """Scores (N, output_size) before the softmax, on the network's device."""
        with self.backend.activate():
            return self._predict(self.check_input(x), train_flg)

    def loss(self, x: Any, t: Any, train_flg: bool = False) -> Any:
        """Mean cross-entropy over the batch plus ½λΣ‖W‖², a 0-d array on the device
        (``float(loss)`` reads it; on a GPU that waits for the device)."""
        with self.backend.activate():
            x, t = self._inputs(x, t)
            return self._loss(x, t, train_flg)

    def loss_and_gradient(
        self, x: Any, t: Any, *, checked: bool = False
    ) -> tuple[Any, dict[str, Any]]:
        """One forward pass in training mode and the backward pass: ``(loss, grads)``.

        ``grads`` has the keys of ``params``; weight gradients include λW. The arrays are
        the layers' own (``layer.dW`` ...): views of the network's flat gradient buffer,
        overwritten by the next backward pass (as PyTorch's ``.grad``; copy them to keep
        them). Passed to an optimizer with ``net.params`` as they are, they take its flat
        path: one update over the whole buffer.

        ``checked=True`` skips the input checks, for callers that have already run
        :meth:`check_input` and :meth:`check_labels` on the whole data set and pass batches
        of it (the Trainer does: the checks cost ~30 µs a step, ~4 % of a small MNIST step).
        """
        with self.backend.activate():
            if not checked:
                x, t = self._inputs(x, t)
            loss = self._loss(x, t, True)
            dout = self.last_layer.backward(1.0)
            for layer in reversed(self.layers.values()):
                dout = layer.backward(dout)  # the first layer returns None: nothing follows
            lam = self.weight_decay_lambda
            grads: dict[str, Any]
            if self._grads is not None and self._flat_params is not None:
                grads = flat = self._grads.copy()  # the views: valid until the next backward
                if lam:
                    flat.flat += self._decay_vector() * self._flat_params.flat
            else:
                grads = {key: getattr(layer, attr) for key, layer, attr in self._grad_refs}
                if lam:
                    for key, W in self._weights:
                        grads[key] += lam * W
        return loss, grads

    def gradient(self, x: Any, t: Any) -> dict[str, Any]:
        """Gradients of :meth:`loss` (training mode) by backpropagation, keyed like
        ``params``."""
        return self.loss_and_gradient(x, t)[1]

    def accuracy(self, x: Any, t: Any, batch_size: int | None = None) -> float:
        """Fraction of samples whose highest score is the label (inference mode), a
        Python float (reading it waits for the device, once).

        The forward passes take ``batch_size`` samples at a time (default
        :attr:`eval_batch_size`; ``None`` there: all at once), which bounds the memory a
        convolutional network's patch matrices take; the result does not depend on it.
        """
        with self.backend.activate():
            x, t = self._inputs(x, t)
            xp = array_namespace(x)
            if t.ndim != 1:
                t = xp.argmax(t, axis=1)
            n = int(x.shape[0])
            if batch_size is None:
                batch_size = self.eval_batch_size
            step = n if batch_size is None else positive_int("batch_size", batch_size)
            correct = []
            for i in range(0, n, step):
                j = min(i + step, n)
                y = xp.argmax(self._predict(x[i:j, ...], False), axis=1)
                correct.append(xp.count_nonzero(y == t[i:j]))
            total = correct[0] if len(correct) == 1 else xp.sum(xp.stack(correct))
            return int(total) / n

    def numerical_gradient(self, x: Any, t: Any, h: float = 1e-4) -> dict[str, Any]:
        """Gradients of :meth:`loss` (training mode) by central differences (slow; use a
        float64 network, see :mod:`xpnn.gradcheck`).

        Dropout masks are held fixed for the computation: those set in ``fixed_mask``, or
        else those of one fresh draw. BatchNorm's running statistics are left as they were.
        """
        with self.backend.activate():
            x, t = self._inputs(x, t)
            xp = self.backend.xp
            saved = [(a, xp.asarray(a, copy=True)) for a in self._buffers().values()]
            frozen = [d for d in self._dropouts if d.fixed_mask is None]
            try:
                if frozen:
                    self._predict(x, True)
                    for d in frozen:
                        d.fixed_mask = d.mask != 0.0
                return _numerical_gradient(lambda p: self._loss(x, t, True), self.params, h=h)
            finally:
                for d in frozen:
                    d.fixed_mask = None
                for a, a0 in saved:
                    a[...] = a0

    def reseed_dropout(self, *key: int) -> None:
        """Restart the dropout stream from this network's seed extended by ``key`` (the
        Trainer passes the epoch, so a run resumed at an epoch draws what it would have)."""
        self.dropout_rng.reseed(*key)

    # -- state -----------------------------------------------------------------------------
    def save_params(self, file_name: str | os.PathLike = "params.pkl") -> None:
        """Write :meth:`state_dict` to ``file_name`` as an xpnn checkpoint (a ``.npz``,
        written atomically, never a pickle, whatever the name; see
        :func:`xpnn.params_io.save_params`). The book's method, with its default name."""
        save_params(self, file_name)

    def load_params(self, file_name: str | os.PathLike = "params.pkl") -> None:
        """Load a file written by :meth:`save_params` (or a Trainer checkpoint, or a plain
        ``.npz`` of parameter arrays) into this network, in place; a pickle is refused and
        nothing changes when it raises (see :func:`xpnn.params_io.load_params`)."""
        load_params(self, file_name)

    def _buffers(self) -> dict[str, Any]:
        """The layers' non-parameter state (BatchNorm's running statistics), by state key."""
        return {key: getattr(layer, attr) for key, (layer, attr) in self._buffer_refs.items()}

    def _state_arrays(self) -> dict[str, Any]:
        return {**self.params, **self._buffers()}

    def state_dict(self) -> dict[str, Any]:
        """Parameters and BatchNorm running statistics (``running_mean1``,
        ``running_var1``, ...) as host NumPy copies; with dropout, also ``'dropout_rng'``:
        the dropout generator's state (a dict of host arrays)."""
        state: dict[str, Any] = {
            key: self.backend.to_numpy(a) for key, a in self._state_arrays().items()
        }
        if self._dropouts:
            state["dropout_rng"] = self.dropout_rng.get_state()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Load a :meth:`state_dict` (from any backend) into this network, in place.

        Everything is checked first — a missing or unexpected key, a shape that differs
        from this network's, values that are not numbers, or a damaged ``'dropout_rng'``
        state raise ``ValueError`` naming it, and nothing is changed — then the arrays are
        converted to this network's dtype and copied into the existing arrays (so
        ``params`` and the layers keep sharing them). A ``'dropout_rng'`` state restores
        the dropout generator when it was saved on the same kind of backend; otherwise a
        ``RuntimeWarning`` says the masks continue from this network's own stream.
        """
        with self.backend.activate():  # CuPy allocates on the current device
            self._load_state_dict(state)

    def _load_state_dict(self, state: Mapping[str, Any]) -> None:
        targets = self._state_arrays()
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets and k != "dropout_rng"]
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            raise ValueError(f"state_dict does not fit this network: {'; '.join(parts)}")
        new = {}
        for key, target in targets.items():
            value = state[key]
            if not is_numpy_array(value):
                value = backend_of(value).to_numpy(value)
            if tuple(value.shape) != tuple(target.shape):
                raise ValueError(
                    f"state_dict[{key!r}] has shape {tuple(value.shape)}, but this network's "
                    f"{key} has shape {tuple(target.shape)}"
                )
            try:
                new[key] = self.backend.asarray(value, dtype=self.dtype)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"state_dict[{key!r}] cannot be converted to {self.dtype_name} ({exc})"
                ) from None
        rng_state = state.get("dropout_rng")
        if rng_state is not None and self._dropouts:
            if not isinstance(rng_state, Mapping):
                raise ValueError(
                    "state_dict['dropout_rng'] must be a generator state (a dict), not "
                    f"{type(rng_state).__name__}"
                )
            try:
                self.dropout_rng._check_state(rng_state)
            except ValueError as exc:
                warnings.warn(
                    f"dropout generator state not restored ({exc}); dropout masks continue "
                    "from this network's own random stream",
                    RuntimeWarning,
                    stacklevel=2,
                )
            else:  # restored before any array is written: a damaged state changes nothing
                try:
                    self.dropout_rng.set_state(rng_state)
                except (TypeError, ValueError, KeyError, RuntimeError) as exc:
                    raise ValueError(
                        f"state_dict['dropout_rng'] is not a valid "
                        f"{type(self.dropout_rng).__name__} state ({exc!r})"
                    ) from None
        for key, target in targets.items():
            target[...] = new[key]

    # -- using a trained network: a summary, an ONNX export (modules of their own) ---------
    def summary(self) -> Any:
        """A :class:`xpnn.summary.Summary`: each layer's name, type, output shape and
        parameter count, the totals, dtype, backend and device; ``print(net.summary())``."""
        from .summary import summarize  # imports no network: no cycle

        return summarize(self)

    def export_onnx(self, path: str | os.PathLike, dtype: str | None = None) -> None:
        """Write this network's inference (BatchNorm with its running statistics, Dropout
        as the identity) to ``path`` as a standard ONNX model, in its dtype or ``dtype``;
        needs ``pip install 'xpnn[onnx]'`` (see :func:`xpnn.onnx_export.export_onnx`)."""
        from .onnx_export import export_onnx  # imports no network: no cycle

        export_onnx(self, path, dtype)
