"""MultiLayerNet: gradients, weight decay, dtype and device, reproducibility, state."""

from __future__ import annotations

import numpy as np
import pytest

import xpnn
from xpnn.gradcheck import check_gradients
from xpnn.layers import Relu
from xpnn.mlp import MultiLayerNet

TOL = 1e-6
PARAM_SEED = 26  # a test point whose ReLU inputs all lie at least 0.01 from the kink
IN, HIDDEN, OUT, N = 5, [6, 5], 3, 8


def small_net(backend, dtype="float64", **kwargs):
    return MultiLayerNet(IN, HIDDEN, OUT, dtype=dtype, backend=backend, seed=0, **kwargs)


def data(seed=0, n=N):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, IN)), rng.integers(0, OUT, size=n)


def gradcheck_point(backend, activation, use_batchnorm=True, use_dropout=True, lam=0.1):
    """A float64 net with every parameter drawn on the host (the same point on every
    backend: biases and betas non-zero, gammas away from 1), fixed dropout masks, data."""
    net = small_net(
        backend,
        activation=activation,
        weight_decay_lambda=lam,
        use_batchnorm=use_batchnorm,
        use_dropout=use_dropout,
        dropout_ratio=0.3,
    )
    rng = np.random.default_rng(PARAM_SEED)
    state = {k: rng.normal(scale=0.5, size=v.shape) for k, v in net.state_dict().items()
             if k != "dropout_rng"}  # fmt: skip
    for k in state:
        if k.startswith(("gamma", "running_var")):
            state[k] = 1.0 + np.abs(state[k])
    net.load_state_dict(state)
    for i, size in enumerate(HIDDEN, start=1):
        if use_dropout:
            keep = rng.random((N, size)) >= 0.3
            net.layers[f"Dropout{i}"].fixed_mask = backend.asarray(keep)
    x, t = data()
    return net, backend.asarray(x, dtype="float64"), backend.asarray(t)


def relu_margin(net, x, to_np):
    """The smallest |input| of any ReLU in a training forward pass (distance to a kink)."""
    margin = np.inf
    for layer in net.layers.values():
        if isinstance(layer, Relu):
            margin = min(margin, np.abs(to_np(x)).min())
        x = layer.forward(x, train_flg=True)
    return margin


# -- gradients -------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_gradient_with_batchnorm_dropout_and_weight_decay_matches_numerical(
    backend, activation, to_np
):
    net, x, t = gradcheck_point(backend, activation)
    if activation == "relu":
        assert relu_margin(net, x, to_np) > 0.01  # the check is not at a kink
    report = check_gradients(lambda p: net.loss(x, t, train_flg=True), net.params,
                             net.gradient(x, t))  # fmt: skip
    assert set(report) == set(net.params)
    assert report.worst < TOL, report


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_gradient_of_a_plain_network_matches_numerical(backend, activation, to_np):
    net, x, t = gradcheck_point(backend, activation, use_batchnorm=False, use_dropout=False, lam=0)
    if activation == "relu":
        assert relu_margin(net, x, to_np) > 0.01
    report = check_gradients(lambda p: net.loss(x, t, train_flg=True), net.params,
                             net.gradient(x, t))  # fmt: skip
    assert report.worst < TOL, report


def test_numerical_gradient_method_agrees_with_gradient(backend, to_np):
    net, x, t = gradcheck_point(backend, "sigmoid")
    analytic = net.gradient(x, t)
    numerical = net.numerical_gradient(x, t)
    for key in net.params:
        np.testing.assert_allclose(to_np(numerical[key]), to_np(analytic[key]), rtol=1e-5,
                                   atol=1e-9, err_msg=key)  # fmt: skip


def test_numerical_gradient_leaves_running_statistics_and_masks_as_they_were(backend, to_np):
    net = small_net(backend, use_batchnorm=True, use_dropout=True)
    x, t = data()
    before = to_np(net.layers["BatchNorm1"].running_mean).copy()
    net.numerical_gradient(x, t)
    np.testing.assert_array_equal(to_np(net.layers["BatchNorm1"].running_mean), before)
    assert net.layers["Dropout1"].fixed_mask is None


