"""Layers: each backward agrees with numerical gradients; forward semantics; dtype and device."""

from __future__ import annotations

import numpy as np
import pytest

from xpnn.gradcheck import check_layer
from xpnn.layers import (
    Affine,
    BatchNormalization,
    Dropout,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
)

TOL = 1e-6  # worst relative error of a float64 gradient check


def host(seed, *shape, scale=1.0):
    return np.random.default_rng(seed).normal(scale=scale, size=shape)


def away_from_zero(seed, *shape):
    """Values with |v| in [0.1, 1.5]: no ReLU kink within reach of the finite differences."""
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 1.5, size=shape)


def on(backend, array, dtype="float64"):
    return backend.asarray(array, dtype=dtype)


def affine(backend, d_in, d_out, dtype="float64", seed=1):
    return Affine(
        on(backend, host(seed, d_in, d_out), dtype), on(backend, host(seed + 1, d_out), dtype)
    )


def batchnorm(backend, n, dtype="float64", seed=3):
    gamma = on(backend, 1.0 + host(seed, n, scale=0.3), dtype)
    return BatchNormalization(gamma, on(backend, host(seed + 1, n, scale=0.3), dtype))


# -- gradient checks (float64, several samples) ----------------------------------------------


def test_affine_backward_matches_numerical_gradient(backend):
    report = check_layer(affine(backend, 5, 4), on(backend, host(0, 6, 5)))
    assert set(report) == {"x", "W", "b"}
    assert report.worst < TOL, report


def test_affine_backward_on_4d_input_matches_numerical_gradient(backend):
    report = check_layer(affine(backend, 12, 3), on(backend, host(0, 4, 3, 2, 2)))
    assert report.worst < TOL, report


def test_relu_backward_matches_numerical_gradient(backend):
    report = check_layer(Relu(), on(backend, away_from_zero(0, 6, 5)))
    assert report.worst < TOL, report


def test_sigmoid_backward_matches_numerical_gradient(backend):
    report = check_layer(Sigmoid(), on(backend, host(0, 6, 5, scale=2.0)))
    assert report.worst < TOL, report


def test_tanh_backward_matches_numerical_gradient(backend):
    report = check_layer(Tanh(), on(backend, host(0, 6, 5)))
    assert report.worst < TOL, report


def test_batchnorm_2d_backward_matches_numerical_gradient(backend):
    report = check_layer(batchnorm(backend, 4), on(backend, host(0, 6, 4, scale=2.0)))
    assert set(report) == {"x", "gamma", "beta"}
    assert report.worst < TOL, report


def test_batchnorm_4d_backward_matches_numerical_gradient(backend):
    report = check_layer(batchnorm(backend, 3), on(backend, host(0, 4, 3, 2, 3, scale=2.0)))
    assert report.worst < TOL, report


def test_batchnorm_backward_at_inference_matches_numerical_gradient(backend):
    layer = batchnorm(backend, 4)
    layer.running_mean[...] = on(backend, host(5, 4))
    layer.running_var[...] = on(backend, 0.5 + np.abs(host(6, 4)))
    report = check_layer(layer, on(backend, host(0, 6, 4)), train_flg=False)
    assert report.worst < TOL, report


def test_dropout_backward_with_a_fixed_mask_matches_numerical_gradient(backend):
    layer = Dropout(0.4)
    layer.fixed_mask = on(backend, np.random.default_rng(2).random((6, 5)) >= 0.4, "bool")
    report = check_layer(layer, on(backend, host(0, 6, 5)))
    assert report.worst < TOL, report


def test_dropout_backward_with_a_drawn_mask_matches_numerical_gradient(backend):
    report = check_layer(Dropout(0.5, backend.rng(0)), on(backend, host(0, 6, 5)))
    assert report.worst < TOL, report


def test_softmax_with_loss_backward_matches_numerical_gradient_for_integer_labels(backend):
    t = on(backend, np.array([0, 2, 1, 2, 0, 1]), "int64")
    report = check_layer(SoftmaxWithLoss(), on(backend, host(0, 6, 3, scale=3.0)), t=t)
    assert report.worst < TOL, report


def test_softmax_with_loss_backward_matches_numerical_gradient_for_one_hot_labels(backend):
    t = on(backend, np.eye(3)[[0, 2, 1, 2, 0, 1]])
    report = check_layer(SoftmaxWithLoss(), on(backend, host(0, 6, 3, scale=3.0)), t=t)
    assert report.worst < TOL, report


# -- Affine ------------------------------------------------------------------------------------


