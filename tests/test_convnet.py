"""SimpleConvNet and DeepConvNet: the book's architectures, initialisation, gradients end to
end, input handling, clear errors, state, and training with the Trainer."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import CASES
from guarantees_support import ROOT, assert_bitwise_equal, run_state

import xpnn
from xpnn import DeepConvNet, DivergenceError, MultiLayerNet, SimpleConvNet, Trainer
from xpnn.conv import Convolution, Pooling
from xpnn.gradcheck import check_gradients
from xpnn.layers import Dropout, Relu

TOL = 1e-6  # worst relative error of a float64 gradient check


def conv(num, size=3, pad=1, stride=1):
    return {"filter_num": num, "filter_size": size, "pad": pad, "stride": stride}


def small_simple(backend, dtype="float64", **kwargs):
    """SimpleConvNet on (2, 10, 10) input: 3 filters 3x3 pad 1, 6 hidden units, 4 classes."""
    return SimpleConvNet((2, 10, 10), conv(3), 6, 4, dtype=dtype, backend=backend, seed=0,
                         **kwargs)  # fmt: skip


SMALL_DEEP_CONVS = [conv(2), conv(2), conv(2), conv(3, pad=2), conv(3), conv(3)]


def small_deep(backend, dtype="float64", **kwargs):
    """DeepConvNet on (1, 12, 12) input with 2-3 filters per convolution: 12 → 6 → 8 → 4 → 2
    after the poolings (the fourth convolution pads by 2, as the book's), Affine 12 → 5 → 3."""
    return DeepConvNet((1, 12, 12), *SMALL_DEEP_CONVS, hidden_size=5, output_size=3,
                       dtype=dtype, backend=backend, seed=0, **kwargs)  # fmt: skip


def images(seed, n, shape):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *shape)), rng.integers(0, 4 if shape[0] == 2 else 3, size=n)


def host_point(net, seed):
    """Every parameter drawn on the host, biases non-zero (the same point on every backend;
    zero biases would put ReLU inputs exactly at the kink where a window is all zeros)."""
    rng = np.random.default_rng(seed)
    net.load_state_dict({k: rng.normal(scale=0.5, size=v.shape)
                         for k, v in net.state_dict().items() if k != "dropout_rng"})  # fmt: skip


def fix_dropout_masks(net, backend, x, seed=7):
    net.predict(x, train_flg=True)  # the masks' shapes
    rng = np.random.default_rng(seed)
    for layer in net.layers.values():
        if isinstance(layer, Dropout):
            layer.fixed_mask = backend.asarray(rng.random(tuple(layer.mask.shape)) >= 0.5)


