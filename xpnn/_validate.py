"""Argument checks, written once: every public constructor and function of xpnn checks its
numbers here, so the same mistake gets the same error everywhere.

Each check returns the value as a plain Python ``int`` or ``float`` (hyperparameters stay
Python numbers, so a float32 array stays float32) or raises an error that names the argument
and what it must be::

    positive_int("epochs", 2.5)
    # NotAnIntegerError: epochs must be a positive integer, got 2.5
    non_negative_real("weight_decay_lambda", -1)
    # ValueError: weight_decay_lambda must be finite and ≥ 0, got -1

Kinds of error: a value of the wrong kind (a float or a bool where an integer belongs, a
string where a number belongs) raises :class:`NotAnIntegerError` or :class:`NotARealError`,
each both a ``TypeError`` and a ``ValueError`` (as NumPy's ``AxisError`` is both a
``ValueError`` and an ``IndexError``), so code that catches either keeps working; a number
out of range raises ``ValueError``. Modelled on scikit-learn's ``utils/validation.py``.
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any

__all__ = [
    "NotARealError",
    "NotAnIntegerError",
    "count",
    "non_negative_real",
    "positive_int",
    "positive_real",
    "real",
    "unit_interval",
]


class NotAnIntegerError(TypeError, ValueError):
    """An integer argument got something else (a float, a bool, a string, ``None``)."""


class NotARealError(TypeError, ValueError):
    """A real-number argument got something else (a string, a bool, ``None``, an array)."""


def count(name: str, value: Any, low: int = 0) -> int:
    """``value`` as an ``int`` ≥ ``low``. Integers of any kind (NumPy's too) are accepted;
    bools are not (``True`` is rarely meant as 1)."""
    what = "a positive integer" if low == 1 else f"an integer ≥ {low}"
    if isinstance(value, bool):
        raise NotAnIntegerError(f"{name} must be {what}, got {value!r}")
    try:
        out = operator.index(value)
    except TypeError:
        raise NotAnIntegerError(f"{name} must be {what}, got {value!r}") from None
    if out < low:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return out


def positive_int(name: str, value: Any) -> int:
    """``value`` as an ``int`` ≥ 1."""
    return count(name, value, 1)


def _number(name: str, value: Any) -> float:
    """``value`` as a Python ``float``: a Python or NumPy real, or anything else ``float()``
    takes that is not a bool, a string or an array of more than one value."""
    if isinstance(value, bool | str | bytes) or getattr(value, "ndim", 0) != 0:
        raise NotARealError(f"{name} must be a real number, got {value!r}")
    if isinstance(value, numbers.Real):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise NotARealError(f"{name} must be a real number, got {value!r}") from None


def real(name: str, value: Any) -> float:
    """``value`` as a finite Python ``float``."""
    out = _number(name, value)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return out


def positive_real(name: str, value: Any) -> float:
    """``value`` as a finite ``float`` > 0."""
    out = _number(name, value)
    if not (math.isfinite(out) and out > 0.0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return out


def non_negative_real(name: str, value: Any) -> float:
    """``value`` as a finite ``float`` ≥ 0."""
    out = _number(name, value)
    if not (math.isfinite(out) and out >= 0.0):
        raise ValueError(f"{name} must be finite and ≥ 0, got {value!r}")
    return out


def unit_interval(name: str, value: Any, meaning: str | None = None) -> float:
    """``value`` as a ``float`` in [0, 1) (a probability that cannot be 1, a decay rate);
    ``meaning`` says what it is in the message (``"a drop probability"``)."""
    label = name if meaning is None else f"{name} ({meaning})"
    out = _number(label, value)
    if not 0.0 <= out < 1.0:  # NaN too
        raise ValueError(f"{label} must be in [0, 1), got {value!r}")
    return out
