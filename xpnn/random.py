"""Seeded random numbers on any backend.

Random numbers are not part of the Array API standard. :class:`Generator` is the one small
interface xpnn draws through; each backend supplies its own (``Backend.rng``):

========================  ==================================================  ===========
backend                   generator                                           draws on
========================  ==================================================  ===========
numpy, array_api_strict   ``HostGenerator``: NumPy's PCG64 (``numpy.py``)     host, then
                                                                              moved
cupy                      ``CupyGenerator``: cuRAND (``backends/cupy.py``)    the GPU
torch                     ``TorchGenerator``: a ``torch.Generator``           the device
========================  ==================================================  ===========

Same seed, same backend: same numbers. NumPy and array_api_strict share the host generator,
so they draw bit-identical numbers. A seed may be an ``int``, ``None`` (fresh entropy) or a
:class:`numpy.random.SeedSequence`; :func:`spawn_seeds` derives independent streams
(initialisation, dropout, shuffling) from one seed, and :meth:`Generator.reseed` restarts a
stream from its seed and a key (the Trainer re-seeds the dropout stream with the epoch, so
resuming at an epoch needs no replay of earlier draws).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["Generator", "make_generator", "restore_state", "spawn_seeds"]

Shape = int | tuple[int, ...]


def spawn_seeds(seed: int | np.random.SeedSequence | None, n: int) -> list[np.random.SeedSequence]:
    """Split one seed into ``n`` independent, reproducible seed sequences."""
    return seed_sequence(seed).spawn(n)


def seed_sequence(seed: Any) -> np.random.SeedSequence:
    """``seed`` (an int ≥ 0, ``None`` or a ``SeedSequence``) as a ``SeedSequence``."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is None or (isinstance(seed, int | np.integer) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        return np.random.SeedSequence(None if seed is None else int(seed))
    raise TypeError(f"seed must be an int, None or a numpy SeedSequence, not {type(seed).__name__}")


def derive(root: np.random.SeedSequence, key: tuple[int, ...]) -> np.random.SeedSequence:
    """The seed sequence of ``root`` extended by ``key`` (``root`` itself for ``()``)."""
    if not key:
        return root
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, *key))


def int_seed(ss: np.random.SeedSequence) -> int:
    """A 63-bit integer seed for libraries that take one (torch, cupy)."""
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def shape_of(shape: Shape) -> tuple[int, ...]:
    """``shape`` as a tuple of ints."""
    return (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)


def dtype_name(dtype: Any) -> str:
    """'float32' for a name or any library's float32 dtype."""
    if isinstance(dtype, str):
        return dtype
    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype).rsplit(".", 1)[-1]


def _ints(value: Any, what: str) -> tuple[int, ...]:
    arr = np.asarray(value)
    if arr.ndim > 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise ValueError(f"{what} must be a list of integers, got {value!r}")
    return tuple(int(k) for k in arr.reshape(-1))


class Generator:
    """Random numbers on one backend's device.

    All methods return arrays of the backend, on its device, of the requested floating
    ``dtype`` (a name or a dtype of the backend; default float32); ``permutation`` returns
    int64 indices.

    ``seed_sequence`` is the root seed; :meth:`reseed` restarts the stream from the root
    extended by a key, and the state (:meth:`get_state`) records the root, the key and the
    library's own state, so :meth:`set_state` restores all three.
    """

    def __init__(self, backend: Any, seed: Any = None) -> None:
        self.backend = backend
        self.seed_sequence = seed_sequence(seed)
        self.key: tuple[int, ...] = ()
        self._start()

    @property
    def current_seed(self) -> np.random.SeedSequence:
        """The seed the stream started from: the root, extended by the :meth:`reseed` key."""
        return derive(self.seed_sequence, self.key)

    def reseed(self, *key: int) -> None:
        """Restart the stream from the root seed extended by ``key`` (e.g. the epoch)."""
        self.key = tuple(int(k) for k in key)
        self._start()

    # -- draws (each library's generator) --------------------------------------------------
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

    def _start(self) -> None:
        """(Re)build the library's generator from :attr:`current_seed`."""
        raise NotImplementedError

    def _get_state(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _set_state(self, state: Mapping[str, Any]) -> None:
        """Restore the library's state after :meth:`_start` (raise on a damaged one)."""
        raise NotImplementedError

    def _float_name(self, dtype: Any) -> str:
        name = dtype_name(dtype)
        if name not in ("float32", "float64"):
            raise ValueError(f"random floats must be float32 or float64, not {name}")
        return name

    # -- state ---------------------------------------------------------------------------
    def get_state(self) -> dict[str, np.ndarray]:
        """The generator's state as host NumPy arrays (savable with ``np.savez``)."""
        return {
            "kind": np.asarray(type(self).__name__),
            "entropy": np.asarray(json.dumps(self.seed_sequence.entropy)),
            "spawn_key": np.asarray(self.seed_sequence.spawn_key, dtype=np.int64),
            "key": np.asarray(self.key, dtype=np.int64),
            **self._get_state(),
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore a state returned by :meth:`get_state` on the same kind of backend.

        A state without a seed (saved before generators recorded one) keeps this
        generator's root seed. Raises ``ValueError`` for a state of another generator kind
        or a damaged one, leaving this generator as it was."""
        self._check_state(state)
        root, key = self.seed_sequence, self.key
        try:
            if "entropy" in state:
                entropy = json.loads(str(np.asarray(state["entropy"])))
                spawn_key = _ints(state.get("spawn_key", []), "spawn_key")
                root = np.random.SeedSequence(entropy, spawn_key=spawn_key)
            key = _ints(state.get("key", []), "key")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"damaged {type(self).__name__} seed ({exc})") from None
        saved = dict(vars(self))
        try:
            self.seed_sequence, self.key = root, key
            self._start()
            self._set_state(state)
        except BaseException:
            vars(self).clear()
            vars(self).update(saved)
            raise

    def _check_state(self, state: Mapping[str, Any]) -> None:
        kind = str(np.asarray(state.get("kind", "")))
        if kind != type(self).__name__:
            raise ValueError(
                f"random state was saved by a {kind or 'unknown'} generator; this backend "
                f"({self.backend.name}) uses {type(self).__name__}"
            )


def make_generator(backend: Any, seed: Any = None) -> Generator:
    """A :class:`Generator` for ``backend``, seeded with ``seed`` (``backend.rng(seed)``)."""
    return backend.rng(seed)


def restore_state(generator: Generator, state: Any, what: str) -> None:
    """Restore ``generator`` from ``state`` (``what`` names it in errors, e.g.
    ``"state_dict['dropout_rng']"``), checked first: a state that is not a generator's, or a
    damaged one, raises ``ValueError`` and changes nothing; a state of another kind of
    generator (saved on another backend) leaves the generator as it is, with a
    ``RuntimeWarning`` saying so."""
    if not isinstance(state, Mapping):
        raise ValueError(f"{what} must be a dict (a generator's state), not {type(state).__name__}")
    try:
        generator._check_state(state)
    except ValueError as exc:
        warnings.warn(
            f"{what} not restored ({exc}); the draws continue from this generator's own stream",
            RuntimeWarning,
            stacklevel=3,
        )
        return
    try:
        generator.set_state(state)
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise ValueError(
            f"{what} is not a valid {type(generator).__name__} state ({exc!r})"
        ) from None