def kink_margin(net, x, to_np):
    """How far the check point is from a kink: the smallest |input| of any ReLU, and the
    smallest gap between the largest and second-largest value of a pooling window. Left out:
    windows whose largest is 0 (all ReLU zeros: the ReLU's margin covers them) and exact
    ties, which are structural (the ring a convolution pads wider than its filter needs,
    like DeepConvNet's Conv4, is its bias alone): tied values move together."""
    margin = math.inf
    h = net.check_input(x)
    for layer in net.layers.values():
        if isinstance(layer, Relu):
            margin = min(margin, float(np.abs(to_np(h)).min()))
        if isinstance(layer, Pooling):
            a = to_np(h)
            n, c, hh, ww = a.shape
            a = a[:, :, : hh // 2 * 2, : ww // 2 * 2].reshape(n, c, hh // 2, 2, ww // 2, 2)
            w = np.sort(a.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, hh // 2, ww // 2, 4), -1)
            gap = (w[..., -1] - w[..., -2])[w[..., -1] > 0]
            margin = min(margin, float(gap[gap > 0].min()))
        h = layer.forward(h, True)
    return margin


def simple_check_point(backend):
    """SimpleConvNet (2, 6, 6) with 2 filters 3x3 pad 1, 4 hidden units, 3 classes, λ = 0.1."""
    net = SimpleConvNet((2, 6, 6), conv(2), 4, 3, weight_decay_lambda=0.1, dtype="float64",
                        backend=backend, seed=0)  # fmt: skip
    host_point(net, 5)
    x, t = images(0, 4, (2, 6, 6))
    return net, backend.asarray(x, dtype="float64"), backend.asarray(t % 3)


def deep_check_point(backend):
    """DeepConvNet (1, 12, 12) with 2 filters per convolution, 4 hidden units, λ = 0.1, and
    fixed dropout masks."""
    net = DeepConvNet((1, 12, 12), *[conv(2, pad=2 if i == 3 else 1) for i in range(6)],
                      hidden_size=4, output_size=3, weight_decay_lambda=0.1, dtype="float64",
                      backend=backend, seed=0)  # fmt: skip
    host_point(net, 0)
    x, t = images(1, 3, (1, 12, 12))
    x, t = backend.asarray(x, dtype="float64"), backend.asarray(t)
    fix_dropout_masks(net, backend, x)
    return net, x, t


# -- architecture --------------------------------------------------------------------------


def test_simple_convnet_has_the_books_parameters_and_layers(backend):
    net = SimpleConvNet(backend=backend, seed=0)
    shapes = {k: tuple(v.shape) for k, v in net.params.items()}
    assert shapes == {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (30 * 12 * 12, 100), "b2": (100,),
                      "W3": (100, 10), "b3": (10,)}  # fmt: skip
    assert list(net.params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert list(net.layers) == ["Conv1", "Relu1", "Pool1", "Affine1", "Relu2", "Affine2"]


def test_deep_convnet_has_the_books_parameters_and_layers(backend):
    net = DeepConvNet(backend=backend, seed=0)
    shapes = {k: tuple(v.shape) for k, v in net.params.items()}
    channels = [1, 16, 16, 32, 32, 64, 64]
    for i in range(1, 7):
        assert shapes[f"W{i}"] == (channels[i], channels[i - 1], 3, 3)
        assert shapes[f"b{i}"] == (channels[i],)
    assert shapes["W7"] == (64 * 4 * 4, 50) and shapes["W8"] == (50, 10)
    assert list(net.params) == [f"{p}{i}" for i in range(1, 9) for p in "Wb"]
    assert list(net.layers) == [
        "Conv1", "Relu1", "Conv2", "Relu2", "Pool1",
        "Conv3", "Relu3", "Conv4", "Relu4", "Pool2",
        "Conv5", "Relu5", "Conv6", "Relu6", "Pool3",
        "Affine1", "Relu7", "Dropout1", "Affine2", "Dropout2",
    ]  # fmt: skip
    assert net.layers["Conv4"].pad == 2 and net.layers["Conv3"].pad == 1


def test_predict_gives_one_score_per_class(backend):
    x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    for net in (SimpleConvNet(backend=backend, seed=0), DeepConvNet(backend=backend, seed=0)):
        assert tuple(net.predict(x).shape) == (3, 10)


def test_the_sizes_follow_non_square_input_and_stride(backend):
    net = SimpleConvNet((3, 11, 8), conv(4, size=3, pad=0, stride=2), 7, 5, backend=backend)
    assert net.pool_output_size == 4 * 2 * 1  # conv 5x3, pool 2x1
    x = np.zeros((2, 3, 11, 8), dtype=np.float32)
    assert tuple(net.predict(x).shape) == (2, 5)


def test_params_are_the_arrays_the_layers_compute_with_in_one_flat_buffer(backend):
    net = small_deep(backend)
    assert net.params["W1"] is net.layers["Conv1"].W
    assert net.params["b8"] is net.layers["Affine2"].b
    grads = net.gradient(*images(0, 2, (1, 12, 12)))
    assert list(grads) == list(net.params)
    assert grads["W3"] is net.layers["Conv3"].dW and grads["b3"] is net.layers["Conv3"].db
    assert net.layers["Conv1"].input_grad is False and net.layers["Conv2"].input_grad is True


def test_dropout_draws_from_the_networks_dropout_generator(backend):
    net = DeepConvNet(backend=backend, seed=0)
    assert net.layers["Dropout1"].generator is net.dropout_rng
    assert net.layers["Dropout2"].generator is net.dropout_rng
    assert net.layers["Dropout1"].dropout_ratio == 0.5


# -- initialisation ------------------------------------------------------------------------


def test_simple_convnet_starts_from_the_books_std_of_0_01(backend, to_np):
    net = SimpleConvNet(backend=backend, seed=0)
    assert to_np(net.params["W2"]).std() == pytest.approx(0.01, rel=0.01)
    assert to_np(net.params["W1"]).std() == pytest.approx(0.01, rel=0.1)
    assert not any(to_np(net.params[f"b{i}"]).any() for i in (1, 2, 3))


def test_simple_convnet_he_init_uses_each_weights_fan_in(backend, to_np):
    net = SimpleConvNet(weight_init_std="he", backend=backend, seed=0)
    assert to_np(net.params["W1"]).std() == pytest.approx(math.sqrt(2 / 25), rel=0.1)
    assert to_np(net.params["W2"]).std() == pytest.approx(math.sqrt(2 / 4320), rel=0.01)


def test_deep_convnet_is_he_initialised_from_c_fh_fw(backend, to_np):
    net = DeepConvNet(backend=backend, seed=0)
    fan_in = [9, 16 * 9, 16 * 9, 32 * 9, 32 * 9, 64 * 9, 64 * 4 * 4, 50]  # the book's
    for i, n in enumerate(fan_in, 1):
        W = to_np(net.params[f"W{i}"])
        rel = 0.25 if W.size < 1000 else 0.06
        assert W.std() == pytest.approx(math.sqrt(2 / n), rel=rel), i
        assert abs(W.mean()) < 3 * math.sqrt(2 / n) / math.sqrt(W.size), i
        assert not to_np(net.params[f"b{i}"]).any()


def test_same_seed_same_weights(backend, to_np):
    a, b = DeepConvNet(backend=backend, seed=3), DeepConvNet(backend=backend, seed=3)
    assert_bitwise_equal(a.state_dict(), b.state_dict())
    c = DeepConvNet(backend=backend, seed=4)
    assert not np.array_equal(to_np(a.params["W5"]), to_np(c.params["W5"]))


# -- gradients end to end ------------------------------------------------------------------


def test_simple_convnet_gradient_matches_numerical_with_weight_decay(backend, to_np):
    net, x, t = simple_check_point(backend)
    assert kink_margin(net, x, to_np) > 1e-2  # far from ReLU and pooling kinks (steps: 2e-4)
    report = check_gradients(lambda p: net.loss(x, t, train_flg=True), net.params,
                             net.gradient(x, t))  # fmt: skip
    assert set(report) == set(net.params)
    assert report.worst < TOL, report


def test_deep_convnet_gradient_matches_numerical_with_dropout_and_weight_decay(backend, to_np):
    # Seven ReLUs and three poolings over ~1,700 values: no test point found lies more than
    # ~2e-3 from every kink, so the steps are ±1e-5 (central differences, order 2: moves an
    # activation by ~1e-4 here; the truncation error, ~h², is far below TOL); at the
    # default ±1e-4 and ±2e-4 some points cross a kink.
    net, x, t = deep_check_point(backend)
    assert kink_margin(net, x, to_np) > 2e-3
    report = check_gradients(lambda p: net.loss(x, t, train_flg=True), net.params,
                             net.gradient(x, t), h=1e-5, order=2)  # fmt: skip
    assert set(report) == set(net.params)
    assert report.worst < TOL, report


@pytest.mark.parametrize("check_point", [simple_check_point, deep_check_point],
                         ids=["simple", "deep"])  # fmt: skip
def test_gradients_by_shifted_rows_match_numerical(check_point, backend, to_np, monkeypatch):
    # every stride-1 convolution by rows (NumPy's rule takes it only from 8 channels up)
    monkeypatch.setattr(backend, "conv_by_rows", lambda w, _, s, pad: s == 1 and pad < w[2])
    net, x, t = check_point(backend)
    report = check_gradients(lambda p: net.loss(x, t, train_flg=True), net.params,
                             net.gradient(x, t), h=1e-5, order=2)  # fmt: skip
    assert all(layer.patches is None for layer in net.layers.values()
               if isinstance(layer, Convolution))  # fmt: skip
    assert report.worst < TOL, report


def test_numerical_gradient_method_agrees_with_gradient(backend, to_np):
    net, x, t = simple_check_point(backend)
    analytic = {k: to_np(g) for k, g in net.gradient(x, t).items()}
    numerical = net.numerical_gradient(x, t)
    for key in net.params:
        np.testing.assert_allclose(to_np(numerical[key]), analytic[key], rtol=1e-5, atol=1e-9,
                                   err_msg=key)  # fmt: skip


def tiny_deep(backend):
    """DeepConvNet with one filter per convolution on (1, 8, 8): 73 parameters."""
    convs = [conv(1, pad=2 if i == 3 else 1) for i in range(6)]
    net = DeepConvNet((1, 8, 8), *convs, hidden_size=2, output_size=3, dtype="float64",
                      backend=backend, seed=0)  # fmt: skip
    host_point(net, 8)
    return net


def test_numerical_gradient_uses_the_dropout_masks_set_and_keeps_them(backend, to_np):
    net = tiny_deep(backend)
    x, t = images(1, 3, (1, 8, 8))
    fix_dropout_masks(net, backend, backend.asarray(x, dtype="float64"))
    masks = [net.layers[f"Dropout{i}"].fixed_mask for i in (1, 2)]
    numerical = net.numerical_gradient(x, t)
    analytic = net.gradient(x, t)
    for key in net.params:
        np.testing.assert_allclose(to_np(numerical[key]), to_np(analytic[key]), rtol=1e-5,
                                   atol=1e-9, err_msg=key)  # fmt: skip
    assert [net.layers[f"Dropout{i}"].fixed_mask for i in (1, 2)] == masks


def test_numerical_gradient_holds_one_draw_of_masks_fixed_and_releases_it(backend, to_np):
    net = tiny_deep(backend)
    x, t = images(1, 3, (1, 8, 8))
    grads = net.numerical_gradient(x, t)
    assert list(grads) == list(net.params)
    assert all(np.isfinite(to_np(g)).all() for g in grads.values())
    assert net.layers["Dropout1"].fixed_mask is None and net.layers["Dropout2"].fixed_mask is None


def test_numpy_and_array_api_strict_train_bitwise_alike():
    x, t = images(2, 8, (2, 10, 10))
    runs = []
    for b in (xpnn.get_backend("numpy"), xpnn.get_backend("array_api_strict", "device1")):
        net = SimpleConvNet((2, 10, 10), conv(3), 6, 4, weight_decay_lambda=0.01, backend=b,
                            seed=42)  # fmt: skip
        opt = xpnn.get_optimizer("adam", lr=0.01)
        losses = []
        for _ in range(5):
            loss, grads = net.loss_and_gradient(x, t)
            losses.append(float(loss))
            opt.update(net.params, grads)
        runs.append((losses, net.state_dict()))
    assert runs[0][0] == runs[1][0]
    assert_bitwise_equal(runs[0][1], runs[1][1])


# -- input ---------------------------------------------------------------------------------


def test_flat_784_input_is_the_same_as_1x28x28(backend, to_np):
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    for net in (SimpleConvNet(backend=backend, seed=0), DeepConvNet(backend=backend, seed=0)):
        np.testing.assert_array_equal(to_np(net.predict(x.reshape(4, 784))),
                                      to_np(net.predict(x)))  # fmt: skip


def test_a_wrong_number_of_values_per_sample_is_refused(backend):
    net = small_simple(backend)
    with pytest.raises(ValueError, match=r"201 values per sample.*input_dim=\(2, 10, 10\)"):
        net.predict(np.zeros((2, 201)))


def test_accuracy_does_not_depend_on_its_batch_size(backend, to_np):
    net = small_simple(backend)
    x, t = images(3, 23, (2, 10, 10))
    expected = float((to_np(net.predict(x)).argmax(axis=1) == t).mean())
    assert net.accuracy(x, t) == expected
    for batch_size in (1, 5, 23, 100):
        assert net.accuracy(x, t, batch_size=batch_size) == expected
    assert net.accuracy(x, np.eye(4)[t], batch_size=7) == expected


def test_float32_stays_float32_and_on_the_device(backend, dtype, assert_on_device):
    net = small_deep(backend, dtype=dtype, weight_decay_lambda=0.01)
    x, t = images(0, 3, (1, 12, 12))
    loss, grads = net.loss_and_gradient(x, t)
    for array in (loss, net.predict(x), *grads.values(), *net.params.values()):
        assert_on_device(array)
        assert array.dtype == dtype


# -- clear errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"input_dim": (28, 28)}, ValueError, r"input_dim must be \(channels, height, width\)"),
        ({"input_dim": (1, 0, 28)}, ValueError, r"input_dim\[1\] must be a positive integer"),
        ({"conv_param": 30}, TypeError, "conv_param must be a dict"),
        ({"conv_param": {"filter_num": 30}}, ValueError, r"lacks \['filter_size'\]"),
        ({"conv_param": {**conv(30), "filter_number": 3}}, ValueError,
         r"unknown keys \['filter_number'\]"),
        ({"conv_param": conv(0)}, ValueError, r"conv_param\['filter_num'\] must be a positive"),
        ({"conv_param": conv(3, stride=0)}, ValueError, r"conv_param\['stride'\] must be a pos"),
        ({"conv_param": conv(3, pad=-1)}, ValueError, r"conv_param\['pad'\] must be an integer"),
        ({"conv_param": conv(3, size=1.5)}, TypeError, r"conv_param\['filter_size'\]"),
        ({"hidden_size": 0}, ValueError, "hidden_size must be a positive integer"),
        ({"output_size": -1}, ValueError, "output_size must be a positive integer"),
        ({"weight_init_std": "bogus"}, ValueError, "unknown weight_init_std 'bogus'"),
        ({"weight_decay_lambda": -1}, ValueError, "weight_decay_lambda must be finite and ≥ 0"),
        ({"dtype": "int32"}, ValueError, "dtype must be 'float32' or 'float64'"),
        ({"input_dim": (1, 4, 4)}, ValueError,
         r"input_dim=\(1, 4, 4\) is too small.*Conv1 gets 4x4 input.*5x5 filter does not fit"),
        ({"input_dim": (1, 5, 9)}, ValueError, r"Pool1 gets 1x5 input.*2x2 window does not fit"),
    ],
)  # fmt: skip
def test_simple_convnet_refuses_bad_arguments_naming_them(kwargs, error, match):
    with pytest.raises(error, match=match):
        SimpleConvNet(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"conv_param_3": {"filter_num": 32, "size": 3}}, ValueError,
         r"conv_param_3 has unknown keys \['size'\]"),
        ({"conv_param_6": conv(64, pad=-2)}, ValueError, r"conv_param_6\['pad'\]"),
        ({"hidden_size": 0}, ValueError, "hidden_size must be a positive integer"),
        ({"input_dim": (1, 3, 3)}, ValueError, r"\(1, 3, 3\) is too small.*Pool3 gets 1x1"),
        ({"input_dim": (1, 12, 12), "conv_param_5": conv(64, size=7, pad=0)}, ValueError,
         r"Conv5 gets 4x4 input, and its 7x7 filter does not fit it padded by 0"),
    ],
)  # fmt: skip
def test_deep_convnet_refuses_bad_arguments_naming_them(kwargs, error, match):
    with pytest.raises(error, match=match):
        DeepConvNet(**kwargs)


