"""The NumPy backend's replacements at the kernel seam give exactly the portable references'
values (:mod:`xpnn.ops`): the same bits, ties, NaN, infinities and signed zeros included,
for every geometry, layout and dtype, with and without a given output buffer, also with
the work cut into parts on three threads (:mod:`xpnn.backends.threads`), however small the
arrays, and called from several threads at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import xpnn
from xpnn.backends import threads
from xpnn.ops import activation, conv, pool

# NaN and infinities are inputs on purpose: their warnings are expected
pytestmark = pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning",
                                        "ignore:overflow:RuntimeWarning")  # fmt: skip

KERNELS = ["numpy", "numpy in parts"]


@pytest.fixture(params=KERNELS)
def kernels(request, monkeypatch) -> xpnn.Backend:
    """The backend whose kernels are under test: NumPy's own, on one thread, and cut into
    parts on three threads down to one element a part."""
    name, in_parts, _ = request.param.partition(" in parts")
    if in_parts:
        monkeypatch.setattr(threads, "MIN_PART", 1)
    before = xpnn.get_num_threads()
    xpnn.set_num_threads(3 if in_parts else 1)
    request.addfinalizer(lambda: xpnn.set_num_threads(before))
    return xpnn.get_backend(name)


def same_bits(got, expected):
    """The same dtype, shape and bits (-0.0 where -0.0), NaN where NaN (IEEE 754 leaves a
    NaN result's sign and payload open, and compilers may swap the operands of an addition,
    which decides which NaN an addition of two passes on)."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(got), nan, err_msg="NaN in other places")
    as_int = {2: np.uint16, 4: np.uint32, 8: np.uint64}[got.dtype.itemsize]
    g = np.where(nan, 0, got).view(as_int)
    e = np.where(nan, 0, expected).view(as_int)
    bad = np.flatnonzero(g != e)
    assert bad.size == 0, f"{bad.size} differ, first at {bad[0]}: {got.flat[bad[0]]!r} vs " \
        f"{expected.flat[bad[0]]!r}"  # fmt: skip


def channel_major(x):
    """x's values in memory ordered (C, N, H, W): how a Convolution hands on its output."""
    return np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)


