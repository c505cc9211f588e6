"""``net.export_onnx(path)``: a network's inference as a standard ONNX model.

::

    net.export_onnx("mnist.onnx")

    import onnxruntime as ort                       # anywhere, without xpnn
    session = ort.InferenceSession("mnist.onnx")
    scores, probabilities = session.run(None, {"x": images})    # images (N, 784) float32

The model takes ``x`` of shape (N, *input_shape) — (N, 784) for a ``MultiLayerNet`` on
MNIST, (N, 1, 28, 28) for the convolutional networks — in the network's dtype, and gives
``scores`` (N, output_size), what ``net.predict(x)`` gives, and ``probabilities``, their
softmax. Each layer becomes the standard operator that computes it: ``Affine`` a ``Gemm``
(after a ``Flatten`` where its input has more than two axes), ``Convolution`` a ``Conv``,
``Pooling`` a ``MaxPool``, ``BatchNormalization`` an ONNX ``BatchNormalization`` with the
running mean and variance and the layer's eps, ``Relu``, ``Sigmoid``, ``Tanh`` their
operators; ``Dropout`` is the identity at inference and adds nothing. The weights are the
network's current values, stored in the graph.

Written with ``onnx``'s own helpers (``pip install 'xpnn[onnx]'``), opset 17, IR version 8
(read by onnxruntime 1.13 and later); the model passes ``onnx.checker`` before it is
written, atomically (a crash leaves the previous file).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

from .conv import Convolution, Pooling
from .layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, Tanh

__all__ = ["OPSET", "export_onnx"]

#: The ONNX operator set the models use, and the IR version that goes with it.
OPSET = 17
IR_VERSION = 8


class _Graph:
    """The nodes and weights of the model being written, and the current tensor."""

    def __init__(self, helper: Any, numpy_helper: Any, dtype: Any, to_numpy: Callable) -> None:
        self.helper, self.numpy_helper = helper, numpy_helper
        self.dtype, self.to_numpy = dtype, to_numpy
        self.nodes: list[Any] = []
        self.weights: list[Any] = []
        self.x, self.rank = "x", 0

    def weight(self, name: str, array: Any) -> str:
        value = np.ascontiguousarray(self.to_numpy(array), dtype=self.dtype)
        self.weights.append(self.numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, name: str, *inputs: str, **attrs: Any) -> None:
        out = f"{name}_out"
        self.nodes.append(self.helper.make_node(op, [self.x, *inputs], [out], name=name, **attrs))
        self.x = out


def _affine(g: _Graph, name: str, layer: Affine) -> None:
    if g.rank > 2:
        g.node("Flatten", f"{name}_flatten", axis=1)
        g.rank = 2
    g.node("Gemm", name, g.weight(f"{name}.W", layer.W), g.weight(f"{name}.b", layer.b))


def _conv(g: _Graph, name: str, layer: Convolution) -> None:
    fh, fw = layer.W.shape[2:]
    w, b = g.weight(f"{name}.W", layer.W), g.weight(f"{name}.b", layer.b)
    p, s = layer.pad, layer.stride
    g.node("Conv", name, w, b, kernel_shape=[fh, fw], pads=[p] * 4, strides=[s, s])


def _pool(g: _Graph, name: str, layer: Pooling) -> None:
    p, s = layer.pad, layer.stride
    g.node("MaxPool", name, kernel_shape=[layer.pool_h, layer.pool_w], pads=[p] * 4,
           strides=[s, s])  # fmt: skip


def _batchnorm(g: _Graph, name: str, layer: BatchNormalization) -> None:
    inputs = [g.weight(f"{name}.{a}", getattr(layer, a))
              for a in ("gamma", "beta", "running_mean", "running_var")]  # fmt: skip
    g.node("BatchNormalization", name, *inputs, epsilon=layer.eps)


def _activation(op: str) -> Callable[[_Graph, str, Any], None]:
    return lambda g, name, layer: g.node(op, name)


#: How each layer class is written (Dropout: the identity at inference, nothing).
EXPORTERS: dict[type, Callable[[_Graph, str, Any], None]] = {
    Affine: _affine,
    Convolution: _conv,
    Pooling: _pool,
    BatchNormalization: _batchnorm,
    Relu: _activation("Relu"),
    Sigmoid: _activation("Sigmoid"),
    Tanh: _activation("Tanh"),
    Dropout: lambda g, name, layer: None,
}


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ImportError(
            "export_onnx needs the onnx package; install it with: pip install 'xpnn[onnx]'"
        ) from None
    return onnx


def _graph(network: Any, onnx: Any, dtype: np.dtype) -> _Graph:
    g = _Graph(onnx.helper, onnx.numpy_helper, dtype, network.backend.to_numpy)
    g.rank = 1 + len(network.input_shape)
    for name, layer in network.layers.items():
        write = EXPORTERS.get(type(layer))
        if write is None:
            raise TypeError(
                f"export_onnx: layer {name!r} is a {type(layer).__name__}, which has no ONNX "
                f"form here (exported: {', '.join(c.__name__ for c in EXPORTERS)})"
            )
        write(g, name, layer)
    g.nodes.append(onnx.helper.make_node("Identity", [g.x], ["scores"], name="scores"))
    g.nodes.append(onnx.helper.make_node("Softmax", ["scores"], ["probabilities"], axis=1,
                                         name="softmax"))  # fmt: skip
    return g


def export_onnx(network: Any, path: str | os.PathLike, dtype: str | None = None) -> None:
    """Write ``network``'s inference to ``path`` as an ONNX model (see the module
    docstring: input ``x``, outputs ``scores`` and ``probabilities``), in the network's
    dtype or ``dtype`` (``'float32'`` or ``'float64'``; onnxruntime has no float64 ``Conv``
    on the CPU, so a float64 convolutional network is best exported as float32).

    Raises ``ImportError`` (saying what to install) without the ``onnx`` package, and
    ``TypeError`` naming the layer for a layer with no ONNX form.
    """
    name = network.dtype_name if dtype is None else dtype
    if name not in ("float32", "float64"):
        raise ValueError(f"export_onnx: dtype must be 'float32' or 'float64', got {dtype!r}")
    onnx = _import_onnx()
    helper = onnx.helper
    with network.backend.activate():
        g = _graph(network, onnx, np.dtype(name))
    elem = helper.np_dtype_to_tensor_dtype(g.dtype)
    n, k = "N", network.output_size
    graph = helper.make_graph(
        g.nodes,
        type(network).__name__,
        [helper.make_tensor_value_info("x", elem, [n, *network.input_shape])],
        [
            helper.make_tensor_value_info("scores", elem, [n, k]),
            helper.make_tensor_value_info("probabilities", elem, [n, k]),
        ],
        g.weights,
        doc_string=repr(network),
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="xpnn"
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    target = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".onnx-", dir=os.path.dirname(os.path.abspath(target)))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(model.SerializeToString())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
