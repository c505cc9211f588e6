"""Convolution, max pooling, im2col/col2im: forward against direct loops, gradient checks,
the book's col layout, ties, dtype and device, and clear errors."""

from __future__ import annotations

import ast
import inspect
import itertools

import numpy as np
import pytest
from conftest import flat_views

import xpnn.conv
from xpnn.conv import (
    Convolution,
    Pooling,
    col2im,
    conv_output_size,
    dx_as_convolution,
    im2col,
)
from xpnn.gradcheck import check_layer

TOL = 1e-6  # worst relative error of a float64 gradient check


def host(seed, *shape, scale=1.0):
    return np.random.default_rng(seed).normal(scale=scale, size=shape)


def distinct(seed, *shape):
    """Values 0.1 apart in random order: no two in a window within reach of the finite
    differences, so max pooling has no kink there."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape) * 0.1 - 0.05 * n


def on(backend, array, dtype="float64"):
    return backend.asarray(array, dtype=dtype)


# -- independent NumPy references: direct loops over the definitions ---------------------------


def padded(x, pad, value=0.0):
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=value)


def conv_reference(x, W, b, stride, pad):
    x = padded(x, pad)
    n, _, h, w = x.shape
    fn, _, fh, fw = W.shape
    oh, ow = (h - fh) // stride + 1, (w - fw) // stride + 1
    out = np.empty((n, fn, oh, ow))
    for i, f, r, c in itertools.product(range(n), range(fn), range(oh), range(ow)):
        window = x[i, :, r * stride : r * stride + fh, c * stride : c * stride + fw]
        out[i, f, r, c] = np.sum(window * W[f]) + b[f]
    return out


def conv_input_grad_reference(dout, W, x_shape, stride, pad):
    """dx of a convolution by its definition: each dout entry times the filter, added to
    the window it came from."""
    n, c, h, w = x_shape
    _, _, fh, fw = W.shape
    dx = np.zeros((n, c, h + 2 * pad, w + 2 * pad))
    _, fn, oh, ow = dout.shape
    for i, f, r, q in itertools.product(range(n), range(fn), range(oh), range(ow)):
        rows, cols = slice(r * stride, r * stride + fh), slice(q * stride, q * stride + fw)
        dx[i, :, rows, cols] += dout[i, f, r, q] * W[f]
    return dx[:, :, pad : pad + h, pad : pad + w]


def pool_reference(x, ph, pw, stride, pad):
    """Max pooling and its gradient for dout = 1 per window (first maximum, row-major)."""
    xp_ = padded(x, pad, -np.inf)
    n, ch, h, w = xp_.shape
    oh, ow = (h - ph) // stride + 1, (w - pw) // stride + 1
    out = np.empty((n, ch, oh, ow))
    first = np.zeros_like(xp_)
    for i, c, r, q in itertools.product(range(n), range(ch), range(oh), range(ow)):
        window = xp_[i, c, r * stride : r * stride + ph, q * stride : q * stride + pw]
        out[i, c, r, q] = window.max()
        k = int(np.argmax(window))  # NumPy's argmax: the first maximum
        first[i, c, r * stride + k // pw, q * stride + k % pw] += 1.0
    return out, first[:, :, pad : h - pad, pad : w - pad]


def im2col_reference(x, fh, fw, stride, pad):
    x = padded(x, pad)
    n, ch, h, w = x.shape
    oh, ow = (h - fh) // stride + 1, (w - fw) // stride + 1
    col = np.empty((n * oh * ow, ch * fh * fw))
    for i, r, q, c, a, b in itertools.product(
        range(n), range(oh), range(ow), range(ch), range(fh), range(fw)
    ):
        col[(i * oh + r) * ow + q, (c * fh + a) * fw + b] = x[i, c, r * stride + a, q * stride + b]
    return col


def window_count(h, w, fh, fw, stride, pad):
    """How many windows cover each input pixel."""
    count = np.zeros((h + 2 * pad, w + 2 * pad))
    for r in range(conv_output_size(h, fh, stride, pad)):
        for q in range(conv_output_size(w, fw, stride, pad)):
            count[r * stride : r * stride + fh, q * stride : q * stride + fw] += 1
    return count[pad : pad + h, pad : pad + w]


def convolution(backend, fn=3, c=2, fh=3, fw=3, stride=1, pad=0, dtype="float64", seed=1):
    W = on(backend, host(seed, fn, c, fh, fw, scale=0.5), dtype)
    return Convolution(W, on(backend, host(seed + 1, fn), dtype), stride=stride, pad=pad)


CONV_GEOMETRIES = [(3, 3, 1, 0), (3, 3, 1, 1), (3, 3, 2, 0), (3, 2, 2, 1), (2, 3, 3, 2)]
POOL_GEOMETRIES = [(2, 2, 2, 0), (2, 2, 1, 0), (3, 3, 2, 0), (3, 3, 2, 1), (2, 3, 1, 1)]


def geometry_id(g):
    return "{}x{}-s{}-p{}".format(*g)


# -- forward against the direct loops, on every backend ---------------------------------------


@pytest.mark.parametrize("geometry", CONV_GEOMETRIES, ids=geometry_id)
def test_convolution_forward_matches_a_direct_loop(geometry, backend, dtype, to_np):
    fh, fw, stride, pad = geometry
    x, W, b = host(0, 2, 2, 7, 6), host(1, 3, 2, fh, fw), host(2, 3)
    layer = Convolution(on(backend, W, dtype), on(backend, b, dtype), stride=stride, pad=pad)
    out = to_np(layer.forward(on(backend, x, dtype)))
    rtol = 1e-12 if dtype == backend.xp.float64 else 1e-5
    np.testing.assert_allclose(out, conv_reference(x, W, b, stride, pad), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("geometry", POOL_GEOMETRIES, ids=geometry_id)
def test_pooling_forward_matches_a_direct_loop(geometry, backend, dtype, to_np):
    ph, pw, stride, pad = geometry
    x = host(0, 2, 3, 7, 6)
    out = to_np(Pooling(ph, pw, stride=stride, pad=pad).forward(on(backend, x, dtype)))
    expected = pool_reference(x.astype(to_np(on(backend, x, dtype)).dtype), ph, pw, stride, pad)
    np.testing.assert_array_equal(out, expected[0])


def test_convolution_then_pooling_then_convolution_matches_the_loops(backend, to_np):
    # each layer's output is a strided view (channel-major memory): the next takes it as is
    x, W1, b1, W2, b2 = (
        host(0, 2, 2, 8, 7),
        host(1, 3, 2, 3, 3),
        host(2, 3),
        host(3, 4, 3, 2, 2),
        host(4, 4),
    )
    conv1 = Convolution(on(backend, W1), on(backend, b1), stride=1, pad=1)
    conv2 = Convolution(on(backend, W2), on(backend, b2), stride=1, pad=0)
    out = conv2.forward(Pooling(2, 2, stride=2).forward(conv1.forward(on(backend, x))))
    hidden = pool_reference(conv_reference(x, W1, b1, 1, 1), 2, 2, 2, 0)[0]
    np.testing.assert_allclose(to_np(out), conv_reference(hidden, W2, b2, 1, 0), rtol=1e-12)


def test_strided_views_as_input_and_dout_give_the_same_results(backend, to_np):
    xp = backend.xp
    x, dout = host(0, 2, 2, 6, 5), host(1, 2, 3, 4, 3)
    view = xp.permute_dims(on(backend, x.transpose(1, 0, 2, 3).copy()), (1, 0, 2, 3))
    dview = xp.permute_dims(on(backend, dout.transpose(2, 3, 1, 0).copy()), (3, 2, 0, 1))
    plain, strided = convolution(backend), convolution(backend)
    results = []
    for layer, xs, ds in ((plain, on(backend, x), on(backend, dout)), (strided, view, dview)):
        out = layer.forward(xs)
        results.append([to_np(a) for a in (out, layer.backward(ds), layer.dW, layer.db)])
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_pooling_padding_never_wins_over_negative_inputs(backend, to_np):
    x = on(backend, -1.0 - np.abs(host(0, 1, 1, 4, 4)))
    out = to_np(Pooling(3, 3, stride=1, pad=1).forward(x))
    assert (out < -1.0).all()  # zero padding (the book's) would give 0 at the border


# -- gradient checks (float64, several samples and channels) ------------------------------------


@pytest.mark.parametrize("geometry", CONV_GEOMETRIES, ids=geometry_id)
def test_convolution_backward_matches_numerical_gradient(geometry, backend):
    fh, fw, stride, pad = geometry
    layer = convolution(backend, fh=fh, fw=fw, stride=stride, pad=pad)
    report = check_layer(layer, on(backend, host(0, 2, 2, 6, 5)))
    assert set(report) == {"x", "W", "b"}
    assert report.worst < TOL, report


# (FN, C, FH, FW, stride, pad) on (2, C, 6, 5) input: the input gradient as a convolution of
# dout (stride 1, square filters, FN·H·W <= C·OH·OW) and by col2im (the rest)
DX_GEOMETRIES = [
    ((2, 3, 3, 3, 1, 1), True),
    ((2, 3, 3, 3, 1, 2), True),
    ((3, 3, 2, 2, 1, 1), True),
    ((4, 4, 3, 3, 1, 0), False),  # FN·H·W > C·OH·OW: col2im
    ((4, 2, 3, 3, 1, 1), False),  # FN > C
    ((2, 3, 3, 3, 2, 1), False),  # stride 2
    ((2, 3, 3, 2, 1, 1), False),  # not square
]


def dx_id(g):
    (fn, c, fh, fw, stride, pad), by_conv = g
    return f"{c}to{fn}-{fh}x{fw}-s{stride}-p{pad}-" + ("conv" if by_conv else "col2im")


@pytest.mark.parametrize("geometry", DX_GEOMETRIES, ids=dx_id)
def test_the_input_gradient_is_a_convolution_of_dout_only_where_it_pays(geometry):
    (fn, c, fh, fw, stride, pad), by_conv = geometry
    assert dx_as_convolution((fn, c, fh, fw), (2, c, 6, 5), stride, pad) is by_conv


@pytest.mark.parametrize("bound", [False, True], ids=["new", "bound"])
@pytest.mark.parametrize("geometry", DX_GEOMETRIES, ids=dx_id)
def test_the_input_gradient_matches_its_definition_either_way(geometry, bound, backend, to_np):
    (fn, c, fh, fw, stride, pad), _ = geometry
    x, W, b = host(0, 2, c, 6, 5), host(1, fn, c, fh, fw), host(2, fn)
    layer = Convolution(on(backend, W), on(backend, b), stride=stride, pad=pad)
    if bound:
        layer.bind_grads(backend, flat_views(backend, {"b": (fn,), "W": W.shape})[1])
    out = layer.forward(on(backend, x))
    dout = host(3, *out.shape)
    for _ in range(2):  # a bound layer reuses its buffers: the second step is the same
        dx = to_np(layer.backward(on(backend, dout)))
        np.testing.assert_allclose(dx, conv_input_grad_reference(dout, W, x.shape, stride, pad),
                                   rtol=1e-12, atol=1e-12)  # fmt: skip


@pytest.mark.parametrize("geometry", DX_GEOMETRIES, ids=dx_id)
def test_convolution_backward_matches_numerical_gradient_either_way(geometry, backend):
    (fn, c, fh, fw, stride, pad), _ = geometry
    W = on(backend, host(1, fn, c, fh, fw, scale=0.5))
    layer = Convolution(W, on(backend, host(2, fn)), stride=stride, pad=pad)
    report = check_layer(layer, on(backend, host(0, 2, c, 6, 5)))
    assert report.worst < TOL, report


@pytest.mark.parametrize("geometry", POOL_GEOMETRIES, ids=geometry_id)
def test_pooling_backward_matches_numerical_gradient(geometry, backend):
    ph, pw, stride, pad = geometry
    report = check_layer(Pooling(ph, pw, stride, pad), on(backend, distinct(0, 2, 2, 6, 5)))
    assert set(report) == {"x"}
    assert report.worst < TOL, report


@pytest.mark.parametrize("geometry", POOL_GEOMETRIES, ids=geometry_id)
def test_pooling_backward_sends_each_window_to_its_first_maximum(geometry, backend, to_np):
    # integers 0..2: most windows have tied maxima; overlapping windows add up
    ph, pw, stride, pad = geometry
    x = np.random.default_rng(5).integers(0, 3, size=(2, 2, 7, 6)).astype(np.float64)
    layer = Pooling(ph, pw, stride, pad)
    out = layer.forward(on(backend, x))
    dx = to_np(layer.backward(backend.xp.ones_like(out)))
    np.testing.assert_array_equal(dx, pool_reference(x, ph, pw, stride, pad)[1])


@pytest.mark.parametrize(("shape", "pad"), [((2, 2, 8, 6), 0), ((2, 2, 6, 4), 1)])
def test_windows_that_tile_the_input_send_each_gradient_to_its_first_maximum(
    shape, pad, backend, to_np
):
    # every element is in exactly one window: dx is written without being zeroed first
    x = np.random.default_rng(6).integers(0, 3, size=shape).astype(np.float64)
    layer = Pooling(2, 2, 2, pad)
    out = layer.forward(on(backend, x))
    dx = to_np(layer.backward(backend.xp.ones_like(out)))
    np.testing.assert_array_equal(dx, pool_reference(x, 2, 2, 2, pad)[1])


def test_a_tied_window_gives_its_gradient_to_one_element(backend, to_np):
    layer = Pooling(2, 2, stride=2)
    layer.forward(on(backend, np.zeros((1, 1, 4, 4))))
    dx = to_np(layer.backward(on(backend, np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))))
    expected = np.zeros((4, 4))
    expected[0, 0], expected[0, 2], expected[2, 0], expected[2, 2] = 1.0, 2.0, 3.0, 4.0
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_overlapping_tied_windows_each_give_their_gradient_once(backend, to_np):
    layer = Pooling(2, 2, stride=1)  # four windows over a constant 3x3 image
    layer.forward(on(backend, np.full((1, 1, 3, 3), 7.0)))
    dx = to_np(layer.backward(on(backend, np.ones((1, 1, 2, 2)))))
    np.testing.assert_array_equal(dx[0, 0], [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0, 0, 0]])


def test_convolution_without_input_grad_returns_none_and_the_same_parameter_gradients(
    backend, to_np
):
    x, dout = on(backend, host(0, 2, 2, 6, 6)), on(backend, host(9, 2, 3, 3, 3))
    full = convolution(backend, stride=2, pad=1)
    full.forward(x)
    full.backward(dout)
    skip = convolution(backend, stride=2, pad=1)
    skip.input_grad = False
    skip.forward(x)
    assert skip.backward(dout) is None
    np.testing.assert_array_equal(to_np(skip.dW), to_np(full.dW))
    np.testing.assert_array_equal(to_np(skip.db), to_np(full.db))


# -- gradients bound into given arrays (what a network's flat gradient buffer does) -------------


def unbound_gradients(backend, to_np, x, dout, **geometry):
    layer = convolution(backend, **geometry)
    layer.forward(x)
    dx = layer.backward(dout)
    return to_np(dx), to_np(layer.dW), to_np(layer.db)


@pytest.mark.parametrize("geometry", CONV_GEOMETRIES, ids=geometry_id)
def test_a_bound_convolution_writes_its_gradients_into_the_given_arrays(geometry, backend, to_np):
    fh, fw, stride, pad = geometry
    g = dict(fh=fh, fw=fw, stride=stride, pad=pad)
    x = on(backend, host(0, 2, 2, 7, 6))
    layer = convolution(backend, **g)
    out_shape = tuple(layer.forward(x).shape)
    dout = on(backend, host(9, *out_shape))
    dx_ref, dW_ref, db_ref = unbound_gradients(backend, to_np, x, dout, **g)
    flat, views = flat_views(backend, {"b": (3,), "W": tuple(layer.W.shape)})
    layer.bind_grads(backend, views)
    assert layer.dW is views["W"] and layer.db is views["b"]
    for _ in range(2):  # overwritten each time, never accumulated
        layer.forward(x)
        dx = layer.backward(dout)
        assert layer.dW is views["W"] and layer.db is views["b"]
        assert layer.grads == {"W": views["W"], "b": views["b"]}
        np.testing.assert_array_equal(to_np(flat), np.concatenate([db_ref, dW_ref.ravel()]))
        np.testing.assert_array_equal(to_np(dx), dx_ref)


def test_a_bound_dW_that_has_no_matrix_view_is_assigned_with_the_same_values(backend, to_np):
    xp = backend.xp
    x, dout = on(backend, host(0, 2, 2, 6, 6)), on(backend, host(9, 2, 3, 4, 4))
    _, dW_ref, db_ref = unbound_gradients(backend, to_np, x, dout)
    # (FN, C, FH, FW) seen through a permutation: no (FN, C·FH·FW) view of it exists
    dW = xp.permute_dims(xp.zeros((3, 3, 2, 3), dtype=xp.float64, device=backend.device),
                         (3, 2, 0, 1))  # fmt: skip
    db = xp.zeros((3,), dtype=xp.float64, device=backend.device)
    layer = convolution(backend)
    layer.bind_grads(backend, {"W": dW, "b": db})
    assert layer._dW_matrix is None
    layer.forward(x)
    layer.backward(dout)
    assert layer.dW is dW and layer.db is db
    np.testing.assert_array_equal(to_np(dW), dW_ref)
    np.testing.assert_array_equal(to_np(db), db_ref)


def test_convolution_parameters_and_gradients_are_named_like_affines():
    assert dict(Convolution.GRAD_ATTRS) == {"W": "dW", "b": "db"}


# -- the book's im2col / col2im -------------------------------------------------------------


@pytest.mark.parametrize("geometry", CONV_GEOMETRIES, ids=geometry_id)
def test_im2col_gives_the_books_col_layout(geometry, backend, to_np):
    fh, fw, stride, pad = geometry
    x = host(0, 2, 3, 7, 6)
    col = to_np(im2col(on(backend, x), fh, fw, stride, pad))
    np.testing.assert_array_equal(col, im2col_reference(x, fh, fw, stride, pad))


@pytest.mark.parametrize("geometry", CONV_GEOMETRIES, ids=geometry_id)
def test_col2im_of_im2col_multiplies_each_pixel_by_its_window_count(geometry, backend, to_np):
    fh, fw, stride, pad = geometry
    x = host(0, 2, 3, 7, 6)
    back = to_np(col2im(im2col(on(backend, x), fh, fw, stride, pad), x.shape, fh, fw, stride, pad))
    np.testing.assert_allclose(back, x * window_count(7, 6, fh, fw, stride, pad), rtol=1e-12)


@pytest.mark.parametrize("geometry", CONV_GEOMETRIES, ids=geometry_id)
def test_col2im_is_the_adjoint_of_im2col(geometry, backend, to_np):
    # <im2col(x), c> = <x, col2im(c)> for every x and c: col2im is im2col's transpose
    fh, fw, stride, pad = geometry
    x = host(0, 2, 3, 7, 6)
    c = host(1, *im2col_reference(x, fh, fw, stride, pad).shape)
    lhs = np.sum(to_np(im2col(on(backend, x), fh, fw, stride, pad)) * c)
    rhs = np.sum(x * to_np(col2im(on(backend, c), x.shape, fh, fw, stride, pad)))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_convolution_is_im2col_times_the_flattened_filters(backend, to_np):
    x, layer = host(0, 2, 2, 7, 6), convolution(backend, stride=2, pad=1)
    col = to_np(im2col(on(backend, x), 3, 3, stride=2, pad=1))
    W, b = to_np(layer.W), to_np(layer.b)
    expected = (col @ W.reshape(3, -1).T + b).reshape(2, 4, 3, 3).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(to_np(layer.forward(on(backend, x))), expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("args", "expected"),
    [((28, 5), 24), ((28, 3, 1, 1), 28), ((7, 3, 2), 3), ((24, 2, 2), 12), ((6, 3, 2, 1), 3)],
)
def test_conv_output_size(args, expected):
    assert conv_output_size(*args) == expected


# -- dtype, device, parameters --------------------------------------------------------------


def test_float32_stays_float32(backend):
    f32 = backend.xp.float32
    conv = convolution(backend, stride=2, pad=1, dtype="float32")
    pool = Pooling(2, 2, stride=2, pad=1)
    x = on(backend, host(0, 2, 2, 7, 6), "float32")
    out = pool.forward(conv.forward(x))
    dx = conv.backward(pool.backward(backend.xp.ones_like(out)))
    col = im2col(x, 3, 3, 2, 1)
    for array in (out, dx, conv.dW, conv.db, col, col2im(col, x.shape, 3, 3, 2, 1)):
        assert array.dtype == f32


def test_arrays_stay_on_the_inputs_device(backend, dtype, assert_on_device):
    conv = convolution(backend, stride=1, pad=1, dtype=dtype)
    pool = Pooling(3, 3, stride=2, pad=1)
    x = on(backend, host(0, 2, 2, 6, 6), dtype)
    out = pool.forward(conv.forward(x))
    dx = conv.backward(pool.backward(backend.xp.ones_like(out)))
    col = im2col(x, 3, 3, 2, 1)
    for array in (out, dx, conv.dW, conv.db, col, col2im(col, x.shape, 3, 3, 2, 1)):
        assert_on_device(array)


def test_parameters_are_the_arrays_the_layer_computes_with(backend, to_np):
    layer = convolution(backend)
    assert layer.params["W"] is layer.W and layer.params["b"] is layer.b
    x = on(backend, host(0, 1, 2, 5, 5))
    before = to_np(layer.forward(x))
    layer.params["b"] += 1.0  # an optimizer's in-place update
    np.testing.assert_allclose(to_np(layer.forward(x)), before + 1.0, rtol=1e-12)
    layer.backward(on(backend, host(1, 1, 3, 3, 3)))
    assert layer.grads["W"] is layer.dW and layer.grads["b"] is layer.db


def test_pooling_has_no_parameters():
    layer = Pooling(2, 2, stride=2)
    assert dict(layer.params) == {} and dict(layer.grads) == {}
    with pytest.raises(TypeError):
        layer.params["W"] = None


def test_backward_leaves_its_inputs_as_they_were(backend, to_np):
    x = on(backend, distinct(0, 2, 2, 6, 6))
    dout = on(backend, host(1, 2, 2, 3, 3))
    pool = Pooling(2, 2, stride=2)
    pool.forward(x)
    pool.backward(dout)
    np.testing.assert_array_equal(to_np(dout), host(1, 2, 2, 3, 3))
    np.testing.assert_array_equal(to_np(x), distinct(0, 2, 2, 6, 6))


def test_the_module_imports_no_array_library():
    tree = ast.parse(inspect.getsource(xpnn.conv))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}  # fmt: skip
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}  # fmt: skip
    assert not imported & {"numpy", "cupy", "torch", "array_api_strict"}, imported


# -- clear errors ---------------------------------------------------------------------------


def test_convolution_rejects_input_that_is_not_4d(backend):
    with pytest.raises(ValueError, match=r"4-D input \(N, C, H, W\), got \(2, 5, 5\)"):
        convolution(backend).forward(on(backend, host(0, 2, 5, 5)))


def test_convolution_rejects_a_channel_mismatch_with_W(backend):
    with pytest.raises(ValueError, match=r"input has 3 channels.*expects C = 2"):
        convolution(backend).forward(on(backend, host(0, 1, 3, 5, 5)))


@pytest.mark.parametrize(("size", "pad"), [(2, 0), (1, 0), (0, 1)])
def test_a_window_larger_than_the_padded_input_is_rejected(size, pad, backend):
    x = on(backend, host(0, 1, 2, size + 1, size))
    with pytest.raises(ValueError, match="window is larger than the padded input"):
        convolution(backend, pad=pad).forward(x)
    with pytest.raises(ValueError, match="window is larger than the padded input"):
        Pooling(3, 3, pad=min(pad, 2)).forward(x)


@pytest.mark.parametrize("stride", [0, -1, 1.5, True])
def test_a_stride_below_one_or_not_an_integer_is_rejected(stride, backend):
    with pytest.raises(ValueError, match="stride must be a positive integer"):
        convolution(backend, stride=stride)
    with pytest.raises(ValueError, match="stride must be a positive integer"):
        Pooling(2, 2, stride=stride)


def test_a_negative_pad_is_rejected(backend):
    with pytest.raises(ValueError, match="pad must be an integer ≥ 0"):
        convolution(backend, pad=-1)


def test_pooling_pad_must_be_smaller_than_the_pool(backend):
    with pytest.raises(ValueError, match=r"pad \(2\) must be smaller than the pool size 2x3"):
        Pooling(2, 3, stride=1, pad=2)


def test_pool_size_must_be_positive():
    with pytest.raises(ValueError, match="pool_w must be a positive integer"):
        Pooling(2, 0)


def test_convolution_rejects_a_weight_that_is_not_4d(backend):
    with pytest.raises(ValueError, match=r"W must be 4-D \(FN, C, FH, FW\), got \(3, 9\)"):
        Convolution(on(backend, host(0, 3, 9)), on(backend, host(1, 3)))


def test_convolution_rejects_a_bias_of_the_wrong_shape(backend):
    with pytest.raises(ValueError, match=r"b must have shape \(FN,\) = \(3,\).*got \(4,\)"):
        Convolution(on(backend, host(0, 3, 2, 3, 3)), on(backend, host(1, 4)))


def test_integer_input_is_rejected_with_a_type_error(backend):
    x = backend.asarray(np.zeros((1, 2, 5, 5), dtype=np.int64))
    with pytest.raises(TypeError, match="floating-point input"):
        convolution(backend).forward(x)
    with pytest.raises(TypeError, match="floating-point input"):
        Pooling(2, 2).forward(x)


def test_backward_checks_the_shape_of_dout(backend):
    layer = convolution(backend)
    layer.forward(on(backend, host(0, 2, 2, 5, 5)))
    with pytest.raises(ValueError, match=r"dout has shape \(2, 3, 2, 2\).*\(2, 3, 3, 3\)"):
        layer.backward(on(backend, host(1, 2, 3, 2, 2)))
    pool = Pooling(2, 2, stride=2)
    pool.forward(on(backend, host(0, 2, 2, 4, 4)))
    with pytest.raises(ValueError, match=r"dout has shape"):
        pool.backward(on(backend, host(1, 2, 2, 3, 3)))


def test_backward_before_forward_says_so(backend):
    with pytest.raises(RuntimeError, match="backward called before forward"):
        Pooling(2, 2).backward(on(backend, host(0, 1, 1, 2, 2)))


def test_col2im_rejects_a_col_of_the_wrong_shape(backend):
    with pytest.raises(ValueError, match=r"col must have shape .* = \(18, 12\)"):
        col2im(on(backend, host(0, 18, 9)), (2, 3, 5, 5), 2, 2, stride=2, pad=1)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((4, 5), "filter size 5 is larger than the padded input"),
        ((4, 3, 0), "stride must be a positive integer"),
        ((4, 3, 1, -1), "pad must be an integer ≥ 0"),
        ((4.0, 3), "input_size must be a positive integer"),
    ],
)
def test_conv_output_size_rejects_bad_sizes(args, match):
    with pytest.raises(ValueError, match=match):
        conv_output_size(*args)
