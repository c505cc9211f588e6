"""A network's first convolution, the ReLU after it and the max pooling after that, run as
one block where the backend has a kernel for it.

SimpleConvNet's step spent most of its time there: the convolution writes a (N, 30, 24, 24)
output, the ReLU and the pooling read it back window by window, and the backward walks the
same windows again. The block's kernel builds the patch matrix with its columns ordered by
window position instead (:mod:`xpnn.ops.conv_pool`, the portable reference; NumPy's own,
:mod:`xpnn.backends.numpy_conv_pool`, gives its bits with reused buffers), so that the
pooling and its backward run on contiguous blocks and the convolution's output is never
laid out at all. That output is not a (N, F, OH, OW) array any more, which is why this is a block
of three layers in a network's plans (:class:`xpnn.layers.Plans`) rather than something a
layer does alone: what enters and leaves the block is what entered the convolution and
left the pooling.

:func:`blocks` finds the blocks in a network's layers: a :class:`~xpnn.conv.Convolution`
that computes no input gradient (a network's first layer), a :class:`~xpnn.layers.Relu`, a
:class:`~xpnn.conv.Pooling` (these exact classes: a subclass may have changed what they
compute). A block runs the kernel when, for the input it gets, the backend has one
(:meth:`xpnn.backends.Backend.conv_pool_kernel`: every backend but CuPy, whose own kernels
run the layers in few launches), the convolution would take the patch path (not NumPy's
shifted rows) and the pooling windows lie side by side without padding (stride = pool
size); otherwise it runs its three layers as a network does without it: the same values to
the bit. The kernel's are the layers' up to rounding (``tests/test_conv_pool.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .conv import Convolution, Pooling, _check_dout
from .layers import Relu

__all__ = ["ConvReluPool", "blocks"]


class ConvReluPool:
    """``pool.forward(relu.forward(conv.forward(x)))`` and its backward as one block: a
    backend kernel where it applies (see the module docstring), else the three layers.

    After a pass through the kernel the three layers hold no state of that pass (their
    own ``backward`` raises: call the block's); ``conv.dW`` and ``conv.db`` receive the
    gradients, into the network's flat buffer where bound.
    """

    def __init__(self, conv: Convolution, relu: Relu, pool: Pooling) -> None:
        self.conv, self.relu, self.pool = conv, relu, pool
        self._kernel: Any = None  # the backend's kernel, or None where it has none
        self._kernel_of: Any = None  # that backend
        self._fused = False  # whether the last forward ran the kernel
        self._out_shape: tuple[int, ...] | None = None

    def __repr__(self) -> str:
        return f"ConvReluPool({self.conv!r}, {self.relu!r}, {self.pool!r})"

    @property
    def fused(self) -> bool:
        """Whether the last forward ran the backend's kernel (else the three layers)."""
        return self._fused

    def forward(self, x: Any, train_flg: bool = False) -> Any:
        """The pooling's output (N, FN, OH', OW') for x (N, C, H, W)."""
        conv, pool = self.conv, self.pool
        oh, ow = conv.output_hw(x)  # the layer's checks, before any kernel
        # a window larger than the convolution's output: the pooling's own error
        kernel = self._kernel_for(x) if oh >= pool.pool_h and ow >= pool.pool_w else None
        self._fused = kernel is not None
        if kernel is None:
            return pool.forward(conv.forward_with(x, self.relu), train_flg)
        out = kernel.forward(
            x, conv.W, conv.b, conv.stride, conv.pad, pool.pool_h, pool.pool_w, oh, ow
        )
        conv.forget(x)
        self.relu.out = None
        pool.forget()
        self._out_shape = tuple(out.shape)
        return out

    def _kernel_for(self, x: Any) -> Any:
        """The backend's kernel if it applies to x (see the module docstring), else None."""
        conv, pool = self.conv, self.pool
        if conv.input_grad or not pool.side_by_side():
            return None
        ops = conv._ops(x)
        if ops.conv_by_rows(tuple(conv.W.shape), tuple(x.shape), conv.stride, conv.pad):
            return None
        if self._kernel_of is not ops:  # the first pass, or the layers moved to another
            self._kernel, self._kernel_of = ops.conv_pool_kernel(), ops
        return self._kernel

    def backward(self, dout: Any) -> Any:
        """``None`` (the convolution computes no input gradient); conv.dW and conv.db set."""
        if not self._fused:
            return self.conv.backward(self.pool.backward_after(dout, self.relu))
        _check_dout("ConvReluPool", dout, self._out_shape)
        dwb = self._kernel.backward(dout)  # [dW | db]
        self.conv.set_grads(dwb[:, :-1], dwb[:, -1])
        return None


def blocks(layers: Sequence[Any]) -> list[Any]:
    """``layers`` with each Convolution (no input gradient) → Relu → Pooling replaced by
    one :class:`ConvReluPool` of the three; the other layers as they are."""
    out: list[Any] = []
    i = 0
    while i < len(layers):
        trio = tuple(layers[i : i + 3])
        if (
            len(trio) == 3
            and tuple(map(type, trio)) == (Convolution, Relu, Pooling)
            and not trio[0].input_grad
        ):
            out.append(ConvReluPool(*trio))
            i += 3
        else:
            out.append(layers[i])
            i += 1
    return out
