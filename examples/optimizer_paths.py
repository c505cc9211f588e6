"""The paths of SGD, Momentum, AdaGrad and Adam on f(x, y) = x²/20 + y² (figures 6-3 to 6-8).

    python examples/optimizer_paths.py                          # NumPy, writes optimizer_paths.png
    python examples/optimizer_paths.py --backend array_api_strict --out paths.png

As in the book's ``ch06/optimizer_compare_naive.py``: each optimizer starts at (-7, 2) and
takes 30 steps with the book's learning rates (SGD 0.95, Momentum 0.1, AdaGrad 1.5, Adam 0.3);
the paths are drawn over the contours of f in one 2x2 figure, and a table of where each one
ends is printed. The point (x, y) is one parameter array of shape (2,) on the chosen backend;
its gradient (x/10, 2y) is computed there too. An unusable backend or device, or a bad
argument, is one line on stderr and exit status 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import math
import os
import sys

# cli_errors lives beside this file (on sys.path already when this file is run as a script)
sys.path.insert(1, os.path.dirname(os.path.abspath(__file__)))
import cli_errors  # before xpnn: a bad XPNN_BACKEND is a one-line error too
import numpy as np

import xpnn
from xpnn.optimizers import SGD, AdaGrad, Adam, Momentum, Optimizer

START = (-7.0, 2.0)


def f(x, y):
    return x**2 / 20.0 + y**2


def optimizers() -> dict[str, Optimizer]:
    """The book's four optimizers with its learning rates (figures 6-3, 6-5, 6-7, 6-8)."""
    return {
        "SGD": SGD(lr=0.95),
        "Momentum": Momentum(lr=0.1),
        "AdaGrad": AdaGrad(lr=1.5),
        "Adam": Adam(lr=0.3),
    }


def path(optimizer: Optimizer, backend: xpnn.Backend, dtype, steps: int) -> np.ndarray:
    """The points visited, start included: a host array of shape (steps + 1, 2)."""
    params = {"xy": backend.asarray(np.asarray(START), dtype=dtype)}
    scale = backend.asarray(np.asarray([1.0 / 10.0, 2.0]), dtype=dtype)  # ∇f = (x/10, 2y)
    points = [backend.to_numpy(params["xy"]).copy()]
    for _ in range(steps):
        optimizer.update(params, {"xy": params["xy"] * scale})
        points.append(backend.to_numpy(params["xy"]).copy())
    return np.stack(points)


def plot(paths: dict[str, np.ndarray], out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(-10, 10, 0.01)
    y = np.arange(-5, 5, 0.01)
    X, Y = np.meshgrid(x, y)
    Z = f(X, Y)
    Z[Z > 7] = 0  # as the book does: only the contours near the minimum

    fig, axes = plt.subplots(2, 2, figsize=(10, 8))
    for ax, (name, pts) in zip(axes.flat, paths.items(), strict=True):
        ax.contour(X, Y, Z)
        ax.plot(pts[:, 0], pts[:, 1], "o-", color="red", markersize=3)
        ax.plot(0, 0, "+", markersize=12)
        ax.set_xlim(-10, 10)
        ax.set_ylim(-10, 10)
        ax.set_title(name)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = cli_errors.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--backend", default=None, help="xpnn backend (default: XPNN_BACKEND)")
    ap.add_argument("--device", default=None, help="the backend's device")
    ap.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--out", default="optimizer_paths.png", help="the figure (PNG)")
    args = ap.parse_args(argv)

    backend = xpnn.get_backend(args.backend, args.device)
    dtype = backend.dtype(args.dtype)
    opts = optimizers()
    paths = {name: path(opt, backend, dtype, args.steps) for name, opt in opts.items()}
    plot(paths, args.out)

    print(f"f(x, y) = x²/20 + y² from {START}, {args.steps} steps on {backend.name} ({args.dtype})")
    print(f"{'optimizer':<10} {'lr':>5} {'final x':>10} {'final y':>10} {'f(x, y)':>10}", end="")
    print(f" {'distance':>9}")
    for name, opt in opts.items():
        x, y = paths[name][-1]
        print(
            f"{name:<10} {opt.lr:5.2f} {x:10.4f} {y:10.4f} {f(x, y):10.2e} {math.hypot(x, y):9.4f}"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    cli_errors.run(main)
