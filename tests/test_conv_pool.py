"""The first convolution, its ReLU and a side-by-side max pooling as one block
(xpnn.conv_pool): the kernel's values are the three layers' up to rounding (ties, NaN,
odd sizes, strides, padding, several channels) on every backend, NumPy's kernel gives the
portable reference's bits, it runs only where it applies and the layers run otherwise, to
the bit; a network plans the block and its gradients stay correct."""

from __future__ import annotations

import numpy as np
import pytest

import xpnn
from xpnn.backends.numpy_conv_pool import PoolOrderedConv as NumpyKernel
from xpnn.conv import Convolution, Pooling
from xpnn.conv_pool import ConvReluPool, blocks
from xpnn.layers import Affine, Relu, Sigmoid
from xpnn.ops.conv_pool import PoolOrderedConv as Reference


def host(seed, *shape):
    return np.random.default_rng(seed).normal(size=shape)


def trio(w, b, stride=1, pad=0, pool=2, pool_stride=None, input_grad=False):
    conv = Convolution(w, b, stride=stride, pad=pad, input_grad=input_grad)
    return conv, Relu(), Pooling(pool, pool, pool if pool_stride is None else pool_stride)


def output_shape(layers, x):
    conv, relu, pool = layers
    return pool.forward(conv.forward_with(x, relu)).shape


def run_layers(layers, x, dout):
    conv, relu, pool = layers
    out = pool.forward(conv.forward_with(x, relu))
    dx = conv.backward(pool.backward_after(dout, relu))
    return out, conv.dW, conv.db, dx


def run_block(layers, x, dout):
    block = ConvReluPool(*layers)
    out = block.forward(x)
    dx = block.backward(dout)
    return out, layers[0].dW, layers[0].db, dx, block.fused


GEOMETRIES = [  # (x shape, W shape, stride, pad, pool)
    ((4, 1, 28, 28), (6, 1, 5, 5), 1, 0, 2),  # SimpleConvNet's
    ((3, 3, 11, 13), (5, 3, 3, 3), 1, 1, 2),  # odd sizes: the last row and column dropped
    ((2, 2, 15, 15), (4, 2, 3, 3), 2, 1, 3),  # a strided convolution, 3x3 pooling
    ((2, 1, 9, 9), (3, 1, 2, 2), 1, 0, 1),  # 1x1 pooling: the ReLU alone
]


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad", "pool"), GEOMETRIES)
def test_the_kernel_gives_the_layers_values(x_shape, w_shape, stride, pad, pool):
    x = host(0, *x_shape)
    x[:, :, : x_shape[2] // 2] = 0.0  # a blank half, as MNIST's borders: every window tied
    x[0, 0, -3:, -3:] = 0.25  # ties that are not zeros
    w, b = host(1, *w_shape), host(2, w_shape[0])
    b[0] = -abs(b[0])  # a filter whose blank windows ReLU zeroes
    dout = host(3, *output_shape(trio(w, b, stride, pad, pool), x))
    out, dW, db, dx = run_layers(trio(w, b, stride, pad, pool), x, dout)
    got = run_block(trio(w, b, stride, pad, pool), x, dout)
    assert got[4], "the kernel did not run"
    np.testing.assert_allclose(got[0], out, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(got[1], dW, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[2], db, rtol=1e-12, atol=1e-12)
    assert dx is None and got[3] is None


def test_ties_go_to_the_first_maximum():
    """Every window of a blank image ties (the output is the bias everywhere): its whole
    gradient goes to element (0, 0) of each window, as the layers route it."""
    x = np.zeros((2, 1, 6, 6))
    w, b = host(1, 2, 1, 3, 3), np.array([0.5, 0.25])
    dout = host(3, 2, 2, 2, 2)
    ref = run_layers(trio(w, b), x, dout)
    got = run_block(trio(w, b), x, dout)
    assert got[4]
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])  # the patches are zeros: dW = 0
    np.testing.assert_allclose(got[2], ref[2], rtol=1e-15)


