"""The Trainer's data: both splits checked and moved to the network's device once, the
training targets as the steps take them, and each epoch's mini-batches.

An epoch's batches are slices of a permutation drawn from the trainer's seed extended by the
epoch, so any epoch, and any step of it, is reproduced without saved generator state.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._array_api import one_hot
from .backends import Backend

__all__ = ["ONE_HOT_LIMIT", "device_split", "epoch_batches", "step_targets"]

#: Integer labels are turned into one-hot rows once, on the device, when they take at most
#: this many elements: each step then gathers its targets instead of building them (three
#: array operations fewer per step).
ONE_HOT_LIMIT = 1 << 25


def device_split(
    network: Any, trainable: bool, backend: Backend, split: str, x: Any, t: Any
) -> tuple[Any, Any]:
    """``(x, t)`` of ``split`` (``'train'`` or ``'test'``) on the device: checked by the
    network when it is a :class:`~xpnn.trainable.TrainableNetwork` (errors name ``x_train``,
    ``t_test``, ...), else converted to its backend with one label per sample required."""
    if trainable:
        x = network.check_input(x, f"x_{split}")
        t = network.check_labels(t, int(x.shape[0]), f"t_{split}")
    else:  # a book-style network computes on the backend of its parameters
        x, t = (backend.asarray(a) if backend.needs_transfer(a) else a for a in (x, t))
        if x.ndim < 1 or t.ndim < 1 or int(t.shape[0]) != int(x.shape[0]):
            raise ValueError(f"t_{split} must hold one label per sample of x_{split}")
    if int(x.shape[0]) == 0:
        raise ValueError(f"x_{split} is empty: training and evaluation need samples")
    return x, t


def step_targets(network: Any, trainable: bool, backend: Backend, t: Any) -> Any:
    """The training targets as steps take them: integer labels as one-hot rows in the
    network's dtype (where at most :data:`ONE_HOT_LIMIT` elements), else ``t`` as given."""
    if not trainable or t.ndim != 1:
        return t
    k = network.output_size
    if int(t.shape[0]) * k > ONE_HOT_LIMIT:
        return t
    return one_hot(t, k, network.dtype)


def epoch_batches(
    backend: Backend, seed: np.random.SeedSequence, epoch: int, n: int, batch_size: int
) -> list[Any]:
    """Index arrays (on the device) of the mini-batches of ``epoch``: consecutive slices of
    ``batch_size`` (the last one may be shorter) of a permutation of ``0 .. n-1`` drawn
    from ``seed`` extended by ``epoch``."""
    ss = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, epoch))
    perm = backend.rng(ss).permutation(n)
    return [perm[i : min(i + batch_size, n)] for i in range(0, n, batch_size)]
