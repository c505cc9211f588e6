"""Convolution and max pooling (chapter 7), written once against the Array API standard.

The layers keep the book's interface (``forward(x, train_flg=False)``, ``backward(dout)``,
``W``, ``b``, ``dW``, ``db``, and ``params``/``grads`` like :mod:`xpnn.layers`); input is
(N, C, H, W), output (N, FN, OH, OW) with::

    OH = (H + 2·pad - FH) // stride + 1        OW = (W + 2·pad - FW) // stride + 1

The standard has neither ``as_strided`` nor ``add.at``, so a window position is a strided
slice: ``x[:, :, i:i + stride·(OH-1) + 1:stride, j:...]`` is element (i, j) of every window
at once, an (N, C, OH, OW) view. The FH·FW such slices, stacked, are all the patches; the
backward pass adds FH·FW slices back into a zero image. Padding builds a zero (or, for
pooling, -inf) array on the input's device and assigns the interior (the standard has no
``pad``). Nothing here reads values back to the host.

**Layout.** The book's ``col`` is (N·OH·OW, C·FH·FW); building it from the slices needs a
transpose of the whole patch matrix, and the output needs another. :class:`Convolution`
views the input as (C, N, H, W) instead (a permutation, no copy), so that the stacked slices
*are* the patch matrix transposed, P = (C·FH·FW, N·OH·OW), and each of the three products
(``W·P``, ``dout·Pᵀ``, ``Wᵀ·dout``) is one large matmul. The output is a (N, FN, OH, OW) view
of the (FN, N·OH·OW) product. For the book's ``col`` itself (:func:`im2col`, served to the
book's scripts), a gather (``xp.take`` with an index array built on the device) writes it
directly and beats slices + transpose.

Measured with ``python benchmarks/bench_im2col.py --threads 1 --clock cpu --rounds 15``
(NumPy 2.4, OpenBLAS, float32, forward + backward, median of 15 interleaved rounds: ms of
process CPU time on one BLAS thread, and the ratio to the first row), and the ratio with the
default two BLAS threads on the wall clock (``--rounds 15``); a 2-core machine shared with
other jobs (load ~4), so read the ratios:

=====================================  =============  =============  =============
variant                                Simple 5x5     Deep 3x3       2 threads S/D
=====================================  =============  =============  =============
book col, slices + transpose            23.5   1.00   210.9   1.00   1.00   1.00
book col, gather (``xp.take``)          22.5   0.96   125.5   0.60   0.94   0.54
book col, channels-last stack           27.1   1.15   186.6   0.88   1.07   0.98
per-sample (N, CK, P), stacked          12.7   0.54    84.9   0.40   0.37   9.55
per-sample (N, CK, P), gather           13.4   0.57    83.1   0.39   0.36   2.68
channel-major (CK, N·P): xpnn           15.5   0.66    80.1   0.38   0.60   0.57
sum over FH·FW of shifted matmuls      166.5   7.10    80.5   0.38   2.26   0.43
torch ``conv2d`` (reference)            24.6   1.05    19.5   0.09   1.14   0.15
=====================================  =============  =============  =============

(Simple: N=100, C=1, 28x28, FN=30, 5x5; Deep: N=100, C=16, 28x28, FN=16, 3x3, pad 1.) The
per-sample layout (N, C·FH·FW, OH·OW) needs no transpose at all, but its products are N
small matmuls each (``W_mat @ patches`` broadcast over N), and with two BLAS threads on a
busy machine they collapsed to 2.7-9.5x the book's time (apparently OpenBLAS threading
each small matmul). The channel-major layout ties with the best on one thread at C=16, is
20 % slower than per-sample at C=1, and stays ahead of the book's with threads. Summing
shifted matmuls needs no patch matrix but must keep the FH·FW slices for backward, and its
matmuls contract over C alone: 7x slower at C=1. torch's own kernels stay 4-10x ahead at C=16.

**Shifted rows.** Where the backend's ``conv_by_rows`` says so (NumPy: stride 1, pad below
the filter size, at least 8 input channels; :func:`xpnn.backends.numpy.rows_pay`), a
convolution skips the patch matrix: the padded input is laid out as one flat row per channel
and copied FW times, shifted by one column each (Q, FW·C rows: 1/FH of P), and the product
with the filters' rows is added up over FH row shifts (:mod:`xpnn.ops.conv_rows`;
:class:`xpnn.conv_rows.RowShift` keeps the buffers). The three gradients read the same Q: dW
is FH products with dout written once into the same flat layout, and dx is this same
convolution of that dout with the flipped, channel-swapped filters. ``patches`` is then
``None``. Forward + backward of DeepConvNet's six convolutions, float32, N = 100, two
threads: 102.7 ms a step against 127.2 by the patch matrix
(``benchmarks/bench_conv.py --layers``).

**Max pooling** takes the elementwise maximum of the window slices (PH·PW - 1 ``maximum``
calls, no stacked copy). Backward sends each window's gradient to one element, the first
maximum in row-major window order (what the book's ``argmax`` picks): it walks the slices in
that order, keeping a boolean mask of the windows whose maximum is placed, and gives a
window's gradient to the first slice equal to its maximum, so ties never double a gradient.
Overlapping windows (stride < pool size) add up. Padding is -inf, so a padded position never
wins; every window holds at least one input element (``pad`` < pool size). A NaN in a window
makes its output NaN and its gradient zero. Same benchmark, one thread, forward + backward,
ms: 15.7 / 14.4 / 30.2 for 2x2/2 on (100, 30, 24, 24), 2x2/2 on (100, 16, 28, 28) and 3x3/2
pad 1 on the latter; torch ``max_pool2d`` 13.9 / 12.4 / 16.3; stacking the slices for
``max`` + ``argmax`` is 1.5-1.6x slower than the ``maximum`` chain, the book's im2col +
argmax 2.9-3.2x. (Measured before the backward's boolean mask, its layout-matched dout and
its unzeroed dx where windows tile the input, which took SimpleConvNet's pooling backward
from 8.6 to about 5-6 ms.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from array_api_compat import device as device_of

from ._array_api import namespace_of
from ._buffers import reuse
from ._validate import count
from .conv_rows import RowShift
from .layers import Activation, Layer, Param
from .ops.conv import output_hw, pad_image, patches_adjoint
from .ops.conv_rows import flipped

__all__ = [
    "Convolution",
    "Pooling",
    "col2im",
    "conv_output_size",
    "dx_as_convolution",
    "im2col",
]


# -- sizes and checks ---------------------------------------------------------------------


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> int:
    """``(input_size + 2·pad - filter_size) // stride + 1``: the windows along one axis.

    An int (the book's version returns a float when the windows do not tile the input
    exactly; the last partial window is dropped either way). Raises ``ValueError`` when the
    filter is larger than the padded input, or for a stride < 1 or a negative pad.
    """
    input_size = count("input_size", input_size, 1)
    filter_size = count("filter_size", filter_size, 1)
    stride = count("stride", stride, 1)
    pad = count("pad", pad, 0)
    if filter_size > input_size + 2 * pad:
        raise ValueError(
            f"filter size {filter_size} is larger than the padded input "
            f"{input_size} + 2·{pad} = {input_size + 2 * pad}"
        )
    return (input_size + 2 * pad - filter_size) // stride + 1


def _check_input(who: str, x: Any) -> None:
    if getattr(x, "ndim", None) != 4:
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise ValueError(f"{who} takes 4-D input (N, C, H, W), got {shape}")
    if not namespace_of(x).isdtype(x.dtype, "real floating"):
        raise TypeError(f"{who} takes floating-point input, got dtype {x.dtype}")


def _output_hw(who: str, x: Any, fh: int, fw: int, stride: int, pad: int) -> tuple[int, int]:
    _, _, h, w = x.shape
    if fh > h + 2 * pad or fw > w + 2 * pad:
        raise ValueError(
            f"{who}: the {fh}x{fw} window is larger than the padded input "
            f"{h + 2 * pad}x{w + 2 * pad} (input {h}x{w}, pad {pad})"
        )
    return output_hw(h, w, fh, fw, stride, pad)


def _check_dout(who: str, dout: Any, expected: tuple[int, ...] | None) -> None:
    if expected is None:
        raise RuntimeError(f"{who}.backward called before forward")
    if tuple(dout.shape) != expected:
        raise ValueError(
            f"{who}.backward: dout has shape {tuple(dout.shape)}, the forward output {expected}"
        )


# -- the book's im2col / col2im (the (N·OH·OW, C·FH·FW) layout) ------------------------------


def _col_index(xp: Any, device: Any, c: int, hp: int, wp: int, fh: int, fw: int,
               stride: int, oh: int, ow: int) -> Any:  # fmt: skip
    """Flat positions in one padded sample (C·Hp·Wp) of col's row (oh, ow), column (c, i, j),
    as one 1-D int64 array in row-major (OH, OW, C, FH, FW) order, built on ``device``."""

    def axis(n: int, step: int, at: int) -> Any:
        shape = [1] * 5
        shape[at] = n
        return xp.reshape(xp.arange(0, n * step, step, dtype=xp.int64, device=device), tuple(shape))

    rows = axis(oh, stride, 0) + axis(fh, 1, 3)  # padded row of each (oh, i)
    cols = axis(ow, stride, 1) + axis(fw, 1, 4)
    flat = (axis(c, hp, 2) + rows) * wp + cols
    return xp.reshape(flat, (oh * ow * c * fh * fw,))


def im2col(input_data: Any, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> Any:
    """The book's patch matrix: ``col`` (N·OH·OW, C·FH·FW) of the (N, C, H, W) input, with::

        col[(n·OH + oh)·OW + ow, (c·FH + i)·FW + j] = x_pad[n, c, oh·stride + i, ow·stride + j]

    where ``x_pad`` is the input with ``pad`` zeros around H and W. Same dtype and device as
    the input. Built by one gather (``xp.take``) from an index array made on the device.
    """
    _check_input("im2col", input_data)
    fh, fw = count("filter_h", filter_h, 1), count("filter_w", filter_w, 1)
    stride, pad = count("stride", stride, 1), count("pad", pad, 0)
    oh, ow = _output_hw("im2col", input_data, fh, fw, stride, pad)
    xp = namespace_of(input_data)
    n, c, h, w = input_data.shape
    hp, wp = h + 2 * pad, w + 2 * pad
    x_pad = xp.reshape(pad_image(input_data, pad), (n, c * hp * wp))
    index = _col_index(xp, device_of(input_data), c, hp, wp, fh, fw, stride, oh, ow)
    return xp.reshape(xp.take(x_pad, index, axis=1), (n * oh * ow, c * fh * fw))


def col2im(col: Any, input_shape: tuple[int, ...], filter_h: int, filter_w: int,
           stride: int = 1, pad: int = 0) -> Any:  # fmt: skip
    """The adjoint of :func:`im2col`: each entry of ``col`` (N·OH·OW, C·FH·FW) is added to the
    input pixel it was copied from; returns (N, C, H, W) = ``input_shape``, in col's dtype and
    on its device. ``col2im(im2col(x))`` is x times the number of windows covering each pixel.
    """
    fh, fw = count("filter_h", filter_h, 1), count("filter_w", filter_w, 1)
    stride, pad = count("stride", stride, 1), count("pad", pad, 0)
    shape = tuple(input_shape)
    if len(shape) != 4:
        raise ValueError(f"col2im: input_shape must be (N, C, H, W), got {input_shape!r}")
    n, c, h, w = (count("input_shape", s, 0) for s in shape)
    oh = conv_output_size(h, fh, stride, pad)
    ow = conv_output_size(w, fw, stride, pad)
    expected = (n * oh * ow, c * fh * fw)
    if getattr(col, "ndim", None) != 2 or tuple(col.shape) != expected:
        got = tuple(col.shape) if hasattr(col, "shape") else type(col).__name__
        raise ValueError(
            f"col2im: col must have shape (N·OH·OW, C·FH·FW) = {expected} for input_shape "
            f"{shape} and a {fh}x{fw} filter (stride {stride}, pad {pad}), got {got}"
        )
    xp = namespace_of(col)
    col6 = xp.reshape(col, (n, oh, ow, c, fh, fw))
    # (C, FH, FW, N, OH, OW): the channel-major patch matrix's layout
    dp = xp.reshape(xp.permute_dims(col6, (3, 4, 5, 0, 1, 2)), (c * fh * fw, n * oh * ow))
    return patches_adjoint(dp, (n, c, h, w), fh, fw, stride, pad)


# -- the layers -----------------------------------------------------------------------------


class Convolution(Layer):
    """2-D convolution (cross-correlation, as in the book and every framework)::

        out[n, f, oh, ow] = b[f] + Σ_c Σ_i Σ_j W[f, c, i, j] · x_pad[n, c, oh·s + i, ow·s + j]

    with ``x_pad`` the input with ``pad`` zeros around H and W, s = ``stride``. Shapes: ``x``
    (N, C, H, W), ``W`` (FN, C, FH, FW), ``b`` (FN,), ``out`` (N, FN, OH, OW). With P the
    patches as a (C·FH·FW, N·OH·OW) matrix (the book's ``col``, transposed), W as
    (FN, C·FH·FW) and dout as (FN, N·OH·OW)::

        out = W · P + b        dW = dout · Pᵀ        db = Σ_{n,oh,ow} dout
        dx = the patches Wᵀ · dout, added back to the pixels they came from (col2im)

    **The input gradient as a convolution.** For stride 1 and square filters, dx is itself
    a forward convolution: of dout padded by FH - 1 - pad, with the filters flipped in both
    spatial axes and their two channel axes swapped (W' (C, FN, FH, FW))::

        dx = W' · P(dout)       P(dout): the (FN·FH·FW, N·H·W) patches of the padded dout

    the same multiply-adds as ``Wᵀ · dout``, then one copy of dout into its patches instead
    of col2im's FH·FW read-modify-write passes over the input. :func:`dx_as_convolution`
    says where it is used (where those patches are no larger than col2im's); dW is
    computed as ``(P · doutᵀ)ᵀ``, the product order OpenBLAS runs faster.

    ``out`` is a (N, FN, OH, OW) view of the (FN, N, OH, OW) product, and ``dx`` one of a
    (C, N, H, W) array: layers after it compute on the view, and the next convolution finds
    its input already channel-major. ``input_grad=False`` skips ``dx`` (``backward``
    returns ``None``), as for :class:`xpnn.layers.Affine`: a network's first layer needs no
    gradient for its data.

    **Bound gradients** (:meth:`bind_grads`, what a network does with its flat gradient
    buffer): ``backward`` then writes ``db`` with the backend's ``sum_into`` and ``dW``
    with its ``matmul_into``, into a (FN, C·FH·FW) view of ``dW`` where the array allows one
    (a contiguous ``dW``, such as a view of the flat buffer), else by assigning the product
    (``dW[...] = ...``). The values are those of the unbound layer.

    **Kernels.** The patch matrix and its adjoint are the backend's ``conv_patches`` and
    ``conv_patches_adjoint`` (the kernel seam; the portable reference is
    :mod:`xpnn.ops.conv`), and in a network the bias and the activation after it are one
    ``bias_act`` (:meth:`forward_with`).

    **Buffers.** ``patches`` (forward) and, when bound, the patches' gradient (backward) are
    written into arrays kept from the previous call while the shapes stay the same: the
    largest temporaries of a step, and reused, they cost no fresh memory mapping (22 %
    of forward + backward for DeepConvNet's second convolution, on NumPy). ``patches`` is
    therefore overwritten by the next ``forward``.
    """

    per_sample = True

    PARAMS = (Param("W", "dW", decay=True), Param("b", "db"))

    def __init__(self, W: Any, b: Any, stride: int = 1, pad: int = 0,
                 input_grad: bool = True) -> None:  # fmt: skip
        if getattr(W, "ndim", None) != 4:
            got = tuple(W.shape) if hasattr(W, "shape") else type(W).__name__
            raise ValueError(f"Convolution: W must be 4-D (FN, C, FH, FW), got {got}")
        if tuple(getattr(b, "shape", ())) != (W.shape[0],):
            got = tuple(b.shape) if hasattr(b, "shape") else type(b).__name__
            raise ValueError(
                f"Convolution: b must have shape (FN,) = ({W.shape[0]},) for W of shape "
                f"{tuple(W.shape)}, got {got}"
            )
        self.W = W
        self.b = b
        self.stride = count("stride", stride, 1)
        self.pad = count("pad", pad, 0)
        self.input_grad = input_grad
        self.x: Any = None
        # (C·FH·FW, N·OH·OW) of the last forward, the book's col.T; None after one by rows
        self.patches: Any = None
        self.dW: Any = None
        self.db: Any = None
        self._dW_matrix: Any = None  # bound: a (FN, C·FH·FW) view of dW, or None
        self._patch_buffer: Any = None  # reused by forward while the shapes stay the same
        self._dpatch_buffer: Any = None  # reused by a bound backward
        self._out_shape: tuple[int, ...] | None = None
        self._rows = RowShift()  # the row-shift path and its buffers
        self._by_rows = False  # whether the last forward took it

    def bind_grads(self, into: Any, arrays: Mapping[str, Any]) -> None:
        """As :meth:`xpnn.layers.Layer.bind_grads`; ``arrays["W"]`` is (FN, C, FH, FW)
        and is written through a (FN, C·FH·FW) view of it where the library gives one."""
        super().bind_grads(into, arrays)
        self._dW_matrix = None
        if "W" in arrays:
            dW = self.dW
            fn = dW.shape[0]
            try:  # copy=False: a view or an error (never a silent copy that would be lost)
                self._dW_matrix = namespace_of(dW).reshape(
                    dW, (fn, math.prod(dW.shape[1:])), copy=False
                )
            except (ValueError, AttributeError, RuntimeError, TypeError, NotImplementedError):
                self._dW_matrix = None  # not viewable: the product is assigned instead

    def forward(self, x: Any, train_flg: bool = False) -> Any:
        return self._forward(x, "identity")

    def forward_with(self, x: Any, activation: Activation, train_flg: bool = False) -> Any:
        """``activation.forward(self.forward(x))`` with the bias and the activation in one
        pass (the backend's ``bias_act``); ``activation`` keeps the output for its
        ``backward``."""
        out = activation.out = self._forward(x, activation.kind)
        return out

    def output_hw(self, x: Any) -> tuple[int, int]:
        """(OH, OW) of this layer's output for the input x (N, C, H, W); raises
        ``ValueError`` or ``TypeError`` naming what is wrong with x (not 4-D, not floating
        point, another channel count than W's, smaller than the filter)."""
        _check_input("Convolution", x)
        _, c, fh, fw = self.W.shape
        if x.shape[1] != c:
            raise ValueError(
                f"Convolution: the input has {x.shape[1]} channels, W of shape "
                f"{tuple(self.W.shape)} expects C = {c}"
            )
        return _output_hw("Convolution", x, fh, fw, self.stride, self.pad)

    def _forward(self, x: Any, act: str) -> Any:
        oh, ow = self.output_hw(x)
        fn, c, fh, fw = self.W.shape
        xp, ops = namespace_of(x), self._ops(x)
        n = x.shape[0]
        self.x = x
        self._out_shape = (n, fn, oh, ow)
        self._by_rows = ops.conv_by_rows(tuple(self.W.shape), tuple(x.shape), self.stride, self.pad)
        bias = xp.reshape(self.b, (fn, 1))
        if self._by_rows:
            self.patches = None
            out = ops.bias_act(self._rows.forward(ops, x, self.W, self.pad), bias, act)
            return self._rows.output(out)
        # the patches go into the same buffer each step: a new one as large as DeepConvNet's
        # second (45 MB) is mapped fresh by the allocator each time, and the kernel's
        # zeroing of its pages took ~10 % of a step
        shape = (c * fh * fw, n * oh * ow)
        buffer = self._patch_buffer = reuse(self._patch_buffer, x, shape)
        self.patches = ops.conv_patches(x, fh, fw, self.stride, self.pad, out=buffer)
        out = xp.reshape(self.W, (fn, c * fh * fw)) @ self.patches  # (FN, N·OH·OW)
        out = ops.bias_act(out, bias, act)
        return xp.permute_dims(xp.reshape(out, (fn, n, oh, ow)), (1, 0, 2, 3))

    def backward(self, dout: Any) -> Any:
        _check_dout("Convolution", dout, self._out_shape)
        xp = namespace_of(dout)
        if self._by_rows:
            return self._backward_by_rows(xp, dout)
        n, fn, oh, ow = dout.shape
        d = xp.reshape(xp.permute_dims(dout, (1, 0, 2, 3)), (fn, n * oh * ow))
        self._filter_grads(xp, d)
        if not self.input_grad:
            return None
        if dx_as_convolution(tuple(self.W.shape), tuple(self.x.shape), self.stride, self.pad):
            return self._dx_by_convolution(xp, dout)
        return self._dx_by_col2im(xp, d)

    def forget(self, x: Any) -> None:
        """Keep only the input x of a pass that ran this layer's work elsewhere (in a
        :class:`xpnn.conv_pool.ConvReluPool`): ``backward`` then raises instead of using an
        earlier pass's state."""
        self.x, self.patches, self._out_shape, self._by_rows = x, None, None, False

    def set_grads(self, dW: Any, db: Any) -> None:
        """Take dW (FN, C·FH·FW) and db (FN,), computed elsewhere, as this layer's gradients:
        written into the bound arrays (a network's flat buffer), else kept as new arrays."""
        xp = namespace_of(dW)
        if self._into is None:
            dW, self.db = xp.asarray(dW, copy=True), xp.asarray(db, copy=True)
        else:
            self.db[...] = db
        self._store_dW(xp, dW)

    def _store_dW(self, xp: Any, dW: Any) -> None:
        """dW (FN, C·FH·FW) as ``self.dW``: written into the bound array (through its
        matrix view where there is one), else a (FN, C, FH, FW) reshape of it."""
        shape = tuple(self.W.shape)
        if self._into is None:
            self.dW = xp.reshape(dW, shape)
        elif self._dW_matrix is not None:
            self._dW_matrix[...] = dW
        else:
            self.dW[...] = xp.reshape(dW, shape)

    def _backward_by_rows(self, xp: Any, dout: Any) -> Any:
        """db, dW and dx by shifted rows (:mod:`xpnn.conv_rows`): dout written once into
        its flat layout serves all three."""
        rows = self._rows
        d = rows.dout(dout)  # (FN, L), zero at the positions the forward discarded
        dW = rows.filter_grad(d)
        into = self._into
        if into is None:
            self.db = xp.sum(d, axis=1)
            self.dW = dW
        else:
            into.sum_into(d, 1, self.db)
            self.dW[...] = dW
        if not self.input_grad:
            return None
        return rows.input_grad(self._ops(dout), self.W)

    def _filter_grads(self, xp: Any, d: Any) -> None:
        """db = Σ dout and dW = dout · Pᵀ, computed as (P · doutᵀ)ᵀ: the same products,
        but OpenBLAS runs the (C·FH·FW, N·OH·OW) x (N·OH·OW, FN) order 1.2-1.5x faster
        (DeepConvNet's layers, one thread) and the small transpose costs nothing."""
        dw_t = self.patches @ xp.matrix_transpose(d)  # (C·FH·FW, FN)
        if self._into is None:
            self.db = xp.sum(d, axis=1)
        else:
            self._into.sum_into(d, 1, self.db)
        self._store_dW(xp, xp.matrix_transpose(dw_t))

    def _dx_by_convolution(self, xp: Any, dout: Any) -> Any:
        """dx as a forward convolution of dout, padded by FH - 1 - pad, with the filters
        flipped and their two channel axes swapped (stride 1): the patches of dout
        (FN·FH·FW, N·H·W) and one matmul, giving (C, N·H·W), channel-major."""
        fn, c, fh, fw = self.W.shape
        n, _, h, w = self.x.shape
        w_flip = xp.reshape(flipped(self.W), (c, fn * fh * fw))
        ops = self._ops(dout)
        if self._into is None:
            dpatches = ops.conv_patches(dout, fh, fw, 1, fh - 1 - self.pad)
        else:  # bound (in a network): one buffer, reused, as the forward's patches are
            buffer = self._dpatch_buffer = reuse(
                self._dpatch_buffer, dout, (fn * fh * fw, n * h * w)
            )
            dpatches = ops.conv_patches(dout, fh, fw, 1, fh - 1 - self.pad, out=buffer)
        dx = w_flip @ dpatches  # (C, N·H·W)
        return xp.permute_dims(xp.reshape(dx, (c, n, h, w)), (1, 0, 2, 3))

    def _dx_by_col2im(self, xp: Any, d: Any) -> Any:
        """dx as the patches' gradient Wᵀ · dout added back to the pixels (col2im)."""
        fn, c, fh, fw = self.W.shape
        w_t = xp.matrix_transpose(xp.reshape(self.W, (fn, c * fh * fw)))
        into = self._into
        if into is None:
            dpatch = w_t @ d
        else:  # bound (in a network): into one buffer, reused, as the patches are
            dpatch = self._dpatch_buffer = reuse(self._dpatch_buffer, d, tuple(self.patches.shape))
            into.matmul_into(w_t, d, dpatch)
        x_shape = tuple(self.x.shape)
        return self._ops(d).conv_patches_adjoint(dpatch, x_shape, fh, fw, self.stride, self.pad)


def dx_as_convolution(
    w_shape: tuple[int, ...], x_shape: tuple[int, ...], stride: int, pad: int
) -> bool:
    """Whether :class:`Convolution` computes its input gradient as a forward convolution of
    ``dout`` (else by col2im): for stride 1, a square filter (FH = FW) with ``pad`` < FH,
    and patches of dout no larger than the patches' gradient col2im would add back,
    FN·H·W <= C·OH·OW (``w_shape`` = (FN, C, FH, FW), ``x_shape`` = (N, C, H, W)).

    The two cost the same multiply-adds; col2im then makes FH·FW read-modify-write passes
    over the input, the convolution one copy of dout into its patches, so it wins where
    those patches are not larger (DeepConvNet's 16→16, 32→32 pad 2 and 64→64 layers) and
    loses where FN > C (16→32: its patches are twice col2im's, 2x slower). Stride 2
    through a dilated dout computes on zeros: 2.7x col2im's time (16→16, 28²), not used.
    """
    fn, c, fh, fw = w_shape
    _, _, h, w = x_shape
    if stride != 1 or fh != fw or pad >= fh:
        return False
    oh, ow = h + 2 * pad - fh + 1, w + 2 * pad - fw + 1
    return fn * h * w <= c * oh * ow


class Pooling(Layer):
    """Max pooling over ``pool_h`` x ``pool_w`` windows::

        out[n, c, oh, ow] = max_{i < PH, j < PW} x_pad[n, c, oh·s + i, ow·s + j]

    with ``x_pad`` the input with ``pad`` rows/columns of -inf around H and W (``pad`` must
    be smaller than the pool size), s = ``stride`` (the book's default, 1; its networks pass
    2). Shapes: ``x`` (N, C, H, W), ``out`` (N, C, OH, OW). Backward gives each window's
    ``dout`` to one element, its first maximum in row-major (i, j) order; an element that is
    the maximum of several overlapping windows gets the sum. No parameters.
    """

    per_sample = True

    def __init__(self, pool_h: int, pool_w: int, stride: int = 1, pad: int = 0) -> None:
        self.pool_h = count("pool_h", pool_h, 1)
        self.pool_w = count("pool_w", pool_w, 1)
        self.stride = count("stride", stride, 1)
        self.pad = count("pad", pad, 0)
        if self.pad >= min(self.pool_h, self.pool_w):
            raise ValueError(
                f"Pooling: pad ({self.pad}) must be smaller than the pool size "
                f"{self.pool_h}x{self.pool_w}, or a window could hold padding only"
            )
        self.x: Any = None
        self.out: Any = None
        self._ctx: Any = None  # what the backend's backward needs, from its forward

    def forward(self, x: Any, train_flg: bool = False) -> Any:
        _check_input("Pooling", x)
        _output_hw("Pooling", x, self.pool_h, self.pool_w, self.stride, self.pad)
        self.out, self._ctx = self._ops(x).maxpool_forward(
            x, self.pool_h, self.pool_w, self.stride, self.pad
        )
        self.x = x
        return self.out

    def side_by_side(self) -> bool:
        """Whether this layer's windows lie side by side, without padding (stride = pool
        size, pad 0): each input element in one window at most (the rows and columns past
        the last window in none)."""
        return self.stride == self.pool_h == self.pool_w and self.pad == 0

    def forget(self) -> None:
        """Drop the last pass's state, for a pass that ran this layer's work elsewhere (in
        a :class:`xpnn.conv_pool.ConvReluPool`): ``backward`` then raises instead of using
        an earlier pass's."""
        self.x = self.out = self._ctx = None

    def backward_after(self, dout: Any, activation: Activation) -> Any:
        """``activation.backward(self.backward(dout))``, for the activation whose output
        this layer pooled, with the activation's derivative taken at the pooled size: each
        window's gradient goes to an element equal to the window's maximum, ``out``, and an
        activation's derivative is a function of its output, so ``dout · f'(out)`` pooled
        back is the same array at 1/(PH·PW) of the work: for ReLU (a derivative of 0 or 1)
        exactly, NaN included. For a sigmoid or tanh, overlapping windows add their terms
        in another order (equal up to rounding), and where the activation's output is NaN
        the unfolded pair gives ``0 · f'(NaN)`` = NaN, the fold 0: so
        :func:`xpnn.layers.backward_plan` folds ReLU only."""
        _check_dout("Pooling", dout, None if self.out is None else tuple(self.out.shape))
        if activation.out is None or activation.out is not self.x:
            raise ValueError(
                "Pooling.backward_after: the activation's output is not this layer's last "
                "input; call activation.backward(pooling.backward(dout)) instead"
            )
        return self._pooled_back(self._ops(dout).act_backward(dout, self.out, activation.kind))

    def backward(self, dout: Any) -> Any:
        _check_dout("Pooling", dout, None if self.out is None else tuple(self.out.shape))
        return self._pooled_back(dout)

    def _pooled_back(self, dout: Any) -> Any:
        """dx of a checked dout: each window's gradient to its first maximum."""
        return self._ops(dout).maxpool_backward(
            dout, self.out, self._ctx, tuple(self.x.shape), self.pool_h, self.pool_w,
            self.stride, self.pad,
        )  # fmt: skip
