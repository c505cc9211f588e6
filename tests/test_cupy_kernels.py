"""Every CuPy kernel of the kernel seam against the portable reference (``xpnn.ops``).

Each test runs an operation of :class:`xpnn.backends.cupy.CupyKernels` twice on the same
inputs, with its kernels and with ``use_fused_kernels = False`` (the portable path), and
compares the two. It runs on the CPU everywhere — the backend's own code over NumPy arrays,
each kernel's own text compiled with g++ (``tests/cuda_on_cpu.py``) — and, where CuPy finds
a GPU, on the GPU as well (``benchmarks/gpu_check.sh`` step 1): the same cases, the same
tolerances.

Tolerances (:data:`TOLERANCES`), by what the kernel computes:

- ``exact``: the reference's IEEE operations in its order (copies, maxima, products, sums
  in the same order): equal, up to float32 subnormals, which CuPy flushes to zero;
- ``math``: an exp, log or tanh: 16 ulps of the array's largest magnitude (CUDA's are
  within 2 ulps, NumPy's and the C library's within 1);
- ``sum``: sums taken in another order (a reduction's tree, NumPy's pairwise sums): 256 ulps
  of the largest magnitude, for the few hundred terms these cases add.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import CASES
from cuda_on_cpu import compiler_missing, cpu_cupy_backend

import xpnn
from xpnn.backends.base import SEAM, Backend
from xpnn.backends.cupy import CupyBackend, CupyKernels

GPU_CASE = next((c for c in CASES if c.name == "cupy"), None)
ACTS = ("identity", "relu", "sigmoid", "tanh")
DTYPES = ("float32", "float64")
ULPS = {"exact": 0, "math": 16, "sum": 256}


class Place:
    """Where the kernels run: a CupyBackend, and how host arrays get there and back."""

    def __init__(self, backend: CupyKernels, asarray: Callable[[np.ndarray], Any]) -> None:
        self.backend = backend
        self._asarray = asarray

    def put(self, a: np.ndarray, channel_major: bool = False) -> Any:
        """``a`` on the device; a 4-D ``a`` as a (N, C, H, W) view of a (C, N, H, W) array
        when ``channel_major`` (what a Convolution's output is)."""
        if channel_major:
            return self._asarray(np.ascontiguousarray(a.transpose(1, 0, 2, 3))).transpose(
                1, 0, 2, 3
            )
        return self._asarray(np.ascontiguousarray(a))

    def get(self, a: Any) -> np.ndarray:
        return self.backend.to_numpy(a)

    def both(self, call: Callable[[CupyKernels], Any]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``call(backend)`` with the kernels, then with the portable path: each result as a
        list of host arrays (``call`` makes its inputs afresh each time)."""
        fused = call(self.backend)
        self.backend.use_fused_kernels = False
        try:
            with np.errstate(all="ignore"):
                portable = call(self.backend)
        finally:
            del self.backend.use_fused_kernels
        return self._host(fused), self._host(portable)

    def _host(self, result: Any) -> list[np.ndarray]:
        items = result if isinstance(result, tuple | list) else (result,)
        return [self.get(a) for a in items]


@pytest.fixture(params=["cpu", "gpu"])
def on(request) -> Place:
    if request.param == "cpu":
        missing = compiler_missing()
        if missing:
            pytest.skip(missing)
        return Place(cpu_cupy_backend(), lambda a: np.array(a, copy=True))
    if GPU_CASE is None:
        pytest.skip("needs CuPy and a CUDA GPU: run benchmarks/gpu_check.sh on a GPU machine")
    import xpnn

    backend = xpnn.get_backend("cupy", GPU_CASE.device)
    return Place(backend, lambda a: backend.asarray(a))


def check(actual: np.ndarray, expected: np.ndarray, kind: str, what: str = "") -> None:
    """``actual`` within the ``kind`` tolerance of ``expected`` (see the module docstring);
    NaN where NaN, infinities where infinities."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, what
    finfo = np.finfo(expected.dtype)
    finite = np.abs(expected[np.isfinite(expected)])
    scale = float(finite.max()) if finite.size else 0.0
    atol = max(float(finfo.smallest_normal), ULPS[kind] * float(finfo.eps) * scale)
    np.testing.assert_allclose(
        actual, expected, rtol=ULPS[kind] * float(finfo.eps), atol=atol, err_msg=what
    )


def values(rng: np.random.Generator, shape: tuple[int, ...], dtype: str, edges: bool) -> np.ndarray:
    """Normal samples; with ``edges``, some replaced by ±0, subnormals, very small and very
    large magnitudes (the largest finite included)."""
    x = rng.standard_normal(shape).astype(dtype)
    if edges:
        finfo = np.finfo(dtype)
        special = np.array(
            [
                0.0,
                -0.0,
                finfo.smallest_subnormal,
                -finfo.smallest_subnormal,
                1e-30,
                -1e-30,
                1e30,
                -1e30,
                finfo.max,
                -finfo.max,
                88.0,
                -88.0,
                1e4,
                -1e4,
            ],
            dtype=dtype,
        )
        flat = x.reshape(-1)
        where = rng.choice(flat.size, size=min(flat.size, special.size), replace=False)
        flat[where] = special[: where.size]
    return x


def test_every_seam_operation_is_a_kernel_with_its_launches_declared():
    for name in SEAM:
        assert getattr(CupyBackend, name) is not getattr(Backend, name), name
    assert set(CupyBackend.LAUNCHES) == set(SEAM)
    assert all(isinstance(n, int) and n >= 1 for n in CupyBackend.LAUNCHES.values())


def test_importing_the_cupy_backend_does_not_import_cupy():
    code = "import sys, xpnn.backends.cupy as c; c.KERNELS; print('cupy' in sys.modules)"
    env = {k: v for k, v in os.environ.items() if k not in ("XPNN_BACKEND", "XPNN_DEVICE")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "False"


# -- convolution ----------------------------------------------------------------------------
# (N, C, H, W, fh, fw, stride, pad)
GEOMETRIES = {
    "odd sizes, stride 2, pad 1": (2, 3, 7, 6, 3, 2, 2, 1),
    "filter as large as the image": (3, 1, 5, 5, 5, 5, 1, 0),
    "pad 2: corner windows of padding": (2, 2, 6, 5, 3, 3, 1, 2),
    "1x1": (1, 4, 4, 4, 1, 1, 1, 0),
    "stride 3 skips pixels": (2, 3, 9, 8, 2, 3, 3, 1),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channel_major", [False, True], ids=["nchw", "cnhw"])
@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_the_patch_matrix_is_the_reference(on, dtype, channel_major, geometry):
    n, c, h, w, fh, fw, s, p = GEOMETRIES[geometry]
    x = values(np.random.default_rng(0), (n, c, h, w), dtype, edges=True)
    fused, portable = on.both(lambda b: b.conv_patches(on.put(x, channel_major), fh, fw, s, p))
    check(fused[0], portable[0], "exact")


def test_the_patch_matrix_is_written_into_the_given_buffer(on):
    x = values(np.random.default_rng(1), (2, 3, 6, 6), "float32", edges=False)
    buffer = on.put(np.full((3 * 9, 2 * 16), np.nan, dtype=np.float32))
    assert on.backend.conv_patches(on.put(x), 3, 3, 1, 0, out=buffer) is buffer
    _, portable = on.both(lambda b: b.conv_patches(on.put(x), 3, 3, 1, 0))
    check(on.get(buffer), portable[0], "exact")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_the_patch_matrix_adjoint_is_the_reference(on, dtype, geometry):
    n, c, h, w, fh, fw, s, p = GEOMETRIES[geometry]
    oh, ow = (h + 2 * p - fh) // s + 1, (w + 2 * p - fw) // s + 1
    dp = values(np.random.default_rng(2), (c * fh * fw, n * oh * ow), dtype, edges=True)
    dp[dp > 1e29] = 1.0  # no overflow to inf when summed
    fused, portable = on.both(
        lambda b: b.conv_patches_adjoint(on.put(dp), (n, c, h, w), fh, fw, s, p)
    )
    check(fused[0], portable[0], "exact")


def test_a_patch_matrix_gradient_of_the_wrong_shape_is_refused(on):
    dp = on.put(np.zeros((9, 10), dtype=np.float32))
    with pytest.raises(ValueError, match=r"dP has shape \(9, 10\), expected \(9, 18\)"):
        on.backend.conv_patches_adjoint(dp, (2, 1, 3, 3), 3, 3, 1, 1)


# -- max pooling ----------------------------------------------------------------------------
# (ph, pw, stride, pad, H, W)
POOLS = {
    "2x2/2 tiling": (2, 2, 2, 0, 6, 6),
    "3x3/2 pad 1, overlapping": (3, 3, 2, 1, 7, 7),
    "2x2/1 overlapping": (2, 2, 1, 0, 5, 5),
    "3x2/3 pad 1, pixels in no window": (3, 2, 3, 1, 8, 7),
    "1x1": (1, 1, 1, 0, 3, 4),
}


def pool_input(kind: str, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """``ties``: small integers, many equal maxima; ``edges``: ties plus NaN, -inf, ±0 and
    the largest finite values."""
    rng = np.random.default_rng(3)
    if kind == "random":
        return rng.standard_normal(shape).astype(dtype)
    x = rng.integers(-2, 3, shape).astype(dtype)
    if kind == "edges":
        x[0, 0, 0, 0] = np.nan
        x[0, 1, :3, :3] = -np.inf
        x[1, 0] = np.where(rng.random(shape[2:]) < 0.5, -0.0, 0.0)
        x[1, 1, 1, :] = np.finfo(dtype).max
        x[1, 1, 2, :] = -np.finfo(dtype).max
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["random", "ties", "edges"])
@pytest.mark.parametrize("channel_major", [False, True], ids=["nchw", "cnhw"])
@pytest.mark.parametrize("pool", list(POOLS))
def test_max_pooling_and_its_gradient_are_the_reference(on, dtype, kind, channel_major, pool):
    """The same maxima, and each window's gradient on the same element: the first maximum
    in row-major window order, none for a NaN window, sums where windows overlap."""
    ph, pw, s, p, h, w = POOLS[pool]
    x = pool_input(kind, (2, 3, h, w), dtype)
    oh, ow = (h + 2 * p - ph) // s + 1, (w + 2 * p - pw) // s + 1
    dout = values(np.random.default_rng(4), (2, 3, oh, ow), dtype, edges=kind == "edges")
    if kind == "edges":  # a NaN or infinite gradient spreads over its window, as in the reference
        dout[0, 2, 0, 0], dout[1, 2, -1, -1] = np.nan, np.inf

    def run(b: CupyKernels) -> tuple[Any, Any]:
        out, ctx = b.maxpool_forward(on.put(x, channel_major), ph, pw, s, p)
        return out, b.maxpool_backward(on.put(dout), out, ctx, x.shape, ph, pw, s, p)

    fused, portable = on.both(run)
    check(fused[0], portable[0], "exact", "out")
    check(fused[1], portable[1], "exact", "dx")


def test_a_pooling_gradient_of_the_wrong_shape_is_refused(on):
    out, ctx = on.backend.maxpool_forward(on.put(np.zeros((1, 1, 4, 4), np.float32)), 2, 2, 2, 0)
    with pytest.raises(ValueError, match=r"dout has shape \(1, 1, 3, 3\), expected \(1, 1, 2, 2\)"):
        on.backend.maxpool_backward(
            on.put(np.zeros((1, 1, 3, 3), np.float32)), out, ctx, (1, 1, 4, 4), 2, 2, 2, 0
        )


# -- activations ----------------------------------------------------------------------------
def _act_kind(act: str) -> str:
    return "math" if act in ("sigmoid", "tanh") else "exact"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["affine", "convolution"])
@pytest.mark.parametrize("act", ACTS)
def test_bias_and_activation_are_the_reference(on, dtype, layout, act):
    rng = np.random.default_rng(5)
    shape, b_shape = ((9, 7), (7,)) if layout == "affine" else ((4, 30), (4, 1))
    z, b = values(rng, shape, dtype, edges=True), values(rng, b_shape, dtype, edges=False)
    z[0, :3] = [np.nan, np.inf, -np.inf]
    fused, portable = on.both(lambda k: k.bias_act(on.put(z), on.put(b), act))
    check(fused[0], portable[0], _act_kind(act))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_an_activation_is_the_reference_and_leaves_its_input(on, dtype, act):
    x = values(np.random.default_rng(6), (3, 2, 4, 5), dtype, edges=True)
    x[0, 0, 0, :3] = [np.nan, np.inf, -np.inf]
    seen = []

    def run(b: CupyKernels) -> Any:
        x_dev = on.put(x, channel_major=True)
        seen.append(x_dev)
        return b.act_forward(x_dev, act)

    fused, portable = on.both(run)
    check(fused[0], portable[0], _act_kind(act))
    np.testing.assert_array_equal(on.get(seen[0]), x)


def act_outputs(rng: np.random.Generator, act: str, dtype: str) -> np.ndarray:
    """``act(z)`` of edge values, with float32 subnormals flushed (see the test after)."""
    with np.errstate(all="ignore"):
        out = {
            "identity": lambda z: z,
            "relu": lambda z: np.maximum(z, 0),
            "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
            "tanh": np.tanh,
        }[act](values(rng, (6, 11), dtype, edges=True))
    if dtype == "float32":
        out[np.abs(out) < np.finfo(dtype).smallest_normal] = 0
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_an_activation_gradient_is_the_reference(on, dtype, act):
    rng = np.random.default_rng(7)
    dout, out = values(rng, (6, 11), dtype, edges=True), act_outputs(rng, act, dtype)
    fused, portable = on.both(lambda b: b.act_backward(on.put(dout), on.put(out), act))
    check(fused[0], portable[0], "exact" if act in ("identity", "relu") else "math")


def test_a_float32_subnormal_activation_passes_no_gradient_as_on_a_gpu(on):
    """CuPy compiles every kernel, its own included, with ``-ftz=true``: a float32 ReLU
    output below the smallest normal number counts as 0 (no gradient), where NumPy lets
    the gradient through. float64 keeps its subnormals."""
    for dtype, passed in (("float32", 0.0), ("float64", 1.0)):
        out = np.array([np.finfo(dtype).smallest_subnormal, 1.0], dtype=dtype)
        dx = on.get(on.backend.act_backward(on.put(np.ones(2, dtype)), on.put(out), "relu"))
        np.testing.assert_array_equal(dx, [passed, 1.0])


# -- softmax cross-entropy ------------------------------------------------------------------
def softmax_inputs(dtype: str, targets: str, scores: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(8)
    x = rng.standard_normal((13, 10)).astype(dtype)
    if scores == "huge":
        x *= 1e4  # exp of every score but the largest underflows
    elif scores == "nan row":
        x[2, 5] = np.nan
    if targets == "one-hot":
        t = np.eye(10, dtype=dtype)[rng.integers(0, 10, 13)]
    else:
        t = rng.random((13, 10)).astype(dtype)
        t /= t.sum(axis=1, keepdims=True)
    return x, t


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scores", ["normal", "huge", "nan row"])
@pytest.mark.parametrize("targets", ["one-hot", "soft"])
@pytest.mark.parametrize("want_grad", [True, False])
def test_softmax_cross_entropy_is_the_reference(on, dtype, scores, targets, want_grad):
    x, t = softmax_inputs(dtype, targets, scores)

    def run(b: CupyKernels) -> Any:
        loss, y, dx = b.softmax_xent(on.put(x), on.put(t), want_grad)
        assert (dx is None) != want_grad
        return (loss, y) if dx is None else (loss, y, dx)

    fused, portable = on.both(run)
    assert fused[0].shape == ()
    for got, want, what in zip(fused, portable, ("loss", "y", "dx")[: len(fused)], strict=True):
        check(got, want, "sum" if what == "loss" else "math", what)


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_softmax_cross_entropy_gradient_is_the_reference(on, dtype):
    x, t = softmax_inputs(dtype, "soft", "normal")
    y = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    fused, portable = on.both(lambda b: b.softmax_xent_backward(on.put(y), on.put(t), 0.37 / 13))
    check(fused[0], portable[0], "exact")


def test_targets_of_another_shape_are_refused(on):
    x, t = on.put(np.zeros((4, 3), np.float32)), on.put(np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match=r"t has shape \(4, 2\), expected \(4, 3\)"):
        on.backend.softmax_xent(x, t, True)


# -- batch normalisation --------------------------------------------------------------------
BN_SHAPES = {"2-D": (16, 5), "4-D": (3, 4, 5, 3), "4-D channel-major": (3, 4, 5, 3)}


def bn_inputs(dtype: str, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(9)
    c = shape[1]
    x = (rng.standard_normal(shape) * 3 + 10).astype(dtype)  # an offset: cancellation
    x[:, 0] = 2.5  # a constant feature: σ² = 0
    return {
        "x": x,
        "gamma": rng.standard_normal(c).astype(dtype),
        "beta": rng.standard_normal(c).astype(dtype),
        "mean": rng.standard_normal(c).astype(dtype),
        "var": rng.random(c).astype(dtype) + 0.5,
        "dout": rng.standard_normal(shape).astype(dtype),
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("train", [True, False], ids=["train", "inference"])
@pytest.mark.parametrize("shape", list(BN_SHAPES))
def test_batchnorm_forward_is_the_reference(on, dtype, train, shape):
    a = bn_inputs(dtype, BN_SHAPES[shape])
    cm = shape.endswith("channel-major")

    def run(b: CupyKernels) -> Any:
        rm, rv = on.put(a["mean"]), on.put(a["var"])
        out, xn, std = b.batchnorm_forward(
            on.put(a["x"], cm), on.put(a["gamma"]), on.put(a["beta"]), rm, rv, 0.9, 1e-6, train
        )
        return out, xn, std, rm, rv

    fused, portable = on.both(run)
    for got, want, what in zip(
        fused, portable, ("out", "xn", "std", "running mean", "running var"), strict=True
    ):
        check(got, want, "sum", what)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("into", [False, True], ids=["new", "into given arrays"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "inference"])
@pytest.mark.parametrize("shape", list(BN_SHAPES))
def test_batchnorm_backward_is_the_reference(on, dtype, into, train, shape):
    a = bn_inputs(dtype, BN_SHAPES[shape])
    cm = shape.endswith("channel-major")
    with np.errstate(all="ignore"):
        xn = a["x"] - a["x"].mean(axis=0 if a["x"].ndim == 2 else (0, 2, 3), keepdims=True)
    std = np.sqrt(a["var"])
    c = a["gamma"].shape[0]

    def run(b: CupyKernels) -> Any:
        given = (
            (on.put(np.full(c, np.nan, dtype)), on.put(np.full(c, np.nan, dtype)))
            if into
            else (None, None)
        )
        dx, dgamma, dbeta = b.batchnorm_backward(
            on.put(a["dout"]), on.put(xn, cm), on.put(std), on.put(a["gamma"]), train, *given
        )
        if into:
            assert dgamma is given[0] and dbeta is given[1]
        return dx, dgamma, dbeta

    fused, portable = on.both(run)
    for got, want, what in zip(fused, portable, ("dx", "dgamma", "dbeta"), strict=True):
        check(got, want, "sum", what)


# -- dropout --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ratio", [0.3, 0.5])
def test_dropout_draws_the_reference_mask(on, dtype, ratio):
    """Same seed, same draws: the same mask, scaled by 1/(1 - ratio), and output."""
    x = values(np.random.default_rng(10), (7, 9), dtype, edges=True)
    fused, portable = on.both(lambda b: b.dropout_forward(on.put(x), ratio, b.rng(11)))
    for got, want, what in zip(fused, portable, ("out", "mask"), strict=True):
        check(got, want, "exact", what)
    assert 0 < np.count_nonzero(fused[1]) < fused[1].size


# -- a whole training step ------------------------------------------------------------------
NETWORKS = {
    "MLP, BatchNorm, ReLU": lambda b: xpnn.MultiLayerNet(
        12, [8, 8], 3, use_batchnorm=True, backend=b, seed=0, dtype="float64"
    ),
    "MLP, dropout, sigmoid": lambda b: xpnn.MultiLayerNet(
        12,
        [8, 8],
        3,
        activation="sigmoid",
        use_dropout=True,
        dropout_ratio=0.3,
        backend=b,
        seed=0,
        dtype="float64",
    ),
    "SimpleConvNet": lambda b: xpnn.SimpleConvNet(
        (1, 10, 9),
        {"filter_num": 4, "filter_size": 3, "pad": 1, "stride": 1},
        hidden_size=10,
        output_size=3,
        backend=b,
        seed=0,
        dtype="float64",
    ),
    "DeepConvNet": lambda b: xpnn.DeepConvNet(backend=b, seed=0, dtype="float64"),
}


@pytest.mark.parametrize("network", list(NETWORKS))
def test_a_training_step_on_the_kernels_is_the_portable_step(on, network):
    """The layers, the kernels and the glue between them (layouts, bound gradients, the
    pooling's context): one SGD step, loss, gradients and updated parameters, in float64.
    Absolute 1e-12 on values of order 1: some gradients are 0 in exact arithmetic (an
    Affine's bias before BatchNorm) and both paths give rounding noise there (which Adam
    would scale up to ±lr·noise/ε; its kernel is test_fused_rules')."""
    make = NETWORKS[network]

    def step(b: CupyKernels) -> list[Any]:
        net = make(b)
        rng = np.random.default_rng(12)
        x = rng.random((3, *net.input_shape))
        t = rng.integers(0, net.output_size, 3)
        loss, grads = net.loss_and_gradient(x, t)
        grads = {k: b.xp.asarray(g, copy=True) for k, g in grads.items()}
        xpnn.SGD(lr=0.1).update(net.params, net.gradient(x, t))
        return [loss, *grads.values(), *net.params.values()]

    fused, portable = on.both(step)
    for got, want in zip(fused, portable, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
