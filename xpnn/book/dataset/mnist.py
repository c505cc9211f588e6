"""``dataset.mnist``: the book's ``load_mnist``, served by :func:`xpnn.datasets.load_mnist`.

::

    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=True,
                                                      one_hot_label=False)

The files are found in ``$XPNN_DATA/mnist`` (else ``~/.cache/xpnn/mnist``), downloaded if
missing, and checked against their SHA-256 on every load; nothing is pickled (the book
caches a ``mnist.pkl`` next to its module). Host NumPy arrays, as the book's: images float32
in [0, 1] (``normalize``) or uint8, (N, 784) (``flatten``) or (N, 1, 28, 28); labels int64
(the book's: uint8) or float32 one-hot rows (the book's: float64).
"""

from __future__ import annotations

import os

import numpy as np

from xpnn.datasets import default_data_dir
from xpnn.datasets import load_mnist as _load_mnist

__all__ = ["img_dim", "img_size", "init_mnist", "load_mnist", "np", "os", "test_num", "train_num"]

train_num = 60000
test_num = 10000
img_dim = (1, 28, 28)
img_size = 784


def load_mnist(
    normalize: bool = True, flatten: bool = True, one_hot_label: bool = False
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The book's ``load_mnist``: ``((x_train, t_train), (x_test, t_test))``."""
    return _load_mnist(normalize=normalize, flatten=flatten, one_hot_label=one_hot_label)


def init_mnist() -> None:
    """Make sure the four MNIST files are there (downloading any that are missing) and
    intact; the book's also writes a pickle cache, which xpnn never does."""
    _load_mnist()


download_mnist = init_mnist
dataset_dir = str(default_data_dir())
