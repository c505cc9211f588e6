"""Weight initializers: the book's ``weight_init_std`` choices, and their relatives.

Every initializer has one signature::

    W = he_normal(fan_in, fan_out, generator, dtype="float32")   # shape (fan_in, fan_out)
    W = he_normal(fan_in, fan_out, generator, dtype, shape=s)    # the same rule, any shape

and :func:`init_weight` draws a weight of any shape, taking the fans from the shape::

    W = init_weight("he", (30, 1, 5, 5), generator, "float32")   # a conv weight (FN, C, FH, FW)

``generator`` is an :class:`xpnn.random.Generator`: it fixes the backend, the device and the
random stream, so the weights are drawn on the device (no host transfer on a GPU) and the
same seed gives the same weights. ``dtype`` is a name (``"float32"``, ``"float64"``) or a
floating dtype of the generator's backend. Standard deviations and limits are Python floats
(``math.sqrt``), so a float32 request stays float32.

========================  ====================  =============================================
name                      distribution          scale
========================  ====================  =============================================
``normal``                N(0, std²)            ``std`` given (the book's default is 0.01)
``xavier_normal``         N(0, std²)            std = √(1/n_in)          (book: 'xavier')
``xavier_uniform``        U(-a, a)              a = √(3/n_in)   (the same variance, 1/n_in)
``he_normal``             N(0, std²)            std = √(2/n_in)          (book: 'he', 'relu')
``he_uniform``            U(-a, a)              a = √(6/n_in)   (variance 2/n_in)
``glorot_normal``         N(0, std²)            std = √(2/(n_in+n_out))
``glorot_uniform``        U(-a, a)              a = √(6/(n_in+n_out))
``zeros``                 0                     —
========================  ====================  =============================================

A note on names: the book (and its source slide) calls std √(1/n_in) "Xavier"; Glorot and
Bengio's paper averages fan-in and fan-out, √(2/(n_in+n_out)), which Keras and PyTorch call
Glorot/Xavier. Both are here, under distinct names, so that ``'xavier'`` keeps the book's
meaning and the paper's formula is asked for explicitly as ``'glorot_normal'``.

**Fans of a weight** (:func:`fans`), as PyTorch and Keras define them: an Affine weight
(D_in, D_out) has fan_in = D_in, fan_out = D_out; a convolution weight (FN, C, FH, FW) has
fan_in = C·FH·FW (the inputs of one output value) and fan_out = FN·FH·FW (note that xpnn's
Affine weight is (in, out), the convolution's (out, in, ...)).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable
from typing import Any

from ._validate import positive_int
from .random import Generator

__all__ = [
    "INITIALIZERS",
    "Initializer",
    "fans",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "init_weight",
    "normal",
    "resolve_init",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]

#: ``init(fan_in, fan_out, generator, dtype) -> array of shape (fan_in, fan_out)``; the
#: initializers here also take ``shape=`` (keyword) to draw that shape with the same scale.
Initializer = Callable[[int, int, Generator, Any], Any]


def _fans(fan_in: int, fan_out: int) -> tuple[int, int]:
    return positive_int("fan_in", fan_in), positive_int("fan_out", fan_out)


def _shape(shape: tuple[int, ...] | None, fan_in: int, fan_out: int) -> tuple[int, ...]:
    """The shape to draw: ``shape`` (checked) or, by default, (fan_in, fan_out)."""
    if shape is None:
        return (fan_in, fan_out)
    try:
        dims = tuple(-1 if isinstance(d, bool) else operator.index(d) for d in shape)
    except TypeError:
        dims = (-1,)
    if not dims or min(dims) < 1:
        raise ValueError(f"shape must be a tuple of positive integers, got {shape!r}")
    return dims


def normal(
    fan_in: int,
    fan_out: int,
    generator: Generator,
    dtype: Any = "float32",
    *,
    std: float = 0.01,
    shape: tuple[int, ...] | None = None,
) -> Any:
    """W ~ N(0, std²), shape (fan_in, fan_out) or ``shape``: the book's ``weight_init_std=0.01``."""
    fan_in, fan_out = _fans(fan_in, fan_out)
    return generator.normal(_shape(shape, fan_in, fan_out), std=float(std), dtype=dtype)


