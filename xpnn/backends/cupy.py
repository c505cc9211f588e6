"""CuPy on a CUDA GPU: everything xpnn knows about CuPy lives in this file.

CuPy allocates arrays and launches kernels on its *current* device, and array_api_compat
ignores ``device=`` for CuPy's creation functions; so :meth:`CupyBackend.activate` makes the
backend's device current, and xpnn enters it around everything that computes (building a
network, forward and backward passes, optimizer updates, training). Backends are cached by
device id (``cupy.cuda.Device`` objects are not hashable).

**Kernels.** Every operation of the kernel seam (:data:`xpnn.backends.base.SEAM`) runs as
one CuPy kernel or two (:class:`CupyKernels`; the texts are
:mod:`xpnn.backends.cupy_kernels`), so that a training step is a few dozen launches: CuPy
spends 10-140 µs of host time on each, whatever the GPU. :func:`all_kernels` builds every
kernel object without a device. Importing this module does not import CuPy.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..ops.batchnorm import feature_layout
from ..ops.conv import output_hw
from ..random import Generator, int_seed, shape_of
from .base import Backend, BackendError, DeviceBackendError, import_library
from .cupy_kernels import (
    ACTIVATION_KERNELS,
    FUSED_RULES,
    KERNELS,
    OPTIONS,
    Elementwise,
    FusedRule,
    Reduction,
)

__all__ = [
    "FUSED_RULES",
    "CupyBackend",
    "CupyGenerator",
    "CupyKernels",
    "FusedRule",
    "all_kernels",
    "build_kernel",
    "create",
    "device_key",
    "owns",
]

_INSTALL = (
    "pip install 'xpnn[cuda12]' for CUDA 12 or 'xpnn[cuda13]' for CUDA 13 "
    "(nvidia-smi shows the CUDA version; these install CuPy with the CUDA libraries it needs)"
)


_KERNEL_OBJECTS: dict[tuple[Any, str], Any] = {}


def build_kernel(cupy: Any, name: str) -> Any:
    """The CuPy kernel object called ``name`` (:data:`~xpnn.backends.cupy_kernels.KERNELS`),
    built with the library ``cupy`` (CuPy, or a stand-in with the same two classes). CuPy
    compiles it on its first launch on each device."""
    spec = KERNELS[name]
    if isinstance(spec, Reduction):
        return cupy.ReductionKernel(
            spec.in_params,
            spec.out_params,
            spec.map_expr,
            spec.reduce_expr,
            spec.post_map_expr,
            spec.identity,
            spec.name,
            reduce_type=spec.reduce_type,
            preamble=spec.preamble,
            options=OPTIONS,
        )
    assert isinstance(spec, Elementwise)
    return cupy.ElementwiseKernel(
        spec.in_params,
        spec.out_params,
        spec.operation,
        spec.name,
        preamble=spec.preamble,
        options=OPTIONS,
    )


def all_kernels() -> dict[str, Any]:
    """Every CuPy kernel object xpnn can launch (``ElementwiseKernel``, ``ReductionKernel``),
    keyed by name: built, not compiled, so no device is needed. Imports CuPy."""
    cupy = import_library("cupy", _INSTALL)
    return {name: build_kernel(cupy, name) for name in KERNELS}


def _check_shape(what: str, array: Any, expected: tuple[int, ...]) -> None:
    """A kernel reads raw arrays by index: a wrong shape would read past them."""
    if tuple(array.shape) != tuple(expected):
        raise ValueError(f"{what} has shape {tuple(array.shape)}, expected {tuple(expected)}")


class CupyKernels(Backend):
    """The kernel seam on CuPy: each operation one kernel or two, launched on the current
    device. The results are the portable reference's (:mod:`xpnn.ops`), ties of max pooling
    included; the numbers differ only by the rounding of the math functions and of sums
    taken in another order.

    :attr:`LAUNCHES` declares the kernels each override launches per call (what
    ``benchmarks/opcount.py --backend cupy-model`` counts). ``use_fused_kernels = False``
    (on an instance) runs the portable references instead, e.g. to compare the two."""

    #: Kernel launches per call of each override of the seam.
    LAUNCHES: ClassVar[dict[str, int]] = {
        "conv_patches": 1,
        "conv_patches_adjoint": 1,
        "maxpool_forward": 1,  # the maxima and the index of each window's first maximum
        "maxpool_backward": 1,
        "bias_act": 1,
        "act_forward": 1,
        "act_backward": 1,
        "softmax_xent": 2,  # a thread per row (y, dx, the row's loss), then the loss's sum
        "softmax_xent_backward": 1,
        "batchnorm_forward": 2,  # the statistics (or √(σ² + eps)), then x̂ and the output
        "batchnorm_backward": 2,  # dβ and dγ in one reduction, then dx
        "dropout_forward": 3,  # cuRAND's draw (2: its numbers, CuPy's fold to [0, 1)), the mask
        "optimizer_step": 1,  # a rule of the user's own (no fused kernel) runs the portable one
    }

    use_fused_kernels = True

    def _k(self, name: str) -> Any:
        key = (self._lib, name)
        kernel = _KERNEL_OBJECTS.get(key)
        if kernel is None:
            kernel = _KERNEL_OBJECTS[key] = build_kernel(self._lib, name)
        return kernel

    def conv_pool_kernel(self) -> None:
        """None: the patch kernel, one cuBLAS product and the pooling kernel run the
        layers in few launches; the portable block would add launches, not remove them."""
        return None

    def conv_patches(self, x: Any, fh: int, fw: int, stride: int, pad: int, out: Any = None) -> Any:
        if not self.use_fused_kernels:
            return super().conv_patches(x, fh, fw, stride, pad, out)
        n, c, h, w = x.shape
        oh, ow = output_hw(h, w, fh, fw, stride, pad)
        shape = (c * fh * fw, n * oh * ow)
        if out is None:
            out = self._lib.empty(shape, dtype=x.dtype)
        _check_shape("the patch matrix's buffer", out, shape)
        self._k("xpnn_im2col")(x, fh, fw, stride, pad, oh, ow, out)
        return out

    def conv_patches_adjoint(
        self, dp: Any, x_shape: tuple[int, ...], fh: int, fw: int, stride: int, pad: int
    ) -> Any:
        if not self.use_fused_kernels:
            return super().conv_patches_adjoint(dp, x_shape, fh, fw, stride, pad)
        n, c, h, w = x_shape
        oh, ow = output_hw(h, w, fh, fw, stride, pad)
        _check_shape("dP", dp, (c * fh * fw, n * oh * ow))
        img = self._lib.empty((c, n, h, w), dtype=dp.dtype)  # channel-major, as the reference
        self._k("xpnn_col2im")(dp, fh, fw, stride, pad, oh, ow, n, h, w, img)
        return self.xp.permute_dims(img, (1, 0, 2, 3))

    def maxpool_forward(self, x: Any, ph: int, pw: int, stride: int, pad: int) -> tuple[Any, Any]:
        """``ctx`` is (the int32 index of each window's first maximum, -1 for a NaN window;
        whether x is channel-major, so that dx is laid out as x)."""
        if not self.use_fused_kernels:
            return super().maxpool_forward(x, ph, pw, stride, pad)
        n, c, h, w = x.shape
        oh, ow = output_hw(h, w, ph, pw, stride, pad)
        out = self._lib.empty((n, c, oh, ow), dtype=x.dtype)
        arg = self._lib.empty((n, c, oh, ow), dtype=self._lib.int32)
        self._k("xpnn_maxpool_forward")(x, ph, pw, stride, pad, oh, ow, out, arg)
        return out, (arg, x.strides[1] > x.strides[0])

    def maxpool_backward(
        self,
        dout: Any,
        out: Any,
        ctx: Any,
        x_shape: tuple[int, ...],
        ph: int,
        pw: int,
        stride: int,
        pad: int,
    ) -> Any:
        if not self.use_fused_kernels:
            return super().maxpool_backward(dout, out, ctx, x_shape, ph, pw, stride, pad)
        arg, channel_major = ctx
        _check_shape("dout", dout, arg.shape)
        n, c, h, w = x_shape
        if channel_major:
            dx = self.xp.permute_dims(self._lib.empty((c, n, h, w), dtype=dout.dtype), (1, 0, 2, 3))
        else:
            dx = self._lib.empty((n, c, h, w), dtype=dout.dtype)
        overlap = stride < ph or stride < pw
        self._k("xpnn_maxpool_backward")(
            dout, arg, ph, pw, stride, pad, int(channel_major), int(overlap), dx, size=n * c * h * w
        )
        return dx

    def bias_act(self, z: Any, b: Any, act: str) -> Any:
        name = ACTIVATION_KERNELS["bias_act"].get(act)
        if name is None or not self.use_fused_kernels:
            return super().bias_act(z, b, act)
        self._k(name)(b, z)
        return z

    def act_forward(self, x: Any, act: str) -> Any:
        name = ACTIVATION_KERNELS["act_forward"].get(act)
        if name is None or not self.use_fused_kernels:
            return super().act_forward(x, act)
        return self._k(name)(x, self._lib.empty_like(x))

    def act_backward(self, dout: Any, out: Any, act: str) -> Any:
        name = ACTIVATION_KERNELS["act_backward"].get(act)
        if name is None or not self.use_fused_kernels:
            return super().act_backward(dout, out, act)
        return self._k(name)(dout, out, self._lib.empty_like(dout))

    def softmax_xent(self, x: Any, t: Any, want_grad: bool) -> tuple[Any, Any, Any]:
        if not self.use_fused_kernels:
            return super().softmax_xent(x, t, want_grad)
        n = x.shape[0]
        _check_shape("t", t, x.shape)
        lib = self._lib
        y, rows = lib.empty(x.shape, dtype=x.dtype), lib.empty((n,), dtype=x.dtype)
        if want_grad:
            dx = lib.empty(x.shape, dtype=x.dtype)
            self._k("xpnn_softmax_xent_rows_grad")(x, t, 1.0 / n, y, dx, rows)
        else:
            dx = None
            self._k("xpnn_softmax_xent_rows")(x, t, y, rows)
        return self._k("xpnn_sum_scaled")(rows, -1.0 / n), y, dx

    def softmax_xent_backward(self, y: Any, t: Any, scale: float) -> Any:
        if not self.use_fused_kernels:
            return super().softmax_xent_backward(y, t, scale)
        return self._k("xpnn_softmax_xent_backward")(y, t, scale)

    def batchnorm_forward(
        self,
        x: Any,
        gamma: Any,
        beta: Any,
        running_mean: Any,
        running_var: Any,
        momentum: float,
        eps: float,
        train: bool,
    ) -> tuple[Any, Any, Any]:
        if not self.use_fused_kernels:
            return super().batchnorm_forward(
                x, gamma, beta, running_mean, running_var, momentum, eps, train
            )
        axes, per_feature = feature_layout(x)
        lib, c = self._lib, x.shape[1]
        if train:
            mean, std = lib.empty((c,), dtype=x.dtype), lib.empty((c,), dtype=x.dtype)
            self._k("xpnn_batchnorm_stats")(
                x, momentum, 1.0 - momentum, eps, mean, std, running_mean, running_var, axis=axes
            )
        else:
            mean, std = running_mean, self._k("xpnn_batchnorm_std")(running_var, eps)
        out, xn = lib.empty_like(x), lib.empty_like(x)
        f = per_feature
        self._k("xpnn_batchnorm_normalize")(x, f(mean), f(std), f(gamma), f(beta), out, xn)
        return out, xn, std

    def batchnorm_backward(
        self,
        dout: Any,
        xn: Any,
        std: Any,
        gamma: Any,
        train: bool,
        dgamma: Any = None,
        dbeta: Any = None,
    ) -> tuple[Any, Any, Any]:
        if not self.use_fused_kernels:
            return super().batchnorm_backward(dout, xn, std, gamma, train, dgamma, dbeta)
        axes, f = feature_layout(dout)
        lib, c = self._lib, dout.shape[1]
        dbeta = lib.empty((c,), dtype=dout.dtype) if dbeta is None else dbeta
        dgamma = lib.empty((c,), dtype=dout.dtype) if dgamma is None else dgamma
        self._k("xpnn_batchnorm_grad_sums")(dout, xn, dbeta, dgamma, axis=axes)
        dx = lib.empty_like(xn)
        if train:
            minv = -1.0 / (math.prod(dout.shape) // c)
            self._k("xpnn_batchnorm_backward")(
                dout, xn, f(dgamma), f(dbeta), f(gamma), f(std), minv, dx
            )
        else:
            self._k("xpnn_batchnorm_backward_inference")(dout, f(gamma), f(std), dx)
        return dx, dgamma, dbeta

    def dropout_forward(self, x: Any, ratio: float, generator: Any) -> tuple[Any, Any]:
        if not self.use_fused_kernels:
            return super().dropout_forward(x, ratio, generator)
        u = generator.random(tuple(x.shape), dtype=x.dtype)
        out, mask = self._lib.empty_like(x), self._lib.empty_like(x)
        self._k("xpnn_dropout")(x, u, ratio, 1.0 / (1.0 - ratio), out, mask)
        return out, mask

    def optimizer_step(
        self, optimizer: Any, p: Any, g: Any, state: dict[str, Any], step: int
    ) -> None:
        rule = FUSED_RULES.get(getattr(optimizer, "rule", None) or "")
        if not self.use_fused_kernels or rule is None:  # a rule of the user's own: portable
            super().optimizer_step(optimizer, p, g, state, step)
            return
        scalars = optimizer.scalars(step, self.xp, p.dtype)
        kernel = self._k(f"xpnn_fused_{optimizer.rule}")
        kernel(g, *(scalars[s] for s in rule.scalars), p, *(state[s] for s in rule.slots))


class CupyBackend(CupyKernels):
    """CuPy through ``array_api_compat.cupy``, on one ``cupy.cuda.Device``; the kernel seam
    is :class:`CupyKernels`'."""

    name = "cupy"

    @classmethod
    def create(cls, key: Any) -> CupyBackend:
        cupy = import_library("cupy", _INSTALL)
        _check_device(cupy, key)
        from array_api_compat import cupy as xp

        return cls(xp, cupy.cuda.Device(key), cupy)

    @property
    def is_cpu(self) -> bool:
        return False

    @property
    def fork_safe(self) -> bool:
        return False

    def activate(self) -> contextlib.AbstractContextManager[Any]:
        return self.device  # a cupy.cuda.Device is a re-entrant context manager

    def asarray(self, data: Any, dtype: Any = None, *, copy: bool | None = None) -> Any:
        with self.device:
            return super().asarray(data, dtype, copy=copy)

    def to_numpy(self, array: Any) -> np.ndarray:
        if isinstance(array, np.ndarray):
            return array.copy()
        return self._lib.asnumpy(array)  # a device-to-host transfer: always a copy

    def synchronize(self) -> None:
        self.device.synchronize()

    def matmul_into(self, a: Any, b: Any, out: Any) -> None:
        self._lib.matmul(a, b, out=out)

    def sum_into(self, x: Any, axis: int | tuple[int, ...], out: Any) -> None:
        self._lib.sum(x, axis=axis, out=out)

    def rng(self, seed: Any = None) -> CupyGenerator:
        return CupyGenerator(self, seed)

    def device_key(self) -> int:
        return int(self.device.id)


