"""An optimizer's state: per-parameter step counts and state arrays, in one form.

Each parameter key has a step count and one array per slot (``"m"``, ``"v"``, ...), made on
the parameter's device in its dtype at its first update. A loaded state waits on the host
(``pending``) until then, so a state can be loaded before the first step and moved to any
backend. When the parameters are a network's flat buffer, the state of every key is moved
into one flat buffer per slot, and the per-key arrays become views of it: the same numbers,
updated in one pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..backends import backend_of
from ..flat import FlatLayout

if TYPE_CHECKING:  # host copies are NumPy arrays; the state itself is any backend's
    import numpy as np

__all__ = ["OptimizerState", "to_host"]


def to_host(array: Any) -> np.ndarray:
    """A host NumPy copy of ``array`` (an array of any supported backend)."""
    return backend_of(array).to_numpy(array)


class OptimizerState:
    """The state of one optimizer (``owner`` names it in errors) with state ``slots``.

    ``steps`` (key -> updates so far), ``arrays`` (key -> slot -> array on the device),
    ``pending`` (key -> slot -> host array, loaded and not yet moved), ``flat`` (the flat
    path's layout, its slot buffers and the common step count, or ``None``).
    """

    def __init__(self, owner: str, slots: tuple[str, ...]) -> None:
        self.owner = owner
        self.slots = slots
        self.steps: dict[str, int] = {}
        self.arrays: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, dict[str, Any]] = {}
        self.flat: tuple[FlatLayout, dict[str, Any], int] | None = None

    # -- the flat path ---------------------------------------------------------------------
    def flat_step(self, layout: FlatLayout) -> tuple[dict[str, Any], int] | None:
        """The flat state buffers of ``layout`` and the step count of this update (every
        key's count advances by one), or ``None`` — nothing changed — where the keys' counts
        differ and each must be updated with its own."""
        if self.flat is None or self.flat[0] is not layout:
            self.flat = self._flatten(layout)
            if self.flat is None:
                return None
        _, buffers, step = self.flat
        step += 1
        self.flat = (layout, buffers, step)
        for key in layout.keys:
            self.steps[key] = step
        return buffers, step

    def _flatten(self, layout: FlatLayout) -> tuple[FlatLayout, dict[str, Any], int] | None:
        """The state of every key of ``layout`` moved into one flat buffer per slot (the
        per-key state becomes views of it), or None where their step counts differ."""
        steps = {self.steps.get(key, 0) for key in layout.keys}
        if len(steps) != 1:
            return None
        for key in layout.keys:  # a loaded state must fit before anything moves
            existing = self.arrays.get(key) or self.pending.get(key) or {}
            for slot, array in existing.items():
                self._check_shape(slot, key, array, layout.shapes[key])
        backend = layout.backend
        buffers = {slot: layout.zeros() for slot in self.slots}
        with backend.activate():
            for key in layout.keys:
                saved = self.arrays.get(key)
                pending = self.pending.pop(key, None)
                for slot, buffer in buffers.items():
                    if saved is not None:
                        buffer[key][...] = saved[slot]
                    elif pending is not None:
                        buffer[key][...] = backend.asarray(pending[slot], dtype=layout.dtype)
                self.arrays[key] = {slot: buffer[key] for slot, buffer in buffers.items()}
        return layout, {slot: buffer.flat for slot, buffer in buffers.items()}, steps.pop()

    # -- the per-tensor path ---------------------------------------------------------------
    def check_fits(self, key: str, p: Any) -> None:
        """Raise if the state of ``key`` (made or loaded) does not fit the parameter ``p``."""
        made = self.arrays.get(key)
        saved = made if made is not None else self.pending.get(key, {})
        for slot, array in saved.items():
            self._check_shape(slot, key, array, tuple(p.shape))
            if made is not None and array.dtype != p.dtype:
                raise TypeError(
                    f"{self.owner} state {slot}[{key!r}] has dtype {array.dtype} but "
                    f"params[{key!r}] has dtype {p.dtype}"
                )

    def ensure(self, key: str, xp: Any, p: Any) -> None:
        """Make the state arrays of ``key`` if it has none (zeros like ``p``, or the loaded
        state moved to ``p``'s device and dtype)."""
        if self.flat is not None and key in self.flat[0].offsets:
            self.flat = None  # keys stepped one by one: the flat state is rebuilt if used
        if key not in self.arrays:
            self.arrays[key] = self._new_arrays(key, xp, p)

    def advance(self, key: str) -> tuple[dict[str, Any], int]:
        """The state arrays of ``key`` (made by :meth:`ensure`) and the step count of this
        update."""
        step = self.steps[key] = self.steps.get(key, 0) + 1
        return self.arrays[key], step

    def _new_arrays(self, key: str, xp: Any, p: Any) -> dict[str, Any]:
        pending = self.pending.pop(key, None)
        if pending is None:
            return {slot: xp.zeros_like(p) for slot in self.slots}
        backend = backend_of(p)
        return {
            slot: backend.asarray(pending[slot], dtype=p.dtype, copy=True) for slot in self.slots
        }

    def _check_shape(self, slot: str, key: str, array: Any, shape: tuple[int, ...]) -> None:
        if tuple(array.shape) != shape:
            raise ValueError(
                f"{self.owner} state {slot}[{key!r}] has shape {tuple(array.shape)} but "
                f"params[{key!r}] has shape {shape}"
            )

    # -- saving and loading ------------------------------------------------------------------
    def to_dict(self) -> tuple[dict[str, int], dict[str, dict[str, np.ndarray]]]:
        """``(steps, {slot: {key: host copy}})``."""
        state: dict[str, dict[str, Any]] = {slot: {} for slot in self.slots}
        for source in (self.pending, self.arrays):
            for key, arrays in source.items():
                for slot, array in arrays.items():
                    state[slot][key] = to_host(array)
        return dict(self.steps), state

    def load(self, steps: Mapping[str, Any], saved: Mapping[str, Any]) -> None:
        """Replace everything with ``steps`` (key -> count) and the slot arrays ``saved``
        (slot -> key -> array), checked first: nothing changes when it raises."""
        counts = self._parse_steps(steps)
        bad = set(saved) - set(self.slots)
        if bad:
            raise ValueError(f"{self.owner} has no state {sorted(bad)}; it has {list(self.slots)}")
        pending: dict[str, dict[str, Any]] = {key: {} for key in counts}
        for slot in self.slots:
            arrays = dict(saved.get(slot) or {})
            if set(arrays) != set(counts):
                raise ValueError(
                    f"state {slot!r} has keys {sorted(arrays)} but step has {sorted(counts)}"
                )
            for key, array in arrays.items():
                pending[key][slot] = self._host_slot(slot, key, array, pending[key])
        self.steps = counts
        self.arrays = {}
        self.pending = pending if self.slots else {}
        self.flat = None

    @staticmethod
    def _parse_steps(steps: Mapping[str, Any]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for key, value in dict(steps).items():
            try:
                count = int(value)
            except (TypeError, ValueError):
                count = 0
            if count != value or count < 1:
                raise ValueError(f"step[{key!r}] must be a positive integer, got {value!r}")
            counts[str(key)] = count
        return counts

    @staticmethod
    def _host_slot(slot: str, key: str, array: Any, seen: Mapping[str, Any]) -> np.ndarray:
        try:
            host = to_host(array)
        except TypeError:
            raise TypeError(
                f"state {slot}[{key!r}] must be an array, not {type(array).__name__}"
            ) from None
        if host.dtype.kind != "f":
            raise TypeError(f"state {slot}[{key!r}] must be floating, not {host.dtype}")
        for other, array_seen in seen.items():
            if array_seen.shape != host.shape:
                raise ValueError(
                    f"state {slot}[{key!r}] has shape {host.shape} but "
                    f"{other}[{key!r}] has shape {array_seen.shape}"
                )
        return host