def test_nan_windows_as_the_layers():
    x = host(0, 2, 1, 8, 8)
    x[1, 0, 2, 3] = np.nan  # four output pixels, hence up to four windows, are NaN
    w, b = host(1, 3, 1, 3, 3), host(2, 3)
    dout = host(3, *output_shape(trio(w, b), x))
    ref_out, ref_dW, ref_db, _ = run_layers(trio(w, b), x, dout)
    out, dW, db, _, fused = run_block(trio(w, b), x, dout)
    assert fused
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref_out))
    assert np.isnan(out).any()
    np.testing.assert_allclose(out, ref_out, rtol=1e-13)  # NaN where NaN
    np.testing.assert_array_equal(np.isnan(dW), np.isnan(ref_dW))
    np.testing.assert_allclose(db, ref_db, rtol=1e-12)


@pytest.mark.parametrize(
    "change",
    ["input_grad", "overlapping windows", "padded pooling", "rows"],
)
def test_where_the_kernel_does_not_apply_the_layers_run_to_the_bit(change):
    x_shape, w_shape, pool_pad = (2, 3, 10, 10), (4, 3, 3, 3), 0
    kwargs = {}
    if change == "input_grad":
        kwargs["input_grad"] = True
    elif change == "overlapping windows":
        kwargs["pool_stride"] = 1
    elif change == "padded pooling":
        pool_pad = 1
    else:  # NumPy runs this one by shifted rows: 8 input channels, stride 1
        x_shape, w_shape = (2, 8, 10, 10), (4, 8, 3, 3)
    x, w, b = host(0, *x_shape), host(1, *w_shape), host(2, w_shape[0])

    def layers():
        conv, relu, pool = trio(w, b, **kwargs)
        if pool_pad:
            pool = Pooling(2, 2, 2, pad=pool_pad)
        return conv, relu, pool

    dout = host(3, *output_shape(layers(), x))
    want = run_layers(layers(), x, dout)
    got = run_block(layers(), x, dout)
    assert not got[4]
    for g, r in zip(got[:4], want, strict=True):
        if r is None:
            assert g is None
        else:
            np.testing.assert_array_equal(g, r)


def test_every_backend_gives_the_layers_values(backend, to_np):
    """NumPy's kernel, and the portable reference on the others (array_api_strict, its
    second device, torch): forward and backward as the layers on NumPy."""
    w, b = host(1, 3, 1, 3, 3), host(2, 3)
    x = host(0, 2, 1, 8, 8)
    x[:, :, :3] = 0.0
    layers = trio(backend.asarray(w), backend.asarray(b))
    block = ConvReluPool(*layers)
    out = block.forward(backend.asarray(x))
    assert block.fused == (backend.conv_pool_kernel() is not None)
    dout = host(3, *out.shape)
    assert block.backward(backend.asarray(dout)) is None
    want = run_layers(trio(w, b), x, dout)
    for got, ref in zip((out, layers[0].dW, layers[0].db), want[:3], strict=True):
        np.testing.assert_allclose(to_np(got), ref, rtol=1e-6, atol=1e-6)


def test_after_a_fused_pass_the_layers_own_backward_raises_and_a_bad_dout_is_named():
    conv, relu, pool = layers = trio(host(1, 3, 1, 3, 3), host(2, 3))
    block = ConvReluPool(*layers)
    out = block.forward(host(0, 2, 1, 8, 8))
    assert block.fused and relu.out is None and pool.out is None
    dout = np.ones(out.shape)
    with pytest.raises(RuntimeError, match=r"Pooling.backward called before forward"):
        pool.backward(dout)
    with pytest.raises(RuntimeError, match=r"Convolution.backward called before forward"):
        conv.backward(np.ones((2, 3, 6, 6)))
    with pytest.raises(ValueError, match=r"ConvReluPool.backward: dout has shape \(2, 3, 2, 2\)"):
        block.backward(np.ones((2, 3, 2, 2)))
    with pytest.raises(ValueError, match=r"the input has 2 channels"):
        block.forward(np.ones((2, 2, 8, 8)))
    with pytest.raises(ValueError, match=r"Pooling: the 2x2 window is larger than the padded"):
        block.forward(np.ones((2, 1, 3, 4)))  # a 1x2 output: no window fits


