"""Bad input is refused at the boundary with an error that names the problem."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import xpnn
from xpnn.mlp import MultiLayerNet

IN, OUT, N = 784, 10, 4


def net(backend=None, **kwargs):
    return MultiLayerNet(IN, [8], OUT, backend=backend, seed=0, **kwargs)


def images(n=N, dtype=np.float32):
    return np.random.default_rng(0).random((n, IN)).astype(dtype)


LABELS = np.array([3, 0, 9, 1])


# -- inputs ------------------------------------------------------------------------------------


def test_wrong_feature_size_says_expected_and_got(backend):
    with pytest.raises(ValueError, match=r"783 values per sample.*expects input_size=784"):
        net(backend).predict(np.zeros((N, 783), dtype=np.float32))


def test_image_shaped_input_with_the_right_size_is_accepted(backend):
    scores = net(backend).predict(np.zeros((N, 1, 28, 28), dtype=np.float32))
    assert tuple(scores.shape) == (N, OUT)


def test_a_single_unbatched_sample_is_refused_with_a_hint(backend):
    with pytest.raises(ValueError, match=r"batch of shape \(N, 784\).*x\[None, :\]"):
        net(backend).predict(np.zeros(IN, dtype=np.float32))


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.bool_])
def test_integer_images_are_refused_with_how_to_normalise(backend, dtype):
    with pytest.raises(TypeError, match=r"normalise images to float first.*/ 255"):
        net(backend).loss(np.zeros((N, IN), dtype=dtype), LABELS)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_infinity_in_host_input_is_refused(backend, bad):
    x = images()
    x[2, 100] = bad
    with pytest.raises(ValueError, match=r"x contains (NaN|infinity)"):
        net(backend).gradient(x, LABELS)


def test_host_float64_input_is_converted_to_the_networks_float32(backend, assert_on_device):
    scores = net(backend).predict(images(dtype=np.float64))
    assert_on_device(scores)
    assert scores.dtype == backend.dtype("float32")


HAS_TORCH = importlib.util.find_spec("torch") is not None
DEVICE_BACKENDS = [  # where a backend array is not host NumPy input
    pytest.param(("array_api_strict", None), id="strict"),
    pytest.param(("array_api_strict", "device1"), id="strict-device1"),
    pytest.param(
        ("torch", None), id="torch", marks=pytest.mark.skipif(not HAS_TORCH, reason="torch")
    ),
]


@pytest.mark.parametrize("name_device", DEVICE_BACKENDS)
def test_device_input_of_another_float_dtype_is_refused(name_device):
    backend = xpnn.get_backend(*name_device)
    x = backend.asarray(images(), dtype="float64")
    with pytest.raises(TypeError, match=r"x has dtype float64 but the network is float32"):
        net(backend).predict(x)


def test_a_list_is_refused(backend):
    with pytest.raises(TypeError, match="must be a NumPy array or an array of the network"):
        net(backend).predict([[0.0] * IN])


@pytest.mark.skipif(not HAS_TORCH, reason="needs torch")
def test_an_array_of_another_library_is_refused():
    import torch

    with pytest.raises(TypeError, match="x is a torch array but the network computes with numpy"):
        net("numpy").predict(torch.zeros((N, IN)))


def test_an_array_on_another_device_is_refused():
    model = net(xpnn.get_backend("array_api_strict", "device1"))
    x = xpnn.get_backend("array_api_strict").asarray(images())
    with pytest.raises(ValueError, match=r"x is on device .*CPU_DEVICE.*device1"):
        model.predict(x)


def test_an_empty_batch_is_refused_by_loss(backend):
    with pytest.raises(ValueError, match="empty batch"):
        net(backend).loss(np.zeros((0, IN), dtype=np.float32), np.zeros(0, dtype=np.int64))


# -- labels ------------------------------------------------------------------------------------


@pytest.mark.parametrize("labels", [np.array([3, 0, 10, 1]), np.array([3, -1, 9, 1])])
def test_labels_out_of_range_are_refused(backend, labels):
    with pytest.raises(ValueError, match=r"t has labels in \[-?\d+, \d+\], outside \[0, 9\]"):
        net(backend).loss(images(), labels)


def test_a_label_count_that_differs_from_the_batch_is_refused(backend):
    with pytest.raises(ValueError, match="t has 3 labels for 4 samples"):
        net(backend).accuracy(images(), LABELS[:3])


def test_one_hot_labels_of_the_wrong_width_are_refused(backend):
    with pytest.raises(ValueError, match=r"one-hot labels for this batch have shape \(4, 10\)"):
        net(backend).loss(images(), np.eye(9)[[3, 0, 8, 1]])


def test_labels_of_three_dimensions_are_refused(backend):
    with pytest.raises(ValueError, match=r"labels are integers \(N,\) or one-hot"):
        net(backend).loss(images(), np.zeros((N, OUT, 1)))


def test_float_class_indices_are_refused(backend):
    with pytest.raises(TypeError, match="labels are integer class indices"):
        net(backend).loss(images(), LABELS.astype(np.float32))


def test_uint8_labels_are_accepted(backend):
    assert np.isfinite(float(net(backend).loss(images(), LABELS.astype(np.uint8))))


# -- constructor -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hidden", "error", "message"),
    [
        ([], ValueError, "hidden_size_list is empty"),
        ([100, 0], ValueError, r"hidden_size_list\[1\] must be a positive integer, got 0"),
        ([100, -5], ValueError, r"hidden_size_list\[1\] must be a positive integer"),
        ([100, 2.5], TypeError, r"hidden_size_list\[1\] must be a positive integer"),
        (100, TypeError, "hidden_size_list must be a list of layer sizes"),
    ],
)
def test_bad_hidden_size_list_is_refused(hidden, error, message):
    with pytest.raises(error, match=message):
        MultiLayerNet(IN, hidden, OUT)


@pytest.mark.parametrize("ratio", [1.0, -0.1, 2])
def test_dropout_ratio_outside_zero_one_is_refused(ratio):
    with pytest.raises(ValueError, match=r"dropout_ratio .* must be in \[0, 1\)"):
        MultiLayerNet(IN, [8], OUT, use_dropout=True, dropout_ratio=ratio)


def test_dropout_ratio_and_its_misspelling_together_are_refused():
    # the book's spelling is the book's network's (xpnn.book), not MultiLayerNet's
    from xpnn.book.common.multi_layer_net_extend import MultiLayerNetExtend

    with pytest.raises(TypeError, match="not both"):
        MultiLayerNetExtend(IN, [8], OUT, dropout_ratio=0.2, dropout_ration=0.3)


def test_unknown_activation_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown activation 'relux'; use one of: relu, sigmoid"):
        MultiLayerNet(IN, [8], OUT, activation="relux")


def test_activation_names_are_case_insensitive():
    assert MultiLayerNet(IN, [8], OUT, activation=" Sigmoid ").activation == "sigmoid"


def test_unknown_init_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown weight_init_std 'kaiming'.*'relu', 'he'"):
        MultiLayerNet(IN, [8], OUT, weight_init_std="kaiming")


@pytest.mark.parametrize("dtype", ["float16", "int32", "complex64"])
def test_unknown_or_non_float_dtype_is_refused(dtype):
    with pytest.raises(ValueError, match="dtype"):
        MultiLayerNet(IN, [8], OUT, dtype=dtype)


@pytest.mark.parametrize("lam", [-0.1, float("nan")])
def test_negative_or_nan_weight_decay_is_refused(lam):
    with pytest.raises(ValueError, match="weight_decay_lambda must be finite and ≥ 0"):
        MultiLayerNet(IN, [8], OUT, weight_decay_lambda=lam)


@pytest.mark.parametrize("size", [0, True, "784"])
def test_bad_input_size_is_refused(size):
    with pytest.raises((ValueError, TypeError), match="input_size must be a positive integer"):
        MultiLayerNet(size, [8], OUT)


def test_unknown_backend_is_refused():
    with pytest.raises(xpnn.BackendError, match="unknown xpnn backend 'tensorflow'"):
        MultiLayerNet(IN, [8], OUT, backend="tensorflow")