def test_affine_computes_x_w_plus_b(backend, to_np):
    layer = affine(backend, 5, 4)
    x = host(0, 6, 5)
    expected = x @ to_np(layer.W) + to_np(layer.b)
    np.testing.assert_allclose(to_np(layer.forward(on(backend, x))), expected, rtol=1e-12)


def test_affine_gives_dx_back_in_the_input_shape(backend):
    layer = affine(backend, 12, 3)
    out = layer.forward(on(backend, host(0, 4, 3, 2, 2)))
    assert tuple(layer.backward(out).shape) == (4, 3, 2, 2)


def test_affine_without_input_grad_returns_none_and_still_sets_dw_db(backend):
    layer = affine(backend, 5, 4)
    layer.input_grad = False
    out = layer.forward(on(backend, host(0, 6, 5)))
    assert layer.backward(out) is None
    assert tuple(layer.dW.shape) == (5, 4)
    assert tuple(layer.db.shape) == (4,)


def test_params_and_grads_are_exposed_by_name_as_the_layers_own_arrays(backend):
    layer = affine(backend, 5, 4)
    layer.backward(layer.forward(on(backend, host(0, 6, 5))))
    assert layer.params["W"] is layer.W and layer.params["b"] is layer.b
    assert layer.grads["W"] is layer.dW and layer.grads["b"] is layer.db
    bn = batchnorm(backend, 4)
    bn.backward(bn.forward(on(backend, host(0, 6, 4)), train_flg=True))
    assert bn.params["gamma"] is bn.gamma and bn.params["beta"] is bn.beta
    assert bn.grads["gamma"] is bn.dgamma and bn.grads["beta"] is bn.dbeta


@pytest.mark.parametrize("layer_type", [Relu, Sigmoid, Tanh, Dropout, SoftmaxWithLoss])
def test_parameterless_layers_expose_empty_read_only_params(layer_type):
    layer = layer_type()
    assert dict(layer.params) == {} and dict(layer.grads) == {}
    with pytest.raises(TypeError):
        layer.params["W"] = 0


# -- activations ---------------------------------------------------------------------------


def test_relu_backward_leaves_dout_untouched(backend, to_np):
    layer = Relu()
    layer.forward(on(backend, host(0, 6, 5)))
    dout = on(backend, host(1, 6, 5))
    before = to_np(dout).copy()
    layer.backward(dout)
    np.testing.assert_array_equal(to_np(dout), before)


def test_relu_zeroes_negatives_and_passes_nan(backend, to_np):
    x = on(backend, np.array([[-2.0, 0.0, 3.0, np.nan]]))
    np.testing.assert_array_equal(to_np(Relu().forward(x)), [[0.0, 0.0, 3.0, np.nan]])


def test_sigmoid_saturates_without_nan(backend, to_np):
    x = on(backend, np.array([[-30.0, 0.0, 30.0, 700.0]]))
    y = to_np(Sigmoid().forward(x))
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-np.array([[-30.0, 0.0, 30.0, 700.0]]))))


# -- BatchNormalization ----------------------------------------------------------------------


def test_batchnorm_training_normalises_each_feature_of_the_batch(backend, to_np):
    layer = BatchNormalization(on(backend, np.ones(4)), on(backend, np.zeros(4)))
    y = to_np(layer.forward(on(backend, 3.0 + host(0, 50, 4, scale=5.0)), train_flg=True))
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=0), 1.0, rtol=1e-5)


def test_batchnorm_4d_normalises_per_channel_not_per_element(backend, to_np):
    layer = BatchNormalization(on(backend, np.ones(3)), on(backend, np.zeros(3)))
    x = host(0, 8, 3, 4, 5) + np.arange(20.0).reshape(1, 1, 4, 5)  # means differ per pixel
    y = to_np(layer.forward(on(backend, x), train_flg=True))
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1.0, rtol=1e-5)
    assert np.abs(y.mean(axis=0)).max() > 0.5  # per-element normalisation would zero this