def test_weight_decay_adds_half_lambda_sum_of_squared_weights_to_the_loss(backend, to_np):
    x, t = data()
    plain = small_net(backend)
    decayed = small_net(backend, weight_decay_lambda=0.3)
    penalty = sum((to_np(plain.params[f"W{i}"]) ** 2).sum() for i in (1, 2, 3))
    diff = float(decayed.loss(x, t)) - float(plain.loss(x, t))
    assert diff == pytest.approx(0.5 * 0.3 * penalty, rel=1e-12)


def test_weight_decay_adds_lambda_w_to_weight_gradients_only(backend, to_np):
    x, t = data()
    plain = small_net(backend, use_batchnorm=True).gradient(x, t)
    decayed_net = small_net(backend, use_batchnorm=True, weight_decay_lambda=0.3)
    decayed = decayed_net.gradient(x, t)
    for key, g in plain.items():
        expected = to_np(g)
        if key.startswith("W"):
            expected = expected + 0.3 * to_np(decayed_net.params[key])
        np.testing.assert_allclose(to_np(decayed[key]), expected, rtol=1e-12, err_msg=key)


# -- the book's interface ------------------------------------------------------------------


def test_params_are_the_arrays_the_layers_compute_with(backend):
    net = small_net(backend, use_batchnorm=True)
    assert list(net.params) == ["W1", "b1", "W2", "b2", "W3", "b3",
                                "gamma1", "beta1", "gamma2", "beta2"]  # fmt: skip
    assert net.params["W1"] is net.layers["Affine1"].W
    assert net.params["b3"] is net.layers["Affine3"].b
    assert net.params["gamma2"] is net.layers["BatchNorm2"].gamma


def test_gradient_is_keyed_like_params_in_the_same_order(backend):
    net = small_net(backend, use_batchnorm=True, use_dropout=True)
    assert list(net.gradient(*data())) == list(net.params)


def test_in_place_updates_of_params_train_the_network(backend):
    net = small_net(backend, use_batchnorm=True)
    x, t = data(n=32)
    first = float(net.loss(x, t))
    for _ in range(50):
        grads = net.gradient(x, t)
        for key, p in net.params.items():
            p -= 0.1 * grads[key]
    assert float(net.loss(x, t)) < 0.8 * first


def test_layers_are_in_the_books_order(backend):
    net = small_net(backend, use_batchnorm=True, use_dropout=True)
    assert list(net.layers) == [
        "Affine1", "BatchNorm1", "Activation_function1", "Dropout1",
        "Affine2", "BatchNorm2", "Activation_function2", "Dropout2",
        "Affine3",
    ]  # fmt: skip


def test_dropout_ration_is_accepted_as_the_books_spelling(backend):
    # the book's spelling is the book's network's (xpnn.book), not MultiLayerNet's
    from xpnn.book.common.multi_layer_net_extend import MultiLayerNetExtend

    net = MultiLayerNetExtend(IN, HIDDEN, OUT, use_dropout=True, dropout_ration=0.2,
                              dtype="float64", backend=backend, seed=0)  # fmt: skip
    assert net.dropout_ratio == 0.2
    assert net.layers["Dropout1"].dropout_ratio == 0.2


def test_default_backend_and_float32(to_np):
    net = MultiLayerNet(IN, HIDDEN, OUT, seed=0)
    assert net.backend is xpnn.backend
    assert net.dtype_name == "float32"


def test_weights_follow_the_init_rule_and_biases_start_at_zero(backend, to_np):
    net = MultiLayerNet(400, [300], 200, weight_init_std="he", backend=backend, seed=0)
    assert to_np(net.params["W1"]).std() == pytest.approx(np.sqrt(2 / 400), rel=0.01)
    assert to_np(net.params["W2"]).std() == pytest.approx(np.sqrt(2 / 300), rel=0.01)
    assert not to_np(net.params["b1"]).any()


def test_accuracy_is_a_python_float_for_integer_and_one_hot_labels(backend, to_np):
    net = small_net(backend)
    x, t = data(n=20)
    predicted = to_np(net.predict(x)).argmax(axis=1)
    expected = float((predicted == t).mean())
    assert isinstance(net.accuracy(x, t), float)
    assert net.accuracy(x, t) == expected
    assert net.accuracy(x, np.eye(OUT)[t]) == expected


def test_loss_with_one_hot_labels_equals_loss_with_integer_labels(backend):
    net = small_net(backend)
    x, t = data()
    assert float(net.loss(x, np.eye(OUT)[t])) == pytest.approx(float(net.loss(x, t)), rel=1e-14)


