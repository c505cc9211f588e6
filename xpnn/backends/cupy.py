"""CuPy on a CUDA GPU: everything xpnn knows about CuPy lives in this file.

CuPy allocates arrays and launches kernels on its *current* device, and array_api_compat
ignores ``device=`` for CuPy's creation functions; so :meth:`CupyBackend.activate` makes the
backend's device current, and xpnn enters it around everything that computes (building a
network, forward and backward passes, optimizer updates, training). Backends are cached by
device id (``cupy.cuda.Device`` objects are not hashable).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, ClassVar

import numpy as np

from ..random import Generator, int_seed, shape_of
from .base import Backend, BackendError, DeviceBackendError, import_library

__all__ = [
    "FUSED_RULES",
    "CupyBackend",
    "CupyGenerator",
    "FusedRule",
    "create",
    "device_key",
    "owns",
]

_INSTALL = (
    "pip install 'xpnn[cuda12]' for CUDA 12 or 'xpnn[cuda13]' for CUDA 13 "
    "(nvidia-smi shows the CUDA version)"
)


class CupyBackend(Backend):
    """CuPy through ``array_api_compat.cupy``, on one ``cupy.cuda.Device``."""

    name = "cupy"

    #: Kernel launches of each seam operation this backend replaces (the CuPy model of
    #: ``benchmarks/opcount.py`` counts them; a replaced operation must be listed here).
    LAUNCHES: ClassVar[dict[str, int]] = {"optimizer_step": 1}

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

    #: Apply optimizer rules with one fused kernel each (False: the portable rule, e.g. to
    #: compare the two).
    use_fused_kernels = True

    def optimizer_step(
        self, optimizer: Any, p: Any, g: Any, state: dict[str, Any], step: int
    ) -> None:
        rule = FUSED_RULES.get(getattr(optimizer, "rule", None) or "")
        if not self.use_fused_kernels or rule is None:  # a rule of the user's own: portable
            super().optimizer_step(optimizer, p, g, state, step)
            return
        scalars = optimizer.scalars(step, self.xp, p.dtype)
        kernel = _kernel(self._lib, optimizer.rule)
        kernel(g, *(scalars[s] for s in rule.scalars), p, *(state[s] for s in rule.slots))

    def device_key(self) -> int:
        return int(self.device.id)


class FusedRule:
    """One optimizer rule as a CUDA elementwise operation over the flat buffers: reads the
    gradient ``g`` and the ``scalars`` (Python floats, cast to the parameters' type ``T``),
    updates ``p`` and the state ``slots`` in place. The formula is the portable rule's
    (``xpnn/optimizers.py``), written as one expression per array."""

    def __init__(self, scalars: tuple[str, ...], slots: tuple[str, ...], operation: str) -> None:
        self.scalars, self.slots, self.operation = scalars, slots, operation

    @property
    def in_params(self) -> str:
        return ", ".join(["T g", *(f"T {s}" for s in self.scalars)])

    @property
    def out_params(self) -> str:
        return ", ".join(["T p", *(f"T {s}" for s in self.slots)])


FUSED_RULES = {
    "sgd": FusedRule(("lr",), (), "p -= lr * g"),
    "momentum": FusedRule(("lr", "momentum"), ("v",), "v = momentum * v - lr * g; p += v"),
    "nesterov": FusedRule(
        ("lr", "momentum"), ("v",), "T s = lr * g; v = momentum * v - s; p += momentum * v - s"
    ),
    "adagrad": FusedRule(("lr", "eps"), ("h",), "h += g * g; p -= lr * g / (sqrt(h) + eps)"),
    "rmsprop": FusedRule(
        ("lr", "rho", "omrho", "eps"),
        ("h",),
        "h = rho * h + omrho * (g * g); p -= lr * g / (sqrt(h) + eps)",
    ),
    # 1 - β is passed in (computed in double, then cast to T, as the portable rule's Python
    # float is): computed in the kernel from a float32 β it would round differently
    "adam": FusedRule(
        ("b1", "b2", "omb1", "omb2", "lr_t", "eps_t", "decay"),
        ("m", "v"),
        "p *= decay; m = b1 * m + omb1 * g; v = b2 * v + omb2 * (g * g); "
        "p -= lr_t * m / (sqrt(v) + eps_t)",
    ),
}

_KERNELS: dict[str, Any] = {}


def _kernel(cupy: Any, name: str) -> Any:
    """The ElementwiseKernel of rule ``name`` (compiled by CuPy on first use, then cached)."""
    kernel = _KERNELS.get(name)
    if kernel is None:
        rule = FUSED_RULES[name]
        kernel = _KERNELS[name] = cupy.ElementwiseKernel(
            rule.in_params, rule.out_params, rule.operation, f"xpnn_fused_{name}"
        )
    return kernel


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
        if not 0 <= key < count:
            raise DeviceBackendError(
                f"CuPy sees {count} CUDA device(s) (0 to {count - 1}), not device {key}; "
                "check CUDA_VISIBLE_DEVICES"
            )
        with cupy.cuda.Device(key):  # a wheel without its CUDA libraries fails here
            int(cupy.arange(3, dtype=cupy.float32).sum())
    except BackendError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendError(
            f"CuPy is installed and sees a GPU, but cannot run a kernel on device {key} "
            f"({type(exc).__name__}: {first}); the CuPy wheel probably does not match the "
            f"CUDA libraries here: {_INSTALL}, and check `python -c 'import cupy; "
            "cupy.show_config()'`"
        ) from None


create = CupyBackend.create


def owns(array: Any) -> int | None:
    from array_api_compat import is_cupy_array

    return int(array.device.id) if is_cupy_array(array) else None