class CupyGenerator(Generator):
    """cuRAND through ``cupy.random.RandomState``: draws on the GPU, no host transfer.

    cuRAND's state cannot be read back, so the state records the seed (root and
    :meth:`~xpnn.random.Generator.reseed` key) and the draws made since the stream started
    (run-length encoded); :meth:`set_state` replays them on the GPU. The Trainer re-seeds
    the dropout stream every epoch, so a checkpoint (written at the end of an epoch) holds no
    draws and resumes in O(1).
    """

    _KINDS = ("normal", "uniform", "permutation")

    def _start(self) -> None:
        self._cupy = self.backend._lib
        self._draws: list[list[Any]] = []  # [kind, shape, dtype, count]
        with self.backend.device:
            self._rs = self._cupy.random.RandomState(int_seed(self.current_seed))

    def _record(self, kind: str, shape: tuple[int, ...], dtype: str) -> None:
        last = self._draws[-1] if self._draws else None
        if last is not None and last[:3] == [kind, list(shape), dtype]:
            last[3] += 1
        else:
            self._draws.append([kind, list(shape), dtype, 1])

    def normal(self, shape, std=1.0, mean=0.0, dtype="float32"):
        shp, name = shape_of(shape), self._float_name(dtype)
        self._record("normal", shp, name)
        with self.backend.device:
            z = self._rs.standard_normal(shp, dtype=name)
            z *= float(std)
            if mean:
                z += float(mean)
        return z

    def uniform(self, shape, low=0.0, high=1.0, dtype="float32"):
        shp, name = shape_of(shape), self._float_name(dtype)
        self._record("uniform", shp, name)
        with self.backend.device:
            u = self._rs.random_sample(shp, dtype=name)
            if (low, high) != (0.0, 1.0):
                u *= float(high) - float(low)
                u += float(low)
        return u

    def permutation(self, n):
        self._record("permutation", (int(n),), "int64")
        with self.backend.device:
            return self._rs.permutation(int(n)).astype(self._cupy.int64, copy=False)

    def _get_state(self):
        return {"state": np.asarray(json.dumps(self._draws))}

    def _set_state(self, state):
        draws = _parse_draws(state["state"])
        replay = {"normal": self.normal, "uniform": self.uniform}
        for kind, shape, dtype, count in draws:
            for _ in range(count):
                if kind == "permutation":
                    self.permutation(shape[0])
                else:
                    replay[kind](tuple(shape), dtype=dtype)


