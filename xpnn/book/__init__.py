"""The book's ``common`` and ``dataset`` packages, served by xpnn.

Run a script of *Deep Learning from Scratch* unchanged, from its chapter folder::

    cd ch06 && python -m xpnn.book optimizer_compare_mnist.py
    XPNN_BACKEND=cupy python -m xpnn.book optimizer_compare_mnist.py      # on a GPU

Every import of ``common``, ``common.*``, ``dataset`` and ``dataset.*`` is then answered by
the modules of this package (``xpnn.book.common.layers`` for ``common.layers``, ...), also
where the book's own folders are on ``sys.path``. In a notebook or an interactive session,
:func:`install` does the same for the running interpreter; in Jupyter or IPython, as the
one cell added at the top of one of the book's notebooks (``notebooks/ch04.ipynb`` ...)::

    %load_ext xpnn.book

(or ``import xpnn.book; xpnn.book.install()``); ``%unload_ext xpnn.book`` undoes it.

Served: ``common.functions``, ``common.gradient``, ``common.layers``, ``common.util``,
``common.optimizer``, ``common.multi_layer_net``, ``common.multi_layer_net_extend``,
``common.trainer`` and ``dataset.mnist``.
"""

from typing import Any

from .imports import SERVED, install, installed, uninstall

__all__ = ["SERVED", "install", "installed", "load_ipython_extension", "uninstall"]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext xpnn.book``: :func:`install` in the running IPython kernel."""
    install()


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext xpnn.book``: :func:`uninstall`."""
    uninstall()