def test_batchnorm_running_statistics_move_with_momentum_0_9(backend, to_np):
    layer = BatchNormalization(on(backend, np.ones(4)), on(backend, np.zeros(4)))
    x = host(0, 20, 4) + 2.0
    layer.forward(on(backend, x), train_flg=True)
    np.testing.assert_allclose(to_np(layer.running_mean), 0.1 * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(to_np(layer.running_var), 0.9 + 0.1 * x.var(axis=0), rtol=1e-12)


def test_batchnorm_inference_uses_the_running_statistics(backend, to_np):
    layer = batchnorm(backend, 4)
    mean, var = host(5, 4), 0.5 + np.abs(host(6, 4))
    layer.running_mean[...] = on(backend, mean)
    layer.running_var[...] = on(backend, var)
    x = host(0, 6, 4)
    y = to_np(layer.forward(on(backend, x), train_flg=False))
    gamma, beta = to_np(layer.gamma), to_np(layer.beta)
    np.testing.assert_allclose(y, gamma * (x - mean) / np.sqrt(var + layer.eps) + beta)
    one = to_np(layer.forward(on(backend, x[:1]), train_flg=False))
    np.testing.assert_allclose(one, y[:1])  # a sample's output does not depend on its batch


def test_batchnorm_inference_leaves_the_running_statistics_alone(backend, to_np):
    layer = batchnorm(backend, 4)
    layer.forward(on(backend, host(0, 6, 4)), train_flg=False)
    np.testing.assert_array_equal(to_np(layer.running_mean), np.zeros(4))
    np.testing.assert_array_equal(to_np(layer.running_var), np.ones(4))


def test_batchnorm_rejects_3d_input(backend):
    layer = batchnorm(backend, 4)
    with pytest.raises(ValueError, match=r"2-D \(N, D\) or 4-D \(N, C, H, W\)"):
        layer.forward(on(backend, host(0, 2, 4, 3)), train_flg=True)


def test_batchnorm_rejects_a_feature_count_mismatch(backend):
    with pytest.raises(ValueError, match="4 features, input has 5"):
        batchnorm(backend, 4).forward(on(backend, host(0, 6, 5)), train_flg=True)


# -- Dropout ---------------------------------------------------------------------------------


def test_dropout_is_the_identity_at_inference(backend, to_np):
    layer = Dropout(0.5, backend.rng(0))
    x = on(backend, host(0, 6, 5))
    assert layer.forward(x, train_flg=False) is x
    dout = on(backend, host(1, 6, 5))
    assert layer.backward(dout) is dout


def test_dropout_keeps_the_expected_value_in_training(backend, to_np):
    p = 0.3
    y = to_np(Dropout(p, backend.rng(0)).forward(on(backend, np.ones((200, 500))), True))
    # 100 000 draws: the mean of y has std sqrt(p / (1 - p) / n) ≈ 0.002; allow 5 of those
    assert y.mean() == pytest.approx(1.0, abs=0.011)
    assert (y == 0).mean() == pytest.approx(p, abs=0.008)
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / (1 - p)])


def test_dropout_backward_uses_the_forward_mask(backend, to_np):
    layer = Dropout(0.5, backend.rng(0))
    y = to_np(layer.forward(on(backend, np.ones((6, 5))), True))
    dx = to_np(layer.backward(on(backend, np.ones((6, 5)))))
    np.testing.assert_array_equal(dx, y)


def test_dropout_masks_are_reproducible_from_the_seed(backend, to_np):
    x = on(backend, np.ones((6, 5)))
    a = to_np(Dropout(0.5, backend.rng(3)).forward(x, True))
    b = to_np(Dropout(0.5, backend.rng(3)).forward(x, True))
    np.testing.assert_array_equal(a, b)


def test_dropout_uses_a_fixed_mask_scaled(backend, to_np):
    layer = Dropout(0.5)
    keep = np.array([[True, False, True]])
    layer.fixed_mask = on(backend, keep, "bool")
    y = to_np(layer.forward(on(backend, np.array([[1.0, 2.0, 3.0]])), True))
    np.testing.assert_array_equal(y, [[2.0, 0.0, 6.0]])


def test_dropout_fixed_mask_of_the_wrong_shape_is_rejected(backend):
    layer = Dropout(0.5)
    layer.fixed_mask = on(backend, np.ones((2, 3), dtype=bool), "bool")
    with pytest.raises(ValueError, match="fixed_mask has shape"):
        layer.forward(on(backend, np.ones((3, 3))), True)


def test_dropout_without_a_generator_draws_on_the_inputs_device(backend, assert_on_device):
    y = Dropout(0.5).forward(on(backend, np.ones((6, 5))), True)
    assert_on_device(y)


@pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5])
def test_dropout_ratio_outside_unit_interval_is_rejected(ratio):
    with pytest.raises(ValueError, match=r"dropout_ratio must be in \[0, 1\)"):
        Dropout(ratio)


# -- SoftmaxWithLoss -------------------------------------------------------------------------


def reference_loss(x, labels):
    z = x - x.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(labels)), labels].mean()


