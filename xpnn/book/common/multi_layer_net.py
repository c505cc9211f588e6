"""``common.multi_layer_net``: the book's ``MultiLayerNet`` (chapter 6), served by
:class:`xpnn.MultiLayerNet`.

A fully connected network: ``Affine`` and an activation per hidden layer, then ``Affine``
and ``SoftmaxWithLoss``; weight decay adds ½λΣ‖W‖² to the loss. The book's constructor, its
``params``, ``predict``, ``gradient``, ``accuracy``, a float ``loss``, a float64
``numerical_gradient`` and ``save_params``/``load_params`` (see :mod:`xpnn.book._network`).
float32 on the ``XPNN_BACKEND`` backend unless ``dtype``/``backend`` say otherwise.

``from common.multi_layer_net import *`` also gives what the book's star import does:
``sys``, ``os``, ``np``, ``OrderedDict``, ``numerical_gradient`` and all of
:mod:`common.layers`.
"""

from __future__ import annotations

import os
import sys
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._network import BookNetwork, seed_from_numpy
from . import layers as _layers
from .gradient import numerical_gradient
from .layers import *  # noqa: F403

__all__ = [
    "MultiLayerNet",
    "OrderedDict",
    "np",
    "numerical_gradient",
    "os",
    "sys",
    *_layers.__all__,
]
__all__ = sorted(set(__all__))


class MultiLayerNet(BookNetwork):
    """The book's ``MultiLayerNet(input_size, hidden_size_list, output_size,
    activation='relu', weight_init_std='relu', weight_decay_lambda=0)``.

    ``activation``: ``'relu'`` or ``'sigmoid'`` (or ``'tanh'``); ``weight_init_std``: a
    standard deviation, ``'relu'``/``'he'`` (√(2/n)) or ``'sigmoid'``/``'xavier'`` (√(1/n)).
    Keyword-only extras: ``dtype`` (``'float32'``), ``backend`` (``XPNN_BACKEND``),
    ``seed`` (``None``: drawn from ``np.random``).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Sequence[int],
        output_size: int,
        activation: str = "relu",
        weight_init_std: float | str = "relu",
        weight_decay_lambda: float = 0,
        *,
        dtype: Any = "float32",
        backend: Any = None,
        seed: Any = None,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size_list,
            output_size,
            activation=activation,
            weight_init_std=weight_init_std,
            weight_decay_lambda=weight_decay_lambda,
            dtype=dtype,
            backend=backend,
            seed=seed_from_numpy(seed),
        )
