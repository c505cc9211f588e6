"""Seeded random numbers on any backend.

Random numbers are not part of the Array API standard, so this is the one place that knows
each library's generator:

========================  ==================================================  ===========
backend                   generator                                           draws on
========================  ==================================================  ===========
numpy, array_api_strict   ``numpy.random.Generator(PCG64)``                   host, then
                                                                              moved
cupy                      ``cupy.random.RandomState`` (cuRAND XORWOW)         the GPU
torch                     ``torch.Generator`` on the backend's device         the device
========================  ==================================================  ===========

Same seed, same backend: same numbers. NumPy and array_api_strict share the host generator,
so they draw bit-identical numbers. A seed may be an ``int``, ``None`` (fresh entropy) or a
:class:`numpy.random.SeedSequence`; use :func:`spawn_seeds` to derive independent streams
(initialisation, dropout, shuffling) from one seed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .backends import Backend

__all__ = ["Generator", "make_generator", "spawn_seeds"]

Shape = int | tuple[int, ...]


def spawn_seeds(seed: int | np.random.SeedSequence | None, n: int) -> list[np.random.SeedSequence]:
    """Split one seed into ``n`` independent, reproducible seed sequences."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return ss.spawn(n)


def _seed_sequence(seed: Any) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is None or (isinstance(seed, int | np.integer) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        return np.random.SeedSequence(None if seed is None else int(seed))
    raise TypeError(f"seed must be an int, None or a numpy SeedSequence, not {type(seed).__name__}")


def _int_seed(ss: np.random.SeedSequence) -> int:
    """A 63-bit integer seed for libraries that take one (torch, cupy)."""
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def _shape(shape: Shape) -> tuple[int, ...]:
    return (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)


def _dtype_name(dtype: Any) -> str:
    if isinstance(dtype, str):
        return dtype
    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype).rsplit(".", 1)[-1]


class Generator:
    """Random numbers on one backend's device.

    All methods return arrays of the backend, on its device, of the requested floating
    ``dtype`` (a name or a dtype of the backend; default float32); ``permutation`` returns
    int64 indices.
    """

    def __init__(self, backend: Backend, seed: Any = None) -> None:
        self.backend = backend
        self.seed_sequence = _seed_sequence(seed)

    def normal(self, shape: Shape, std: float = 1.0, mean: float = 0.0, dtype: Any = "float32"):
        """Samples of N(mean, std²), shape ``shape``."""
        raise NotImplementedError

    def uniform(self, shape: Shape, low: float = 0.0, high: float = 1.0, dtype: Any = "float32"):
        """Samples of U[low, high), shape ``shape``."""
        raise NotImplementedError

    def random(self, shape: Shape, dtype: Any = "float32"):
        """Samples of U[0, 1), shape ``shape``."""
        return self.uniform(shape, 0.0, 1.0, dtype)

    def permutation(self, n: int):
        """A random permutation of ``0 .. n-1`` (int64, on the device)."""
        raise NotImplementedError

    def get_state(self) -> dict[str, np.ndarray]:
        """The generator's state as host NumPy arrays (savable with ``np.savez``)."""
        raise NotImplementedError

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore a state returned by :meth:`get_state` on the same backend."""
        raise NotImplementedError

    def _check_state(self, state: dict[str, np.ndarray]) -> None:
        kind = str(np.asarray(state.get("kind", "")))
        if kind != type(self).__name__:
            raise ValueError(
                f"random state was saved by a {kind or 'unknown'} generator; this backend "
                f"({self.backend.name}) uses {type(self).__name__}"
            )


class HostGenerator(Generator):
    """NumPy's PCG64 on the host, moved to the device (numpy and array_api_strict)."""

    def __init__(self, backend: Backend, seed: Any = None) -> None:
        super().__init__(backend, seed)
        self._rng = np.random.Generator(np.random.PCG64(self.seed_sequence))

    def _np_float(self, dtype: Any) -> np.dtype:
        name = _dtype_name(dtype)
        if name not in ("float32", "float64"):
            raise ValueError(f"random floats must be float32 or float64, not {name}")
        return np.dtype(name)

    def normal(self, shape, std=1.0, mean=0.0, dtype="float32"):
        z = self._rng.standard_normal(_shape(shape), dtype=self._np_float(dtype))
        z *= float(std)
        if mean:
            z += float(mean)
        return self.backend.asarray(z)

    def uniform(self, shape, low=0.0, high=1.0, dtype="float32"):
        u = self._rng.random(_shape(shape), dtype=self._np_float(dtype))
        if (low, high) != (0.0, 1.0):
            u *= float(high) - float(low)
            u += float(low)
        return self.backend.asarray(u)

    def permutation(self, n):
        return self.backend.asarray(self._rng.permutation(int(n)).astype(np.int64))

    def get_state(self):
        return {
            "kind": np.asarray(type(self).__name__),
            "state": np.asarray(json.dumps(self._rng.bit_generator.state)),
        }

    def set_state(self, state):
        self._check_state(state)
        self._rng.bit_generator.state = json.loads(str(np.asarray(state["state"])))


