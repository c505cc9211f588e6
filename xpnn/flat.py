"""Flat buffers: a network's parameters (and their gradients, and an optimizer's state) as
views of one contiguous array.

On a GPU every array operation is a kernel launch with 10-20 µs of host time, so an update
rule applied tensor by tensor costs its operation count times the number of tensors. With
every tensor a view of one flat buffer, a rule runs once over the buffer, whatever the depth:
the rules are elementwise, so the result is the same, bit for bit::

    layout = FlatLayout.of(params, backend)       # None where views do not share memory
    flat = layout.pack(params)                    # a FlatDict: {"W1": view, ...}, flat.flat
    flat["W1"] -= 0.1                              # writes through to flat.flat

A :class:`FlatDict` is a ``dict`` (the book's ``params``/``grads`` API is unchanged); it
remembers whether an entry was rebound or removed (``intact``), in which case its entries are
no longer the buffer's views and consumers (the optimizers) fall back to the per-tensor path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ._array_api import namespace_of

__all__ = ["FlatDict", "FlatLayout"]

_ALIASING: dict[Any, bool] = {}  # backend -> whether reshaped slices are writable views


def _views_alias(backend: Any) -> bool:
    """Whether, on ``backend``, an in-place update of a reshaped slice reaches its base (the
    standard leaves it to the library; NumPy, CuPy, torch and array_api_strict all do).
    Probed once per backend with one read at construction, never per step."""
    known = _ALIASING.get(backend)
    if known is None:
        xp = backend.xp
        with backend.activate():
            base = xp.zeros(6, dtype=xp.float32, device=backend.device)
            view = xp.reshape(base[2:6], (2, 2))
            view += 1.0
            known = _ALIASING[backend] = float(xp.sum(base)) == 4.0
    return known


class FlatLayout:
    """Where each tensor of a dict of same-dtype arrays lives in a flat buffer.

    ``keys``, ``shapes``, ``offsets`` (start of each tensor, in elements), ``size`` (total
    elements), ``dtype`` and ``backend``. Two dicts with the same layout *object* line up
    element for element.
    """

    def __init__(self, shapes: Mapping[str, tuple[int, ...]], dtype: Any, backend: Any) -> None:
        self.keys = tuple(shapes)
        self.shapes = {k: tuple(int(n) for n in s) for k, s in shapes.items()}
        self.offsets: dict[str, int] = {}
        offset = 0
        for key in self.keys:
            self.offsets[key] = offset
            offset += math.prod(self.shapes[key])
        self.size = offset
        self.dtype = dtype
        self.backend = backend

    @classmethod
    def of(cls, arrays: Mapping[str, Any], backend: Any) -> FlatLayout | None:
        """The layout of ``arrays`` (all of one dtype, on ``backend``), or ``None`` where
        they cannot share one buffer (mixed dtypes, or views that do not alias)."""
        dtypes = {a.dtype for a in arrays.values()}
        if len(dtypes) != 1 or not _views_alias(backend):
            return None
        return cls({k: tuple(a.shape) for k, a in arrays.items()}, dtypes.pop(), backend)

    def views(self, flat: Any) -> dict[str, Any]:
        """``{key: view of flat}``, each shaped like its tensor."""
        xp = namespace_of(flat)
        out = {}
        for key in self.keys:
            start = self.offsets[key]
            shape = self.shapes[key]
            out[key] = xp.reshape(flat[start : start + math.prod(shape)], shape)
        return out

    def zeros(self) -> FlatDict:
        """A new buffer of zeros, as a :class:`FlatDict` of this layout."""
        backend = self.backend
        with backend.activate():
            flat = backend.xp.zeros(self.size, dtype=self.dtype, device=backend.device)
            return FlatDict(self, flat)

    def pack(self, arrays: Mapping[str, Any]) -> FlatDict:
        """A new buffer holding a copy of ``arrays`` (of this layout's keys and shapes)."""
        out = self.zeros()
        with self.backend.activate():
            for key in self.keys:
                out[key][...] = arrays[key]
        return out


class FlatDict(dict):
    """A dict whose values are the views of one flat buffer (``.flat``), laid out by
    ``.layout``. ``intact`` is true while every entry is still its view."""

    def __init__(self, layout: FlatLayout, flat: Any, views: Mapping[str, Any] | None = None):
        super().__init__(layout.views(flat) if views is None else views)
        self.layout = layout
        self.flat = flat
        self._intact = True

    @property
    def intact(self) -> bool:
        """True while no entry was rebound, added or removed since the dict was made."""
        return self._intact

    def copy(self) -> FlatDict:
        """A new dict of the same entries (intact if this one is)."""
        new = FlatDict(self.layout, self.flat, dict(self))
        new._intact = self._intact
        return new

    def _touched(self) -> None:
        self._intact = False

    def __setitem__(self, key: Any, value: Any) -> None:
        if self._intact and value is not dict.get(self, key):
            self._touched()
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self._touched()
        super().__delitem__(key)

    def pop(self, *args: Any) -> Any:
        self._touched()
        return super().pop(*args)

    def popitem(self) -> Any:
        self._touched()
        return super().popitem()

    def clear(self) -> None:
        self._touched()
        super().clear()

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self._touched()
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._touched()
        super().update(*args, **kwargs)

    def __ior__(self, other: Any) -> FlatDict:  # type: ignore[misc]
        self._touched()
        super().update(other)
        return self

    def __reduce__(self) -> Any:  # pickles (and deep-copies) as the plain dict it holds
        return (dict, (dict(self),))
