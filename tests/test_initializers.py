"""Initializers: each distribution's scale, dtype and device, and the book's name lookup."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xpnn.initializers import (
    INITIALIZERS,
    fans,
    glorot_normal,
    glorot_uniform,
    he_normal,
    he_uniform,
    init_weight,
    normal,
    resolve_init,
    xavier_normal,
    xavier_uniform,
    zeros,
)

FAN_IN, FAN_OUT = 400, 300  # 120 000 draws: sample std within ~0.3 % of the true one

NORMAL_STDS = {
    he_normal: math.sqrt(2 / FAN_IN),
    xavier_normal: math.sqrt(1 / FAN_IN),
    glorot_normal: math.sqrt(2 / (FAN_IN + FAN_OUT)),
}
UNIFORM_LIMITS = {
    he_uniform: math.sqrt(6 / FAN_IN),
    xavier_uniform: math.sqrt(3 / FAN_IN),
    glorot_uniform: math.sqrt(6 / (FAN_IN + FAN_OUT)),
}
ALL = [normal, *NORMAL_STDS, *UNIFORM_LIMITS, zeros]


@pytest.mark.parametrize("init", NORMAL_STDS, ids=lambda f: f.__name__)
def test_normal_initializers_have_their_documented_std(init, backend, to_np):
    w = to_np(init(FAN_IN, FAN_OUT, backend.rng(0), "float64"))
    assert abs(w.mean()) < 0.01 * NORMAL_STDS[init]
    assert w.std() == pytest.approx(NORMAL_STDS[init], rel=0.01)


@pytest.mark.parametrize("init", UNIFORM_LIMITS, ids=lambda f: f.__name__)
def test_uniform_initializers_stay_within_their_limit_with_its_variance(init, backend, to_np):
    limit = UNIFORM_LIMITS[init]
    w = to_np(init(FAN_IN, FAN_OUT, backend.rng(0), "float64"))
    assert np.abs(w).max() <= limit
    assert w.std() == pytest.approx(limit / math.sqrt(3), rel=0.01)


def test_book_xavier_variance_is_one_over_fan_in_in_both_shapes(backend, to_np):
    # The book's "Xavier" is std sqrt(1/n_in), normal or uniform; Glorot averages the fans.
    std_normal = to_np(xavier_normal(FAN_IN, FAN_OUT, backend.rng(1), "float64")).std()
    std_uniform = to_np(xavier_uniform(FAN_IN, FAN_OUT, backend.rng(1), "float64")).std()
    assert std_normal == pytest.approx(math.sqrt(1 / FAN_IN), rel=0.01)
    assert std_uniform == pytest.approx(math.sqrt(1 / FAN_IN), rel=0.01)


def test_normal_uses_the_given_std(backend, to_np):
    w = to_np(normal(FAN_IN, FAN_OUT, backend.rng(0), "float64", std=0.01))
    assert w.std() == pytest.approx(0.01, rel=0.01)


def test_zeros_is_all_zeros(backend, to_np):
    w = to_np(zeros(3, 4, backend.rng(0), "float64"))
    assert w.shape == (3, 4)
    assert not w.any()


@pytest.mark.parametrize("init", ALL, ids=lambda f: f.__name__)
def test_initializers_give_the_requested_dtype_and_shape_on_the_device(
    init, backend, dtype, assert_on_device
):
    w = init(5, 3, backend.rng(0), dtype)
    assert_on_device(w)
    assert w.dtype == dtype
    assert tuple(w.shape) == (5, 3)


@pytest.mark.parametrize("init", ALL, ids=lambda f: f.__name__)
def test_float32_is_kept_when_asked_by_name(init, backend, to_np):
    assert to_np(init(5, 3, backend.rng(0), "float32")).dtype == np.float32


def test_same_seed_gives_the_same_weights(backend, to_np):
    a = to_np(he_normal(6, 4, backend.rng(7), "float32"))
    b = to_np(he_normal(6, 4, backend.rng(7), "float32"))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fans", [(0, 3), (3, -1), (2.5, 3), (True, 3)])
def test_non_positive_or_non_integer_fans_are_rejected(fans, backend):
    with pytest.raises(ValueError, match="must be a positive integer"):
        he_normal(*fans, backend.rng(0))


# -- resolve_init: the book's weight_init_std ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("relu", he_normal),
        ("he", he_normal),
        ("ReLU", he_normal),
        (" He ", he_normal),
        ("sigmoid", xavier_normal),
        ("xavier", xavier_normal),
        ("XAVIER", xavier_normal),
    ],
)
def test_book_names_resolve_case_insensitively(name, expected):
    assert resolve_init(name) is expected


@pytest.mark.parametrize("name", list(INITIALIZERS))
def test_explicit_names_resolve_to_themselves(name):
    assert resolve_init(name) is INITIALIZERS[name]


def test_explicit_names_accept_hyphens():
    assert resolve_init("Glorot-Uniform") is glorot_uniform


def test_a_float_means_a_normal_with_that_std(backend, to_np):
    w = to_np(resolve_init(0.05)(FAN_IN, FAN_OUT, backend.rng(0), "float64"))
    assert w.std() == pytest.approx(0.05, rel=0.01)


def test_a_callable_is_passed_through():
    assert resolve_init(glorot_normal) is glorot_normal


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown weight_init_std 'kaiming'") as info:
        resolve_init("kaiming")
    for name in ("'relu'", "'he'", "'sigmoid'", "'xavier'", "'glorot_normal'", "'he_uniform'"):
        assert name in str(info.value)


@pytest.mark.parametrize("std", [-0.01, float("nan"), float("inf")])
def test_negative_or_non_finite_std_is_rejected(std):
    with pytest.raises(ValueError, match="finite, non-negative std"):
        resolve_init(std)


@pytest.mark.parametrize("value", [True, None, [0.01]])
def test_non_numbers_are_rejected_with_a_type_error(value):
    with pytest.raises(TypeError, match="weight_init_std must be a float"):
        resolve_init(value)


# -- weights of any shape: init_weight and fans ------------------------------------------

CONV = (64, 16, 5, 5)  # (FN, C, FH, FW): fan_in = 16·25 = 400, fan_out = 64·25 = 1600
CONV_IN, CONV_OUT = 400, 1600
CONV_STDS = {
    "he": math.sqrt(2 / CONV_IN),
    "xavier": math.sqrt(1 / CONV_IN),
    "glorot_normal": math.sqrt(2 / (CONV_IN + CONV_OUT)),
    "he_uniform": math.sqrt(2 / CONV_IN),
    "glorot_uniform": math.sqrt(2 / (CONV_IN + CONV_OUT)),
    0.01: 0.01,
}


def test_fans_of_an_affine_weight_are_its_two_sizes():
    assert fans((784, 100)) == (784, 100)


def test_fans_of_a_convolution_weight_count_the_receptive_field():
    assert fans((30, 1, 5, 5)) == (25, 750)
    assert fans(CONV) == (CONV_IN, CONV_OUT)


@pytest.mark.parametrize("shape", [(5,), (), (0, 3, 3, 3), (3, 2.0), "ab"])
def test_fans_rejects_what_is_not_a_weight_shape(shape):
    with pytest.raises(ValueError, match="shape"):
        fans(shape)


@pytest.mark.parametrize("spec", CONV_STDS, ids=str)
def test_init_weight_draws_a_conv_weight_with_the_std_of_its_fans(spec, backend, to_np):
    w = to_np(init_weight(spec, CONV, backend.rng(0), "float64"))
    assert w.shape == CONV
    assert abs(w.mean()) < 0.02 * CONV_STDS[spec]
    assert w.std() == pytest.approx(CONV_STDS[spec], rel=0.02)


def test_init_weight_of_a_matrix_is_the_initializer_called_as_before(backend, to_np):
    a = to_np(init_weight("he", (6, 4), backend.rng(7), "float32"))
    b = to_np(he_normal(6, 4, backend.rng(7), "float32"))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("init", ALL, ids=lambda f: f.__name__)
def test_init_weight_gives_the_requested_dtype_and_shape_on_the_device(
    init, backend, dtype, assert_on_device
):
    w = init_weight(init, (4, 3, 2, 2), backend.rng(0), dtype)
    assert_on_device(w)
    assert w.dtype == dtype
    assert tuple(w.shape) == (4, 3, 2, 2)


def test_initializers_reject_a_bad_shape(backend):
    with pytest.raises(ValueError, match="shape must be a tuple of positive integers"):
        he_normal(4, 3, backend.rng(0), shape=(4, 0, 3))