class TorchGenerator(Generator):
    """A ``torch.Generator`` on the backend's device."""

    def __init__(self, backend: Backend, seed: Any = None) -> None:
        super().__init__(backend, seed)
        torch = backend._lib
        self._torch = torch
        self._gen = torch.Generator(device=backend.device)
        self._gen.manual_seed(_int_seed(self.seed_sequence))

    def _float(self, dtype):
        name = _dtype_name(dtype)
        if name not in ("float32", "float64"):
            raise ValueError(f"random floats must be float32 or float64, not {name}")
        return getattr(self._torch, name)

    def normal(self, shape, std=1.0, mean=0.0, dtype="float32"):
        z = self._torch.randn(
            _shape(shape), generator=self._gen, dtype=self._float(dtype), device=self.backend.device
        )
        z *= float(std)
        if mean:
            z += float(mean)
        return z

    def uniform(self, shape, low=0.0, high=1.0, dtype="float32"):
        u = self._torch.rand(
            _shape(shape), generator=self._gen, dtype=self._float(dtype), device=self.backend.device
        )
        if (low, high) != (0.0, 1.0):
            u *= float(high) - float(low)
            u += float(low)
        return u

    def permutation(self, n):
        return self._torch.randperm(
            int(n), generator=self._gen, device=self.backend.device, dtype=self._torch.int64
        )

    def get_state(self):
        return {
            "kind": np.asarray(type(self).__name__),
            "state": self._gen.get_state().numpy().copy(),
        }

    def set_state(self, state):
        self._check_state(state)
        self._gen.set_state(self._torch.from_numpy(np.ascontiguousarray(state["state"])))


class CupyGenerator(Generator):
    """CuPy's cuRAND-backed ``RandomState``: draws on the GPU, no host transfer.

    cuRAND's state cannot be read back, so :meth:`get_state` records the seed and the draws
    made (run-length encoded); :meth:`set_state` replays them on the GPU. Resume is exact;
    its cost grows with the draws since seeding, so long runs re-seed per epoch.
    """

    def __init__(self, backend: Backend, seed: Any = None) -> None:
        super().__init__(backend, seed)
        self._cupy = backend._lib
        self._draws: list[list] = []  # run-length encoded: [kind, shape, dtype, count]
        with backend.device:
            self._rs = self._cupy.random.RandomState(_int_seed(self.seed_sequence))

    def _float(self, dtype):
        name = _dtype_name(dtype)
        if name not in ("float32", "float64"):
            raise ValueError(f"random floats must be float32 or float64, not {name}")
        return name

    def _record(self, kind: str, shape: tuple[int, ...], dtype: str) -> None:
        last = self._draws[-1] if self._draws else None
        if last is not None and last[:3] == [kind, list(shape), dtype]:
            last[3] += 1
        else:
            self._draws.append([kind, list(shape), dtype, 1])

    def normal(self, shape, std=1.0, mean=0.0, dtype="float32"):
        shp, name = _shape(shape), self._float(dtype)
        self._record("normal", shp, name)
        with self.backend.device:
            z = self._rs.standard_normal(shp, dtype=name)
            z *= float(std)
            if mean:
                z += float(mean)
        return z

    def uniform(self, shape, low=0.0, high=1.0, dtype="float32"):
        shp, name = _shape(shape), self._float(dtype)
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

    def get_state(self):
        return {
            "kind": np.asarray(type(self).__name__),
            "state": np.asarray(json.dumps(self._draws)),
            "entropy": np.asarray(str(self.seed_sequence.entropy)),
            "spawn_key": np.asarray(self.seed_sequence.spawn_key, dtype=np.int64),
        }

    def set_state(self, state):
        self._check_state(state)
        ss = np.random.SeedSequence(
            int(str(np.asarray(state["entropy"]))),
            spawn_key=tuple(int(k) for k in np.asarray(state["spawn_key"])),
        )
        fresh = CupyGenerator(self.backend, ss)
        for kind, shape, dtype, count in json.loads(str(np.asarray(state["state"]))):
            for _ in range(count):
                if kind == "normal":
                    fresh.normal(tuple(shape), dtype=dtype)
                elif kind == "uniform":
                    fresh.uniform(tuple(shape), dtype=dtype)
                else:
                    fresh.permutation(shape[0])
        self.seed_sequence, self._rs, self._draws = fresh.seed_sequence, fresh._rs, fresh._draws


def make_generator(backend: Backend, seed: Any = None) -> Generator:
    """A :class:`Generator` for ``backend``, seeded with ``seed``."""
    if backend.name in ("numpy", "array_api_strict"):
        return HostGenerator(backend, seed)
    if backend.name == "torch":
        return TorchGenerator(backend, seed)
    if backend.name == "cupy":
        return CupyGenerator(backend, seed)
    raise ValueError(f"no random generator for backend {backend.name!r}")