def test_predict_at_inference_uses_running_statistics(backend, to_np):
    net = small_net(backend, use_batchnorm=True)
    x, _ = data(n=10)
    alone = to_np(net.predict(x[:1]))
    in_batch = to_np(net.predict(x))[:1]
    np.testing.assert_allclose(alone, in_batch, rtol=1e-12)
    trained_alone = to_np(net.predict(x[:2], train_flg=True))[:1]
    assert not np.allclose(trained_alone, in_batch)  # training uses the batch's statistics


def test_dropout_is_off_at_inference_and_on_in_training(backend, to_np):
    net = small_net(backend, use_dropout=True)
    x, _ = data()
    np.testing.assert_array_equal(to_np(net.predict(x)), to_np(net.predict(x)))
    assert not np.array_equal(to_np(net.predict(x, True)), to_np(net.predict(x, True)))


# -- dtype, device, reproducibility ----------------------------------------------------------


def test_float32_stays_float32_through_forward_backward_and_100_steps(backend, to_np):
    net = MultiLayerNet(IN, HIDDEN, OUT, weight_decay_lambda=0.01, use_dropout=True,
                        use_batchnorm=True, dtype="float32", backend=backend, seed=0)  # fmt: skip
    x, t = data(n=16)
    f32 = backend.dtype("float32")
    for _ in range(100):
        loss, grads = net.loss_and_gradient(x, t)
        assert loss.dtype == f32
        for key, p in net.params.items():
            assert grads[key].dtype == f32, key
            p -= 0.1 * grads[key]
    for key, p in net.params.items():
        assert p.dtype == f32, key
    assert net.predict(x).dtype == f32
    assert all(v.dtype == np.float32 for k, v in net.state_dict().items() if k != "dropout_rng")
    assert np.isfinite(float(net.loss(x, t)))


def test_arrays_stay_on_the_backends_device(backend, dtype, assert_on_device):
    net = MultiLayerNet(IN, HIDDEN, OUT, weight_decay_lambda=0.01, use_dropout=True,
                        use_batchnorm=True, dtype=dtype, backend=backend, seed=0)  # fmt: skip
    x, t = data()
    loss, grads = net.loss_and_gradient(x, t)
    arrays = [loss, net.predict(x), *grads.values(), *net.params.values(),
              net.layers["BatchNorm1"].running_mean, net.layers["BatchNorm1"].running_var,
              net.check_input(x), net.check_labels(t, N)]  # fmt: skip
    for array in arrays:
        assert_on_device(array)


def test_backend_arrays_are_accepted_as_input(backend, dtype, to_np):
    net = MultiLayerNet(IN, HIDDEN, OUT, dtype=dtype, backend=backend, seed=0)
    x, t = data()
    on_device = net.loss(backend.asarray(x, dtype=dtype), backend.asarray(t))
    assert float(on_device) == float(net.loss(x, t))


def test_same_seed_same_loss_and_different_seed_different_loss(backend):
    x, t = data()

    def loss(seed):
        net = MultiLayerNet(IN, HIDDEN, OUT, use_dropout=True, backend=backend, seed=seed)
        return float(net.loss(x, t, train_flg=True))

    assert loss(1) == loss(1)
    assert loss(1) != loss(2)


@pytest.mark.parametrize("device", [None, "device1"])
def test_numpy_and_array_api_strict_give_bitwise_equal_losses(device):
    x, t = data(n=16)
    runs = []
    for backend in (xpnn.get_backend("numpy"), xpnn.get_backend("array_api_strict", device)):
        net = MultiLayerNet(IN, HIDDEN, OUT, weight_decay_lambda=0.01, use_dropout=True,
                            use_batchnorm=True, backend=backend, seed=42)  # fmt: skip
        losses = []
        for _ in range(10):
            loss, grads = net.loss_and_gradient(x, t)
            losses.append(float(loss))
            for key, p in net.params.items():
                p -= 0.1 * grads[key]
        losses.append(float(net.loss(x, t)))
        runs.append((losses, net.state_dict()))
    (np_losses, np_state), (strict_losses, strict_state) = runs
    assert np_losses == strict_losses
    for key, value in np_state.items():
        if key != "dropout_rng":
            np.testing.assert_array_equal(value, strict_state[key], err_msg=key)


