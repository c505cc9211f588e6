"""The book's ``common`` and ``dataset`` packages, served by xpnn.

Run a script of *Deep Learning from Scratch* unchanged, from its chapter folder::

    cd ch06 && python -m xpnn.book optimizer_compare_mnist.py
    XPNN_BACKEND=cupy python -m xpnn.book optimizer_compare_mnist.py      # on a GPU

Every import of ``common``, ``common.*``, ``dataset`` and ``dataset.*`` is then answered by
the modules of this package (``xpnn.book.common.layers`` for ``common.layers``, ...), also
where the book's own folders are on ``sys.path``. In a notebook or an interactive session,
:func:`install` does the same for the running interpreter.

Served: ``common.functions``, ``common.gradient``, ``common.layers``, ``common.util``,
``common.optimizer``, ``common.multi_layer_net``, ``common.multi_layer_net_extend``,
``common.trainer`` and ``dataset.mnist``.
"""

from .imports import SERVED, install, installed, uninstall

__all__ = ["SERVED", "install", "installed", "uninstall"]
