"""``common.optimizer``: the book's six optimizers are xpnn's (:mod:`xpnn.optimizers`).

``SGD``, ``Momentum``, ``Nesterov``, ``AdaGrad``, ``RMSprop``, ``Adam``: the book's
arguments and ``update(params, grads)``, on any backend; a parameter that is a number
(``params = {'x': -7.0}``) is updated and rebound to a Python float. Where xpnn differs from
the book's listings, on purpose:

- ``Adam`` adds ε (1e-8, a hyperparameter) to the bias-corrected √v̂, as the paper and
  PyTorch do; the book's listing adds 1e-7 to √v. They differ only while √v̂ is not much
  larger than ε, in the first steps.
- ``Nesterov`` is Bengio et al.'s form, the trajectory of
  ``torch.optim.SGD(nesterov=True)``; the book's listing adds α² times the *new* velocity.

``from common.optimizer import *`` also gives ``np`` (NumPy): the book's
``optimizer_compare_mnist.py`` uses it without importing it.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, MutableMapping
from typing import Any

import numpy as np

from xpnn import optimizers as _optimizers
from xpnn.backends import get_backend

__all__ = ["SGD", "AdaGrad", "Adam", "Momentum", "Nesterov", "RMSprop", "np"]


def _is_number(value: Any) -> bool:
    """A Python or NumPy real number, not a bool: a parameter the book keeps as a scalar."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class NumberParams:
    """The book's parameters that are numbers (``params = {'x': -7.0}``, as in
    ``optimizer_compare_naive.py``): each is updated by the same rule on a 0-d float64 array
    (its state stays 0-d arrays) and rebound to a Python float — ``params[key]`` is
    replaced, not changed in place. Array entries are updated as usual."""

    def update(self, params: MutableMapping[str, Any], grads: Mapping[str, Any]) -> None:
        keys = [k for k, g in grads.items() if _is_number(g) and _is_number(params.get(k))]
        if not keys:
            super().update(params, grads)  # type: ignore[misc]
            return
        host = get_backend("numpy")
        work_params, work_grads = dict(params), dict(grads)
        for key in keys:
            work_params[key] = host.asarray(float(params[key]), dtype="float64")
            work_grads[key] = host.asarray(float(grads[key]), dtype="float64")
        super().update(work_params, work_grads)  # type: ignore[misc]
        for key in keys:
            params[key] = float(work_params[key])


class SGD(NumberParams, _optimizers.SGD):
    """:class:`xpnn.SGD`, which also updates number parameters (:class:`NumberParams`)."""


class Momentum(NumberParams, _optimizers.Momentum):
    """:class:`xpnn.Momentum`, which also updates number parameters."""


class Nesterov(NumberParams, _optimizers.Nesterov):
    """:class:`xpnn.Nesterov`, which also updates number parameters."""


class AdaGrad(NumberParams, _optimizers.AdaGrad):
    """:class:`xpnn.AdaGrad`, which also updates number parameters."""


class RMSprop(NumberParams, _optimizers.RMSprop):
    """:class:`xpnn.RMSprop`, which also updates number parameters."""


class Adam(NumberParams, _optimizers.Adam):
    """:class:`xpnn.Adam`, which also updates number parameters."""


class AdamW(NumberParams, _optimizers.AdamW):
    """:class:`xpnn.AdamW`, which also updates number parameters (not the book's: not in
    the star import)."""


#: Every optimizer of this module by lower-case name (AdamW included).
OPTIMIZERS: dict[str, type[_optimizers.Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adagrad": AdaGrad,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
}
