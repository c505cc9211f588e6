"""``common.util``: the book's helpers for plots, data sets and convolutions.

``smooth_curve`` and ``shuffle_dataset`` as the book defines them; ``conv_output_size``;
``im2col`` and ``col2im`` from :mod:`xpnn.conv`. ``from common.util import *`` also gives
``np``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_numpy_array

from xpnn.backends import backend_of
from xpnn.conv import col2im, im2col

__all__ = ["col2im", "conv_output_size", "im2col", "np", "shuffle_dataset", "smooth_curve"]

#: The smoother's window: 11 points of a Kaiser window with β = 2, normalised to sum 1.
WINDOW = 11
BETA = 2.0


def _host_vector(x: Any) -> np.ndarray:
    """A list of numbers (floats, NumPy scalars, 0-d arrays of any backend) or a vector of
    any backend as a float64 NumPy vector."""
    try:
        array_namespace(x)
    except TypeError:
        return np.asarray([float(v) for v in x], dtype=np.float64)
    return np.asarray(backend_of(x).to_numpy(x), dtype=np.float64).reshape(-1)


def smooth_curve(x: Any) -> np.ndarray:
    """A smoothed copy of a curve (the book's, for loss plots), of the same length.

    Each point becomes the average of the 11 points around it weighted by a Kaiser window
    (β = 2). Past the ends the curve is extended by reflection, as the book does: at the
    start mirrored about the first point (``x[1], x[2], ...``), at the end continued by the
    last points in reverse order (``x[-1], x[-2], ...``). Returns a float64 NumPy array.
    """
    y = _host_vector(x)
    if y.size == 0:
        return y
    half = WINDOW - 1
    head = np.pad(y, (half, 0), mode="reflect")[:half] if y.size > 1 else np.full(half, y[0])
    tail = np.pad(y, (0, half), mode="symmetric")[-half:]
    w = np.kaiser(WINDOW, BETA)
    smoothed = np.convolve(w / w.sum(), np.concatenate([head, y, tail]), mode="valid")
    return smoothed[WINDOW // 2 : WINDOW // 2 + y.size]


def shuffle_dataset(x: Any, t: Any) -> tuple[Any, Any]:
    """``x`` and ``t`` with their samples (first axis) in the same random order.

    The order is drawn from NumPy's global generator (``np.random.permutation``), as the
    book's is, so ``np.random.seed`` makes it repeatable. ``x`` is (N, D), (N, C, H, W) or
    any (N, ...); ``t`` is (N,) or (N, K); host NumPy arrays or arrays of any one backend,
    returned as arrays of that backend (new arrays).
    """
    n = int(x.shape[0])
    if int(t.shape[0]) != n:
        raise ValueError(f"x has {n} samples but t has {int(t.shape[0])}")
    perm = np.random.permutation(n)  # noqa: NPY002 (the book's global generator, on purpose)
    if is_numpy_array(x) and is_numpy_array(t):
        return x[perm], t[perm]
    xp = array_namespace(x, t)
    idx = backend_of(x).asarray(perm)
    return xp.take(x, idx, axis=0), xp.take(t, idx, axis=0)


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> float:
    """The output length of a convolution: ``(input_size + 2·pad - filter_size) / stride + 1``
    (a float, as the book's; an integer value when the filter fits evenly)."""
    return (input_size + 2 * pad - filter_size) / stride + 1
