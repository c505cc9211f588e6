"""``net.summary()``: every layer's name, type, output shape and parameter count, the
totals, the dtype, the backend and the device, for every network."""

from __future__ import annotations

import pytest

import xpnn


def rows(summary: xpnn.Summary) -> list[tuple[str, str, tuple, int]]:
    return [(r.name, r.kind, r.output_shape, r.params) for r in summary.layers]


def test_a_multilayernet_lists_each_layer_with_its_output_shape_and_parameters():
    net = xpnn.MultiLayerNet(784, [100], 10, use_batchnorm=True, use_dropout=True, seed=0)
    assert rows(net.summary()) == [
        ("(input)", "", (None, 784), 0),
        ("Affine1", "Affine", (None, 100), 78_500),
        ("BatchNorm1", "BatchNormalization", (None, 100), 200),
        ("Activation_function1", "Relu", (None, 100), 0),
        ("Dropout1", "Dropout", (None, 100), 0),
        ("Affine2", "Affine", (None, 10), 1_010),
    ]


def test_the_totals_count_every_parameter_and_the_batchnorm_state_apart():
    net = xpnn.MultiLayerNet(784, [100, 50], 10, use_batchnorm=True, seed=0)
    summary = net.summary()
    assert summary.total_params == sum(p.size for p in net.params.values()) == 84_360
    assert summary.state_values == 2 * (100 + 50)
    assert summary.param_bytes == 4 * 84_360


def test_deepconvnet_shows_the_shapes_its_layers_really_give():
    summary = xpnn.DeepConvNet(seed=0).summary()
    shapes = {r.name: r.output_shape for r in summary.layers}
    assert shapes["Conv4"] == (None, 32, 16, 16)  # pad 2: 14 -> 16
    assert shapes["Pool3"] == (None, 64, 4, 4) and shapes["Affine1"] == (None, 50)
    assert summary.total_params == 123_552


def test_simpleconvnet_has_the_books_parameter_count():
    summary = xpnn.SimpleConvNet(seed=0).summary()
    assert [r.params for r in summary.layers if r.params] == [780, 432_100, 1_010]


def test_the_table_names_the_network_totals_dtype_backend_and_device(backend):
    net = xpnn.MultiLayerNet(
        12, [8], 3, use_batchnorm=True, dtype="float64", backend=backend, seed=0
    )
    text = str(net.summary())
    lines = text.splitlines()
    assert lines[0] == repr(net)
    assert lines[1].split() == ["layer", "type", "output", "shape", "parameters"]
    assert "Affine1               Affine              (N, 8)" in text
    assert "parameters: 147 (1.1 KiB), all trained" in text
    assert "state (BatchNorm running statistics, not trained): 16" in text
    assert lines[-1] == f"dtype float64, backend {backend.name}, device {backend.device}"
    assert repr(net.summary()) == text  # what a notebook shows


def test_summary_changes_nothing_the_network_computes():
    net = xpnn.MultiLayerNet(12, [8], 3, use_batchnorm=True, use_dropout=True, seed=0)
    before = net.state_dict()
    net.summary()
    after = net.state_dict()
    assert all((before[k] == after[k]).all() for k in before if k != "dropout_rng")


@pytest.mark.parametrize("name", ["numpy", "array_api_strict"])
def test_every_backend_gives_the_same_rows(name):
    nets = [
        xpnn.SimpleConvNet(
            (1, 10, 10), {"filter_num": 3, "filter_size": 3}, 6, 4, backend=b, seed=0
        )
        for b in ("numpy", name)
    ]
    assert rows(nets[0].summary()) == rows(nets[1].summary())