# -- state_dict --------------------------------------------------------------------------------


def test_state_dict_holds_host_copies_of_params_and_running_statistics(backend):
    net = small_net(backend, use_batchnorm=True)
    state = net.state_dict()
    assert set(state) == {*net.params, "running_mean1", "running_var1",
                          "running_mean2", "running_var2"}  # fmt: skip
    assert all(type(v) is np.ndarray for v in state.values())
    state["W1"][...] = 0.0  # a copy: the network is unchanged
    assert np.abs(net.backend.to_numpy(net.params["W1"])).max() > 0


def test_load_state_dict_round_trips_across_backends_in_place(backend, to_np):
    source = MultiLayerNet(IN, HIDDEN, OUT, use_batchnorm=True, backend="numpy", seed=1)
    x, t = data()
    source.gradient(x, t)  # moves the running statistics
    target = MultiLayerNet(IN, HIDDEN, OUT, use_batchnorm=True, backend=backend, seed=2)
    w1 = target.params["W1"]
    target.load_state_dict(source.state_dict())
    assert target.params["W1"] is w1 and target.layers["Affine1"].W is w1
    np.testing.assert_allclose(to_np(target.predict(x)), source.predict(x), rtol=1e-5)


def test_dropout_generator_state_is_saved_and_restored(backend, to_np):
    net = small_net(backend, use_dropout=True)
    x, _ = data()
    state = net.state_dict()
    first = to_np(net.predict(x, train_flg=True))
    net.load_state_dict(state)
    np.testing.assert_array_equal(to_np(net.predict(x, train_flg=True)), first)


def test_dropout_state_of_another_generator_kind_warns_and_keeps_the_stream(backend, to_np):
    net = small_net(backend, use_dropout=True)
    x, _ = data()
    expected = to_np(small_net(backend, use_dropout=True).predict(x, train_flg=True))
    state = net.state_dict()
    state["dropout_rng"] = {"kind": np.asarray("SomeOtherGenerator"), "state": np.asarray("")}
    with pytest.warns(RuntimeWarning, match="dropout generator state not restored"):
        net.load_state_dict(state)
    np.testing.assert_array_equal(to_np(net.predict(x, train_flg=True)), expected)


def test_load_state_dict_refuses_a_shape_mismatch_naming_the_key(backend, to_np):
    net = small_net(backend)
    state = net.state_dict()
    state["W2"] = np.zeros((6, 4))
    before = to_np(net.params["W1"]).copy()
    state["W1"] = state["W1"] + 1.0
    with pytest.raises(ValueError, match=r"state_dict\['W2'\] has shape \(6, 4\).*\(6, 5\)"):
        net.load_state_dict(state)
    np.testing.assert_array_equal(to_np(net.params["W1"]), before)  # nothing was changed


def test_load_state_dict_refuses_missing_and_unexpected_keys(backend):
    net = small_net(backend)
    state = net.state_dict()
    del state["b1"]
    state["gamma1"] = np.ones(6)
    with pytest.raises(ValueError, match=r"missing keys \['b1'\]; unexpected keys \['gamma1'\]"):
        net.load_state_dict(state)


def test_repr_names_the_architecture(backend):
    net = small_net(backend, use_batchnorm=True, use_dropout=True, dropout_ratio=0.2)
    assert repr(net).startswith("MultiLayerNet(5-6-5-3, relu, batchnorm, dropout=0.2, float64")


def test_a_layer_swapped_into_net_layers_runs_forward_and_backward():
    # the book's scripts replace layers in place (overfit_dropout swaps in its own Dropout)
    net = xpnn.MultiLayerNet(4, [5], 3, seed=0, dtype="float64", use_dropout=True)
    calls = []

    class Recording(xpnn.Dropout):
        def forward(self, x, train_flg=False):
            calls.append("forward")
            return super().forward(x, train_flg)

        def backward(self, dout):
            calls.append("backward")
            return super().backward(dout)

    name = next(k for k, v in net.layers.items() if isinstance(v, xpnn.Dropout))
    net.layers[name] = Recording(0.5)
    x = np.random.default_rng(0).normal(size=(2, 4))
    net.gradient(x, np.array([0, 2]))
    assert calls == ["forward", "backward"]
