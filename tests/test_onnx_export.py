"""``net.export_onnx(path)``: a standard ONNX model of inference, run by onnxruntime, gives
xpnn's class on every MNIST test image and xpnn's scores within 1e-4."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import xpnn

onnx = pytest.importorskip("onnx", reason="the onnx extra: pip install 'xpnn[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="the test extra installs onnxruntime")


def trained(net: xpnn.Network, mnist) -> xpnn.Network:
    """``net`` after one epoch on the first 1000 training images (BatchNorm statistics and
    weights away from their initial values)."""
    (x, t), (xt, tt) = mnist
    xpnn.Trainer(
        net, x[:1000], t[:1000], xt[:100], tt[:100], epochs=1, verbose=False, seed=0
    ).train()
    return net


def run_onnx(path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    scores, probabilities = session.run(["scores", "probabilities"], {"x": x})
    return scores, probabilities


def xpnn_scores(net: xpnn.Network, x: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [net.backend.to_numpy(net.predict(x[i : i + 500])) for i in range(0, len(x), 500)]
    )


NETWORKS = {
    "MultiLayerNet": lambda: xpnn.MultiLayerNet(
        784, [100, 100], 10, use_batchnorm=True, use_dropout=True, dropout_ratio=0.2, seed=0
    ),
    "SimpleConvNet": lambda: xpnn.SimpleConvNet(weight_init_std="he", seed=0),
    "DeepConvNet": lambda: xpnn.DeepConvNet(seed=0),
}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_onnxruntime_gives_xpnns_class_on_every_mnist_test_image(tmp_path, mnist, name):
    net = trained(NETWORKS[name](), mnist)
    net.export_onnx(tmp_path / "model.onnx")
    x = mnist[1][0].reshape(-1, *net.input_shape)  # all 10,000 test images
    scores, probabilities = run_onnx(tmp_path / "model.onnx", x)
    expected = xpnn_scores(net, x)
    assert scores.shape == expected.shape == (10_000, 10)
    assert np.array_equal(scores.argmax(axis=1), expected.argmax(axis=1))
    assert np.abs(scores - expected).max() < 1e-4
    e = np.exp(expected - expected.max(axis=1, keepdims=True))
    assert np.abs(probabilities - e / e.sum(axis=1, keepdims=True)).max() < 1e-5


def test_the_model_is_valid_onnx_of_standard_operators(tmp_path):
    net = xpnn.MultiLayerNet(12, [8, 8], 3, use_batchnorm=True, use_dropout=True, seed=0)
    net.export_onnx(tmp_path / "m.onnx")
    model = onnx.load(tmp_path / "m.onnx")
    onnx.checker.check_model(model, full_check=True)
    ops = [node.op_type for node in model.graph.node]
    assert ops == ["Gemm", "BatchNormalization", "Relu"] * 2 + ["Gemm", "Identity", "Softmax"]
    assert [i.name for i in model.graph.input] == ["x"]
    assert [o.name for o in model.graph.output] == ["scores", "probabilities"]


def test_convolutions_and_pools_are_conv_and_maxpool_then_flatten(tmp_path):
    xpnn.SimpleConvNet(seed=0).export_onnx(tmp_path / "m.onnx")
    ops = [node.op_type for node in onnx.load(tmp_path / "m.onnx").graph.node]
    assert ops[:6] == ["Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Relu"]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_sigmoid_and_tanh_networks_export(tmp_path, activation):
    net = xpnn.MultiLayerNet(12, [8], 3, activation=activation, seed=0)
    net.export_onnx(tmp_path / "m.onnx")
    x = np.random.default_rng(0).normal(size=(20, 12)).astype(np.float32)
    scores, _ = run_onnx(tmp_path / "m.onnx", x)
    assert np.abs(scores - net.predict(x)).max() < 1e-5


def test_a_float64_network_exports_in_float64(tmp_path):
    net = xpnn.MultiLayerNet(12, [8], 3, use_batchnorm=True, dtype="float64", seed=0)
    net.export_onnx(tmp_path / "m.onnx")
    x = np.random.default_rng(0).normal(size=(20, 12))
    scores, _ = run_onnx(tmp_path / "m.onnx", x)
    assert scores.dtype == np.float64 and np.abs(scores - net.predict(x)).max() < 1e-12


def test_a_float64_convnet_exports_as_float32_when_asked(tmp_path):
    net = xpnn.SimpleConvNet(
        (1, 8, 8),
        {"filter_num": 3, "filter_size": 3},
        5,
        4,
        weight_init_std="he",
        dtype="float64",
        seed=0,
    )
    net.export_onnx(tmp_path / "m.onnx", dtype="float32")
    x = np.random.default_rng(0).random((20, 1, 8, 8))
    scores, _ = run_onnx(tmp_path / "m.onnx", x.astype(np.float32))
    assert scores.dtype == np.float32 and np.abs(scores - net.predict(x)).max() < 1e-5


def test_a_network_on_any_backend_exports_what_it_computes(tmp_path, backend, dtype):
    net = xpnn.MultiLayerNet(12, [8], 3, use_batchnorm=True, backend=backend, dtype=dtype, seed=0)
    net.export_onnx(tmp_path / "m.onnx")
    x = np.random.default_rng(0).normal(size=(20, 12)).astype(net.dtype_name)
    scores, _ = run_onnx(tmp_path / "m.onnx", x)
    assert np.abs(scores - backend.to_numpy(net.predict(x))).max() < 1e-5


def test_a_layer_without_an_onnx_form_is_named(tmp_path):
    net = xpnn.MultiLayerNet(12, [8], 3, seed=0)
    net.layers["Odd1"] = object()
    with pytest.raises(TypeError, match=r"layer 'Odd1' is a object, which has no ONNX form"):
        net.export_onnx(tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_a_bad_dtype_is_refused():
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64', got 'int8'"):
        xpnn.MultiLayerNet(12, [8], 3, seed=0).export_onnx("m.onnx", dtype="int8")


def test_without_onnx_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'xpnn\[onnx\]'"):
        xpnn.MultiLayerNet(12, [8], 3, seed=0).export_onnx(tmp_path / "m.onnx")
