"""The backward pass's plan: an activation before a max pooling is folded into the pooling's
backward (its derivative taken at the pooled size), with the values of the unfolded pair,
ties and NaN included; what is folded and what is not; and the refusal of a fold whose
activation is not the pooling's input."""

from __future__ import annotations

import numpy as np
import pytest

from xpnn.conv import Convolution, Pooling
from xpnn.layers import Affine, Relu, Sigmoid, Tanh, backward_plan


def host(seed, *shape):
    return np.random.default_rng(seed).normal(size=shape)


@pytest.mark.parametrize("activation", [Relu, Sigmoid, Tanh])
@pytest.mark.parametrize(("shape", "pool"), [((2, 3, 8, 8), (2, 2, 2, 0)),
                                             ((2, 3, 7, 6), (2, 2, 2, 0)),
                                             ((2, 3, 6, 5), (3, 3, 2, 1)),
                                             ((2, 3, 5, 5), (2, 2, 1, 0))])  # fmt: skip
def test_a_folded_activation_gives_the_unfolded_gradient(activation, shape, pool, backend, to_np):
    x = host(0, *shape)
    x[0, 0, :2, :2] = 0.5  # a tied window
    x[1, 1, :2, :2] = -1.0  # a window all below ReLU's kink
    if activation is Relu:  # 0 · f'(NaN) is NaN for the others unfolded, 0 folded
        x[1, 2, 0, 0] = np.nan
    ph, pw, stride, pad = pool
    results = []
    for fold in (False, True):
        act, pooling = activation(), Pooling(ph, pw, stride, pad)
        out = pooling.forward(act.forward(backend.asarray(x, dtype="float64")))
        dout = backend.asarray(host(1, *out.shape), dtype="float64")
        if fold:
            dx = pooling.backward_after(dout, act)
        else:
            dx = act.backward(pooling.backward(dout))
        results.append(to_np(dx))
    if activation is Relu:  # a derivative of 0 or 1: the same array
        np.testing.assert_array_equal(results[0], results[1])
    else:  # overlapping windows: Σ dout · f' for Σ (dout · f'), the same up to rounding
        np.testing.assert_allclose(results[0], results[1], rtol=1e-14, atol=1e-17)


def test_a_fold_whose_activation_did_not_feed_the_pooling_is_refused(backend):
    act, pooling = Relu(), Pooling(2, 2, 2)
    pooling.forward(backend.asarray(host(0, 1, 1, 4, 4), dtype="float64"))
    act.forward(backend.asarray(host(1, 1, 1, 4, 4), dtype="float64"))
    dout = backend.asarray(host(2, 1, 1, 2, 2), dtype="float64")
    with pytest.raises(ValueError, match=r"activation's output is not this layer's last input"):
        pooling.backward_after(dout, act)
    with pytest.raises(ValueError, match=r"activation's output is not this layer's last input"):
        pooling.backward_after(dout, Relu())  # never run forward


def test_the_plan_folds_each_relu_that_precedes_a_pooling_and_nothing_else():
    w = np.ones((1, 1, 3, 3))
    conv, relu1, pool1 = Convolution(w, np.zeros(1), pad=1), Relu(), Pooling(2, 2, 2)
    affine, relu2, pool2 = Affine(np.ones((4, 4)), np.zeros(4)), Relu(), Pooling(2, 2, 2)
    sigmoid = Sigmoid()
    layers = [conv, relu1, pool1, affine, relu2, relu2, pool2, sigmoid, pool1]
    plan = backward_plan(layers)
    assert plan == [(pool1, None), (sigmoid, None), (pool2, relu2), (relu2, None),
                    (affine, None), (pool1, relu1), (conv, None)]  # fmt: skip
    assert backward_plan([relu1]) == [(relu1, None)]
    assert backward_plan([pool1]) == [(pool1, None)]
    assert backward_plan([]) == []
