"""NumPy on the CPU: the default backend, its random generator, and its replacements at the
kernel seam.

**Optimizer updates in blocks.** A rule runs over a large flat buffer in cache-sized blocks
of :data:`NUMPY_BLOCK` elements (views), so that the temporaries of an update stay in the
CPU cache instead of streaming through main memory once per operator, and are small enough
for the allocator to reuse. Measured on a 2-core EPYC (512 KB L2), one Adam update, float32,
µs: a network's flat buffer of 130 K parameters 723 unblocked, 695 in blocks of 65,536, 283
in blocks of 32,768, 334 of 16,384; four (2000, 1000) tensors 28.4 / 26.8 / 30.4 ms at
65,536 / 32,768 / 16,384. The more temporaries a rule makes, the sooner blocks pay; measured
whole vs blocked, µs per update of 130 K parameters / ms for four (2000, 1000) tensors: SGD
35 vs 42 / 7.4 vs 9.0 (never blocked), Momentum 83 vs 122 / 18.0 vs 14.2 and Nesterov 166 vs
178 / 43.4 vs 18.2 (blocked above 32 blocks), Adam 383 vs 324 / 89.2 vs 33.6 (blocked above
two, the default): :data:`BLOCK_ABOVE`. The results are the same bits, since every operation
is elementwise. NumPy only: it runs one thread per operation and its slices are always views.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from ..random import Generator, shape_of
from .base import Backend, DeviceBackendError

__all__ = [
    "BLOCK_ABOVE",
    "NUMPY_BLOCK",
    "HostGenerator",
    "NumpyBackend",
    "create",
    "device_key",
    "owns",
]

#: Elements per block of a blocked optimizer update (see the module docstring).
NUMPY_BLOCK = 32768

#: A rule's update is blocked above this many blocks (by the optimizer's ``rule`` name;
#: other rules: :data:`DEFAULT_BLOCK_ABOVE`).
BLOCK_ABOVE: dict[str, float] = {"sgd": math.inf, "momentum": 32, "nesterov": 32}
DEFAULT_BLOCK_ABOVE = 2.0


class NumpyBackend(Backend):
    """NumPy through ``array_api_compat.numpy``; one device, ``"cpu"``."""

    name = "numpy"

    @classmethod
    def create(cls, key: Any) -> NumpyBackend:
        from array_api_compat import numpy as xp

        return cls(xp, "cpu", np)

    def needs_transfer(self, x: Any) -> bool:
        return False  # host arrays are this backend's own

    def to_numpy(self, array: Any) -> np.ndarray:
        return np.array(array, copy=True)

    def matmul_into(self, a: Any, b: Any, out: Any) -> None:
        np.matmul(a, b, out=out)

    def sum_into(self, x: Any, axis: int | tuple[int, ...], out: Any) -> None:
        np.add.reduce(x, axis=axis, out=out)  # np.sum's Python wrapper costs ~3 µs a call

    def optimizer_step(
        self, optimizer: Any, p: Any, g: Any, state: dict[str, Any], step: int
    ) -> None:
        above = BLOCK_ABOVE.get(getattr(optimizer, "rule", None) or "", DEFAULT_BLOCK_ABOVE)
        blocks = _blocks(p, g, state, above)
        if blocks is None:
            super().optimizer_step(optimizer, p, g, state, step)
            return
        scalars = optimizer.scalars(step, self.xp, p.dtype)
        for block_p, block_g, block_state in blocks:
            optimizer.apply(self.xp, block_p, block_g, block_state, scalars)

    def rng(self, seed: Any = None) -> HostGenerator:
        return HostGenerator(self, seed)


def _blocks(p: Any, g: Any, state: dict[str, Any], above: float) -> Any:
    """Blocks ``(p, g, state)`` of flat views of a parameter of more than ``above`` blocks,
    or ``None`` (smaller, or not viewable as flat without a copy)."""
    block = NUMPY_BLOCK
    n = p.size
    if n <= above * block or not isinstance(p, np.ndarray):
        return None
    if not all(a.flags.c_contiguous for a in (p, *state.values())):
        return None  # a flat view would be a copy, and the update would be lost
    flat_p = p.reshape(-1)
    flat_state = {k: a.reshape(-1) for k, a in state.items()}
    flat_g = g.reshape(-1)  # only read: a copy is fine
    return (
        (
            flat_p[i : i + block],
            flat_g[i : i + block],
            {k: a[i : i + block] for k, a in flat_state.items()},
        )
        for i in range(0, n, block)
    )


class HostGenerator(Generator):
    """NumPy's PCG64 on the host, moved to the device (numpy and array_api_strict)."""

    def _start(self) -> None:
        self._rng = np.random.Generator(np.random.PCG64(self.current_seed))

    def normal(self, shape, std=1.0, mean=0.0, dtype="float32"):
        z = self._rng.standard_normal(shape_of(shape), dtype=np.dtype(self._float_name(dtype)))
        z *= float(std)
        if mean:
            z += float(mean)
        return self.backend.asarray(z)

    def uniform(self, shape, low=0.0, high=1.0, dtype="float32"):
        u = self._rng.random(shape_of(shape), dtype=np.dtype(self._float_name(dtype)))
        if (low, high) != (0.0, 1.0):
            u *= float(high) - float(low)
            u += float(low)
        return self.backend.asarray(u)

    def permutation(self, n):
        return self.backend.asarray(self._rng.permutation(int(n)).astype(np.int64))

    def _get_state(self):
        return {"state": np.asarray(json.dumps(self._rng.bit_generator.state))}

    def _set_state(self, state):
        self._rng.bit_generator.state = json.loads(str(np.asarray(state["state"])))


def device_key(device: Any) -> str:
    if device not in (None, "cpu"):
        raise DeviceBackendError(f"numpy has only the 'cpu' device, not {device!r}")
    return "cpu"


create = NumpyBackend.create


def owns(array: Any) -> str | None:
    return "cpu" if isinstance(array, np.ndarray | np.generic) else None
