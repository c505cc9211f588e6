"""Stride-1 convolution by shifted rows: the patch matrix's work done on 1/FH of it.

For stride 1, every window of a padded image laid out as one flat row per channel is the
same set of offsets from its top-left corner: element (i, j) of the window whose corner is
at flat position q is at q + i·Ws + j, Ws the row length. So instead of copying every
window into a patch matrix (C·FH·FW rows, FH·FW copies of the input), this copies the input
FW times, shifted by j (Q: FW·C rows), and lets the matrix product read FH row-shifted
slices of Q::

    Q[(j, c), t]    = flat[c, t + j]                               (FW·C, Lq)
    Y               = Wrows · Q        Wrows[(i, f), (j, c)] = W[f, c, i, j]   (FH·F, Lq)
    out[f, q]       = Σ_i Y[(i, f), q + i·Ws]                      (F, L)

**The flat layout** (:class:`RowGeometry`). An input (N, C, H, W) padded by (ph, pw) is kept
as a (C, S, Hs, Ws) array with Hs = H + ph and Ws = W + pw, sample n in slot n + 1 at rows
``:H`` and columns ``:W``, zeros everywhere else: a sample's bottom padding is the next one's
top padding, and a row's right padding the next row's left (ph rows and pw columns of zeros
between neighbours are all a window needs, whichever side it pads). Viewed flat, (C,
S·Hs·Ws), a window's corner q = n·Hs·Ws + oy·Ws + ox reads from ``base + q``, base =
Hs·Ws - (ph·Ws + pw). The output is computed at every q < L = N·Hs·Ws; those with oy < OH
and ox < OW (OH <= Hs as pad < FH) are the convolution, the others (a band of pw columns and
ph rows per sample, 7 % of 28x28 pad 1, 27 % of 8x8) are discarded. Slot 0 and the last
slots are zeros the shifted reads of the first and last samples run into.

**The gradients** read the same Q. With dout written into the same layout (zeros at the
discarded positions), ``db`` is its sum, ``dW[f, c, i, j] = Σ_q dout[f, q]·Q[(j, c), q + i·Ws]``
(FH products, each (FW·C, L) by (L, F)), and ``dx`` is this same convolution of dout, padded
by (FH - 1 - ph, FW - 1 - pw), with the filters flipped in both spatial axes and their channel
axes swapped: the layout of dout for it has the same Hs and Ws, so dout is written once for
both.

Measured against the patch matrix + one product on NumPy (float32, N = 100, two OpenBLAS
threads, forward only, ms): 16→16 on 28x28 pad 1 19.4 → 5.9, 32→32 on 14x14 pad 2 9.3 →
4.2, 64→64 on 8x8 pad 1 6.8 → 3.6; but 1→16 on 28x28 0.98 → 1.83 (a product over FW·C = 3
is too thin). Which layers use it is the backend's choice (``conv_by_rows``). Every function
here uses the Array API standard only; the values are those of the patch matrix up to the
order of the float additions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from array_api_compat import device as device_of

from .._array_api import namespace_of

__all__ = ["RowGeometry", "combine", "filter_grad", "flipped", "layout", "row_filters", "shifts"]


@dataclass(frozen=True)
class RowGeometry:
    """The flat layout of an (N, C, H, W) input padded by (ph, pw) for an FH x FW filter,
    stride 1 (see the module docstring). Requires ph < FH and pw < FW."""

    n: int
    h: int
    w: int
    fh: int
    fw: int
    ph: int
    pw: int

    def __post_init__(self) -> None:
        if not (0 <= self.ph < self.fh and 0 <= self.pw < self.fw):
            raise ValueError(
                f"RowGeometry: the padding ({self.ph}, {self.pw}) must be smaller than the "
                f"{self.fh}x{self.fw} filter"
            )

    @property
    def hs(self) -> int:
        return self.h + self.ph

    @property
    def ws(self) -> int:
        return self.w + self.pw

    @property
    def oh(self) -> int:
        return self.h + 2 * self.ph - self.fh + 1

    @property
    def ow(self) -> int:
        return self.w + 2 * self.pw - self.fw + 1

    @property
    def base(self) -> int:
        """Where, in the flat layout, the window with corner q = 0 starts."""
        return self.hs * self.ws - (self.ph * self.ws + self.pw)

    @property
    def length(self) -> int:
        """L = N·Hs·Ws: the corners computed, valid or not."""
        return self.n * self.hs * self.ws

    @property
    def q_length(self) -> int:
        """Lq = L + (FH - 1)·Ws: the columns of Q the FH row shifts read."""
        return self.length + (self.fh - 1) * self.ws

    @property
    def slots(self) -> int:
        """S: sample slots of the layout, enough for Q's reads past the last sample."""
        reach = self.base + self.fw - 1 + self.q_length  # one past Q's last read
        return max(self.n + 1, math.ceil(reach / (self.hs * self.ws)))

    def layout_shape(self, channels: int) -> tuple[int, int, int, int]:
        return (channels, self.slots, self.hs, self.ws)

    def adjoint(self) -> RowGeometry:
        """The geometry of dx as a convolution of dout (N, F, OH, OW): the same Hs, Ws."""
        return RowGeometry(
            self.n, self.oh, self.ow, self.fh, self.fw, self.fh - 1 - self.ph, self.fw - 1 - self.pw
        )


