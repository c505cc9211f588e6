"""A :class:`xpnn.conv.Convolution`'s forward and backward by shifted rows, with its buffers.

The algorithm and its layout are :mod:`xpnn.ops.conv_rows`; this keeps, per layer, the
arrays it reuses from step to step (the input's and dout's flat layouts, whose padding is
zeroed once, Q and the products Y) and the geometry of the last forward. Used where the
backend's ``conv_by_rows`` says so (stride 1, pad < filter size).
"""

from __future__ import annotations

from typing import Any

from ._array_api import namespace_of
from ._buffers import reuse
from .backends.base import Backend
from .ops import conv_rows
from .ops.conv_rows import RowGeometry

__all__ = ["RowShift"]


class RowShift:
    """One convolution layer's row-shift path: ``forward`` keeps Q for ``backward``."""

    def __init__(self) -> None:
        self.geometry: RowGeometry | None = None
        self._x_layout: Any = None  # (C, S, Hs, Ws), padding zero
        self._q: Any = None  # (FW·C, Lq): kept from forward for dW
        self._y: Any = None  # (FH·F, Lq)
        self._d_layout: Any = None  # (F, S', Hs, Ws), padding zero: dout, for dW and dx
        self._d_flat: Any = None  # its (F, S'·Hs·Ws) view
        self._dq: Any = None  # (FW·F, Lq)
        self._dy: Any = None  # (FH·C, Lq)

    def forward(self, ops: Backend, x: Any, W: Any, pad: int) -> Any:
        """The convolution of x (N, C, H, W) by W (F, C, FH, FW), stride 1, before its bias:
        (F, L) in the flat layout (see :meth:`output`)."""
        n, _, h, w = x.shape
        _, _, fh, fw = W.shape
        g = self.geometry = RowGeometry(n, h, w, fh, fw, pad, pad)
        self._x_layout, flat = conv_rows.layout(
            x, g, reuse(self._x_layout, x, g.layout_shape(x.shape[1]), zeros=True)
        )
        self._q, self._y, out = self._product(ops, flat, W, g, self._q, self._y)
        return out

    @staticmethod
    def _product(ops: Backend, flat: Any, W: Any, g: RowGeometry, q: Any, y: Any) -> Any:
        """``(Q, Y, out)``: Q of the flat layout ``flat`` (C, S·Hs·Ws) into ``q`` (reused
        when it fits), the product with W's rows into ``y`` (likewise), and its FH shifted
        rows added, out (F, L)."""
        c, f = flat.shape[0], W.shape[0]
        q = conv_rows.shifts(flat, g, reuse(q, flat, (g.fw * c, g.q_length)))
        y = reuse(y, flat, (g.fh * f, g.q_length))
        ops.matmul_into(conv_rows.row_filters(W), q, y)
        return q, y, conv_rows.combine(y, g, f)

    def output(self, flat: Any, g: RowGeometry | None = None) -> Any:
        """The (N, F, OH, OW) view of an (F, L) result in ``g``'s layout (by default the
        last forward's)."""
        g = self._geometry() if g is None else g
        xp = namespace_of(flat)
        grid = xp.reshape(flat, (flat.shape[0], g.n, g.hs, g.ws))
        return xp.permute_dims(grid[:, :, : g.oh, : g.ow], (1, 0, 2, 3))

    def dout(self, dout: Any) -> Any:
        """dout (N, F, OH, OW) into its flat layout, zero elsewhere (the layout of dx as a
        convolution, whose Hs and Ws are the forward's): (F, L), a view, for
        :meth:`filter_grad`, ``db`` (its sum over axis 1) and :meth:`input_grad`."""
        g = self._geometry()
        ga = g.adjoint()
        self._d_layout, self._d_flat = conv_rows.layout(
            dout, ga, reuse(self._d_layout, dout, ga.layout_shape(dout.shape[1]), zeros=True)
        )
        start = g.hs * g.ws  # sample 0 is in slot 1
        return self._d_flat[:, start : start + g.length]

    def filter_grad(self, d: Any) -> Any:
        """dW (F, C, FH, FW) from :meth:`dout`'s (F, L)."""
        return conv_rows.filter_grad(self._q, d, self._geometry())

    def input_grad(self, ops: Backend, W: Any) -> Any:
        """dx (N, C, H, W), a view of a (C, L) array: the dout of the last :meth:`dout`
        convolved with the flipped filters (pad FH - 1 - pad)."""
        ga = self._geometry().adjoint()
        w_flip = conv_rows.flipped(W)
        self._dq, self._dy, dx = self._product(ops, self._d_flat, w_flip, ga, self._dq, self._dy)
        return self.output(dx, ga)

    def _geometry(self) -> RowGeometry:
        if self.geometry is None:
            raise RuntimeError("Convolution.backward called before forward")
        return self.geometry
