"""SimpleConvNet (chapter 7) and DeepConvNet (chapter 8): the book's convolutional networks.

::

    net = SimpleConvNet(input_dim=(1, 28, 28),
                        conv_param={"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},
                        hidden_size=100, output_size=10, weight_init_std=0.01, seed=0)
    deep = DeepConvNet(seed=0)                      # the book's 99.3 % network
    grads = net.gradient(x_batch, t_batch)          # x (N, 1, 28, 28), or (N, 784)
    optimizer.update(net.params, grads)

Both are :class:`~xpnn.network.Network` subclasses: ``params``, ``predict``, ``loss``,
``gradient``, ``accuracy``, ``numerical_gradient``, ``state_dict``/``load_state_dict``,
``save_params``/``load_params``, weight decay (``weight_decay_lambda``, default 0, as the
book's networks have none), ``dtype``/``backend``/``seed``, the input checks, and one flat
parameter buffer and one flat gradient buffer that the optimizers update in one pass.
Input is (N, C, H, W) = (N, *input_dim), or the same values flattened, (N, C·H·W).

A convolution parameter dict has the book's keys ``filter_num`` and ``filter_size`` (square
filters), and ``pad`` (default 0) and ``stride`` (default 1). Sizes along each axis follow
``out = (in + 2·pad - filter_size) // stride + 1`` for a convolution and ``out = in // 2``
for a 2x2, stride-2 max pooling; the book assumes square 28x28 input, xpnn computes the
sizes of any (C, H, W) and refuses, naming the layer, a geometry where a filter or a pool
window would not fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ._validate import count, positive_int
from .backends import Backend
from .conv import Convolution, Pooling
from .initializers import init_weight, resolve_init
from .layers import Affine, Dropout, Relu
from .network import Network

__all__ = ["DEEP_CONV_PARAMS", "SIMPLE_CONV_PARAM", "DeepConvNet", "SimpleConvNet"]

ConvParam = Mapping[str, int]

_CONV_KEYS = ("filter_num", "filter_size", "pad", "stride")


def _conv(num: int, size: int = 3, pad: int = 1) -> ConvParam:
    return MappingProxyType({"filter_num": num, "filter_size": size, "pad": pad, "stride": 1})


#: The book's ``SimpleConvNet`` convolution: 30 5x5 filters, no padding.
SIMPLE_CONV_PARAM: ConvParam = _conv(30, 5, 0)
#: The book's ``DeepConvNet`` convolutions: 3x3 filters, pad 1 (pad 2 for the fourth).
DEEP_CONV_PARAMS: tuple[ConvParam, ...] = (
    _conv(16),
    _conv(16),
    _conv(32),
    _conv(32, pad=2),
    _conv(64),
    _conv(64),
)


def _input_dim(value: Any) -> tuple[int, int, int]:
    if isinstance(value, str | bytes) or not hasattr(value, "__len__") or len(value) != 3:
        raise ValueError(
            f"input_dim must be (channels, height, width) such as (1, 28, 28), got {value!r}"
        )
    c, h, w = (positive_int(f"input_dim[{i}]", v) for i, v in enumerate(value))
    return c, h, w


def _conv_param(name: str, value: Any) -> dict[str, int]:
    """A checked copy of a convolution parameter dict (``pad`` 0 and ``stride`` 1 if absent)."""
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{name} must be a dict such as {{'filter_num': 30, 'filter_size': 5, 'pad': 0, "
            f"'stride': 1}}, got {value!r}"
        )
    unknown = [k for k in value if k not in _CONV_KEYS]
    if unknown:
        raise ValueError(f"{name} has unknown keys {unknown}; its keys are {list(_CONV_KEYS)}")
    missing = [k for k in ("filter_num", "filter_size") if k not in value]
    if missing:
        raise ValueError(f"{name} lacks {missing}: give at least filter_num and filter_size")
    out = {k: positive_int(f"{name}[{k!r}]", value[k]) for k in ("filter_num", "filter_size")}
    out["stride"] = positive_int(f"{name}['stride']", value.get("stride", 1))
    out["pad"] = count(f"{name}['pad']", value.get("pad", 0), 0)
    return out


class _Geometry:
    """The (C, H, W) of the data as it flows through the layers, checked layer by layer."""

    def __init__(self, input_dim: tuple[int, int, int]) -> None:
        self.input_dim = input_dim
        self.c, self.h, self.w = input_dim

    def _refuse(self, layer: str, what: str) -> None:
        raise ValueError(
            f"input_dim={self.input_dim} is too small for this network: {layer} gets "
            f"{self.h}x{self.w} input, {what}"
        )

    def conv(self, layer: str, p: Mapping[str, int]) -> None:
        f, s, pad = p["filter_size"], p["stride"], p["pad"]
        if f > self.h + 2 * pad or f > self.w + 2 * pad:
            self._refuse(layer, f"and its {f}x{f} filter does not fit it padded by {pad}")
        self.c = p["filter_num"]
        self.h = (self.h + 2 * pad - f) // s + 1
        self.w = (self.w + 2 * pad - f) // s + 1

    def pool(self, layer: str) -> None:
        if self.h < 2 or self.w < 2:
            self._refuse(layer, "and its 2x2 window does not fit")
        self.h, self.w = self.h // 2, self.w // 2

    @property
    def size(self) -> int:
        return self.c * self.h * self.w


class _ConvNet(Network):
    """What the two networks share: their layers' registration."""

    #: :meth:`accuracy` runs this many samples per forward pass (bounds the patch matrices:
    #: SimpleConvNet's are 25 x 500·576 values, 29 MB in float32).
    eval_batch_size: int | None = 500
    input_dim: tuple[int, int, int]
    hidden_size: int

    def _weights(self, shape: tuple[int, ...], init: Any) -> tuple[Any, Any]:
        """A weight of ``shape`` drawn by ``init`` and a zero bias (FN for a convolution's
        (FN, C, FH, FW), M for an Affine layer's (D, M))."""
        xp, dev, dt = self.backend.xp, self.backend.device, self.dtype
        W = init_weight(init, shape, self.init_rng, dt)
        return W, xp.zeros(shape[0] if len(shape) == 4 else shape[1], dtype=dt, device=dev)

    def _config(self) -> dict[str, Any]:
        """What both networks' configs share (see ``get_config``)."""
        return {
            "input_dim": list(self.input_dim),
            "hidden_size": self.hidden_size,
            "output_size": self.output_size,
            "weight_decay_lambda": self.weight_decay_lambda,
            "dtype": self.dtype_name,
        }

    def _repr_extras(self) -> str:
        extras = [self.dtype_name, f"{self.backend.name}:{self.backend.device}"]
        if self.weight_decay_lambda:
            extras.insert(0, f"weight_decay={self.weight_decay_lambda:g}")
        return ", ".join(extras)