def test_softmax_with_loss_is_the_mean_cross_entropy(backend, to_np):
    x, labels = host(0, 6, 3, scale=3.0), np.array([0, 2, 1, 2, 0, 1])
    loss = SoftmaxWithLoss().forward(on(backend, x), on(backend, labels, "int64"))
    assert tuple(loss.shape) == ()
    assert float(loss) == pytest.approx(reference_loss(x, labels), rel=1e-12)


def test_softmax_with_loss_is_stable_for_huge_scores(backend):
    x = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4]])
    loss = SoftmaxWithLoss().forward(on(backend, x), on(backend, np.array([1, 2]), "int64"))
    assert float(loss) == pytest.approx((1e4 + np.log(2)) / 2, rel=1e-12)


def test_one_hot_and_integer_labels_give_the_same_loss_and_gradient(backend, to_np):
    x, labels = on(backend, host(0, 6, 3)), np.array([0, 2, 1, 2, 0, 1])
    a, b = SoftmaxWithLoss(), SoftmaxWithLoss()
    loss_a = float(a.forward(x, on(backend, labels, "int64")))
    loss_b = float(b.forward(x, on(backend, np.eye(3)[labels])))
    assert loss_a == pytest.approx(loss_b, rel=1e-14)
    np.testing.assert_allclose(to_np(a.backward()), to_np(b.backward()), rtol=1e-14)


def test_integer_labels_as_a_column_are_class_indices(backend, to_np):
    # the book's ch07 gradient check passes T = np.array([1]).reshape((1, 1)): a book quirk,
    # served by the book's layer (xpnn.book.common.layers)
    from xpnn.book.common.layers import SoftmaxWithLoss as BookSoftmaxWithLoss

    x, labels = on(backend, host(0, 6, 3)), np.array([0, 2, 1, 2, 0, 1])
    a, b = SoftmaxWithLoss(), BookSoftmaxWithLoss()
    loss_a = float(a.forward(x, on(backend, labels, "int64")))
    loss_b = float(b.forward(x, on(backend, labels[:, None], "int64")))
    assert loss_a == loss_b
    np.testing.assert_array_equal(to_np(a.backward()), to_np(b.backward()))


@pytest.mark.parametrize("shape", [(6, 1), (6, 4)])
def test_two_dimensional_targets_of_another_width_are_refused(backend, shape):
    # a float (N, 1) column would broadcast against (N, K) scores into a wrong loss
    t = on(backend, np.zeros(shape))
    with pytest.raises(ValueError, match=r"t has shape \(6, \d\).*one-hot \(N, 3\)"):
        SoftmaxWithLoss().forward(on(backend, host(0, 6, 3)), t)


def test_softmax_gradient_is_softmax_minus_target_over_n(backend, to_np):
    x, labels = host(0, 4, 3), np.array([0, 2, 1, 1])
    layer = SoftmaxWithLoss()
    layer.forward(on(backend, x), on(backend, labels, "int64"))
    y = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(to_np(layer.backward(1.0)), (y - np.eye(3)[labels]) / 4)


# -- dtype and device ------------------------------------------------------------------------


def layer_cases(backend, dtype):
    return [
        ("Affine", affine(backend, 5, 4, dtype), 5),
        ("Relu", Relu(), 5),
        ("Sigmoid", Sigmoid(), 5),
        ("Tanh", Tanh(), 5),
        ("BatchNormalization", batchnorm(backend, 5, dtype), 5),
        ("Dropout", Dropout(0.5, backend.rng(0)), 5),
    ]


@pytest.mark.parametrize("train_flg", [True, False])
def test_every_layer_keeps_the_dtype_and_device_forward_and_backward(
    backend, dtype, assert_on_device, train_flg
):
    x = on(backend, host(0, 6, 5), dtype)
    for name, layer, _ in layer_cases(backend, dtype):
        out = layer.forward(x, train_flg=train_flg)
        dx = layer.backward(out)
        for array in (out, dx, *layer.grads.values()):
            assert_on_device(array)
            assert array.dtype == dtype, (name, array.dtype)
    if train_flg:
        bn = layer_cases(backend, dtype)[4][1]
        bn.forward(x, train_flg=True)
        assert bn.running_mean.dtype == dtype and bn.running_var.dtype == dtype


def test_softmax_with_loss_keeps_the_dtype_and_device(backend, dtype, assert_on_device):
    layer = SoftmaxWithLoss()
    loss = layer.forward(on(backend, host(0, 6, 3), dtype), on(backend, np.arange(6) % 3, "int64"))
    dx = layer.backward(1.0)
    for array in (loss, dx):
        assert_on_device(array)
        assert array.dtype == dtype