def _uniform(fan_in: int, fan_out: int, generator: Generator, dtype: Any, limit: float,
             shape: tuple[int, ...] | None) -> Any:  # fmt: skip
    return generator.uniform(_shape(shape, fan_in, fan_out), -limit, limit, dtype=dtype)


def xavier_normal(
    fan_in: int,
    fan_out: int,
    generator: Generator,
    dtype: Any = "float32",
    *,
    shape: tuple[int, ...] | None = None,
) -> Any:
    """W ~ N(0, 1/n_in): the book's ``'xavier'``/``'sigmoid'`` (std = √(1/n_in))."""
    fan_in, fan_out = _fans(fan_in, fan_out)
    return normal(fan_in, fan_out, generator, dtype, std=math.sqrt(1.0 / fan_in), shape=shape)


def xavier_uniform(
    fan_in: int,
    fan_out: int,
    generator: Generator,
    dtype: Any = "float32",
    *,
    shape: tuple[int, ...] | None = None,
) -> Any:
    """W ~ U(-a, a), a = √(3/n_in): the book's Xavier variance 1/n_in, uniformly."""
    fan_in, fan_out = _fans(fan_in, fan_out)
    return _uniform(fan_in, fan_out, generator, dtype, math.sqrt(3.0 / fan_in), shape)


def he_normal(
    fan_in: int,
    fan_out: int,
    generator: Generator,
    dtype: Any = "float32",
    *,
    shape: tuple[int, ...] | None = None,
) -> Any:
    """W ~ N(0, 2/n_in): He (Kaiming), the book's ``'he'``/``'relu'`` (std = √(2/n_in))."""
    fan_in, fan_out = _fans(fan_in, fan_out)
    return normal(fan_in, fan_out, generator, dtype, std=math.sqrt(2.0 / fan_in), shape=shape)


def he_uniform(
    fan_in: int,
    fan_out: int,
    generator: Generator,
    dtype: Any = "float32",
    *,
    shape: tuple[int, ...] | None = None,
) -> Any:
    """W ~ U(-a, a), a = √(6/n_in): He's variance 2/n_in, uniformly."""
    fan_in, fan_out = _fans(fan_in, fan_out)
    return _uniform(fan_in, fan_out, generator, dtype, math.sqrt(6.0 / fan_in), shape)


def glorot_normal(
    fan_in: int,
    fan_out: int,
    generator: Generator,
    dtype: Any = "float32",
    *,
    shape: tuple[int, ...] | None = None,
) -> Any:
    """W ~ N(0, 2/(n_in+n_out)): Glorot & Bengio (2010), std = √(2/(n_in+n_out))."""
    fan_in, fan_out = _fans(fan_in, fan_out)
    return normal(
        fan_in, fan_out, generator, dtype, std=math.sqrt(2.0 / (fan_in + fan_out)), shape=shape
    )


def glorot_uniform(
    fan_in: int,
    fan_out: int,
    generator: Generator,
    dtype: Any = "float32",
    *,
    shape: tuple[int, ...] | None = None,
) -> Any:
    """W ~ U(-a, a), a = √(6/(n_in+n_out)): Glorot & Bengio (2010), uniform."""
    fan_in, fan_out = _fans(fan_in, fan_out)
    return _uniform(fan_in, fan_out, generator, dtype, math.sqrt(6.0 / (fan_in + fan_out)), shape)


def zeros(
    fan_in: int,
    fan_out: int,
    generator: Generator,
    dtype: Any = "float32",
    *,
    shape: tuple[int, ...] | None = None,
) -> Any:
    """W = 0, shape (fan_in, fan_out) or ``shape``, on the generator's device (draws nothing).

    All-zero weights make every unit of a layer identical (the book's §6.2.1 warning); use
    it for biases or experiments, not for the weights of a network that should learn.
    """
    fan_in, fan_out = _fans(fan_in, fan_out)
    backend = generator.backend
    dims = _shape(shape, fan_in, fan_out)
    return backend.xp.zeros(dims, dtype=backend.dtype(dtype), device=backend.device)


#: Explicit names accepted by :func:`resolve_init`, besides the book's aliases.
INITIALIZERS: dict[str, Initializer] = {
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "glorot_normal": glorot_normal,
    "glorot_uniform": glorot_uniform,
    "zeros": zeros,
}

