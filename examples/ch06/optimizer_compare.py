"""Figure 6-9: SGD, Momentum, AdaGrad and Adam (and RMSprop, Nesterov) training on MNIST.

    python examples/ch06/optimizer_compare.py                   # NumPy, float32, 2000 iterations
    python examples/ch06/optimizer_compare.py --backend torch --out /tmp/ch06
    python examples/ch06/optimizer_compare.py --quick           # 200 iterations, for tests

As the book's ``ch06/optimizer_compare_mnist.py``: one network per optimizer, 784-100-100-
100-100-10 with ReLU and He initialisation (the book's "5-layer network": its code has
``hidden_size_list=[100, 100, 100, 100]``, four hidden layers and the output layer; change it
with ``--hidden-layers``), the book's learning rates (SGD, Momentum, Nesterov, AdaGrad,
RMSprop 0.01; Adam 0.001), batch 128 drawn at random (with replacement) from the 60000
training images every iteration, the same batch for every network, 2000 iterations.

Differences from the book, none of which changes the picture: float32 instead of float64;
every network starts from the same weights (one seed) where the book draws each afresh; the
loss recorded is the one computed on the batch before the step (``loss_and_gradient``, no
second forward pass), where the book recomputes it on the same batch after the step.

The figure draws the running mean of the loss (``common.smooth``). The table gives the mean
of the last 100 iterations, and, for those iterations only, the book's measure too ("after
step", one extra forward pass each), next to what the book's own code gives. The two differ
by more than float32 or seeds do: a step fits the batch it was computed on, so the loss
after it is lower (AdaGrad's about half); the book's numbers are the "after step" kind.
"""

from __future__ import annotations

import time

import common
import numpy as np

import xpnn

#: The optimizers and the book's learning rates (``optimizer_compare_mnist.py`` uses the
#: constructors' defaults).
OPTIMIZERS = {
    "SGD": (xpnn.SGD, 0.01),
    "Momentum": (xpnn.Momentum, 0.01),
    "AdaGrad": (xpnn.AdaGrad, 0.01),
    "Adam": (xpnn.Adam, 0.001),
    "RMSprop": (xpnn.RMSprop, 0.01),
    "Nesterov": (xpnn.Nesterov, 0.01),
}
#: Mean loss of the last 100 of 2000 iterations, the book's code in float64 (issue 5).
BOOK_FINAL_LOSS = {"SGD": 0.2, "Momentum": 0.06, "AdaGrad": 0.03, "Adam": 0.04}
MARKERS = {"SGD": "o", "Momentum": "x", "AdaGrad": "s", "Adam": "D", "RMSprop": "^",
           "Nesterov": "v"}  # fmt: skip


def run(args, b: xpnn.Backend, iterations: int, batch_size: int, hidden: list[int], tail: int):
    """Every optimizer from the same initial weights, on the same batches."""
    networks, optimizers = {}, {}
    for name, (cls, lr) in OPTIMIZERS.items():
        networks[name] = xpnn.MultiLayerNet(
            784, hidden, 10, activation="relu", weight_init_std="he", backend=b, seed=args.seed
        )
        optimizers[name] = cls(lr=lr)
    return common.train_side_by_side(args, b, networks, optimizers, iterations, batch_size, tail)


def main(argv: list[str] | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=None, help="default 2000 (quick: 200)")
    p.add_argument("--hidden-layers", type=int, default=4, help="hidden layers of 100 (book: 4)")
    args = p.parse_args(argv)
    iterations = args.iterations or (200 if args.quick else 2000)
    batch_size = 128
    hidden = [100] * args.hidden_layers
    tail = min(100, iterations // 4)  # the final loss: mean of the last `tail` iterations

    b = common.backend(args)
    start = time.perf_counter()
    losses, after = run(args, b, iterations, batch_size, hidden, tail)
    wall = time.perf_counter() - start

    arch = "-".join(str(n) for n in [784, *hidden, 10])
    title = (f"MNIST {arch} ReLU (He), batch {batch_size}, {iterations} iterations, "
             f"{b.name} float32, seed {args.seed}")  # fmt: skip
    final = {name: float(np.mean(v[-tail:])) for name, v in losses.items()}
    rows = [[name, OPTIMIZERS[name][1], final[name], after[name], BOOK_FINAL_LOSS.get(name, "-")]
            for name in losses]  # fmt: skip
    header = ["optimizer", "lr", f"loss (last {tail})", "after step", "book ≈"]
    print(title)
    print(common.format_table(header, rows))
    print(f"wall time {wall:.1f} s")
    common.quick_note(args, f"{iterations} iterations", "2000")

    results = {
        "experiment": "optimizer_compare (figure 6-9)",
        "settings": {
            "backend": b.name,
            "dtype": "float32",
            "seed": args.seed,
            "iterations": iterations,
            "batch_size": batch_size,
            "hidden": hidden,
            "init": "he",
            "lr": {k: v[1] for k, v in OPTIMIZERS.items()},
            "quick": args.quick,
            "final_loss_tail": tail,
        },
        "final_loss": final,
        "final_loss_after_step": after,
        "book_final_loss": BOOK_FINAL_LOSS,
        "wall_time_s": wall,
        "loss": {name: np.round(v, 5) for name, v in losses.items()},
    }
    fig = common.plot_losses(losses, title, MARKERS, ylim=(0, 1))
    common.save_results(args.out, "optimizer_compare", results, fig)
    common.pyplot().close(fig)
    return results


if __name__ == "__main__":
    common.run(main)