def special(shape, seed, dtype):
    """Random values with ties (small integers), ±0.0, ±inf and NaN sprinkled in."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, size=shape).astype(dtype)
    flat = x.reshape(-1)
    picks = rng.choice(flat.size, size=min(flat.size, 12), replace=False)
    flat[picks] = np.array([np.nan, np.inf, -np.inf, -0.0] * 3, dtype=dtype)[: picks.size]
    return x


DTYPES = [np.float32, np.float64]
LAYOUTS = {"c-order": lambda x: np.ascontiguousarray(x), "channel-major": channel_major}
CONV_GEOMETRIES = [(3, 3, 1, 0), (3, 3, 1, 1), (3, 3, 1, 2), (5, 5, 1, 0), (3, 3, 2, 1),
                   (2, 3, 2, 0), (1, 1, 1, 0), (3, 2, 3, 2)]  # fmt: skip
POOL_GEOMETRIES = [(2, 2, 2, 0), (2, 2, 2, 1), (2, 2, 1, 0), (3, 3, 2, 1), (3, 3, 3, 0),
                   (2, 3, 1, 1), (3, 2, 2, 0), (1, 1, 1, 0)]  # fmt: skip


def gid(g):
    return "{}x{}-s{}-p{}".format(*g)


# -- the patch matrix -------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("geometry", CONV_GEOMETRIES, ids=gid)
def test_patches_are_the_references(geometry, layout, kernels):
    fh, fw, stride, pad = geometry
    x = LAYOUTS[layout](special((3, 2, 7, 6), 0, np.float32))
    same_bits(kernels.conv_patches(x, fh, fw, stride, pad), conv.patches(x, fh, fw, stride, pad))


@pytest.mark.parametrize("dtype", DTYPES)
def test_patches_are_written_into_the_given_buffer(dtype, kernels):
    x = special((2, 3, 6, 5), 1, dtype)
    expected = conv.patches(x, 3, 3, 1, 1)
    buffer = np.full(expected.shape, 7.0, dtype=dtype)
    assert kernels.conv_patches(x, 3, 3, 1, 1, out=buffer) is buffer
    same_bits(buffer, expected)


@pytest.mark.parametrize("geometry", CONV_GEOMETRIES, ids=gid)
def test_patches_adjoint_is_the_references(geometry, kernels):
    fh, fw, stride, pad = geometry
    x_shape = (3, 2, 7, 6)
    oh, ow = conv.output_hw(7, 6, fh, fw, stride, pad)
    dp = special((2 * fh * fw, 3 * oh * ow), 2, np.float64)
    got = kernels.conv_patches_adjoint(dp, x_shape, fh, fw, stride, pad)
    same_bits(got, conv.patches_adjoint(dp, x_shape, fh, fw, stride, pad))


# -- max pooling ---------------------------------------------------------------------------------


def pool_both(kernels, x, dout, geometry):
    """(out, dx) of the kernels and of the reference."""
    results = []
    for forward, backward in (
        (kernels.maxpool_forward, kernels.maxpool_backward),
        (pool.maxpool_forward, pool.maxpool_backward),
    ):
        out, ctx = forward(x, *geometry)
        results.append((out, backward(dout, out, ctx, tuple(x.shape), *geometry)))
    return results


@pytest.mark.parametrize("hw", [(8, 7), (6, 6)], ids=["8x7", "6x6"])  # windows that tile or not
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("geometry", POOL_GEOMETRIES, ids=gid)
def test_pooling_is_the_references_ties_nan_and_infinities_included(
    geometry, layout, dtype, hw, kernels
):
    x = LAYOUTS[layout](special((3, 2, *hw), 3, dtype))
    oh, ow = conv.output_hw(*hw, *geometry[:2], *geometry[2:])
    dout = np.random.default_rng(4).normal(size=(3, 2, oh, ow)).astype(dtype)
    (out, dx), (out_ref, dx_ref) = pool_both(kernels, x, dout, geometry)
    same_bits(out, out_ref)
    same_bits(dx, dx_ref)


@pytest.mark.parametrize("geometry", [(2, 2, 2, 0), (3, 3, 2, 1)], ids=gid)
def test_pooling_backward_passes_on_a_non_finite_dout_as_the_reference_does(geometry, kernels):
    x = special((2, 2, 6, 6), 5, np.float64)
    oh, ow = conv.output_hw(6, 6, *geometry[:2], *geometry[2:])
    dout = special((2, 2, oh, ow), 6, np.float64)  # inf · 0 is NaN in the unchosen places
    (_, dx), (_, dx_ref) = pool_both(kernels, x, dout, geometry)
    same_bits(dx, dx_ref)


def test_an_all_minus_infinity_window_behind_padding_gives_the_same_gradient(kernels):
    x = np.full((1, 1, 3, 3), -np.inf)  # the padding (-inf) ties with every element
    (_, dx), (_, dx_ref) = pool_both(kernels, x, np.ones((1, 1, 2, 2)), (2, 2, 2, 1))
    same_bits(dx, dx_ref)


# -- bias + activation and the activations' backward -------------------------------------------

ACTS = ["identity", "relu", "sigmoid", "tanh"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_bias_act_is_the_references(act, dtype, kernels):
    z = special((6, 40), 7, dtype) * dtype(30.0)  # sigmoid's overflow to 0 included
    b = np.random.default_rng(8).normal(size=(6, 1)).astype(dtype)
    expected = activation.bias_act(z.copy(), b, act)
    same_bits(kernels.bias_act(z.copy(), b, act), expected)


def test_bias_act_broadcasts_a_row_bias_as_affine_does(kernels):
    z, b = special((5, 4), 9, np.float32), np.arange(4, dtype=np.float32)
    same_bits(kernels.bias_act(z.copy(), b, "relu"), activation.bias_act(z.copy(), b, "relu"))


def test_bias_act_rejects_an_unknown_activation_as_the_reference_does(kernels):
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        kernels.bias_act(np.zeros((2, 2)), np.zeros(2), "swish")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_act_backward_is_the_references(act, dtype, layout, kernels):
    out = activation.act_forward(LAYOUTS[layout](special((3, 2, 4, 5), 10, dtype)), act)
    dout = LAYOUTS[layout](special((3, 2, 4, 5), 11, dtype))
    kept = (out.copy(), dout.copy())
    same_bits(kernels.act_backward(dout, out, act), activation.act_backward(dout, out, act))
    same_bits(out, kept[0])  # inputs left as they were
    same_bits(dout, kept[1])


@pytest.mark.parametrize("act", ACTS)
def test_act_forward_is_the_references(act, kernels):
    x = special((4, 9), 12, np.float32)
    same_bits(kernels.act_forward(x, act), activation.act_forward(x, act))


def test_the_cases_cover_every_seam_kernel_of_a_convolution_network():
    covered = {"conv_patches", "conv_patches_adjoint", "maxpool_forward", "maxpool_backward",
               "bias_act", "act_forward", "act_backward"}  # fmt: skip
    assert covered <= set(xpnn.backends.SEAM)
    names = {n for n in globals() if n.startswith("test_")}
    for kernel in ("patches", "patches_adjoint", "pooling", "bias_act", "act_backward"):
        assert any(kernel in n for n in names), kernel


@pytest.mark.parametrize("network", ["SimpleConvNet", "DeepConvNet"])
def test_a_network_trains_to_the_same_bits_with_its_kernels_in_parts(network, monkeypatch):
    rng = np.random.default_rng(13)
    x = rng.random((8, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, 8)
    monkeypatch.setattr(threads, "MIN_PART", 1)
    before = xpnn.get_num_threads()
    params = []
    try:
        for count in (1, 3):
            xpnn.set_num_threads(count)
            net = getattr(xpnn, network)(seed=0, backend="numpy")
            opt = xpnn.Adam(lr=1e-3)
            for _ in range(3):
                opt.update(net.params, net.gradient(x, t))
            params.append({k: np.array(v) for k, v in net.params.items()})
    finally:
        xpnn.set_num_threads(before)
    for key, value in params[0].items():
        same_bits(params[1][key], value)


def test_the_kernels_in_parts_can_be_called_from_several_threads_at_once(monkeypatch):
    monkeypatch.setattr(threads, "MIN_PART", 1)
    before = xpnn.get_num_threads()
    xpnn.set_num_threads(3)
    try:
        b = xpnn.get_backend("numpy")
        x = np.random.default_rng(0).random((20, 8, 12, 12), dtype=np.float32)
        expected = conv.patches(x, 3, 3, 1, 1)

        def work(_: int) -> bool:
            return all(np.array_equal(b.conv_patches(x, 3, 3, 1, 1), expected) for _ in range(30))

        with ThreadPoolExecutor(4) as pool:  # four callers sharing xpnn's pool of threads
            assert all(pool.map(work, range(8)))
    finally:
        xpnn.set_num_threads(before)
