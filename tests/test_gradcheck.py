"""The gradient checker itself: exact on polynomials, restores parameters, catches bugs."""

from __future__ import annotations

import numpy as np
import pytest

from xpnn.gradcheck import (
    GradCheckReport,
    check_gradients,
    check_layer,
    numerical_gradient,
    relative_error,
)
from xpnn.layers import Relu


def cubic(xp):
    """f(p) = Σ a·w³ + Σ b, whose gradient is 3a·w² and 1."""

    def f(p):
        return xp.sum(2.0 * p["w"] ** 3) + xp.sum(p["b"])

    return f


def params(backend, dtype="float64"):
    rng = np.random.default_rng(0)
    return {
        "w": backend.asarray(rng.normal(size=(3, 4)), dtype=dtype),
        "b": backend.asarray(rng.normal(size=(2,)), dtype=dtype),
    }


@pytest.mark.parametrize("order", [2, 4])
def test_numerical_gradient_of_a_cubic_is_accurate(backend, to_np, order):
    p = params(backend)
    grads = numerical_gradient(cubic(backend.xp), p, order=order)
    w = to_np(p["w"])
    # order 2 is exact up to h²·f'''/6 = 2e-8 · |a|; order 4 is exact on a cubic
    tol = 1e-7 if order == 2 else 1e-9
    np.testing.assert_allclose(to_np(grads["w"]), 6.0 * w**2, rtol=tol, atol=tol)
    np.testing.assert_allclose(to_np(grads["b"]), np.ones(2), rtol=tol)


def test_numerical_gradient_is_shaped_typed_and_placed_like_the_params(
    backend, dtype, assert_on_device
):
    p = params(backend, dtype)
    grads = numerical_gradient(cubic(backend.xp), p)
    for key in p:
        assert_on_device(grads[key])
        assert grads[key].dtype == dtype
        assert tuple(grads[key].shape) == tuple(p[key].shape)


def test_numerical_gradient_restores_the_params_bit_for_bit(backend, dtype, to_np):
    p = params(backend, dtype)
    before = {k: to_np(v).copy() for k, v in p.items()}
    numerical_gradient(cubic(backend.xp), p)
    for key in p:
        np.testing.assert_array_equal(to_np(p[key]), before[key])


def test_numerical_gradient_in_float32_uses_the_stored_steps(backend, to_np):
    p = params(backend, "float32")
    grads = numerical_gradient(cubic(backend.xp), p, h=1e-2, order=2)
    w = to_np(p["w"]).astype(np.float64)
    np.testing.assert_allclose(to_np(grads["w"]), 6.0 * w**2, rtol=2e-3, atol=2e-3)


def test_numerical_gradient_rejects_an_unknown_order(backend):
    with pytest.raises(ValueError, match="order must be 2 or 4"):
        numerical_gradient(cubic(backend.xp), params(backend), order=3)


def test_check_gradients_reports_the_worst_error_per_parameter(backend, to_np):
    p = params(backend)
    good = {"w": 6.0 * p["w"] ** 2, "b": backend.asarray(np.ones(2))}
    report = check_gradients(cubic(backend.xp), p, good)
    assert isinstance(report, GradCheckReport)
    assert set(report) == {"w", "b"}
    assert report.worst < 1e-9


def test_check_gradients_catches_a_wrong_gradient_and_says_where(backend):
    p = params(backend)
    wrong_host = 6.0 * backend.to_numpy(p["w"]) ** 2
    wrong_host[1, 2] *= 1.01
    wrong = {"w": backend.asarray(wrong_host), "b": backend.asarray(np.ones(2))}
    report = check_gradients(cubic(backend.xp), p, wrong)
    assert report["w"] == pytest.approx(0.01 / 1.01, rel=1e-4)
    assert report.where["w"] == (1, 2)
    assert report["b"] < 1e-9
    assert "w" in str(report) and "(1, 2)" in str(report)


def test_check_gradients_refuses_gradients_for_unknown_params(backend):
    with pytest.raises(KeyError, match="not in params"):
        check_gradients(cubic(backend.xp), params(backend), {"v": params(backend)["w"]})


def test_relative_error_is_relative_above_the_floor_and_absolute_below():
    assert relative_error(np.array([1.0]), np.array([1.1]))[0] == pytest.approx(0.1 / 1.1)
    assert relative_error(np.array([0.0]), np.array([1e-12]))[0] == pytest.approx(1e-8)
    assert relative_error(np.array([0.0]), np.array([1e-12]), floor=1e-12)[0] == 1.0


def test_relative_error_refuses_a_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        relative_error(np.zeros(3), np.zeros(4))


def test_check_layer_catches_a_broken_backward(backend):
    class LeakyBug(Relu):
        def backward(self, dout):  # forgets the mask
            return dout

    x = backend.asarray(np.array([[-1.0, 2.0], [0.5, -0.3]]))
    assert check_layer(Relu(), x).worst < 1e-9
    assert check_layer(LeakyBug(), x)["x"] > 0.5


def test_check_layer_leaves_the_callers_input_alone(backend, to_np):
    host = np.array([[-1.0, 2.0], [0.5, -0.3]])
    x = backend.asarray(host)
    check_layer(Relu(), x)
    np.testing.assert_array_equal(to_np(x), host)