def _parse_draws(text: Any) -> list[tuple[str, list[int], str, int]]:
    """The run-length log of a CupyGenerator state, checked entry by entry."""
    try:
        entries = json.loads(str(np.asarray(text)))
    except ValueError as exc:
        raise ValueError(f"damaged CupyGenerator draw log ({exc})") from None
    if not isinstance(entries, list):
        raise ValueError("damaged CupyGenerator draw log: not a list")
    out = []
    for i, entry in enumerate(entries):
        ok = isinstance(entry, list) and len(entry) == 4
        if ok:
            kind, shape, dtype, count = entry
            ok = (
                kind in CupyGenerator._KINDS
                and isinstance(shape, list)
                and all(isinstance(s, int) and s >= 0 for s in shape)
                and (kind != "permutation" or len(shape) == 1)
                and dtype in ("float32", "float64", "int64")
                and isinstance(count, int)
                and count >= 1
            )
        if not ok:
            raise ValueError(f"damaged CupyGenerator draw log: entry {i} is {entry!r}")
        out.append((kind, shape, dtype, count))
    return out


def device_key(device: Any) -> int:
    if device is None:
        return 0
    try:
        return int(getattr(device, "id", device))
    except (TypeError, ValueError):
        raise DeviceBackendError(
            f"a CuPy device is a GPU index or a cupy.cuda.Device, not {device!r}"
        ) from None


