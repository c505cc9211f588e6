"""``common.functions``, ``common.gradient`` and ``common.util`` as the book defines them,
on every backend (imported by their real names, ``xpnn.book.common.*``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xpnn.book.common import functions as F
from xpnn.book.common import util
from xpnn.book.common.gradient import numerical_gradient, numerical_gradient_2d

Y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]  # the book's example (4.2)
T = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]


# -- functions -----------------------------------------------------------------------------
def test_the_books_loss_examples_give_the_books_numbers():
    assert F.sum_squared_error(np.array(Y), np.array(T)) == pytest.approx(0.0975, abs=1e-15)
    assert F.cross_entropy_error(np.array(Y), np.array(T)) == pytest.approx(
        -math.log(0.6 + 1e-7), abs=1e-15
    )


def test_cross_entropy_takes_integer_or_one_hot_labels_of_one_sample_or_a_batch(backend, dtype):
    y = backend.asarray(np.array([Y, Y[::-1]]), dtype=dtype)
    expected = -(math.log(0.6 + 1e-7) + math.log(0.1 + 1e-7)) / 2
    for t in (np.array([2, 2]), np.eye(10)[[2, 2]], backend.asarray(np.array([2, 2]))):
        assert float(F.cross_entropy_error(y, t)) == pytest.approx(expected, rel=1e-6)
    one = backend.asarray(np.array(Y), dtype=dtype)
    assert float(F.cross_entropy_error(one, 2)) == pytest.approx(-math.log(0.6 + 1e-7), rel=1e-6)


def test_softmax_rows_sum_to_one_without_overflow_on_any_backend(backend, dtype, assert_on_device):
    x = backend.asarray(np.array([[1010.0, 1000.0, 990.0], [0.3, 2.9, 4.0]]), dtype=dtype)
    y = F.softmax(x)
    assert_on_device(y)
    host = backend.to_numpy(y)
    np.testing.assert_allclose(host.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(host[1], [0.01821127, 0.24519181, 0.73659691], rtol=1e-5)
    np.testing.assert_allclose(backend.to_numpy(F.softmax(x[1, :])), host[1], rtol=1e-6)


def test_softmax_loss_is_the_cross_entropy_of_the_softmax(backend, dtype):
    x = backend.asarray(np.array([[1.0, 2.0, 3.0], [3.0, 0.0, -1.0]]), dtype=dtype)
    t = np.array([2, 0])
    p = np.exp([[1.0, 2.0, 3.0], [3.0, 0.0, -1.0]])
    p /= p.sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(p[[0, 1], t] + 1e-7))
    assert float(F.softmax_loss(x, t)) == pytest.approx(expected, rel=1e-6)


def test_activations_on_any_backend_keep_its_device_and_the_books_dtypes(
    backend, dtype, assert_on_device
):
    x = backend.asarray(np.array([-2.0, 0.0, 3.0]), dtype=dtype)
    for f in (F.step_function, F.sigmoid, F.sigmoid_grad, F.relu, F.relu_grad):
        assert_on_device(f(x))
    xp = backend.xp
    assert F.step_function(x).dtype == xp.int64  # the book's dtype=int
    assert backend.to_numpy(F.step_function(x)).tolist() == [0, 0, 1]
    assert backend.to_numpy(F.relu(x)).tolist() == [0.0, 0.0, 3.0]
    assert backend.to_numpy(F.relu_grad(x)).tolist() == [0.0, 1.0, 1.0]  # 1 where x >= 0
    np.testing.assert_allclose(
        backend.to_numpy(F.sigmoid(x)), 1 / (1 + np.exp([2.0, 0.0, -3.0])), rtol=1e-6
    )
    assert F.identity_function(x) is x


def test_lists_and_numbers_are_read_as_numpy_arrays():
    assert F.softmax([0.3, 2.9, 4.0]).sum() == pytest.approx(1.0)
    assert F.relu([-1, 2]).tolist() == [0, 2]  # integers stay integers
    assert float(F.sigmoid_grad(0.0)) == 0.25
    assert F.sum_squared_error(Y, T) == pytest.approx(0.0975)


# -- numerical gradient --------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 1, 2)], ids=["0-d", "1-d", "2-d", "3-d"])
def test_numerical_gradient_of_any_shape_matches_the_derivative_and_restores_x(
    shape, backend, dtype, assert_on_device
):
    host = np.random.default_rng(0).uniform(-1, 1, shape)
    x = backend.asarray(host, dtype=dtype)
    before = backend.to_numpy(x).copy()
    xp = backend.xp
    g = numerical_gradient(lambda w: xp.sum(w * w * w), x)  # f(w) = Σ w³, f' = 3w²
    assert_on_device(g)
    assert g.dtype == x.dtype and tuple(g.shape) == shape
    tol = 1e-7 if dtype == xp.float64 else 1e-2  # float32 differences keep ~3 digits
    np.testing.assert_allclose(backend.to_numpy(g), 3 * before**2, atol=tol)
    assert backend.to_numpy(x).tobytes() == before.tobytes()  # restored bit for bit


def test_numerical_gradient_calls_f_with_the_array_itself():
    x = np.array([1.0, 2.0])
    seen = []
    numerical_gradient(lambda w: seen.append(w) or 0.0, x)
    assert all(w is x for w in seen) and len(seen) == 4


@pytest.mark.parametrize("x", [[1.0, 2.0], np.array([1, 2])], ids=["list", "int"])
def test_numerical_gradient_needs_a_floating_array(x):
    with pytest.raises(TypeError, match="numerical_gradient"):
        numerical_gradient(lambda w: 0.0, x)


def test_numerical_gradient_2d_gives_the_gradient_at_each_row(backend, dtype):
    xp = backend.xp
    points = backend.asarray(np.array([[3.0, 4.0], [0.0, -2.0], [1.5, 0.5]]), dtype=dtype)
    before = backend.to_numpy(points).copy()
    g = numerical_gradient_2d(lambda p: xp.sum(p * p), points)
    np.testing.assert_allclose(backend.to_numpy(g), 2 * before, atol=1e-2)
    assert np.array_equal(backend.to_numpy(points), before)
    np.testing.assert_allclose(
        backend.to_numpy(numerical_gradient_2d(lambda p: xp.sum(p * p), points[0, :])),
        [6.0, 8.0],
        atol=1e-2,
    )


# -- util ----------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 2, 5, 10, 11, 12, 100])
def test_smooth_curve_keeps_the_length_and_a_constant_curve(n):
    out = util.smooth_curve([2.5] * n)
    assert out.shape == (n,)
    np.testing.assert_allclose(out, 2.5)


def test_smooth_curve_is_a_kaiser_weighted_average_of_eleven_points_with_reflected_ends():
    x = np.random.default_rng(1).random(40)
    w = np.kaiser(11, 2.0)
    w /= w.sum()
    out = util.smooth_curve(list(x))
    assert out[20] == pytest.approx(w @ x[15:26])
    head = np.concatenate([x[5:0:-1], x[:6]])  # mirrored about the first point
    assert out[0] == pytest.approx(w @ head)
    tail = np.concatenate([x[-6:], x[-1:-6:-1]])  # continued by the last points reversed
    assert out[-1] == pytest.approx(w @ tail)


def test_smooth_curve_takes_a_vector_of_any_backend(backend, dtype):
    x = np.linspace(0, 1, 30)
    np.testing.assert_allclose(
        util.smooth_curve(backend.asarray(x, dtype=dtype)), util.smooth_curve(x), rtol=1e-6
    )


@pytest.mark.parametrize("x_shape", [(12, 3), (12, 1, 2, 2)], ids=["2-d", "4-d"])
def test_shuffle_dataset_reorders_samples_and_labels_together_on_their_device(
    x_shape, backend, dtype, assert_on_device
):
    n = x_shape[0]
    host_x = np.arange(math.prod(x_shape), dtype=np.float64).reshape(x_shape)
    host_t = np.arange(n)
    x, t = backend.asarray(host_x, dtype=dtype), backend.asarray(host_t)
    np.random.seed(3)  # noqa: NPY002 (the book's global generator is what is tested)
    xs, ts = util.shuffle_dataset(x, t)
    assert_on_device(xs)
    assert_on_device(ts)
    order = backend.to_numpy(ts)
    assert sorted(order.tolist()) == list(range(n)) and order.tolist() != list(range(n))
    np.testing.assert_array_equal(backend.to_numpy(xs), host_x[order])
    np.random.seed(3)  # noqa: NPY002 (the book's global generator is what is tested)
    assert np.array_equal(backend.to_numpy(util.shuffle_dataset(x, t)[1]), order)


def test_shuffle_dataset_refuses_different_numbers_of_samples():
    with pytest.raises(ValueError, match="x has 3 samples but t has 2"):
        util.shuffle_dataset(np.zeros((3, 2)), np.zeros(2))


def test_conv_output_size_is_the_books_float_formula():
    assert util.conv_output_size(28, 5) == 24.0
    assert util.conv_output_size(28, 5, stride=2, pad=2) == 14.5