def layout(x: Any, g: RowGeometry, buffer: Any = None) -> Any:
    """x (N, C, H, W), any strides, into the flat layout (C, S·Hs·Ws) of ``g``. ``buffer`` is
    a (C, S, Hs, Ws) array this function made before (its padding still zero), reused, or
    ``None`` for a new one. Returns ``(buffer, flat view)``."""
    xp = namespace_of(x)
    c = x.shape[1]
    if buffer is None:
        buffer = xp.zeros(g.layout_shape(c), dtype=x.dtype, device=device_of(x))
    buffer[:, 1 : g.n + 1, : g.h, : g.w] = xp.permute_dims(x, (1, 0, 2, 3))
    return buffer, xp.reshape(buffer, (c, g.slots * g.hs * g.ws))


def shifts(flat: Any, g: RowGeometry, out: Any = None) -> Any:
    """Q (FW·C, Lq): ``Q[(j, c), t] = flat[c, base + j + t]`` for the flat layout ``flat``
    (C, S·Hs·Ws); into ``out`` (C-contiguous, Q's shape) when given."""
    xp = namespace_of(flat)
    c = flat.shape[0]
    lq, base = g.q_length, g.base
    if out is None:
        out = xp.empty((g.fw * c, lq), dtype=flat.dtype, device=device_of(flat))
    out3 = xp.reshape(out, (g.fw, c, lq))
    for j in range(g.fw):
        out3[j, ...] = flat[:, base + j : base + j + lq]
    return out


def row_filters(W: Any) -> Any:
    """W (F, C, FH, FW) as Wrows (FH·F, FW·C): ``Wrows[(i, f), (j, c)] = W[f, c, i, j]``."""
    xp = namespace_of(W)
    f, c, fh, fw = W.shape
    return xp.reshape(xp.permute_dims(W, (2, 0, 3, 1)), (fh * f, fw * c))


def flipped(W: Any) -> Any:
    """The filters of dx as a convolution: W flipped in both spatial axes, its channel axes
    swapped, (C, F, FH, FW)."""
    xp = namespace_of(W)
    return xp.permute_dims(xp.flip(W, axis=(2, 3)), (1, 0, 2, 3))


def combine(y: Any, g: RowGeometry, f: int) -> Any:
    """out (F, L), a new array: ``out[:, q] = Σ_i y[i·F:(i+1)·F, q + i·Ws]`` for the product
    y = Wrows · Q (FH·F, Lq), added in the order i = 0, 1, ..."""
    xp = namespace_of(y)
    n, ws = g.length, g.ws
    if g.fh == 1:
        return xp.asarray(y[:f, :n], copy=True)
    out = y[:f, :n] + y[f : 2 * f, ws : ws + n]
    for i in range(2, g.fh):
        out += y[i * f : (i + 1) * f, i * ws : i * ws + n]
    return out


def filter_grad(q: Any, d: Any, g: RowGeometry) -> Any:
    """dW (F, C, FH, FW) from Q (FW·C, Lq) and dout in the flat layout, d (F, L), zero at the
    discarded positions: ``dW[f, c, i, j] = Σ_q d[f, q]·Q[(j, c), q + i·Ws]``, one product
    (FW·C, L) x (L, F) per filter row i."""
    xp = namespace_of(q)
    f = d.shape[0]
    c = q.shape[0] // g.fw
    n, ws = g.length, g.ws
    d_t = xp.matrix_transpose(d)
    rows = [q[:, i * ws : i * ws + n] @ d_t for i in range(g.fh)]  # each (FW·C, F)
    stacked = xp.reshape(xp.stack(rows), (g.fh, g.fw, c, f))
    return xp.permute_dims(stacked, (3, 2, 0, 1))