def test_repr_names_the_architecture(backend):
    assert repr(small_simple(backend)).startswith(
        "SimpleConvNet(2x10x10, conv 3x3x3 pad 1 stride 1, pool 2x2, 6, 4, float64"
    )
    assert repr(DeepConvNet(backend=backend, seed=0, weight_decay_lambda=0.1)).startswith(
        "DeepConvNet(1x28x28, conv 16-16-32-32-64-64, 50, 10, dropout 0.5, weight_decay=0.1"
    )


# -- state, save_params / load_params (every network has them) -----------------------------


NETWORKS = {
    "MultiLayerNet": lambda b: MultiLayerNet(
        200, [7], 4, use_batchnorm=True, use_dropout=True, backend=b, seed=0
    ),
    "SimpleConvNet": lambda b: small_simple(b, dtype="float32"),
    "DeepConvNet": lambda b: small_deep(b, dtype="float32"),
}


@pytest.mark.parametrize("kind", list(NETWORKS))
def test_save_params_and_load_params_round_trip_every_network(kind, backend, tmp_path, to_np):
    saved, loaded = NETWORKS[kind](backend), NETWORKS[kind](backend)
    shape = (1, 12, 12) if kind == "DeepConvNet" else (2, 10, 10)
    x, t = images(0, 4, shape)
    saved.gradient(x, t)  # moves BatchNorm statistics and the dropout stream
    for p in saved.params.values():
        p += 0.5
    saved.save_params(tmp_path / "params.pkl")
    assert (tmp_path / "params.pkl").read_bytes()[:2] == b"PK"  # an .npz, never a pickle
    w = loaded.params["W1"]
    loaded.load_params(tmp_path / "params.pkl")
    assert loaded.params["W1"] is w  # loaded in place
    assert_bitwise_equal(loaded.state_dict(), saved.state_dict())
    np.testing.assert_array_equal(to_np(loaded.predict(x)), to_np(saved.predict(x)))