#: The book's ``weight_init_std`` strings.
_BOOK_ALIASES = {"relu": "he_normal", "he": "he_normal", "sigmoid": "xavier_normal",
                 "xavier": "xavier_normal"}  # fmt: skip


def resolve_init(weight_init_std: float | str | Initializer) -> Initializer:
    """The initializer meant by the book's ``weight_init_std``.

    - a number: N(0, std²) with that std (e.g. the book's 0.01); must be finite and ≥ 0;
    - ``'relu'`` or ``'he'``: :func:`he_normal`; ``'sigmoid'`` or ``'xavier'``:
      :func:`xavier_normal` (case-insensitive, surrounding spaces ignored);
    - an explicit name from :data:`INITIALIZERS` (``'glorot_uniform'``, ``'he-uniform'``, ...);
    - a callable with the initializer signature, returned as is.

    Raises ``ValueError`` for an unknown name (listing the valid ones) or a bad number, and
    ``TypeError`` for anything else.
    """
    if callable(weight_init_std):
        return weight_init_std
    if isinstance(weight_init_std, str):
        key = weight_init_std.strip().lower().replace("-", "_")
        key = _BOOK_ALIASES.get(key, key)
        if key not in INITIALIZERS:
            valid = ", ".join(repr(n) for n in [*_BOOK_ALIASES, *INITIALIZERS])
            raise ValueError(
                f"unknown weight_init_std {weight_init_std!r}; use a standard deviation "
                f"(a float such as 0.01) or one of: {valid}"
            )
        return INITIALIZERS[key]
    if isinstance(weight_init_std, bool):
        raise TypeError("weight_init_std must be a float or a name, not a bool")
    try:
        std = float(weight_init_std)
    except (TypeError, ValueError):
        raise TypeError(
            "weight_init_std must be a float (a standard deviation) or a name such as 'he', "
            f"not {type(weight_init_std).__name__}"
        ) from None
    if not math.isfinite(std) or std < 0.0:
        raise ValueError(f"weight_init_std must be a finite, non-negative std, got {std!r}")
    return functools.partial(normal, std=std)


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of this shape (PyTorch's and Keras's definition).

    - (D_in, D_out), an Affine weight: (D_in, D_out);
    - (FN, C, FH, FW), a convolution weight (or (FN, C, k...) of any kernel rank):
      (C·FH·FW, FN·FH·FW).
    """
    dims = _shape(tuple(shape), 1, 1) if hasattr(shape, "__len__") else None
    if dims is None or len(dims) < 2:
        raise ValueError(
            f"a weight shape has at least 2 dimensions, (D_in, D_out) or (FN, C, FH, FW); "
            f"got {shape!r}"
        )
    if len(dims) == 2:
        return dims[0], dims[1]
    receptive = math.prod(dims[2:])
    return dims[1] * receptive, dims[0] * receptive


def init_weight(
    weight_init_std: float | str | Initializer,
    shape: tuple[int, ...],
    generator: Generator,
    dtype: Any = "float32",
) -> Any:
    """A weight of ``shape`` drawn by the rule ``weight_init_std`` names, scaled by its fans.

    ``weight_init_std`` is anything :func:`resolve_init` takes (the book's 0.01, ``'he'``,
    ``'xavier'``, an explicit name, an initializer); the fans come from :func:`fans`. So
    ``init_weight('he', (FN, C, FH, FW), g)`` has std √(2/(C·FH·FW)) and
    ``init_weight(0.01, ...)`` std 0.01. A 2-D shape calls the initializer exactly as
    MultiLayerNet does, ``init(D_in, D_out, generator, dtype)``; any other shape passes
    ``shape=`` too, which every initializer here accepts (a custom callable must, to draw
    convolution weights).
    """
    init = resolve_init(weight_init_std)
    fan_in, fan_out = fans(shape)
    if len(shape) == 2:
        return init(fan_in, fan_out, generator, dtype)
    shaped: Callable[..., Any] = init  # Initializer's type has no shape=; ours all take it
    return shaped(fan_in, fan_out, generator, dtype, shape=tuple(shape))
