"""Convolution by shifted rows (xpnn.ops.conv_rows, xpnn.conv_rows): forward and all three
gradients against direct loops and the patch-matrix path, on every backend (the path forced
where the backend would not choose it), bound and unbound, step after step; gradient checks;
the layout's geometry; and the NumPy backend's rule for choosing it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import flat_views

import xpnn
from xpnn.backends.numpy import ROWS_MIN_CHANNELS, rows_pay
from xpnn.conv import Convolution
from xpnn.gradcheck import check_layer
from xpnn.ops.conv_rows import RowGeometry

TOL = 1e-6  # worst relative error of a float64 gradient check


def host(seed, *shape):
    return np.random.default_rng(seed).normal(size=shape)


def conv_reference(x, W, b, pad):
    """Stride-1 convolution by its definition."""
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, _, h, w = x.shape
    fn, _, fh, fw = W.shape
    out = np.empty((n, fn, h - fh + 1, w - fw + 1))
    for i, f, r, c in itertools.product(range(n), range(fn), range(h - fh + 1), range(w - fw + 1)):
        out[i, f, r, c] = np.sum(x[i, :, r : r + fh, c : c + fw] * W[f]) + b[f]
    return out


def grads_reference(x, W, dout, pad):
    """(dx, dW, db) of a stride-1 convolution by their definitions."""
    xp_ = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx, dW = np.zeros_like(xp_), np.zeros_like(W)
    _, _, fh, fw = W.shape
    n, fn, oh, ow = dout.shape
    for i, f, r, c in itertools.product(range(n), range(fn), range(oh), range(ow)):
        dx[i, :, r : r + fh, c : c + fw] += dout[i, f, r, c] * W[f]
        dW[f] += dout[i, f, r, c] * xp_[i, :, r : r + fh, c : c + fw]
    h, w = x.shape[2:]
    return dx[:, :, pad : pad + h, pad : pad + w], dW, dout.sum(axis=(0, 2, 3))


def by_rows(monkeypatch, backend):
    """Make ``backend`` convolve by rows wherever the geometry allows (stride 1, pad below
    the filter size), whatever its own rule."""

    def allowed(w_shape, x_shape, stride, pad):
        return stride == 1 and pad < min(w_shape[2:])

    monkeypatch.setattr(backend, "conv_by_rows", allowed)


# (N, C, H, W, FN, FH, FW, pad): square and not, pad 0 to FH - 1, 1x1 filters, 1x1 images,
# one sample, more filters than channels and fewer
GEOMETRIES = [
    (2, 3, 6, 5, 4, 3, 3, 1),
    (2, 3, 6, 5, 2, 3, 3, 0),
    (2, 2, 7, 6, 3, 3, 3, 2),
    (1, 2, 5, 5, 2, 5, 5, 4),
    (3, 2, 4, 3, 2, 1, 1, 0),
    (2, 2, 5, 4, 3, 3, 2, 1),
    (2, 3, 4, 6, 2, 2, 3, 1),
    (2, 2, 1, 1, 3, 3, 3, 1),
    (1, 4, 3, 8, 1, 2, 2, 0),
]


def gid(g):
    n, c, h, w, fn, fh, fw, pad = g
    return f"n{n}-{c}to{fn}-{h}x{w}-f{fh}x{fw}-p{pad}"


@pytest.mark.parametrize("bound", [False, True], ids=["new", "bound"])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=gid)
def test_rows_forward_and_gradients_match_their_definitions(
    geometry, bound, backend, to_np, monkeypatch
):
    by_rows(monkeypatch, backend)
    n, c, h, w, fn, fh, fw, pad = geometry
    W, b = host(1, fn, c, fh, fw), host(2, fn)
    layer = Convolution(backend.asarray(W, dtype="float64"), backend.asarray(b, dtype="float64"),
                        pad=pad)  # fmt: skip
    if bound:
        layer.bind_grads(backend, flat_views(backend, {"b": (fn,), "W": W.shape})[1])
    for step in range(2):  # the second step reuses the first's buffers: the same values
        x = host(10 + step, n, c, h, w)
        out = to_np(layer.forward(backend.asarray(x, dtype="float64")))
        assert layer.patches is None  # the rows path ran
        np.testing.assert_allclose(out, conv_reference(x, W, b, pad), rtol=1e-12, atol=1e-12)
        dout = host(20 + step, *out.shape)
        dx = to_np(layer.backward(backend.asarray(dout, dtype="float64")))
        for got, want in zip((dx, to_np(layer.dW), to_np(layer.db)),
                             grads_reference(x, W, dout, pad), strict=True):  # fmt: skip
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=gid)
def test_rows_backward_matches_numerical_gradient(geometry, backend, monkeypatch):
    by_rows(monkeypatch, backend)
    n, c, h, w, fn, fh, fw, pad = geometry
    W = backend.asarray(host(1, fn, c, fh, fw) * 0.5, dtype="float64")
    layer = Convolution(W, backend.asarray(host(2, fn), dtype="float64"), pad=pad)
    report = check_layer(layer, backend.asarray(host(0, n, c, h, w), dtype="float64"))
    assert set(report) == {"x", "W", "b"}
    assert report.worst < TOL, report


def test_rows_without_input_grad_returns_none_and_the_same_parameter_gradients(
    backend, to_np, monkeypatch
):
    by_rows(monkeypatch, backend)
    x, W, b = host(0, 2, 3, 5, 5), host(1, 2, 3, 3, 3), host(2, 2)
    dout = host(3, 2, 2, 5, 5)
    grads = []
    for input_grad in (True, False):
        layer = Convolution(backend.asarray(W, dtype="float64"),
                            backend.asarray(b, dtype="float64"), pad=1)  # fmt: skip
        layer.input_grad = input_grad
        layer.forward(backend.asarray(x, dtype="float64"))
        dx = layer.backward(backend.asarray(dout, dtype="float64"))
        assert (dx is None) is not input_grad
        grads.append((to_np(layer.dW), to_np(layer.db)))
    for a, b_ in zip(*grads, strict=True):
        np.testing.assert_array_equal(a, b_)


def test_rows_follow_a_change_of_batch_size_and_image_size(backend, to_np, monkeypatch):
    by_rows(monkeypatch, backend)
    W, b = host(1, 2, 3, 3, 3), host(2, 2)
    layer = Convolution(backend.asarray(W, dtype="float64"), backend.asarray(b, dtype="float64"),
                        pad=1)  # fmt: skip
    for shape in [(3, 3, 6, 6), (1, 3, 6, 6), (2, 3, 4, 7), (3, 3, 6, 6)]:
        x = host(sum(shape), *shape)
        out = to_np(layer.forward(backend.asarray(x, dtype="float64")))
        np.testing.assert_allclose(out, conv_reference(x, W, b, 1), rtol=1e-12, atol=1e-12)
        dout = host(7, *out.shape)
        dx = to_np(layer.backward(backend.asarray(dout, dtype="float64")))
        np.testing.assert_allclose(dx, grads_reference(x, W, dout, 1)[0], rtol=1e-12, atol=1e-12)


def test_numpy_convolves_by_rows_where_its_rule_says_and_gets_the_patch_paths_values(to_np):
    backend = xpnn.get_backend("numpy")
    x, W, b = host(0, 2, 8, 6, 6), host(1, 4, 8, 3, 3), host(2, 4)
    layer = Convolution(backend.asarray(W), backend.asarray(b), pad=1)
    out = layer.forward(backend.asarray(x))
    assert layer.patches is None
    np.testing.assert_allclose(out, conv_reference(x, W, b, 1), rtol=1e-12, atol=1e-12)
    thin = Convolution(backend.asarray(W[:, :2]), backend.asarray(b), pad=1)
    thin.forward(backend.asarray(x[:, :2]))
    assert thin.patches is not None  # 2 channels: the patch matrix


@pytest.mark.parametrize(
    ("w_shape", "stride", "pad", "expected"),
    [
        ((16, ROWS_MIN_CHANNELS, 3, 3), 1, 1, True),
        ((16, ROWS_MIN_CHANNELS, 3, 3), 1, 2, True),
        ((16, ROWS_MIN_CHANNELS - 1, 3, 3), 1, 1, False),  # a product too thin to pay
        ((16, 32, 3, 3), 2, 1, False),  # stride 2
        ((16, 32, 3, 3), 1, 3, False),  # pad as large as the filter
        ((16, 32, 3, 2), 1, 2, False),
        ((16, 32, 1, 1), 1, 0, True),
    ],
)
def test_numpy_rule_for_rows(w_shape, stride, pad, expected):
    assert rows_pay(w_shape, (100, w_shape[1], 28, 28), stride, pad) is expected


@pytest.mark.parametrize(("fh", "fw", "ph", "pw"), [(3, 3, 3, 1), (3, 3, 1, 3), (3, 3, -1, 0)])
def test_a_layout_padding_outside_the_filter_is_refused(fh, fw, ph, pw):
    with pytest.raises(ValueError, match=r"padding .* must be smaller than the 3x3 filter"):
        RowGeometry(2, 6, 6, fh, fw, ph, pw)


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=gid)
def test_the_layout_holds_every_read_and_its_adjoint_keeps_the_row_length(geometry):
    n, _, h, w, _, fh, fw, pad = geometry
    g = RowGeometry(n, h, w, fh, fw, pad, pad)
    last_read = g.base + g.fw - 1 + g.q_length - 1
    assert last_read < g.slots * g.hs * g.ws
    assert g.base >= 0
    a = g.adjoint()
    assert (a.hs, a.ws) == (g.hs, g.ws)
    assert (a.oh, a.ow) == (h, w)
