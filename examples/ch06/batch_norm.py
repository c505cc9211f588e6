"""Figures 6-18 and 6-19: training with and without Batch Normalization, 16 weight scales.

    python examples/ch06/batch_norm.py                          # NumPy, float32, 16 scales
    python examples/ch06/batch_norm.py --backend torch --quick

As the book's ``ch06/batch_norm_test.py``: the first 1000 MNIST training images; for each
of 16 weight scales ``np.logspace(0, -4, 16)`` (the std of every initial weight, 1 down to
0.0001) two 784-100-100-100-100-100-10 ReLU networks (``hidden_size_list=[100] * 5``), one
with a BatchNormalization layer before each activation and one without, both trained with
SGD (lr 0.01) on the same random batches of 100 (drawn with replacement); the accuracy on
the 1000 training images is measured every 10 iterations (an "epoch") for 20 epochs, the
first measurement after one step, as the book does (191 iterations in all).

What it shows: with Batch Normalization the network learns quickly at almost every scale;
without it, it learns only near a good scale (about He's √(2/n)) and not at all when the
weights are far too large or too small.

Differences from the book: float32; both networks of a scale draw the same standard normal
numbers (one seed); BatchNormalization's running variance starts at 1 (the book's at 0).
A network whose loss is not finite at the end is marked "diverged" (its accuracy is then
that of a constant prediction). ``--quick`` trains 4 of the 16 scales for 10 epochs.
"""

from __future__ import annotations

import math
import time

import common
import numpy as np

import xpnn

TRAIN_SIZE = 1000
BATCH_SIZE = 100
LR = 0.01
HIDDEN = [100] * 5
QUICK_SCALES = (0, 5, 10, 15)  # indices into the 16 scales: 1, 0.046, 0.0022, 0.0001


def train(b: xpnn.Backend, x, t, scale: float, batches, epochs: int, seed: int) -> dict:
    """Train the pair of networks for one weight scale; accuracy after each epoch and the
    final training loss of each."""
    nets = {
        bn: xpnn.MultiLayerNet(784, HIDDEN, 10, activation="relu", weight_init_std=scale,
                               use_batchnorm=bn, backend=b, seed=seed)
        for bn in (True, False)
    }  # fmt: skip
    optimizer = xpnn.SGD(lr=LR)
    acc = {True: [], False: []}
    iter_per_epoch = max(TRAIN_SIZE // BATCH_SIZE, 1)
    for i in range((epochs - 1) * iter_per_epoch + 1):
        x_batch = b.xp.take(x, batches[i, :], axis=0)
        t_batch = b.xp.take(t, batches[i, :], axis=0)
        for net in nets.values():
            optimizer.update(net.params, net.gradient(x_batch, t_batch))
        if i % iter_per_epoch == 0:
            for bn, net in nets.items():
                acc[bn].append(net.accuracy(x, t))
    loss = {bn: float(net.loss(x, t)) for bn, net in nets.items()}
    return {"bn": acc[True], "plain": acc[False], "bn_loss": loss[True], "plain_loss": loss[False]}


def plot(scales, runs: list[dict], title: str):
    plt = common.pyplot()
    rows = math.ceil(len(scales) / 4)
    fig, axes = plt.subplots(rows, 4, figsize=(12, 2.6 * rows + 0.6), squeeze=False)
    for i, (w, run) in enumerate(zip(scales, runs, strict=True)):
        ax = axes.flat[i]
        x = np.arange(len(run["bn"]))
        ax.plot(x, run["bn"], label="Batch Normalization")
        ax.plot(x, run["plain"], linestyle="--", label="Normal (without BatchNorm)")
        ax.set_title(f"W: {w:.3g}", fontsize=10)
        ax.set_ylim(0, 1.0)
        if i % 4:
            ax.set_yticklabels([])
        else:
            ax.set_ylabel("accuracy")
        if i < len(scales) - 4:
            ax.set_xticklabels([])
        else:
            ax.set_xlabel("epochs")
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(scales) :]:
        ax.set_visible(False)
    axes.flat[len(scales) - 1].legend(loc="lower right", fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=None, help="default 20 (quick: 10)")
    args = p.parse_args(argv)
    epochs = args.epochs or (10 if args.quick else 20)
    scales = np.logspace(0, -4, num=16)
    if args.quick:
        scales = scales[list(QUICK_SCALES)]

    b = common.backend(args)
    (x_host, t_host), _ = common.mnist(args, n_train=TRAIN_SIZE, n_test=0)
    x = b.asarray(x_host, dtype="float32")  # moved to the device once
    t = b.asarray(t_host, dtype="int64")
    rng = np.random.default_rng(args.seed)
    iterations = (epochs - 1) * (TRAIN_SIZE // BATCH_SIZE) + 1

    start = time.perf_counter()
    runs = []
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run says so in the table
        for w in scales:
            batches = b.asarray(rng.choice(TRAIN_SIZE, (iterations, BATCH_SIZE)))
            runs.append(train(b, x, t, float(w), batches, epochs, args.seed))
    wall = time.perf_counter() - start

    title = (
        f"MNIST, {TRAIN_SIZE} training images, 784-{'-'.join(map(str, HIDDEN))}-10 ReLU, "
        f"SGD lr {LR}, batch {BATCH_SIZE}, {epochs} epochs, {b.name} float32, seed {args.seed}"
    )

    def note(run: dict) -> str:
        bad = [k for k in ("bn", "plain") if not math.isfinite(run[f"{k}_loss"])]
        return ", ".join(f"{'BN' if k == 'bn' else 'no BN'} diverged" for k in bad)

    rows = [
        [f"{w:.3g}", r["bn"][-1], r["plain"][-1], r["bn"][-1] - r["plain"][-1], note(r)]
        for w, r in zip(scales, runs, strict=True)
    ]
    wins = sum(r["bn"][-1] > r["plain"][-1] for r in runs)
    print(title)
    print(common.format_table(["W std", "acc BN", "acc no BN", "BN - no BN", ""], rows))
    print(f"BN ahead at {wins} of {len(runs)} scales; wall time {wall:.1f} s")
    common.quick_note(args, f"{len(runs)} weight scales, {epochs} epochs", "16 scales, 20 epochs")

    results = {
        "experiment": "batch_norm (figures 6-18, 6-19)",
        "settings": {
            "backend": b.name,
            "dtype": "float32",
            "seed": args.seed,
            "train_size": TRAIN_SIZE,
            "batch_size": BATCH_SIZE,
            "hidden": HIDDEN,
            "optimizer": f"SGD(lr={LR})",
            "epochs": epochs,
            "iterations": iterations,
            "accuracy": "on the training images, after iterations 1, 11, 21, ...",
            "quick": args.quick,
        },
        "scales": scales,
        "final_acc_bn": [r["bn"][-1] for r in runs],
        "final_acc_plain": [r["plain"][-1] for r in runs],
        "final_loss_bn": [r["bn_loss"] for r in runs],
        "final_loss_plain": [r["plain_loss"] for r in runs],
        "bn_wins": wins,
        "acc_bn": [r["bn"] for r in runs],
        "acc_plain": [r["plain"] for r in runs],
        "wall_time_s": wall,
    }
    fig = plot(scales, runs, title)
    common.save_results(args.out, "batch_norm", results, fig)
    common.pyplot().close(fig)
    return results


if __name__ == "__main__":
    common.run(main)
