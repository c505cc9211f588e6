"""Overfitting, and weight decay against it (figures 6-20 and 6-21 of the book).

    python examples/ch06/overfit_weight_decay.py --out docs/ch06      # the book's size
    python examples/ch06/overfit_weight_decay.py --quick              # seconds, for tests

As the book's ``ch06/overfit_weight_decay.py``: the first 300 MNIST training images, a
784-100x6-10 ReLU network (He init, the book's default), SGD with lr 0.01, batches of 100,
201 epochs, once without weight decay (λ = 0) and once with λ = 0.1. Train and test accuracy
are measured after every epoch on all 300 training images and all 10 000 test images. With
300 images the network learns the training set by heart (train 1.00) while the test
accuracy stalls; weight decay narrows that gap.

Both runs share the seed: the same initial weights and the same batch order, so λ is the
only difference. One difference from the book's loop, deliberate: it runs through xpnn's
``Trainer``, whose epochs walk a permutation of the data (the book draws every batch with
replacement and evaluates after the first step of each "epoch"); 201 epochs of 3 steps are
603 steps either way.

``--quick`` trains 100 epochs and evaluates on the first 1 000 test images.
"""

from __future__ import annotations

import time

import common

import xpnn

NAME = "overfit_weight_decay"
#: The book's final (train, test) accuracy for each λ (its script's output).
BOOK = {0.0: (1.00, 0.76), 0.1: (0.91, 0.70)}


def network(backend: xpnn.Backend, seed: int, **kw) -> xpnn.MultiLayerNet:
    """The book's 784-100x6-10 ReLU network (He init), with ``kw`` (weight decay, dropout)."""
    return xpnn.MultiLayerNet(784, [100] * 6, 10, backend=backend, seed=seed, **kw)


def train(net: xpnn.MultiLayerNet, data, seed: int, epochs: int) -> dict:
    """Train ``net`` as the book does (SGD lr 0.01, batches of 100) for ``epochs`` epochs;
    per-epoch accuracies on all of ``data``'s train and test sets, and the time it took."""
    (x, t), (xt, tt) = data
    trainer = xpnn.Trainer(
        net, x, t, xt, tt, epochs=epochs, mini_batch_size=100,
        optimizer="SGD", optimizer_param={"lr": 0.01}, verbose=False, seed=seed,
    )  # fmt: skip
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    train_acc, test_acc = trainer.train_acc_list, trainer.test_acc_list
    return {
        "train_acc": train_acc,
        "test_acc": test_acc,
        "final_train_acc": train_acc[-1],
        "final_test_acc": test_acc[-1],
        "gap": train_acc[-1] - test_acc[-1],
        "seconds": seconds,
    }


def plot(runs: list[dict], labels: list[str], title: str):
    """The book's figures side by side (train and test accuracy against epochs, one panel
    per run), and a last panel with each run's gap, train minus test accuracy."""
    plt = common.pyplot()
    n = len(runs)
    cols = 2 if n + 1 == 4 else n + 1  # four panels as 2x2, otherwise one row
    rows = (n + cols) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.8 * rows + 0.4), squeeze=False)
    axes = list(axes.flat)
    for ax, run, label in zip(axes[:n], runs, labels, strict=True):
        epochs = range(len(run["train_acc"]))
        every = max(1, len(epochs) // 20)
        ax.plot(epochs, run["train_acc"], marker="o", markevery=every, ms=4, label="train")
        ax.plot(epochs, run["test_acc"], marker="s", markevery=every, ms=4, label="test")
        ax.fill_between(epochs, run["test_acc"], run["train_acc"], color="0.88", lw=0)
        ax.set_title(
            f"{label}\ntrain {run['final_train_acc']:.2f}, test {run['final_test_acc']:.2f}"
            f" (gap {run['gap']:.2f})",
            fontsize=10,
        )
        ax.set_ylim(0.0, 1.0)
        ax.set_ylabel("accuracy")
        ax.legend(loc="lower right")
    gap_ax = axes[n]
    for run, label in zip(runs, labels, strict=True):
        gap = [a - b for a, b in zip(run["train_acc"], run["test_acc"], strict=True)]
        gap_ax.plot(range(len(gap)), gap, label=label)
    gap_ax.set_title("the gap: train − test accuracy", fontsize=10)
    gap_ax.axhline(0.0, color="0.5", lw=0.8)
    gap_ax.legend(loc="lower right", fontsize=8)
    for ax in axes[: n + 1]:
        ax.set_xlabel("epochs")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def main(argv=None) -> dict:
    p = common.parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    backend = common.backend(args)
    epochs, n_test = (100, 1000) if args.quick else (201, None)
    data = common.mnist(args, n_train=300, n_test=n_test)

    start = time.perf_counter()
    runs = []
    for lam in BOOK:
        net = network(backend, args.seed, weight_decay_lambda=lam)
        runs.append({"weight_decay_lambda": lam, **train(net, data, args.seed, epochs)})
    seconds = time.perf_counter() - start

    rows = []
    for run in runs:
        book_train, book_test = BOOK[run["weight_decay_lambda"]]
        rows.append([
            f"{run['weight_decay_lambda']:g}", run["final_train_acc"], run["final_test_acc"],
            run["gap"], f"{book_train:.2f} / {book_test:.2f}", f"{run['seconds']:.1f}",
        ])  # fmt: skip
    header = ["λ", "train acc", "test acc", "gap", "book train / test", "seconds"]
    print(f"{NAME}: {epochs} epochs, {len(data[1][0])} test images, {backend.name}")
    print(common.format_table(header, rows))
    common.quick_note(args, f"{epochs} epochs, 1000 test images", "201 epochs, all 10,000")

    results = {
        "experiment": NAME,
        "backend": backend.name,
        "seed": args.seed,
        "quick": args.quick,
        "n_train": len(data[0][0]),
        "n_test": len(data[1][0]),
        "epochs": epochs,
        "hidden_size_list": [100] * 6,
        "optimizer": {"name": "SGD", "lr": 0.01},
        "batch_size": 100,
        "book": {f"{lam:g}": {"train_acc": a, "test_acc": b} for lam, (a, b) in BOOK.items()},
        "runs": runs,
        "seconds": seconds,
    }
    labels = [f"λ = {lam:g}" for lam in BOOK]
    title = f"Weight decay: {len(data[0][0])} training images, 6x100 ReLU, SGD lr 0.01"
    common.save_results(args.out, NAME, results, plot(runs, labels, title))
    return results


if __name__ == "__main__":
    common.run(main)
