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
``b{i}``, ``gamma{i}``, ``beta{i}``. Inputs, value checks, randomness and state are those of
every :class:`~xpnn.network.Network`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._validate import positive_int, unit_interval
from .backends import Backend
from .initializers import resolve_init
from .layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, Tanh
from .network import Network

__all__ = ["ACTIVATIONS", "MultiLayerNet"]

#: Activation names accepted by :class:`MultiLayerNet` (case-insensitive).
ACTIVATIONS: dict[str, type] = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}


class MultiLayerNet(Network):
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
        (The book's spelling ``dropout_ration`` is :mod:`xpnn.book`'s.)
    use_batchnorm:
        Batch normalisation between each hidden Affine layer and its activation.
    dtype, backend, seed:
        As for every :class:`~xpnn.network.Network`: ``'float32'`` (default) or
        ``'float64'``; a backend name, a :class:`~xpnn.backends.Backend` or ``None`` (the
        default, ``XPNN_BACKEND``); an int, ``None`` or a ``numpy.random.SeedSequence``.
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
    ) -> None:
        # -- validate everything before building anything --------------------------------
        input_size = positive_int("input_size", input_size)
        if isinstance(hidden_size_list, int | str) or not isinstance(hidden_size_list, Sequence):
            raise TypeError(
                f"hidden_size_list must be a list of layer sizes such as [100, 100], got "
                f"{hidden_size_list!r}"
            )
        if len(hidden_size_list) == 0:
            raise ValueError("hidden_size_list is empty: give at least one hidden layer size")
        self.hidden_size_list = [
            positive_int(f"hidden_size_list[{i}]", n) for i, n in enumerate(hidden_size_list)
        ]
        self.hidden_layer_num = len(self.hidden_size_list)

        if not isinstance(activation, str) or activation.strip().lower() not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; use one of: {', '.join(ACTIVATIONS)}"
            )
        self.activation = activation.strip().lower()
        self.weight_init_std = weight_init_std
        resolve_init(weight_init_std)  # an unknown name fails before anything is built

        self.use_dropout = bool(use_dropout)
        self.dropout_ratio = unit_interval("dropout_ratio", dropout_ratio, "a drop probability")
        self.use_batchnorm = bool(use_batchnorm)
        super().__init__(
            (input_size,),
            output_size,
            weight_decay_lambda=weight_decay_lambda,
            dtype=dtype,
            backend=backend,
            seed=seed,
        )

    def _build(self) -> None:
        init, ratio = resolve_init(self.weight_init_std), self.dropout_ratio
        xp, dev, dt = self.backend.xp, self.backend.device, self.dtype
        sizes = [self.input_size, *self.hidden_size_list, self.output_size]
        last = len(sizes) - 1
        # the weights first, in order: the initialisation stream draws W1, W2, ... as the
        # book's networks do
        weights = [init(sizes[i - 1], sizes[i], self.init_rng, dt) for i in range(1, last + 1)]
        for i in range(1, last + 1):
            b = xp.zeros(sizes[i], dtype=dt, device=dev)
            # The first layer's input is the data: its gradient is not needed (see Affine).
            self._add_layer(f"Affine{i}", Affine(weights[i - 1], b, input_grad=i > 1), str(i))
            if i == last:
                break
            if self.use_batchnorm:
                gamma = xp.ones(sizes[i], dtype=dt, device=dev)
                beta = xp.zeros(sizes[i], dtype=dt, device=dev)
                self._add_layer(f"BatchNorm{i}", BatchNormalization(gamma, beta), str(i))
            self._add_layer(f"Activation_function{i}", ACTIVATIONS[self.activation]())
            if self.use_dropout:
                self._add_layer(f"Dropout{i}", Dropout(ratio, self.dropout_rng))
        # the book's order of params: every W and b, then every γ and β
        keys = [f"{p}{i}" for i in range(1, last + 1) for p in "Wb"]
        if self.use_batchnorm:
            keys += [f"{p}{i}" for i in range(1, last) for p in ("gamma", "beta")]
        self._store.reorder(keys)

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, JSON-able (no backend, no seed):
        ``MultiLayerNet(**net.get_config())`` builds the same architecture, weights drawn
        afresh. Checkpoints record it (:func:`xpnn.models.load_network`)."""
        w = self.weight_init_std
        return {
            "input_size": self.input_size,
            "hidden_size_list": list(self.hidden_size_list),
            "output_size": self.output_size,
            "activation": self.activation,
            "weight_init_std": w if isinstance(w, str) else float(w),
            "weight_decay_lambda": self.weight_decay_lambda,
            "use_dropout": self.use_dropout,
            "dropout_ratio": self.dropout_ratio,
            "use_batchnorm": self.use_batchnorm,
            "dtype": self.dtype_name,
        }

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
