"""Array API helpers: the namespace of an array, looked up once per array type, and one-hot
labels.

``array_api_compat.array_namespace`` inspects its arguments on every call (a few µs), which
in a layer's forward and backward passes adds up to a sizeable share of a small step. The
namespace depends only on the array's type (every NumPy array has the same one, every torch
tensor, every array_api_strict array), so :func:`namespace_of` asks once per type and
remembers. (A wrapper array type whose namespace differs from one instance to another must
therefore use a type per namespace, as the benchmarks' operation counter does.) Modelled on
scikit-learn's ``utils/_array_api.py``.
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace
from array_api_compat import device as device_of

__all__ = ["namespace_of", "one_hot"]

_NAMESPACES: dict[type, Any] = {}


def namespace_of(x: Any) -> Any:
    """The Array API namespace of the array ``x`` (``TypeError`` for a non-array)."""
    xp = _NAMESPACES.get(type(x))
    if xp is None:
        xp = _NAMESPACES[type(x)] = array_namespace(x)
    return xp


def one_hot(t: Any, k: int, dtype: Any) -> Any:
    """Integer labels ``t`` (N,) in [0, k) as one-hot rows (N, k) of ``dtype``, on t's device
    (the standard has no one-hot: a comparison with ``arange(k)``, cast)."""
    xp = namespace_of(t)
    classes = xp.arange(k, dtype=t.dtype, device=device_of(t))
    return xp.astype(t[:, None] == classes, dtype)
