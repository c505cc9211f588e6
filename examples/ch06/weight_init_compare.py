"""Figure 6-15: std 0.01 vs Xavier vs He initial weights, a ReLU network trained on MNIST.

    python examples/ch06/weight_init_compare.py                 # NumPy, float32, 2000 iterations
    python examples/ch06/weight_init_compare.py --backend array_api_strict --quick

As the book's ``ch06/weight_init_compare.py``: one network per initialisation, 784-100-100-
100-100-10 with ReLU (the book's "5-layer network": its code has ``hidden_size_list=[100,
100, 100, 100]``; change it with ``--hidden-layers``), weights drawn with std 0.01, Xavier
(√(1/n), the book's ``'sigmoid'``) or He (√(2/n), ``'relu'``), the output layer too; SGD with
lr 0.01, batch 128 drawn at random (with replacement) from the 60000 training images, the
same batch for every network, 2000 iterations.

What it shows: with std 0.01 the signal shrinks layer by layer (figure 6-14), the gradients
vanish with it, and the loss stays at ln 10 ≈ 2.30, chance; Xavier and He learn, He faster.

Differences from the book: float32; the three networks draw the same standard normal
numbers, scaled by their std (one seed), where the book draws each afresh; the loss recorded
is the one computed on the batch before the step (``loss_and_gradient``, no second forward
pass), where the book recomputes it on the same batch after the step.

The figure draws the running mean of the loss (``common.smooth``). The table gives the mean
of the last 100 iterations, and, for those iterations only, the book's measure too ("after
step", one extra forward pass each: lower, as the step has just fitted that batch), next to
what the book's own code gives.
"""

from __future__ import annotations

import math
import time

import common
import numpy as np

import xpnn

#: Label and the book's ``weight_init_std``; the std it means for a layer of n inputs.
INITS = {"std=0.01": 0.01, "Xavier": "sigmoid", "He": "relu"}
STDS = {"std=0.01": "0.01", "Xavier": "√(1/n)", "He": "√(2/n)"}
#: Mean loss of the last 100 of 2000 iterations, the book's code in float64 (issue 5).
BOOK_FINAL_LOSS = {"std=0.01": 2.30, "Xavier": 0.29, "He": 0.21}
MARKERS = {"std=0.01": "o", "Xavier": "s", "He": "D"}
LR = 0.01


def run(args, b: xpnn.Backend, iterations: int, batch_size: int, hidden: list[int], tail: int):
    """Every initialisation with the same seed, SGD, on the same batches."""
    networks = {
        name: xpnn.MultiLayerNet(
            784, hidden, 10, activation="relu", weight_init_std=init, backend=b, seed=args.seed
        )
        for name, init in INITS.items()
    }
    optimizer = xpnn.SGD(lr=LR)  # SGD keeps no state: one serves every network, as in the book
    optimizers = dict.fromkeys(networks, optimizer)
    return common.train_side_by_side(args, b, networks, optimizers, iterations, batch_size, tail)


def main(argv: list[str] | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=None, help="default 2000 (quick: 300)")
    p.add_argument("--hidden-layers", type=int, default=4, help="hidden layers of 100 (book: 4)")
    args = p.parse_args(argv)
    iterations = args.iterations or (300 if args.quick else 2000)
    batch_size = 128
    hidden = [100] * args.hidden_layers
    tail = min(100, iterations // 4)  # the final loss: mean of the last `tail` iterations

    b = common.backend(args)
    start = time.perf_counter()
    losses, after = run(args, b, iterations, batch_size, hidden, tail)
    wall = time.perf_counter() - start

    arch = "-".join(str(n) for n in [784, *hidden, 10])
    title = (
        f"MNIST {arch} ReLU, SGD lr {LR}, batch {batch_size}, {iterations} iterations, "
        f"{b.name} float32, seed {args.seed}"
    )
    final = {name: float(np.mean(v[-tail:])) for name, v in losses.items()}
    rows = [[name, STDS[name], final[name], after[name], BOOK_FINAL_LOSS[name]] for name in losses]
    header = ["init", "std", f"loss (last {tail})", "after step", "book ≈"]
    print(title)
    print(common.format_table(header, rows))
    print(f"wall time {wall:.1f} s")
    common.quick_note(args, f"{iterations} iterations", "2000")

    results = {
        "experiment": "weight_init_compare (figure 6-15)",
        "settings": {
            "backend": b.name,
            "dtype": "float32",
            "seed": args.seed,
            "iterations": iterations,
            "batch_size": batch_size,
            "hidden": hidden,
            "optimizer": f"SGD(lr={LR})",
            "weight_init_std": INITS,
            "quick": args.quick,
            "final_loss_tail": tail,
        },
        "final_loss": final,
        "final_loss_after_step": after,
        "book_final_loss": BOOK_FINAL_LOSS,
        "wall_time_s": wall,
        "loss": {name: np.round(v, 5) for name, v in losses.items()},
    }
    fig = common.plot_losses(losses, title, MARKERS, ylim=(0, 2.5), hline=math.log(10))
    common.save_results(args.out, "weight_init_compare", results, fig)
    common.pyplot().close(fig)
    return results


if __name__ == "__main__":
    common.run(main)
