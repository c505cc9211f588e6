"""The texts of xpnn's CuPy kernels: data only (names, parameter lists, bodies), no CuPy.

Each hot operation of the kernel seam (:data:`xpnn.backends.base.SEAM`) is one CUDA kernel
here, an :class:`Elementwise` (CuPy's ``ElementwiseKernel``: the body runs once per index
``i``) or a :class:`Reduction` (CuPy's ``ReductionKernel``: ``map`` per input element,
``reduce`` pairwise, ``post_map`` per output element). :mod:`xpnn.backends.cupy` builds the
CuPy objects from these texts and launches them; the tests compile every text with CuPy's
own code generator and NVRTC, and run it on the CPU (compiled as C++) against the portable
reference in :mod:`xpnn.ops`. So a kernel is written once, here, and never re-typed.

Conventions the bodies keep, so that a kernel computes what the portable reference does:

- every constant is written in the kernel's type, ``(T)1``, never ``1.0`` (a double literal
  would compute a float32 kernel in double and round differently);
- the operations are those of the reference, in its order; the kernels are compiled with
  :data:`OPTIONS` (``--fmad=false``: no multiply-add contraction, each product rounded as
  NumPy rounds it);
- raw arrays are indexed with an index array (``x[at]``, ``at`` of the array's ``ndim``),
  which CuPy resolves with the array's own strides: any layout works, views included;
- geometry comes in as ``int32`` scalars, sizes as ``int64``; indices are ``ptrdiff_t``.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "ACTIVATION_KERNELS",
    "FUSED_RULES",
    "KERNELS",
    "OPTIONS",
    "Elementwise",
    "FusedRule",
    "Reduction",
]

#: NVRTC options of every kernel: IEEE products and sums, not contracted into fused
#: multiply-adds, as NumPy computes them (CuPy adds ``-ftz=true``: float32 subnormals
#: flush to zero).
OPTIONS: tuple[str, ...] = ("--fmad=false",)


class Elementwise(NamedTuple):
    """An ``ElementwiseKernel``: ``operation`` runs for each index ``i`` of the broadcast
    non-raw arguments (or of ``size=`` when every array is raw).

    ``scalars`` names the in-parameters passed as Python numbers; ``raw_ndim`` is the
    number of dimensions of every ``raw`` array (what the kernel's index arrays assume)."""

    name: str
    in_params: str
    out_params: str
    operation: str
    preamble: str = ""
    scalars: tuple[str, ...] = ()
    raw_ndim: int = 1


class Reduction(NamedTuple):
    """A ``ReductionKernel``: ``map_expr`` per input element (the non-raw inputs broadcast),
    folded with ``reduce_expr`` (``a``, ``b``) from ``identity``, then ``post_map_expr``
    (``a``) once per output element. ``in_ndim``/``out_ndim``: the dimensions of the reduced
    input and of the outputs in xpnn's use."""

    name: str
    in_params: str
    out_params: str
    map_expr: str
    reduce_expr: str
    post_map_expr: str
    identity: str
    reduce_type: str | None = None
    preamble: str = ""
    scalars: tuple[str, ...] = ()
    in_ndim: int = 1
    out_ndim: int = 0


# -- activations --------------------------------------------------------------------------
# The reference's formulas (xpnn.ops.activation): relu is max(s, 0) with NaN passed through
# and -0 giving +0 (NumPy's maximum); sigmoid is 1 / (exp(-s) + 1) in that order.
_ACTIVATIONS = """
__device__ T xpnn_identity(T s) { return s; }
__device__ T xpnn_relu(T s) { return (s > (T)0 || s != s) ? s : (T)0; }
__device__ T xpnn_sigmoid(T s) { T e = exp(-s); e += (T)1; return (T)1 / e; }
__device__ T xpnn_tanh(T s) { return tanh(s); }
"""
#: dout · act'(z) written with out = act(z), as the reference writes it.
_DERIVATIVES = {
    "identity": "dx = dout",
    "relu": "dx = dout * (out > (T)0 ? (T)1 : (T)0)",
    "sigmoid": "dx = dout * ((T)1 - out) * out",
    "tanh": "dx = dout * ((T)1 - out * out)",
}
_ACTS = tuple(_DERIVATIVES)

ACTIVATION_KERNELS: dict[str, dict[str, str]] = {
    "bias_act": {a: f"xpnn_bias_{a}" for a in _ACTS},
    "act_forward": {a: f"xpnn_act_{a}" for a in _ACTS},
    "act_backward": {a: f"xpnn_act_backward_{a}" for a in _ACTS},
}
"""The kernel of each activation for the three activation operations of the seam."""

_ACTIVATION_SPECS = [
    *(
        Elementwise(f"xpnn_bias_{a}", "T b", "T z", f"z = xpnn_{a}(z + b)", _ACTIVATIONS)
        for a in _ACTS
    ),
    *(Elementwise(f"xpnn_act_{a}", "T x", "T y", f"y = xpnn_{a}(x)", _ACTIVATIONS) for a in _ACTS),
    *(
        Elementwise(f"xpnn_act_backward_{a}", "T dout, T out", "T dx", _DERIVATIVES[a])
        for a in _ACTS
    ),
]

# -- convolution: the patch matrix and its adjoint ----------------------------------------
# P[(c·fh + ki)·fw + kj, (n·oh + oy)·ow + ox] = x_pad[n, c, oy·s + ki, ox·s + kj]: a thread
# per entry of P, reading x (N, C, H, W) through its strides, zero outside the image.
_IM2COL = """
const ptrdiff_t cols = x.shape()[0] * oh * ow;
const ptrdiff_t col = i % cols, row = i / cols;
const ptrdiff_t ox = col % ow, oy = col / ow % oh, n = col / ((ptrdiff_t)ow * oh);
const ptrdiff_t kj = row % fw, ki = row / fw % fh, c = row / ((ptrdiff_t)fw * fh);
const ptrdiff_t h = oy * stride - pad + ki, w = ox * stride - pad + kj;
if (h >= 0 && h < x.shape()[2] && w >= 0 && w < x.shape()[3]) {
  const ptrdiff_t at[4] = {n, c, h, w};
  p = x[at];
} else {
  p = (T)0;
}
"""

# dx (C, N, H, W), a thread per pixel: the sum, in the reference's (ki, kj) order, of the
# entries of dP copied from it. No atomics: each thread writes its own pixel.
_COL2IM = """
const ptrdiff_t w = i % width, h = i / width % height;
const ptrdiff_t n = i / (width * height) % batch, c = i / (width * height * batch);
T acc = (T)0;
for (int ki = 0; ki < fh; ++ki) {
  ptrdiff_t oy = h + pad - ki;
  if (oy < 0 || oy % stride != 0) continue;
  oy /= stride;
  if (oy >= oh) continue;
  for (int kj = 0; kj < fw; ++kj) {
    ptrdiff_t ox = w + pad - kj;
    if (ox < 0 || ox % stride != 0) continue;
    ox /= stride;
    if (ox >= ow) continue;
    const ptrdiff_t at[2] = {(c * fh + ki) * fw + kj, (n * oh + oy) * ow + ox};
    acc += dp[at];
  }
}
img = acc;
"""

# -- max pooling ----------------------------------------------------------------------------
# A thread per window: its maximum and the index (ki·pw + kj) of its first maximum in
# row-major order. Padding is -inf: it never wins, but an input's -inf ties it. A NaN makes
# the output NaN and the index -1 (no gradient).
_MAXPOOL_FORWARD = """
const ptrdiff_t ox = i % ow, oy = i / ow % oh;
const ptrdiff_t c = i / ((ptrdiff_t)ow * oh) % x.shape()[1];
const ptrdiff_t n = i / ((ptrdiff_t)ow * oh * x.shape()[1]);
T m = (T)0, nan_value = (T)0;
int best = -1;
bool at_padding = false, nan = false;
for (int ki = 0; ki < ph; ++ki) {
  const ptrdiff_t h = oy * stride - pad + ki;
  for (int kj = 0; kj < pw; ++kj) {
    const ptrdiff_t w = ox * stride - pad + kj;
    if (h < 0 || h >= x.shape()[2] || w < 0 || w >= x.shape()[3]) {
      if (best < 0) { best = ki * pw + kj; at_padding = true; }
      continue;
    }
    const ptrdiff_t at[4] = {n, c, h, w};
    const T v = x[at];
    if (v != v) { if (!nan) nan_value = v; nan = true; continue; }
    if (best < 0) { best = ki * pw + kj; m = v; }
    else if (at_padding) { if (!(isinf(v) && v < (T)0)) best = ki * pw + kj; m = v; }
    else if (v > m) { best = ki * pw + kj; m = v; }
    at_padding = false;
  }
}
out = nan ? nan_value : m;
arg = nan ? -1 : best;
"""

# dx, a thread per input pixel in dx's memory order (channel-major when ``cmajor``): each
# window covering the pixel gives dout · (its first maximum is this pixel), in the
# reference's (ki, kj) order; added up where windows overlap, else the one term.
_MAXPOOL_BACKWARD = """
const ptrdiff_t width = dx.shape()[3], height = dx.shape()[2];
const ptrdiff_t batch = dx.shape()[0], channels = dx.shape()[1];
const ptrdiff_t w = i % width, h = i / width % height, r = i / (width * height);
const ptrdiff_t n = cmajor ? r % batch : r / channels;
const ptrdiff_t c = cmajor ? r / batch : r % channels;
const ptrdiff_t oh = dout.shape()[2], ow = dout.shape()[3];
T acc = (T)0;
for (int ki = 0; ki < ph; ++ki) {
  ptrdiff_t oy = h + pad - ki;
  if (oy < 0 || oy % stride != 0) continue;
  oy /= stride;
  if (oy >= oh) continue;
  for (int kj = 0; kj < pw; ++kj) {
    ptrdiff_t ox = w + pad - kj;
    if (ox < 0 || ox % stride != 0) continue;
    ox /= stride;
    if (ox >= ow) continue;
    const ptrdiff_t at[4] = {n, c, oy, ox};
    const T term = dout[at] * (arg[at] == ki * pw + kj ? (T)1 : (T)0);
    acc = overlap ? acc + term : term;
  }
}
const ptrdiff_t here[4] = {n, c, h, w};
dx[here] = acc;
"""

# -- softmax cross-entropy ------------------------------------------------------------------
# A thread per row n (the reference's steps: m = max (NaN propagates), z = x - m,
# s = Σ exp(z), y = exp(z) / s, log y = z - log s, row loss Σ t · log y), then one
# reduction of the row losses: loss = Σ_n row_n · scale, scale = -1/N.
_SOFTMAX_ROWS = """
const ptrdiff_t classes = x.shape()[1];
ptrdiff_t at[2] = {i, 0};
T m = x[at];
for (ptrdiff_t k = 1; k < classes; ++k) {
  at[1] = k;
  const T v = x[at];
  if (v > m || v != v) m = v;
}
T s = (T)0;
for (ptrdiff_t k = 0; k < classes; ++k) { at[1] = k; s += exp(x[at] - m); }
const T log_s = log(s);
T r = (T)0;
for (ptrdiff_t k = 0; k < classes; ++k) {
  at[1] = k;
  const T z = x[at] - m;
  const T yk = exp(z) / s;
  y[at] = yk;
  r += t[at] * (z - log_s);
  GRAD
}
row_loss = r;
"""
_DX_ROW = "dx[at] = (yk - t[at]) * scale;"

# -- batch normalisation --------------------------------------------------------------------
# The batch mean and variance of each feature in one pass (Chan et al.'s pairwise update
# of count, mean and sum of squared deviations, exact for a constant feature), then the
# running statistics and √(σ² + eps) per feature, as the reference computes them.
_MOMENTS = """
struct xpnn_moments {
  long long n;
  T mean, m2;
  __device__ xpnn_moments() : n(0), mean((T)0), m2((T)0) {}
  __device__ xpnn_moments(T v) : n(1), mean(v), m2((T)0) {}
};
__device__ xpnn_moments xpnn_merge(const xpnn_moments& a, const xpnn_moments& b) {
  if (a.n == 0) return b;
  if (b.n == 0) return a;
  xpnn_moments r;
  r.n = a.n + b.n;
  const T delta = b.mean - a.mean;
  const T fb = (T)b.n / (T)r.n;
  r.mean = a.mean + delta * fb;
  r.m2 = a.m2 + b.m2 + delta * delta * (T)a.n * fb;
  return r;
}
"""
_STATS_POST = (
    "mean = a.mean, std = sqrt(a.m2 / (T)a.n + eps), "
    "running_mean = running_mean * momentum + a.mean * keep, "
    "running_var = running_var * momentum + a.m2 / (T)a.n * keep"
)
_SUMS = """
struct xpnn_sums {
  T s, sx;
  __device__ xpnn_sums() : s((T)0), sx((T)0) {}
  __device__ xpnn_sums(T a, T b) : s(a), sx(b) {}
};
"""

# -- the kernels ----------------------------------------------------------------------------
_GEOMETRY = "int32 ph, int32 pw, int32 stride, int32 pad"
_SPECS: list[Elementwise | Reduction] = [
    *_ACTIVATION_SPECS,
    Elementwise(
        "xpnn_im2col",
        "raw T x, int32 fh, int32 fw, int32 stride, int32 pad, int32 oh, int32 ow",
        "T p",
        _IM2COL,
        scalars=("fh", "fw", "stride", "pad", "oh", "ow"),
        raw_ndim=4,
    ),
    Elementwise(
        "xpnn_col2im",
        "raw T dp, int32 fh, int32 fw, int32 stride, int32 pad, int32 oh, int32 ow, "
        "int64 batch, int64 height, int64 width",
        "T img",
        _COL2IM,
        scalars=("fh", "fw", "stride", "pad", "oh", "ow", "batch", "height", "width"),
        raw_ndim=2,
    ),
    Elementwise(
        "xpnn_maxpool_forward",
        f"raw T x, {_GEOMETRY}, int32 oh, int32 ow",
        "T out, int32 arg",
        _MAXPOOL_FORWARD,
        scalars=("ph", "pw", "stride", "pad", "oh", "ow"),
        raw_ndim=4,
    ),
    Elementwise(
        "xpnn_maxpool_backward",
        f"raw T dout, raw int32 arg, {_GEOMETRY}, int32 cmajor, int32 overlap",
        "raw T dx",
        _MAXPOOL_BACKWARD,
        scalars=("ph", "pw", "stride", "pad", "cmajor", "overlap"),
        raw_ndim=4,
    ),
    Elementwise(
        "xpnn_softmax_xent_rows",
        "raw T x, raw T t",
        "raw T y, T row_loss",
        _SOFTMAX_ROWS.replace("GRAD", ""),
        raw_ndim=2,
    ),
    Elementwise(
        "xpnn_softmax_xent_rows_grad",
        "raw T x, raw T t, T scale",
        "raw T y, raw T dx, T row_loss",
        _SOFTMAX_ROWS.replace("GRAD", _DX_ROW),
        scalars=("scale",),
        raw_ndim=2,
    ),
    Reduction(
        "xpnn_sum_scaled",
        "T v, T scale",
        "T total",
        "v",
        "a + b",
        "total = a * scale",
        "0",
        scalars=("scale",),
        in_ndim=1,
        out_ndim=0,
    ),
    Elementwise(
        "xpnn_softmax_xent_backward",
        "T y, T t, T scale",
        "T dx",
        "dx = (y - t) * scale",
        scalars=("scale",),
    ),
    Reduction(
        "xpnn_batchnorm_stats",
        "T x, T momentum, T keep, T eps",
        "T mean, T std, T running_mean, T running_var",
        "xpnn_moments(x)",
        "xpnn_merge(a, b)",
        _STATS_POST,
        "xpnn_moments()",
        reduce_type="xpnn_moments",
        preamble=_MOMENTS,
        scalars=("momentum", "keep", "eps"),
        in_ndim=2,
        out_ndim=1,
    ),
    Elementwise(
        "xpnn_batchnorm_std", "T var, T eps", "T std", "std = sqrt(var + eps)", scalars=("eps",)
    ),
    Elementwise(
        "xpnn_batchnorm_normalize",
        "T x, T mean, T std, T gamma, T beta",
        "T out, T xn",
        "xn = (x - mean) / std; out = xn * gamma + beta",
    ),
    Reduction(
        "xpnn_batchnorm_grad_sums",
        "T dout, T xn",
        "T dbeta, T dgamma",
        "xpnn_sums(dout, dout * xn)",
        "xpnn_sums(a.s + b.s, a.sx + b.sx)",
        "dbeta = a.s, dgamma = a.sx",
        "xpnn_sums()",
        reduce_type="xpnn_sums",
        preamble=_SUMS,
        in_ndim=2,
        out_ndim=1,
    ),
    Elementwise(
        "xpnn_batchnorm_backward",
        "T dout, T xn, T dgamma, T dbeta, T gamma, T std, T minv",
        "T dx",
        "dx = ((xn * dgamma + dbeta) * minv + dout) * (gamma / std)",
        scalars=("minv",),
    ),
    Elementwise(
        "xpnn_batchnorm_backward_inference",
        "T dout, T gamma, T std",
        "T dx",
        "dx = dout * (gamma / std)",
    ),
    Elementwise(
        "xpnn_dropout",
        "T x, T u, T ratio, T scale",
        "T out, T mask",
        "mask = (u >= ratio ? (T)1 : (T)0) * scale; out = x * mask",
        scalars=("ratio", "scale"),
    ),
]


# -- the optimizer rules --------------------------------------------------------------------
class FusedRule:
    """One optimizer rule as a CUDA elementwise operation over the flat buffers: reads the
    gradient ``g`` and the ``scalars`` (Python floats, cast to the parameters' type ``T``),
    updates ``p`` and the state ``slots`` in place. The formula is the portable rule's
    (``xpnn/optimizers/rules.py``), written as one expression per array."""

    def __init__(self, scalars: tuple[str, ...], slots: tuple[str, ...], operation: str) -> None:
        self.scalars, self.slots, self.operation = scalars, slots, operation

    @property
    def in_params(self) -> str:
        return ", ".join(["T g", *(f"T {s}" for s in self.scalars)])

    @property
    def out_params(self) -> str:
        return ", ".join(["T p", *(f"T {s}" for s in self.slots)])

    def kernel(self, rule: str) -> Elementwise:
        """The rule's :class:`Elementwise` kernel, named ``xpnn_fused_<rule>``."""
        return Elementwise(
            f"xpnn_fused_{rule}",
            self.in_params,
            self.out_params,
            self.operation,
            scalars=self.scalars,
        )


# Each operation is the portable rule's (xpnn/optimizers/rules.py), operation for operation
# in its order: g / (√h + ε) · η, not η · g / (√h + ε), so that the numbers are the same.
FUSED_RULES = {
    "sgd": FusedRule(("lr",), (), "p -= lr * g"),
    "momentum": FusedRule(("lr", "momentum"), ("v",), "v = momentum * v - lr * g; p += v"),
    "nesterov": FusedRule(
        ("lr", "momentum"), ("v",), "T s = lr * g; v = momentum * v - s; p -= s; p += momentum * v"
    ),
    "adagrad": FusedRule(("lr", "eps"), ("h",), "h += g * g; p -= g / (sqrt(h) + eps) * lr"),
    "rmsprop": FusedRule(
        ("lr", "rho", "omrho", "eps"),
        ("h",),
        "h = rho * h + g * g * omrho; p -= g / (sqrt(h) + eps) * lr",
    ),
    # 1 - β is passed in (computed in double, then cast to T, as the portable rule's Python
    # float is): computed in the kernel from a float32 β it would round differently
    "adam": FusedRule(
        ("b1", "b2", "omb1", "omb2", "lr_t", "eps_t", "decay"),
        ("m", "v"),
        "p *= decay; m = b1 * m + g * omb1; v = b2 * v + g * g * omb2; "
        "p -= m / (sqrt(v) + eps_t) * lr_t",
    ),
}

#: Every kernel xpnn launches on CuPy, by name.
KERNELS: dict[str, Elementwise | Reduction] = {
    k.name: k for k in (*_SPECS, *(rule.kernel(name) for name, rule in FUSED_RULES.items()))
}
