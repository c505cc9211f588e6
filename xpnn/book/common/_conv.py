"""The chapter 7 pieces (``Convolution``, ``Pooling``, ``im2col``, ``col2im``) from
:mod:`xpnn.conv` when it exists; until then placeholders that raise ``NotImplementedError``
naming the missing module (importing them never fails)."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Convolution", "Pooling", "col2im", "conv_available", "im2col"]

try:
    _conv: Any = importlib.import_module("xpnn.conv")
except ModuleNotFoundError as exc:
    if exc.name != "xpnn.conv":
        raise  # xpnn.conv exists but something it imports does not: show that
    _conv = None


def _missing(name: str) -> NotImplementedError:
    where = "xpnn.conv is not installed" if _conv is None else f"xpnn.conv has no {name}"
    return NotImplementedError(
        f"{name} (chapter 7) is not available: {where}; the chapter 4-6 modules of "
        "common work without it"
    )


def _placeholder_function(name: str) -> Any:
    def placeholder(*args: Any, **kwargs: Any) -> Any:
        raise _missing(name)

    placeholder.__name__ = placeholder.__qualname__ = name
    placeholder.__doc__ = f"Placeholder: raises NotImplementedError ({name} needs xpnn.conv)."
    return placeholder


def _placeholder_class(name: str) -> type:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        raise _missing(name)

    doc = f"Placeholder: raises NotImplementedError ({name} needs xpnn.conv)."
    return type(name, (), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


def _get(name: str, placeholder: Any) -> Any:
    found = getattr(_conv, name, None) if _conv is not None else None
    return found if found is not None else placeholder(name)


Convolution = _get("Convolution", _placeholder_class)
Pooling = _get("Pooling", _placeholder_class)
im2col = _get("im2col", _placeholder_function)
col2im = _get("col2im", _placeholder_function)


def conv_available() -> bool:
    """Whether :mod:`xpnn.conv` provides all four (else some of them are placeholders)."""
    return _conv is not None and all(
        getattr(_conv, n, None) is not None for n in ("Convolution", "Pooling", "im2col", "col2im")
    )