class SimpleConvNet(_ConvNet):
    """The book's chapter 7 network::

        Conv1 - Relu1 - Pool1 (2x2, stride 2) - Affine1 - Relu2 - Affine2 - softmax

    Parameters (the book's, in the book's order)
    ----------
    input_dim:
        (C, H, W) of one sample, (1, 28, 28) for MNIST.
    conv_param:
        ``{'filter_num': 30, 'filter_size': 5, 'pad': 0, 'stride': 1}`` (the book's default).
    hidden_size, output_size:
        Units of the hidden Affine layer (100) and classes (10).
    weight_init_std:
        The book's 0.01 (N(0, 0.01²) for every weight), or any rule
        :func:`~xpnn.initializers.resolve_init` takes (``'he'``: √(2/fan_in) with
        fan_in = C·FH·FW for the convolution, the input size for the Affine layers).
        Biases start at 0.
    weight_decay_lambda, dtype, backend, seed:
        As for every :class:`~xpnn.network.Network` (keyword-only but for the first).

    ``params``: ``W1`` (FN, C, FH, FW), ``b1`` (FN,), ``W2`` (FN·PH·PW, hidden_size),
    ``b2``, ``W3`` (hidden_size, output_size), ``b3``, where PH, PW are the pooled sizes
    (12x12 for 28x28 input and 5x5 filters).
    """

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (1, 28, 28),
        conv_param: ConvParam = SIMPLE_CONV_PARAM,
        hidden_size: int = 100,
        output_size: int = 10,
        weight_init_std: float | str = 0.01,
        *,
        weight_decay_lambda: float = 0,
        dtype: Any = "float32",
        backend: str | Backend | None = None,
        seed: Any = None,
    ) -> None:
        self.input_dim = _input_dim(input_dim)
        self.conv_param = _conv_param("conv_param", conv_param)
        self.hidden_size = positive_int("hidden_size", hidden_size)
        resolve_init(weight_init_std)  # an unknown name fails before anything is built
        self.weight_init_std = weight_init_std
        geometry = _Geometry(self.input_dim)
        geometry.conv("Conv1", self.conv_param)
        geometry.pool("Pool1")
        self.pool_output_size = geometry.size
        super().__init__(
            self.input_dim,
            output_size,
            weight_decay_lambda=weight_decay_lambda,
            dtype=dtype,
            backend=backend,
            seed=seed,
            reshape_input=True,
        )

    def _build(self) -> None:
        p, init = self.conv_param, self.weight_init_std
        c, f = self.input_dim[0], p["filter_size"]
        W1, b1 = self._weights((p["filter_num"], c, f, f), init)
        W2, b2 = self._weights((self.pool_output_size, self.hidden_size), init)
        W3, b3 = self._weights((self.hidden_size, self.output_size), init)
        # the first convolution's input is the data: it needs no gradient
        self._add_layer("Conv1", Convolution(W1, b1, p["stride"], p["pad"], input_grad=False), "1")
        self._add_layer("Relu1", Relu())
        self._add_layer("Pool1", Pooling(2, 2, stride=2))
        self._add_layer("Affine1", Affine(W2, b2), "2")
        self._add_layer("Relu2", Relu())
        self._add_layer("Affine2", Affine(W3, b3), "3")

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, JSON-able (no backend, no seed):
        ``SimpleConvNet(**net.get_config())`` builds the same architecture, weights drawn
        afresh. Checkpoints record it (:func:`xpnn.models.load_network`)."""
        w = self.weight_init_std
        init = w if isinstance(w, str) else float(w)
        return {**self._config(), "conv_param": dict(self.conv_param), "weight_init_std": init}

    def __repr__(self) -> str:
        p = self.conv_param
        conv = f"conv {p['filter_num']}x{p['filter_size']}x{p['filter_size']}"
        if p["pad"] or p["stride"] != 1:
            conv += f" pad {p['pad']} stride {p['stride']}"
        dims = "x".join(map(str, self.input_dim))
        return (
            f"SimpleConvNet({dims}, {conv}, pool 2x2, {self.hidden_size}, "
            f"{self.output_size}, {self._repr_extras()})"
        )


class DeepConvNet(_ConvNet):
    """The book's chapter 8 network (over 99 % on MNIST)::

        Conv1 - Relu1 - Conv2 - Relu2 - Pool1 -
        Conv3 - Relu3 - Conv4 - Relu4 - Pool2 -
        Conv5 - Relu5 - Conv6 - Relu6 - Pool3 -
        Affine1 - Relu7 - Dropout1 - Affine2 - Dropout2 - softmax

    Pools are 2x2 with stride 2; dropout (inverted, ratio 0.5, as the book's) draws its masks
    from ``net.dropout_rng``. With the book's parameters on 28x28 input the sizes are 28 →
    28 → 14 → 14 → 16 (the fourth convolution pads by 2) → 8 → 8 → 8 → 4, so Affine1 takes
    64·4·4 = 1024 values.

    Parameters (the book's)
    ----------
    input_dim:
        (C, H, W) of one sample, (1, 28, 28) for MNIST; a smaller input (e.g. (1, 12, 12),
        for gradient checks) works where every filter and pool fits.
    conv_param_1 ... conv_param_6:
        The six convolutions (see :data:`DEEP_CONV_PARAMS` for the book's: 16, 16, 32, 32,
        64, 64 filters of 3x3, pad 1, the fourth pad 2, stride 1).
    hidden_size, output_size:
        Units of Affine1 (50) and classes (10).
    weight_decay_lambda, dtype, backend, seed:
        As for every :class:`~xpnn.network.Network` (keyword-only).

    Every weight is He-initialised, N(0, 2/fan_in) with fan_in = C·FH·FW for a convolution
    and the input size for an Affine layer (the book's ``pre_node_nums``, computed from
    the shapes); biases start at 0. ``params``: ``W1``-``W6`` (FN, C, FH, FW) and
    ``b1``-``b6`` for the convolutions, ``W7``, ``b7``, ``W8``, ``b8`` for the Affine layers.
    """

    #: 200 images per forward pass in :meth:`accuracy`: the second convolution's patches
    #: are 144 x 200·784 values (90 MB in float32)
    eval_batch_size = 200

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (1, 28, 28),
        conv_param_1: ConvParam = DEEP_CONV_PARAMS[0],
        conv_param_2: ConvParam = DEEP_CONV_PARAMS[1],
        conv_param_3: ConvParam = DEEP_CONV_PARAMS[2],
        conv_param_4: ConvParam = DEEP_CONV_PARAMS[3],
        conv_param_5: ConvParam = DEEP_CONV_PARAMS[4],
        conv_param_6: ConvParam = DEEP_CONV_PARAMS[5],
        hidden_size: int = 50,
        output_size: int = 10,
        *,
        weight_decay_lambda: float = 0,
        dtype: Any = "float32",
        backend: str | Backend | None = None,
        seed: Any = None,
    ) -> None:
        self.input_dim = _input_dim(input_dim)
        given = (conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5,
                 conv_param_6)  # fmt: skip
        self.conv_params = [_conv_param(f"conv_param_{i}", p) for i, p in enumerate(given, 1)]
        self.hidden_size = positive_int("hidden_size", hidden_size)
        self.dropout_ratio = 0.5
        geometry = _Geometry(self.input_dim)
        for i, p in enumerate(self.conv_params, 1):
            geometry.conv(f"Conv{i}", p)
            if i % 2 == 0:
                geometry.pool(f"Pool{i // 2}")
        self.pool_output_size = geometry.size
        super().__init__(
            self.input_dim,
            output_size,
            weight_decay_lambda=weight_decay_lambda,
            dtype=dtype,
            backend=backend,
            seed=seed,
            reshape_input=True,
        )

    def _build(self) -> None:
        channels = self.input_dim[0]
        convs = []
        for p in self.conv_params:  # every weight first, in order (the init stream's draws)
            f = p["filter_size"]
            convs.append(self._weights((p["filter_num"], channels, f, f), "he"))
            channels = p["filter_num"]
        W7, b7 = self._weights((self.pool_output_size, self.hidden_size), "he")
        W8, b8 = self._weights((self.hidden_size, self.output_size), "he")
        for i, (p, (W, b)) in enumerate(zip(self.conv_params, convs, strict=True), 1):
            conv = Convolution(W, b, p["stride"], p["pad"], input_grad=i > 1)
            self._add_layer(f"Conv{i}", conv, str(i))
            self._add_layer(f"Relu{i}", Relu())
            if i % 2 == 0:
                self._add_layer(f"Pool{i // 2}", Pooling(2, 2, stride=2))
        self._add_layer("Affine1", Affine(W7, b7), "7")
        self._add_layer("Relu7", Relu())
        self._add_layer("Dropout1", Dropout(self.dropout_ratio, self.dropout_rng))
        self._add_layer("Affine2", Affine(W8, b8), "8")
        self._add_layer("Dropout2", Dropout(self.dropout_ratio, self.dropout_rng))

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, JSON-able (no backend, no seed):
        ``DeepConvNet(**net.get_config())`` builds the same architecture, weights drawn
        afresh. Checkpoints record it (:func:`xpnn.models.load_network`)."""
        convs = {f"conv_param_{i}": dict(p) for i, p in enumerate(self.conv_params, 1)}
        return {**self._config(), **convs}

    def __repr__(self) -> str:
        filters = "-".join(str(p["filter_num"]) for p in self.conv_params)
        dims = "x".join(map(str, self.input_dim))
        return (
            f"DeepConvNet({dims}, conv {filters}, {self.hidden_size}, {self.output_size}, "
            f"dropout 0.5, {self._repr_extras()})"
        )
