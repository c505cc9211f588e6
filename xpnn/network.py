"""Network: ordered layers and a parameter store — what every xpnn network shares.

A network is an ordered dict of layers (``self.layers``), a ``SoftmaxWithLoss`` last layer and
the parameters its layers declare (``self.params``: the very arrays the layers compute with,
views of one flat buffer; see :mod:`xpnn.parameters`). Subclasses
(:class:`~xpnn.mlp.MultiLayerNet`, the convolutional networks) only build the layers, in
:meth:`Network._build`, with :meth:`Network._add_layer`; everything a user calls is here::

    scores = net.predict(x)                       # (N, output_size), on the device
    loss = net.loss(x, t)                         # 0-d array: cross-entropy + ½λΣ‖W‖²
    grads = net.gradient(x, t)                    # dict keyed like net.params
    optimizer.update(net.params, grads)           # trains net in place
    net.accuracy(x, t)                            # a Python float
    net.save_params("params.pkl")                 # an xpnn checkpoint (never a pickle)

Updating ``params`` in place (``p -= lr * g``, as every optimizer does) trains the network.
Rebinding a key (``net.params['W1'] = new``) does not reach the layer: use
``load_state_dict``.

**Inputs** are checked at the boundary (:mod:`xpnn.inputs`: shapes, dtypes, devices, and
values where reading them costs no device synchronisation).

**The forward pass** runs each Affine or Convolution layer that an activation layer follows
together with it (one bias + activation operation of the backend, see
:mod:`xpnn.layers`); every layer sees the same values as when run one by one.

**Randomness.** ``seed`` is split with :func:`xpnn.random.spawn_seeds` into two streams:
one draws the initial weights, the other (``net.dropout_rng``) the dropout masks during
training. ``state_dict()`` includes the dropout generator's state, so a run resumes
exactly; the same seed on numpy and array_api_strict gives bitwise-equal results.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from ._validate import non_negative_real, positive_int
from .backends import Backend, get_backend
from .conv_pool import blocks as conv_pool_blocks
from .data_parallel import Replicas
from .gradcheck import numerical_gradient as _numerical_gradient
from .inputs import InputChecks
from .layers import Dropout, Layer, Plans, SoftmaxWithLoss, forward_pass, held_dropout_masks
from .onnx_export import export_onnx
from .parameters import ParameterStore
from .params_io import load_params, save_params
from .random import restore_state, spawn_seeds
from .summary import Summary, summarize

__all__ = ["Network"]

_FLOAT_DTYPES = ("float32", "float64")


def _count_correct(xp: Any, predict: Any, x: Any, t: Any, step: int) -> Any:
    """How many samples of ``x`` the highest score of ``predict`` labels ``t`` (class
    indices), ``step`` samples per forward pass: a 0-d array on the device."""
    n = int(x.shape[0])
    correct = []
    for i in range(0, n, step):
        j = min(i + step, n)
        y = xp.argmax(predict(x[i:j, ...]), axis=1)
        correct.append(xp.count_nonzero(y == t[i:j]))
    return correct[0] if len(correct) == 1 else xp.sum(xp.stack(correct))


def _correct_in_parts(net: Network, x: Any, t: Any, step: int) -> int:
    """:func:`_count_correct` of ``net``'s inference on ``x``, in parts at once where
    :mod:`xpnn.data_parallel` cuts it (one read of the device per part)."""
    xp, replicas = net.backend.xp, net._replicas
    counts = replicas.map_parts(
        net,
        replicas.eval_parts(net, int(x.shape[0]), step),
        lambda predict, lo, hi: _count_correct(xp, predict, x[lo:hi, ...], t[lo:hi], step),
    )
    return sum(int(c) for c in counts)


class Network:
    """The base of xpnn's networks (see the module docstring for what it provides).

    Parameters
    ----------
    input_shape:
        The shape of one sample, e.g. ``(784,)`` or ``(1, 28, 28)``.
    output_size:
        The number of classes.
    weight_decay_lambda:
        λ ≥ 0: the loss gains ½λΣ‖W‖² over the parameters its layers declare with weight
        decay (weights; not biases, γ, β), and each of their gradients λW.
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
        self.weight_decay_lambda = non_negative_real("weight_decay_lambda", weight_decay_lambda)
        self.backend = get_backend(backend)
        self.dtype = self.backend.dtype(dtype)
        names = [n for n in _FLOAT_DTYPES if self.dtype == getattr(self.backend.xp, n)]
        if not names:
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.dtype_name: str = names[0]
        self.inputs = InputChecks(
            self.input_shape,
            self.output_size,
            self.backend,
            self.dtype,
            self.dtype_name,
            reshape_input,
        )

        init_seed, dropout_seed = spawn_seeds(seed, 2)
        self.init_rng = self.backend.rng(init_seed)
        self.dropout_rng = self.backend.rng(dropout_seed)

        self.layers: dict[str, Any] = {}
        self.last_layer = SoftmaxWithLoss()
        self._store = ParameterStore(self.backend)
        self._dropouts: list[Dropout] = []
        with self.backend.activate():  # CuPy allocates on the current device
            self._build()
            if not self._store.params:
                raise TypeError(f"{type(self).__name__}._build() registered no parameters")
            self._store.flatten()
        self.params = self._store.params
        self.inputs.array_type = type(next(iter(self.params.values())))
        self.last_layer.backend = self.backend
        # built again when a layer in self.layers is replaced; the first conv + ReLU +
        # pooling run as one block where the backend has a kernel for it
        self._plans = Plans(conv_pool_blocks)
        self._replicas = Replicas(conv_pool_blocks)  # the copies data-parallel steps run on

    def _build(self) -> None:
        """Create the layers and their parameters (subclasses), with :meth:`_add_layer`;
        runs with the backend's device current."""
        raise NotImplementedError

    def _add_layer(self, name: str, layer: Layer, suffix: str = "") -> Layer:
        """Append ``layer`` as ``layers[name]``, its declared parameters and buffers
        registered as their names plus ``suffix`` (``W`` + ``"1"``: ``params["W1"]``)."""
        self.layers[name] = layer
        layer.backend = self.backend
        self._store.add(layer, suffix)
        if isinstance(layer, Dropout):
            self._dropouts.append(layer)
        return layer

    # -- inputs (xpnn.inputs) --------------------------------------------------------------
    def check_input(self, x: Any, name: str = "x") -> Any:
        """:meth:`xpnn.inputs.InputChecks.check_input`: ``x`` checked, on the network's
        backend, device and dtype."""
        return self.inputs.check_input(x, name)

    def check_labels(self, t: Any, n: int, name: str = "t") -> Any:
        """:meth:`xpnn.inputs.InputChecks.check_labels`: ``t`` checked, on the device."""
        return self.inputs.check_labels(t, n, name)

    # -- forward and backward ------------------------------------------------------------
    def _predict(self, x: Any, train_flg: bool) -> Any:
        return forward_pass(self._plans, self.layers, x, train_flg)

    def _loss(self, x: Any, t: Any, train_flg: bool) -> Any:
        loss = self.last_layer.forward(self._predict(x, train_flg), t)
        lam = self.weight_decay_lambda
        if lam:
            loss = loss + self._store.decay_loss(lam)
        return loss

    def predict(self, x: Any, train_flg: bool = False) -> Any:
        """Scores (N, output_size) before the softmax, on the network's device."""
        with self.backend.activate():
            return self._predict(self.check_input(x), train_flg)

    def loss(self, x: Any, t: Any, train_flg: bool = False) -> Any:
        """Mean cross-entropy over the batch plus ½λΣ‖W‖², a 0-d array on the device
        (``float(loss)`` reads it; on a GPU that waits for the device)."""
        with self.backend.activate():
            x, t = self.inputs.check_batch(x, t)
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
        After :func:`xpnn.set_data_parallel` the batch may run in parts on several cores.
        """
        with self.backend.activate():
            if not checked:
                x, t = self.inputs.check_batch(x, t)
            loss, grads = self._replicas.train_step(self, x, t)
            lam = self.weight_decay_lambda
            if lam:
                loss = loss + self._store.decay_loss(lam)
                self._store.add_decay_grads(grads, lam)
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
        After :func:`xpnn.set_data_parallel`, parts of ``x`` may run at once.
        """
        with self.backend.activate():
            x, t = self.inputs.check_batch(x, t)
            xp = self.backend.xp
            if t.ndim != 1:
                t = xp.argmax(t, axis=1)
            n = int(x.shape[0])
            if batch_size is None:
                batch_size = self.eval_batch_size
            step = n if batch_size is None else positive_int("batch_size", batch_size)
            return _correct_in_parts(self, x, t, step) / n

    def numerical_gradient(self, x: Any, t: Any, h: float = 1e-4) -> dict[str, Any]:
        """Gradients of :meth:`loss` (training mode) by central differences (slow; use a
        float64 network, see :mod:`xpnn.gradcheck`).

        Dropout masks are held fixed for the computation: those set in ``fixed_mask``, or
        else those of one fresh draw. BatchNorm's running statistics are left as they were.
        """
        with self.backend.activate():
            x, t = self.inputs.check_batch(x, t)
            with (
                self._store.buffers_kept(),
                held_dropout_masks(self._dropouts, lambda: self._predict(x, True)),
            ):
                return _numerical_gradient(lambda p: self._loss(x, t, True), self.params, h=h)

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

    def state_dict(self) -> dict[str, Any]:
        """Parameters and BatchNorm running statistics (``running_mean1``,
        ``running_var1``, ...) as host NumPy copies; with dropout, also ``'dropout_rng'``:
        the dropout generator's state (a dict of host arrays)."""
        state = self._store.state_dict()
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
            new = self._store.converted(state, self.dtype, self.dtype_name, ("dropout_rng",))
            rng_state = state.get("dropout_rng")
            if rng_state is not None and self._dropouts:
                # restored before any array is written: a damaged state changes nothing
                restore_state(self.dropout_rng, rng_state, "dropout generator state")
            self._store.assign(new)

    # -- using a trained network (xpnn.summary, xpnn.onnx_export) ------------------------
    def summary(self) -> Summary:
        """Each layer's name, type, output shape and parameter count, the totals, dtype,
        backend and device: a :class:`xpnn.summary.Summary` (``print(net.summary())``)."""
        return summarize(self)

    def export_onnx(self, path: str | os.PathLike, dtype: str | None = None) -> None:
        """Write this network's inference to ``path`` as a standard ONNX model (needs
        ``xpnn[onnx]``; see :func:`xpnn.onnx_export.export_onnx`)."""
        export_onnx(self, path, dtype)
