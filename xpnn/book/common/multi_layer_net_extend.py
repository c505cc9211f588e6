"""``common.multi_layer_net_extend``: the book's ``MultiLayerNetExtend`` (chapter 6), served
by :class:`xpnn.MultiLayerNet`.

:class:`~common.multi_layer_net.MultiLayerNet` with, per hidden layer, Batch Normalization
between ``Affine`` and the activation (``use_batchnorm``) and Dropout after it
(``use_dropout``, ``dropout_ration``: the book's spelling). xpnn's Dropout is inverted
dropout (scaled while training, the identity at inference; the book's scales at inference):
the same expected outputs.

``from common.multi_layer_net_extend import *`` also gives what the book's star import does:
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
    "MultiLayerNetExtend",
    "OrderedDict",
    "np",
    "numerical_gradient",
    "os",
    "sys",
    *_layers.__all__,
]
__all__ = sorted(set(__all__))


class MultiLayerNetExtend(BookNetwork):
    """The book's ``MultiLayerNetExtend(input_size, hidden_size_list, output_size,
    activation='relu', weight_init_std='relu', weight_decay_lambda=0, use_dropout=False,
    dropout_ration=0.5, use_batchnorm=False)``.

    Keyword-only extras: ``dtype`` (``'float32'``), ``backend`` (``XPNN_BACKEND``),
    ``seed`` (``None``: drawn from ``np.random``), and ``dropout_ratio``, xpnn's spelling of
    ``dropout_ration``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Sequence[int],
        output_size: int,
        activation: str = "relu",
        weight_init_std: float | str = "relu",
        weight_decay_lambda: float = 0,
        use_dropout: bool = False,
        dropout_ration: float = 0.5,
        use_batchnorm: bool = False,
        *,
        dtype: Any = "float32",
        backend: Any = None,
        seed: Any = None,
        dropout_ratio: float | None = None,
    ) -> None:
        if dropout_ratio is not None:  # xpnn's spelling, for code written against xpnn
            if dropout_ration != 0.5 and float(dropout_ratio) != float(dropout_ration):
                raise TypeError("give dropout_ratio or its alias dropout_ration, not both")
            dropout_ration = dropout_ratio
        super().__init__(
            input_size,
            hidden_size_list,
            output_size,
            activation=activation,
            weight_init_std=weight_init_std,
            weight_decay_lambda=weight_decay_lambda,
            use_dropout=use_dropout,
            dropout_ratio=dropout_ration,
            use_batchnorm=use_batchnorm,
            dtype=dtype,
            backend=backend,
            seed=seed_from_numpy(seed),
        )