def test_load_params_refuses_another_architecture_and_changes_nothing(tmp_path, backend):
    small_simple(backend).save_params(tmp_path / "simple.npz")
    net = small_deep(backend)
    before = net.state_dict()
    with pytest.raises(ValueError, match=r"simple\.npz"):
        net.load_params(tmp_path / "simple.npz")
    assert_bitwise_equal(net.state_dict(), before)


# -- training ------------------------------------------------------------------------------


STAND_INS = [c for c in CASES if c.id in ("numpy", "strict-device1")]
on_backends = pytest.mark.parametrize("case", STAND_INS, ids=[c.id for c in STAND_INS])


def mnist_subset(mnist, n_train, n_test=100):
    (x, t), (xt, tt) = mnist
    return x[:n_train], t[:n_train], xt[:n_test], tt[:n_test]


@on_backends
def test_the_trainer_trains_a_simple_convnet_for_an_epoch(backend, mnist):
    x, t, xt, tt = mnist_subset(mnist, 1000)
    net = SimpleConvNet(weight_init_std="he", backend=backend, seed=0)
    trainer = Trainer(net, x, t, xt, tt, epochs=1, mini_batch_size=50, optimizer="adam",
                      optimizer_param={"lr": 2e-3}, verbose=False, seed=0)  # fmt: skip
    history = trainer.train()
    losses = history["train_loss"]
    assert len(losses) == 20 and all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:3])
    assert history["test_acc"][0] > 0.6  # 10 % is chance


