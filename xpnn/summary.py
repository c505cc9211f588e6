"""``net.summary()``: each layer's output shape and parameter count, the totals, the dtype,
the backend and the device, as Keras's ``model.summary()`` and torchinfo show them::

    >>> print(MultiLayerNet(784, [100], 10, use_batchnorm=True, seed=0).summary())
    MultiLayerNet(784-100-10, relu, batchnorm, float32, numpy:cpu)
    layer                 type                output shape  parameters
    --------------------  ------------------  ------------  ----------
    (input)                                   (N, 784)               0
    Affine1               Affine              (N, 100)          78,500
    BatchNorm1            BatchNormalization  (N, 100)             200
    Activation_function1  Relu                (N, 100)               0
    Affine2               Affine              (N, 10)            1,010
    parameters: 79,710 (311.4 KiB), all trained
    state (BatchNorm running statistics, not trained): 200
    dtype float32, backend numpy, device cpu

The output shapes come from one forward pass of one zero sample in inference mode (what
``predict`` does), so they are the shapes the layers really give, for any layer; N is the
batch size. A layer's parameters are the arrays in its ``params`` (``W``, ``b``, ``gamma``,
``beta``); BatchNorm's running mean and variance are state, counted apart, not trained.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["LayerSummary", "Summary", "summarize"]

#: Attributes of a layer that are state, not parameters (BatchNorm's running statistics).
STATE_ATTRS = ("running_mean", "running_var")

_ITEMSIZE = {"float16": 2, "float32": 4, "float64": 8}


@dataclass(frozen=True)
class LayerSummary:
    """One row: the layer's name in ``net.layers``, its class, its output shape (``None``
    for the batch axis) and its number of parameters."""

    name: str
    kind: str
    output_shape: tuple[int | None, ...]
    params: int


@dataclass(frozen=True)
class Summary:
    """What :func:`summarize` gives; ``str()`` (and ``repr()``, so a notebook shows it) is
    the table."""

    title: str
    layers: tuple[LayerSummary, ...]
    total_params: int
    state_values: int
    dtype: str
    backend: str
    device: str

    @property
    def param_bytes(self) -> int:
        """Bytes the parameters take in :attr:`dtype`."""
        return self.total_params * _ITEMSIZE.get(self.dtype, 0)

    def __str__(self) -> str:
        header = ("layer", "type", "output shape", "parameters")
        cells = [(r.name, r.kind, _shape(r.output_shape), f"{r.params:,}") for r in self.layers]
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
        lines = [self.title, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
        lines.append("  ".join("-" * w for w in widths))
        for *left, count in cells:
            cols = [v.ljust(w) for v, w in zip(left, widths, strict=False)]
            lines.append("  ".join([*cols, count.rjust(widths[-1])]))
        size = _size(self.param_bytes)
        lines.append(f"parameters: {self.total_params:,} ({size}), all trained")
        if self.state_values:
            lines.append(
                f"state (BatchNorm running statistics, not trained): {self.state_values:,}"
            )
        lines.append(f"dtype {self.dtype}, backend {self.backend}, device {self.device}")
        return "\n".join(lines)

    __repr__ = __str__


def _shape(shape: tuple[int | None, ...]) -> str:
    dims = ["N" if d is None else str(d) for d in shape]
    return f"({', '.join(dims)})"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024**2:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024**2:.1f} MiB"


def _count(arrays: Any) -> int:
    return sum(math.prod(a.shape) for a in arrays)


def summarize(network: Any) -> Summary:
    """The :class:`Summary` of an xpnn network (any object with ``layers``, an ordered dict
    of layers with ``forward(x, train_flg)``, ``params``, ``input_shape``, ``dtype``,
    ``dtype_name`` and ``backend``)."""
    b = network.backend
    rows = [LayerSummary("(input)", "", (None, *network.input_shape), 0)]
    state = 0
    with b.activate():
        x = b.xp.zeros((1, *network.input_shape), dtype=network.dtype, device=b.device)
        for name, layer in network.layers.items():
            x = layer.forward(x, False)
            params = getattr(layer, "params", None)
            count = _count(params.values()) if isinstance(params, Mapping) else 0
            state += _count(getattr(layer, a) for a in STATE_ATTRS if hasattr(layer, a))
            rows.append(LayerSummary(name, type(layer).__name__, (None, *x.shape[1:]), count))
    return Summary(
        title=repr(network),
        layers=tuple(rows),
        total_params=_count(network.params.values()),
        state_values=state,
        dtype=network.dtype_name,
        backend=b.name,
        device=str(b.device),
    )