# Each CUDA library a training step loads, tried once with a tiny call: CuPy loads them
# lazily, so a wheel without one (the cuda12/cuda13 extras without CuPy's [ctk]) would pass
# a kernel and fail at the first matmul or weight draw, deep inside training.
_PROBES: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("run a kernel", "NVRTC", lambda cupy: int(cupy.arange(3, dtype=cupy.float32).sum())),
    (
        "multiply matrices",
        "cuBLAS",
        lambda cupy: float(
            cupy.matmul(
                cupy.ones((2, 2), dtype=cupy.float32), cupy.ones((2, 2), dtype=cupy.float32)
            ).sum()
        ),
    ),
    (
        "draw random numbers",
        "cuRAND",
        lambda cupy: float(cupy.random.RandomState(0).random_sample((2,), cupy.float32).sum()),
    ),
)


def _check_device(cupy: Any, key: int) -> None:
    """Raise :class:`BackendError` unless CuPy can run work on GPU ``key``: a device, and
    the CUDA libraries a training step needs (NVRTC for kernels, cuBLAS for a matmul, cuRAND
    for a draw), each tried once with a tiny call."""
    try:
        available = bool(cupy.cuda.is_available())
    except Exception:  # a broken driver install raises instead of answering
        available = False
    if not available:
        raise BackendError(
            "the 'cupy' backend was requested but CuPy finds no usable CUDA device; "
            "check `nvidia-smi`, the NVIDIA driver and CUDA_VISIBLE_DEVICES, "
            "or unset XPNN_BACKEND to run on numpy"
        )
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:
        raise _cannot("count the devices", "CUDA runtime", exc) from None
    if not 0 <= key < count:
        raise DeviceBackendError(
            f"CuPy sees {count} CUDA device(s) (0 to {count - 1}), not device {key}; "
            "check CUDA_VISIBLE_DEVICES"
        )
    for what, library, probe in _PROBES:
        try:
            with cupy.cuda.Device(key):
                probe(cupy)
        except Exception as exc:
            raise _cannot(f"{what} on device {key}", library, exc) from None


def _cannot(what: str, library: str, exc: Exception) -> BackendError:
    """The one-line error of a probe that failed: what, which library, the first line of
    its error, and the fix."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return BackendError(
        f"CuPy is installed and sees a GPU, but cannot {what} ({library}: "
        f"{type(exc).__name__}: {first}); the CUDA libraries CuPy needs are missing or do "
        f"not match its wheel: {_INSTALL}, and check "
        "`python -c 'import cupy; cupy.show_config()'`"
    )


create = CupyBackend.create


def owns(array: Any) -> int | None:
    from array_api_compat import is_cupy_array

    return int(array.device.id) if is_cupy_array(array) else None
