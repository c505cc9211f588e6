"""MultiLayerNet: the book's fully connected network (``MultiLayerNetExtend``), on any backend.

::

    net = MultiLayerNet(784, [100, 100], 10, activation="relu", weight_init_std="he",
                        weight_decay_lambda=0.1, use_dropout=True, dropout_ratio=0.2,
                        use_batchnorm=True, seed=0)                # float32, default backend
    grads = net.gradient(x_batch, t_batch)
    optimizer.update(net.params, grads)                            # trains net in place

Layers, in order, for each hidden layer ``i``: ``Affine{i}``, ``BatchNorm{i}`` (if
``use_batchnorm``), ``Activation_function{i}``, ``Dropout{i}`` (if ``use_dropout``); then
``Affine{L}`` and the ``SoftmaxWithLoss`` ``last_layer``. ``net.params`` holds ``W{i}``,
``b{i}``, ``gamma{i}``, ``beta{i}``: the very arrays the layers compute with, so updating
them in place (``p -= lr * g``, as every optimizer does) trains the network. Rebinding a
key (``net.params['W1'] = new``) does not reach the layer: use ``load_state_dict``.

**Inputs.** ``x`` is (N, input_size) — or (N, ...) with ``input_size`` values per sample —
floating point; labels ``t`` are integers (N,) in [0, output_size) or one-hot
(N, output_size). Each may be a host NumPy array (moved to the network's device and
converted to its dtype) or an array of the network's backend, on its device and of its
dtype (a different float dtype raises ``TypeError``: convert it once, up front, instead of
paying a silent copy every batch). Integer images raise ``TypeError`` (normalise to float,
e.g. ``x / 255``).

**Value checks** (NaN or infinity in ``x``, host values beyond the range of the
network's dtype, labels out of range, one-hot values outside [0, 1] or not finite) run
where reading a value costs no device synchronisation: on host NumPy input before it is
moved, and on any input when the backend computes on the CPU. Arrays already on a GPU are
not value-checked (that would stall the device every batch); the Trainer checks its data
once, on the host.

**Randomness.** ``seed`` is split with :func:`xpnn.random.spawn_seeds` into two streams:
one draws the initial weights, the other (``net.dropout_rng``) the dropout masks during
training. ``state_dict()`` includes the dropout generator's state, so a run resumes
exactly; the same seed on numpy and array_api_strict gives bitwise-equal results.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from array_api_compat import array_namespace, is_numpy_array
from array_api_compat import device as device_of

from .backends import Backend, backend_of, get_backend
from .gradcheck import numerical_gradient as _numerical_gradient
from .initializers import resolve_init
from .layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, SoftmaxWithLoss, Tanh
from .random import spawn_seeds

__all__ = ["ACTIVATIONS", "MultiLayerNet"]

#: Activation names accepted by :class:`MultiLayerNet` (case-insensitive).
ACTIVATIONS: dict[str, type] = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}

_FLOAT_DTYPES = ("float32", "float64")


def _name(dtype: Any) -> str:
    """'float32' for numpy's, torch's, cupy's and array_api_strict's float32 alike."""
    return str(dtype).rsplit(".", 1)[-1].strip("'>")


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a positive integer, not a bool")
    try:
        out = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be a positive integer, got {value!r}") from None
    if out < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return out


class MultiLayerNet:
    """A fully connected network with optional batch normalisation, dropout and weight decay.

    Parameters (the book's, in the book's order)
    ----------
    input_size, output_size:
        Values per input sample (784 for MNIST) and number of classes.
    hidden_size_list:
        Units of each hidden layer, e.g. ``[100, 100, 100]``; non-empty, all positive.
    activation:
        ``'relu'`` (default), ``'sigmoid'`` or ``'tanh'``.
    weight_init_std:
        A standard deviation (e.g. 0.01), ``'relu'``/``'he'`` (√(2/n_in)),
        ``'sigmoid'``/``'xavier'`` (√(1/n_in)), or an explicit name from
        :data:`xpnn.initializers.INITIALIZERS`; every layer, the output layer included, is
        initialised this way; biases and β start at 0, γ at 1.
    weight_decay_lambda:
        λ ≥ 0: the loss gains ½λΣ‖W‖², each weight gradient λW (biases, γ, β untouched).
    use_dropout, dropout_ratio:
        Inverted dropout after each hidden activation, drop probability in [0, 1).
        ``dropout_ration`` (the book's spelling) is accepted as a keyword alias.
    use_batchnorm:
        Batch normalisation between each hidden Affine layer and its activation.
    dtype:
        ``'float32'`` (default) or ``'float64'`` (or a dtype of the backend).
    backend:
        A backend name, a :class:`~xpnn.backends.Backend`, or ``None`` for the default
        (``XPNN_BACKEND``).
    seed:
        An int, ``None`` (fresh entropy) or a ``numpy.random.SeedSequence``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Sequence[int],
        output_size: int,
        activation: str = "relu",
        weight_init_std: float | str = "relu",
        weight_decay_lambda: float = 0,
        use_dropout: bool = False,
        dropout_ratio: float = 0.5,
        use_batchnorm: bool = False,
        *,
        dtype: Any = "float32",
        backend: str | Backend | None = None,
        seed: Any = None,
        dropout_ration: float | None = None,
    ) -> None:
        # -- validate everything before building anything --------------------------------
        self.input_size = _positive_int("input_size", input_size)
        self.output_size = _positive_int("output_size", output_size)
        if isinstance(hidden_size_list, int | str) or not isinstance(hidden_size_list, Sequence):
            raise TypeError(
                f"hidden_size_list must be a list of layer sizes such as [100, 100], got "
                f"{hidden_size_list!r}"
            )
        if len(hidden_size_list) == 0:
            raise ValueError("hidden_size_list is empty: give at least one hidden layer size")
        self.hidden_size_list = [
            _positive_int(f"hidden_size_list[{i}]", n) for i, n in enumerate(hidden_size_list)
        ]
        self.hidden_layer_num = len(self.hidden_size_list)

        if not isinstance(activation, str) or activation.strip().lower() not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; use one of: {', '.join(ACTIVATIONS)}"
            )
        self.activation = activation.strip().lower()
        self.weight_init_std = weight_init_std
        init = resolve_init(weight_init_std)

        lam = float(weight_decay_lambda)
        if not math.isfinite(lam) or lam < 0.0:
            raise ValueError(f"weight_decay_lambda must be finite and ≥ 0, got {lam!r}")
        self.weight_decay_lambda = lam

        if dropout_ration is not None:
            if dropout_ratio != 0.5 and float(dropout_ratio) != float(dropout_ration):
                raise TypeError("give dropout_ratio or its alias dropout_ration, not both")
            dropout_ratio = dropout_ration
        ratio = float(dropout_ratio)
        if not 0.0 <= ratio < 1.0:
            raise ValueError(
                f"dropout_ratio is a drop probability and must be in [0, 1), got {ratio!r}"
            )
        self.use_dropout = bool(use_dropout)
        self.dropout_ratio = ratio
        self.use_batchnorm = bool(use_batchnorm)

        self.backend = get_backend(backend)
        self.dtype = self.backend.dtype(dtype)
        xp, dev = self.backend.xp, self.backend.device
        names = [n for n in _FLOAT_DTYPES if self.dtype == getattr(xp, n)]
        if not names:
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.dtype_name: str = names[0]

        # -- parameters ------------------------------------------------------------------
        init_seed, dropout_seed = spawn_seeds(seed, 2)
        init_rng = self.backend.rng(init_seed)
        self.dropout_rng = self.backend.rng(dropout_seed)

        sizes = [self.input_size, *self.hidden_size_list, self.output_size]
        self.params: dict[str, Any] = {}
        for i in range(1, len(sizes)):
            self.params[f"W{i}"] = init(sizes[i - 1], sizes[i], init_rng, self.dtype)
            self.params[f"b{i}"] = xp.zeros(sizes[i], dtype=self.dtype, device=dev)

        # -- layers ----------------------------------------------------------------------
        self.layers: dict[str, Any] = {}
        self._grad_refs: list[tuple[str, Any, str]] = []  # (param key, layer, grad attr)
        self._batchnorms: dict[int, BatchNormalization] = {}
        self._dropouts: list[Dropout] = []
        for i in range(1, self.hidden_layer_num + 1):
            self._add_affine(i)
            if self.use_batchnorm:
                n = sizes[i]
                self.params[f"gamma{i}"] = xp.ones(n, dtype=self.dtype, device=dev)
                self.params[f"beta{i}"] = xp.zeros(n, dtype=self.dtype, device=dev)
                bn = BatchNormalization(self.params[f"gamma{i}"], self.params[f"beta{i}"])
                self.layers[f"BatchNorm{i}"] = bn
                self._batchnorms[i] = bn
                self._grad_refs += [(f"gamma{i}", bn, "dgamma"), (f"beta{i}", bn, "dbeta")]
            self.layers[f"Activation_function{i}"] = ACTIVATIONS[self.activation]()
            if self.use_dropout:
                drop = Dropout(ratio, self.dropout_rng)
                self.layers[f"Dropout{i}"] = drop
                self._dropouts.append(drop)
        self._add_affine(self.hidden_layer_num + 1)
        self.last_layer = SoftmaxWithLoss()
        order = {key: i for i, key in enumerate(self.params)}
        self._grad_refs.sort(key=lambda ref: order[ref[0]])  # grads keyed in params' order
        self._weights = [self.params[f"W{i}"] for i in range(1, len(sizes))]
        self._array_type = type(self.params["W1"])

    def _add_affine(self, i: int) -> None:
        # The first layer's input is the data: its gradient is not needed (see Affine).
        layer = Affine(self.params[f"W{i}"], self.params[f"b{i}"], input_grad=i > 1)
        self.layers[f"Affine{i}"] = layer
        self._grad_refs += [(f"W{i}", layer, "dW"), (f"b{i}", layer, "db")]

    def __repr__(self) -> str:
        sizes = "-".join(str(n) for n in (self.input_size, *self.hidden_size_list))
        extras = [self.activation]
        if self.use_batchnorm:
            extras.append("batchnorm")
        if self.use_dropout:
            extras.append(f"dropout={self.dropout_ratio:g}")
        if self.weight_decay_lambda:
            extras.append(f"weight_decay={self.weight_decay_lambda:g}")
        return (
            f"MultiLayerNet({sizes}-{self.output_size}, {', '.join(extras)}, "
            f"{self.dtype_name}, {self.backend.name}:{self.backend.device})"
        )

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
                f"{name} must be a batch of shape (N, {self.input_size}), got shape "
                f"{tuple(x.shape)}; for one sample use x[None, :]"
            )
        features = math.prod(x.shape[1:])
        if features != self.input_size:
            raise ValueError(
                f"{name} has {features} values per sample (shape {tuple(x.shape)}), but the "
                f"network expects input_size={self.input_size}"
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
        if is_numpy_array(x) and self.backend.name != "numpy":
            return self.backend.asarray(x, dtype=self.dtype)
        if x.dtype != self.dtype:
            if is_numpy_array(x):  # numpy backend: host input is converted, like on others
                return xp.astype(x, self.dtype)
            raise TypeError(
                f"{name} has dtype {_name(x.dtype)} but the network is {self.dtype_name}; "
                f"convert it once, up front (xp.astype(x, xp.{self.dtype_name}))"
            )
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
            if is_numpy_array(t) and self.backend.name != "numpy":
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
                lo, hi = float(xp.min(t)), float(xp.max(t))
                if not (math.isfinite(lo) and math.isfinite(hi)):
                    bad = "NaN" if bool(xp.any(xp.isnan(t))) else "infinity"
                    raise ValueError(
                        f"{name} contains {bad}; one-hot labels are class probabilities"
                    )
                if lo < 0.0 or hi > 1.0:
                    raise ValueError(
                        f"{name} has values outside [0, 1] (from {lo:g} to {hi:g}); one-hot "
                        "(or soft) labels are class probabilities"
                    )
            if is_numpy_array(t) and self.backend.name != "numpy":
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
            xp = array_namespace(loss)
            for W in self._weights:
                loss = loss + (0.5 * lam) * xp.sum(W * W)
        return loss

    def predict(self, x: Any, train_flg: bool = False) -> Any:
        """Scores (N, output_size) before the softmax, on the network's device."""
        return self._predict(self.check_input(x), train_flg)

    def loss(self, x: Any, t: Any, train_flg: bool = False) -> Any:
        """Mean cross-entropy over the batch plus ½λΣ‖W‖², a 0-d array on the device
        (``float(loss)`` reads it; on a GPU that waits for the device)."""
        x, t = self._inputs(x, t)
        return self._loss(x, t, train_flg)

    def loss_and_gradient(
        self, x: Any, t: Any, *, checked: bool = False
    ) -> tuple[Any, dict[str, Any]]:
        """One forward pass in training mode and the backward pass: ``(loss, grads)``.

        ``grads`` has the keys of ``params``; weight gradients include λW. The arrays are
        the layers' own (``layer.dW`` ...), fresh on every call.

        ``checked=True`` skips the input checks, for callers that have already run
        :meth:`check_input` and :meth:`check_labels` on the whole data set and pass batches
        of it (the Trainer does: the checks cost ~30 µs a step, ~4 % of a small MNIST step).
        """
        if not checked:
            x, t = self._inputs(x, t)
        loss = self._loss(x, t, True)
        dout = self.last_layer.backward(1.0)
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)  # the first Affine returns None: nothing follows
        grads = {key: getattr(layer, attr) for key, layer, attr in self._grad_refs}
        lam = self.weight_decay_lambda
        if lam:
            for i, W in enumerate(self._weights, start=1):
                grads[f"W{i}"] += lam * W
        return loss, grads

    def gradient(self, x: Any, t: Any) -> dict[str, Any]:
        """Gradients of :meth:`loss` (training mode) by backpropagation, keyed like
        ``params``."""
        return self.loss_and_gradient(x, t)[1]

    def accuracy(self, x: Any, t: Any) -> float:
        """Fraction of samples whose highest score is the label (inference mode), a
        Python float (reading it waits for the device)."""
        x, t = self._inputs(x, t)
        xp = array_namespace(x)
        y = xp.argmax(self._predict(x, False), axis=1)
        if t.ndim != 1:
            t = xp.argmax(t, axis=1)
        return int(xp.count_nonzero(y == t)) / int(x.shape[0])

    def numerical_gradient(self, x: Any, t: Any, h: float = 1e-4) -> dict[str, Any]:
        """Gradients of :meth:`loss` (training mode) by central differences (slow; use a
        float64 network, see :mod:`xpnn.gradcheck`).

        Dropout masks are held fixed for the computation: those set in ``fixed_mask``, or
        else those of one fresh draw. BatchNorm's running statistics are left as they were.
        """
        x, t = self._inputs(x, t)
        xp = self.backend.xp
        saved = [(bn.running_mean, xp.asarray(bn.running_mean, copy=True),
                  bn.running_var, xp.asarray(bn.running_var, copy=True))
                 for bn in self._batchnorms.values()]  # fmt: skip
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
            for mean, mean0, var, var0 in saved:
                mean[...] = mean0
                var[...] = var0

    # -- state -----------------------------------------------------------------------------
    def _state_arrays(self) -> dict[str, Any]:
        arrays = dict(self.params)
        for i, bn in self._batchnorms.items():
            arrays[f"running_mean{i}"] = bn.running_mean
            arrays[f"running_var{i}"] = bn.running_var
        return arrays

    def state_dict(self) -> dict[str, Any]:
        """Parameters and BatchNorm running statistics (``running_mean1``,
        ``running_var1``, ...) as host NumPy copies; with dropout, also ``'dropout_rng'``:
        the dropout generator's state (a dict of host arrays)."""
        state: dict[str, Any] = {
            key: self.backend.to_numpy(a).copy() for key, a in self._state_arrays().items()
        }
        if self.use_dropout:
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
        if rng_state is not None and self.use_dropout:
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
