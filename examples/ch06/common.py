"""What every chapter-6 experiment script shares: its command line, its output, MNIST.

Each script takes ``--backend``, ``--seed``, ``--out DIR`` (a PNG and a JSON of the numbers
go there, ``out/ch06`` by default; the last line printed names both files) and ``--quick`` (a
reduced size that runs in seconds, for the tests; the table then says that it is a shorter
run than the book's), prints a small table, and returns its numbers from ``main(argv)`` so
tests can assert on them.

Each script imports this module first and runs ``common.run(main)``: a missing data set, an
unusable backend or a bad argument is one line on stderr and exit status 2, ``--debug``
shows the traceback (``examples/cli_errors.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

# examples/cli_errors.py, imported before xpnn (a bad XPNN_BACKEND is a one-line error too)
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import cli_errors
import numpy as np

import xpnn

#: Run ``main(argv)`` with one-line errors (see the module docstring).
run = cli_errors.run


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every experiment has."""
    p = cli_errors.ArgumentParser(description=description)
    p.add_argument(
        "--backend",
        default=None,
        help=f"one of {', '.join(xpnn.BACKEND_NAMES)} (default: XPNN_BACKEND, else numpy)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for data order and init")
    p.add_argument("--out", default="out/ch06", help="folder for the PNG and the JSON")
    p.add_argument(
        "--quick", action="store_true", help="a reduced size that runs in seconds (not the book's)"
    )
    p.add_argument("--data-dir", default=None, help="folder holding the four MNIST files")
    return p


def backend(args: argparse.Namespace) -> xpnn.Backend:
    """The backend the command line asked for (the default one when none)."""
    return xpnn.get_backend(args.backend)


def mnist(args: argparse.Namespace, n_train: int | None = None, n_test: int | None = None):
    """MNIST as host arrays ``((x_train, t_train), (x_test, t_test))``, optionally the first
    ``n_train`` / ``n_test`` samples of each (the book takes the first ones too)."""
    (x, t), (xt, tt) = xpnn.load_mnist(normalize=True, data_dir=args.data_dir)
    return (x[:n_train], t[:n_train]), (xt[:n_test], tt[:n_test])


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table; floats get 4 significant decimals."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4f}" if (math.isfinite(v) and abs(v) >= 1e-3) or v == 0 else f"{v:.3g}"
        return str(v)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(out)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def quick_note(args: argparse.Namespace, ran: str, book: str) -> None:
    """Under ``--quick``, print under the table that it compares a shorter run (``ran``)
    with the book's (``book``), whose numbers are for the full size."""
    if args.quick:
        print(
            f"--quick: {ran}, where the book runs {book}; a shorter run than the book's, "
            "so its numbers are not the ones to match (drop --quick for the book's size)"
        )


def save_results(out_dir: str, name: str, results: dict[str, Any], fig: Any = None) -> None:
    """Write ``name.json`` (the numbers) and, given a matplotlib figure, ``name.png``, and
    print where they went."""
    os.makedirs(out_dir, exist_ok=True)
    numbers = os.path.join(out_dir, f"{name}.json")
    with open(numbers, "w") as f:
        json.dump(_jsonable(results), f, indent=1, allow_nan=False)
    if fig is not None:
        figure = os.path.join(out_dir, f"{name}.png")
        fig.savefig(figure, dpi=110)
        print(f"figure: {figure}; numbers: {numbers}")
    else:
        print(f"numbers: {numbers}")


def pyplot():
    """matplotlib.pyplot on the Agg (file-only) backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def smooth(values: Sequence[float], window: int = 20) -> np.ndarray:
    """A running mean over ``window`` points (``len(values) - window + 1`` of them) that shows
    a noisy curve's trend. The book's ``smooth_curve`` uses an 11-point Kaiser window that
    keeps the length instead; the trend is the same."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < window:
        return v
    return np.convolve(v, np.ones(window) / window, mode="valid")


def train_side_by_side(
    args: argparse.Namespace,
    b: xpnn.Backend,
    networks: dict[str, Any],
    optimizers: dict[str, Any],
    iterations: int,
    batch_size: int,
    tail: int,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Train every network on the same MNIST mini-batches, as the book's comparison scripts
    do: each iteration draws one batch (seeded, with replacement) and every network takes
    one step on it with its own optimizer.

    Returns the loss of every step (the loss the gradient came from; float64 host arrays)
    and, the book's measure, the mean loss over the last ``tail`` iterations of a second
    forward pass on the same batch after the step.
    """
    (x_host, t_host), _ = mnist(args)
    x = b.asarray(x_host, dtype="float32")  # moved to the device once
    t = b.asarray(t_host, dtype="int64")
    rng = np.random.default_rng(args.seed)
    batches = b.asarray(rng.choice(x.shape[0], (iterations, batch_size)))  # one draw, one move
    losses: dict[str, list[Any]] = {name: [] for name in networks}
    after: dict[str, list[Any]] = {name: [] for name in networks}
    for i in range(iterations):
        x_batch = b.xp.take(x, batches[i, :], axis=0)
        t_batch = b.xp.take(t, batches[i, :], axis=0)
        for name, network in networks.items():
            loss, grads = network.loss_and_gradient(x_batch, t_batch)
            optimizers[name].update(network.params, grads)
            losses[name].append(loss)  # stays on the device: no sync per iteration
            if i >= iterations - tail:  # the book's measure: the same batch after the step
                after[name].append(network.loss(x_batch, t_batch))
    host = {name: b.to_numpy(b.xp.stack(v)).astype(np.float64) for name, v in losses.items()}
    return host, {name: float(b.to_numpy(b.xp.mean(b.xp.stack(v)))) for name, v in after.items()}


def plot_losses(
    losses: dict[str, np.ndarray],
    title: str,
    markers: dict[str, str],
    ylim: tuple[float, float],
    hline: float | None = None,
):
    """Smoothed loss curves, one per name, like the book's figures 6-9 and 6-15."""
    import textwrap

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.8))
    for name, loss in losses.items():
        y = smooth(loss)
        x = np.arange(y.size) + (loss.size - y.size) / 2  # centre of each averaging window
        every = max(1, loss.size // 20)
        ax.plot(x, y, marker=markers[name], markevery=every, markersize=5, label=name)
    if hline is not None:
        ax.axhline(hline, color="gray", linewidth=0.8, linestyle=":")
    ax.set_xlabel("iterations")
    ax.set_ylabel("loss")
    ax.set_ylim(*ylim)
    ax.set_title(textwrap.fill(title, 90), fontsize=9)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