def test_blocks_takes_the_first_convolution_relu_and_pooling_only():
    w, b = host(1, 3, 1, 3, 3), host(2, 3)
    first = trio(w, b)
    inner = trio(host(3, 3, 3, 3, 3), b, input_grad=True)
    affine = Affine(np.ones((3, 2)), np.zeros(2))
    planned = blocks([*first, *inner, affine])
    assert isinstance(planned[0], ConvReluPool)
    assert (planned[0].conv, planned[0].relu, planned[0].pool) == first
    assert planned[1:] == [*inner, affine]
    other = [first[0], Sigmoid(), first[2]]
    assert blocks(other) == other


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_simple_convnet_plans_the_block_and_its_gradient_is_the_layers(dtype):
    net = xpnn.SimpleConvNet(seed=0, dtype=dtype)
    forward, backward = net._plans.of(net.layers)
    assert isinstance(forward[0][0], ConvReluPool) and forward[0][0] is backward[-1][0]
    rng = np.random.default_rng(0)
    x = rng.random((5, 1, 28, 28)).astype(dtype)
    x[:, :, :6] = 0.0  # blank rows, as in MNIST
    t = rng.integers(0, 10, 5)
    loss, grads = net.loss_and_gradient(x, t)
    assert forward[0][0].fused
    got = {k: np.array(v) for k, v in grads.items()}
    # the same network, its layers run one by one as the book's code does
    manual = xpnn.SimpleConvNet(seed=0, dtype=dtype)
    y = x
    for layer in manual.layers.values():
        y = layer.forward(y, True)
    ref_loss = manual.last_layer.forward(y, t)
    d = manual.last_layer.backward(1.0)
    for layer in reversed(list(manual.layers.values())):
        d = layer.backward(d)
    tol = 1e-4 if dtype == "float32" else 1e-11
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=tol)
    ref = {"W1": manual.layers["Conv1"].dW, "b1": manual.layers["Conv1"].db}
    for key, value in ref.items():
        np.testing.assert_allclose(got[key], value, rtol=tol, atol=tol * np.abs(value).max())
    np.testing.assert_allclose(got["W2"], manual.layers["Affine1"].dW, rtol=tol, atol=1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad", "pool"), GEOMETRIES)
def test_numpys_kernel_gives_the_references_bits(x_shape, w_shape, stride, pad, pool, dtype):
    x = host(0, *x_shape).astype(dtype)
    x[:, :, : x_shape[2] // 2] = 0.0
    x[1, 0, x_shape[2] // 2 + 1, 1] = np.nan  # inside a window in every geometry
    w, b = host(1, *w_shape).astype(dtype), host(2, w_shape[0]).astype(dtype)
    b[0] = -abs(b[0])
    oh, ow = Convolution(w, b, stride, pad).output_hw(x)
    results = []
    for kernel in (NumpyKernel(), Reference()):
        out = kernel.forward(x, w, b, stride, pad, pool, pool, oh, ow)
        dout = host(3, *out.shape).astype(dtype)
        for _ in range(2):  # a second pass reuses NumPy's buffers
            out = np.array(kernel.forward(x, w, b, stride, pad, pool, pool, oh, ow))
            results.append((out, np.array(kernel.backward(dout))))
    for got, want in zip(results[:2], results[2:], strict=True):
        assert got[0].tobytes() == want[0].tobytes()
        assert got[1].tobytes() == want[1].tobytes()
    assert np.isnan(results[0][0]).any()