@on_backends
def test_the_trainer_runs_an_epoch_of_a_deep_convnet(backend, mnist):
    x, t, xt, tt = mnist_subset(mnist, 200, 50)
    net = DeepConvNet(backend=backend, seed=0)
    before = net.state_dict()
    trainer = Trainer(net, x, t, xt, tt, epochs=1, mini_batch_size=50, optimizer="adam",
                      optimizer_param={"lr": 1e-3}, verbose=False, seed=0)  # fmt: skip
    history = trainer.train()
    assert len(history["train_loss"]) == 4 and all(map(math.isfinite, history["train_loss"]))
    assert len(history["train_acc"]) == len(history["test_acc"]) == 1
    after = net.state_dict()
    assert all(not np.array_equal(before[k], after[k]) for k in net.params)


def convnet_trainer(backend, epochs, **kw):
    """A seeded SimpleConvNet (2x10x10) Trainer on random images: 60 samples, 4 steps an
    epoch."""
    x, t = images(4, 80, (2, 10, 10))
    net = SimpleConvNet((2, 10, 10), conv(3), 6, 4, weight_init_std="he", backend=backend,
                        seed=1, weight_decay_lambda=1e-3)  # fmt: skip
    opts = {"epochs": epochs, "mini_batch_size": 16, "optimizer": "Adam",
            "optimizer_param": {"lr": 0.01}, "verbose": False, "seed": 2}  # fmt: skip
    opts.update(kw)
    return Trainer(net, x[:60].astype(np.float32), t[:60], x[60:].astype(np.float32), t[60:],
                   **opts)  # fmt: skip


