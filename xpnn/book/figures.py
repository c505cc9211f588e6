"""Where ``plt.show()`` goes when there is no display: the book's plotting scripts end in
``plt.show()``, which on a machine without a display (a server, CI, ``MPLBACKEND=Agg``)
shows nothing, silently. Under ``python -m xpnn.book`` it saves each open figure instead and
says where, on stderr::

    xpnn.book: no display for plt.show() (matplotlib's agg backend): figure saved to
    /home/me/deep-learning-from-scratch/ch06/optimizer_compare_mnist.png

The files go to ``$XPNN_BOOK_FIGURES`` if set, else the current folder, named after the
script (``optimizer_compare_mnist.png``, then ``optimizer_compare_mnist-2.png`` for the
next figure). Where a display exists, ``plt.show()`` shows the figures as usual.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["NON_INTERACTIVE", "save_figures_on_show"]

#: matplotlib's backends that cannot show a figure (lower case).
NON_INTERACTIVE = frozenset({"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"})


def save_figures_on_show(script: str) -> None:
    """Replace ``matplotlib.pyplot.show`` for the run of ``script``: on a backend that
    cannot show (:data:`NON_INTERACTIVE`), save and close every open figure, saying where
    each went; elsewhere call the original. Does nothing without matplotlib."""
    try:
        import matplotlib
        import matplotlib.pyplot as plt
    except ImportError:
        return
    original = plt.show
    stem = os.path.splitext(os.path.basename(script))[0]
    saved: list[str] = []

    def show(*args: Any, **kwargs: Any) -> Any:
        backend = str(matplotlib.get_backend()).lower()
        if backend not in NON_INTERACTIVE:
            return original(*args, **kwargs)
        folder = os.environ.get("XPNN_BOOK_FIGURES") or os.getcwd()
        for num in plt.get_fignums():
            suffix = f"-{len(saved) + 1}" if saved else ""
            path = os.path.abspath(os.path.join(folder, f"{stem}{suffix}.png"))
            plt.figure(num).savefig(path)
            saved.append(path)
            print(f"xpnn.book: no display for plt.show() (matplotlib's {backend} backend): "
                  f"figure saved to {path}", file=sys.stderr)  # fmt: skip
        plt.close("all")
        return None

    plt.show = show
