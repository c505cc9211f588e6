"""Optimizers: the update rules of chapter 6.1, written once against the Array API.

Every optimizer has the book's interface::

    optimizer = Adam(lr=0.001)
    grads = network.gradient(x_batch, t_batch)
    optimizer.update(network.params, grads)   # params updated in place

``params`` and ``grads`` are dicts of arrays with the same keys (any backend: NumPy, CuPy,
torch, array_api_strict). Each gradient must have its parameter's shape, dtype and device.
A parameter with no entry in ``grads`` is left untouched. Everything is validated before
anything is changed, so an error leaves the parameters and the optimizer's state as they were.
(The book's parameters that are Python numbers, ``params = {'x': -7.0}``, are the book's
optimizers' business: :mod:`xpnn.book.common.optimizer`.)

State (velocities, moments, step counts) is created on the first update of each parameter,
on its device and in its dtype. Hyperparameters are Python floats: nothing per step creates
float64 arrays or reads from the device. ``optimizer.lr`` (and every other hyperparameter)
may be changed between steps; an invalid value raises at once.

:meth:`Optimizer.state_dict` returns the hyperparameters, the per-parameter step counts and
state arrays as host NumPy arrays; :meth:`Optimizer.load_state_dict` restores them on any
backend: the arrays are moved to each parameter's device and dtype at its next update, so a
state can be loaded before the first step, and a run saved on one backend resumes on another
(bit-identically when the dtype is the same).

The package: :mod:`.base` (the :class:`Optimizer` base, its two paths), :mod:`.state` (the
state, in one form), :mod:`.rules` (the rules).
"""

from .base import Hyperparameter, Optimizer
from .rules import (
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    AdamW,
    Momentum,
    Nesterov,
    RMSprop,
    get_optimizer,
)
from .state import OptimizerState

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "AdaGrad",
    "Adam",
    "AdamW",
    "Hyperparameter",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "OptimizerState",
    "RMSprop",
    "get_optimizer",
]