def test_a_resumed_simple_convnet_run_ends_bitwise_like_an_uninterrupted_one(backend, tmp_path):
    whole = convnet_trainer(backend, 3)
    whole.train()
    first = convnet_trainer(backend, 2, checkpoint_dir=tmp_path)
    first.train()
    resumed = convnet_trainer(backend, 3, checkpoint_dir=tmp_path, resume=True)
    assert resumed.current_epoch == 2
    resumed.train()
    assert_bitwise_equal(run_state(resumed), run_state(whole))


@on_backends
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_an_absurd_learning_rate_stops_training_with_divergence_error(backend):
    trainer = convnet_trainer(backend, 3, optimizer="SGD", optimizer_param={"lr": 1e30})
    with pytest.raises(DivergenceError, match=r"training diverged: the loss is (nan|inf)"):
        trainer.train()
    assert trainer.current_epoch == 0


# -- examples/convnet.py -------------------------------------------------------------------


def run_example(*args):
    # one BLAS thread: the child shares the cores with the test run (see test_book.py)
    env = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "XPNN_BACKEND": ""}
    return subprocess.run([sys.executable, str(ROOT / "examples" / "convnet.py"), *args],
                          capture_output=True, text=True, env=env, timeout=600)  # fmt: skip


def test_the_convnet_example_trains_a_simple_convnet_and_plots(tmp_path, mnist):
    png = tmp_path / "curves.png"
    proc = run_example("--epochs", "1", "--limit", "1000", "--eval-samples", "500",
                       "--plot", str(png))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "network SimpleConvNet(1x28x28, conv 30x5x5, pool 2x2, 100, 10" in proc.stdout
    last = proc.stdout.splitlines()[-2]  # then "wrote PATH"
    assert re.fullmatch(r"test accuracy 0\.\d{4} after 1 epochs \(\d+\.\d s on numpy\)", last)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_convnet_example_trains_a_deep_convnet_with_deep(mnist):
    proc = run_example("--deep", "--epochs", "1", "--limit", "200", "--test-limit", "500",
                       "--eval-samples", "100", "--quiet")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(r"test accuracy 0\.\d{4} after 1 epochs \(\d+\.\d s on numpy\)\n",
                        proc.stdout)  # fmt: skip


def test_the_convnet_example_refuses_init_for_the_deep_network():
    proc = run_example("--deep", "--init", "0.01")
    assert proc.returncode == 2 and "--init applies to SimpleConvNet only" in proc.stderr
