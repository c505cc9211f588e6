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

import numpy as np

from xpnn.optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop

__all__ = ["SGD", "AdaGrad", "Adam", "Momentum", "Nesterov", "RMSprop", "np"]
