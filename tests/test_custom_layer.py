"""A new layer type needs edits in the layer only: it declares its parameters, and a network
built with it registers, flattens, decays, saves and checks them like any other."""

from __future__ import annotations

import numpy as np
import pytest
from array_api_compat import array_namespace

import xpnn
from xpnn import Affine, Layer, Network, Param, Relu


class Scale(Layer):
    """``out = x · s`` with one learned scale per feature: ``s`` (D,), decay applies."""

    PARAMS = (Param("s", "ds", decay=True),)

    def __init__(self, s):
        self.s = s
        self.x = None
        self.ds = None

    def forward(self, x, train_flg=False):
        self.x = x
        return x * self.s

    def backward(self, dout):
        xp = array_namespace(dout)
        total = xp.sum(dout * self.x, axis=0)
        if self._into is None:
            self.ds = total
        else:
            self.ds[...] = total
        return dout * self.s


class ScaledNet(Network):
    """Affine - Scale - ReLU - Affine, on 5 features and 3 classes."""

    def __init__(self, backend, weight_decay_lambda=0.0):
        super().__init__((5,), 3, weight_decay_lambda=weight_decay_lambda, dtype="float64",
                         backend=backend, seed=0)  # fmt: skip

    def _build(self):
        xp, dev, dt = self.backend.xp, self.backend.device, self.dtype
        W1 = self.init_rng.normal((5, 4), std=0.5, dtype=dt)
        W2 = self.init_rng.normal((4, 3), std=0.5, dtype=dt)
        s = self.init_rng.uniform((4,), 0.5, 1.5, dtype=dt)
        self._add_layer("Affine1", Affine(W1, xp.zeros(4, dtype=dt, device=dev)), "1")
        self._add_layer("Scale1", Scale(s), "1")
        self._add_layer("Relu1", Relu())
        self._add_layer("Affine2", Affine(W2, xp.zeros(3, dtype=dt, device=dev)), "2")


def data(backend):
    rng = np.random.default_rng(3)
    return backend.asarray(rng.normal(size=(6, 5)), "float64"), backend.asarray(
        rng.integers(0, 3, 6)
    )


def test_a_new_layer_registers_its_declared_parameters_under_the_networks_keys(backend):
    net = ScaledNet(backend)
    assert list(net.params) == ["W1", "b1", "s1", "W2", "b2"]
    assert net.params["s1"] is net.layers["Scale1"].s  # the layer computes with the view


@pytest.mark.parametrize("lam", [0.0, 0.3])
def test_a_new_layers_gradient_and_weight_decay_match_numerical_ones(backend, lam):
    net = ScaledNet(backend, weight_decay_lambda=lam)
    x, t = data(backend)
    report = xpnn.check_gradients(
        lambda p: net.loss(x, t, train_flg=True), net.params, net.gradient(x, t)
    )
    assert report.worst < 1e-7, str(report)


def test_a_new_layers_parameters_train_save_and_load(backend, to_np):
    net = ScaledNet(backend)
    x, t = data(backend)
    before = to_np(net.params["s1"])
    opt = xpnn.Adam(lr=0.1)
    for _ in range(3):
        opt.update(net.params, net.gradient(x, t))  # the flat path: one update
    assert opt.state.flat is not None
    assert not np.array_equal(to_np(net.params["s1"]), before)
    state = net.state_dict()
    other = ScaledNet(backend)
    other.load_state_dict(state)
    np.testing.assert_array_equal(to_np(other.params["s1"]), state["s1"])
