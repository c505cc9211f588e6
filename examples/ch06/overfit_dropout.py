"""Overfitting, and Dropout against it (figures 6-22 and 6-23 of the book).

    python examples/ch06/overfit_dropout.py --out docs/ch06      # the book's size
    python examples/ch06/overfit_dropout.py --quick              # seconds, for tests

As the book's ``ch06/overfit_dropout.py``: the first 300 MNIST training images, a
784-100x6-10 ReLU network (He init) with a Dropout layer after each hidden activation, drop
ratio 0.2, trained by the book's ``Trainer`` (here xpnn's) with SGD lr 0.01, batches of 100,
for 301 epochs; train and test accuracy after every epoch on all 300 training images and all
10 000 test images (the book's ``evaluate_sample_num_per_epoch=None``), compared with the
same network without Dropout. All runs share the seed: the same initial weights and batches.

Three runs, not two, because xpnn's Dropout is not the book's:

- ``no dropout``;
- ``dropout 0.2``: xpnn's :class:`~xpnn.Dropout`, *inverted* (kept units are scaled by
  1/(1 − p) at training time, inference is the identity), as PyTorch and most libraries do;
- ``dropout 0.2, book's layer``: the book's ``common/layers.py`` Dropout, which does not
  scale at training time (out = x·mask) and multiplies by (1 − p) at inference
  (:class:`BookDropout` below, swapped into ``network.layers``).

Both have the same expected activations at inference, but not the same training dynamics:
in the book's layer every dropout shrinks the training-time signal by (1 − p), six of them
by 0.8⁶ ≈ 0.26, and so the gradients of the layers below. Under SGD the book's network is
exactly xpnn's with every weight after a dropout scaled by (1 − p) and its learning rate by
(1 − p)²: it learns much more slowly, which is much of why the book's figure 6-23 shows
train accuracy well below 1.00 and a narrow gap after 301 epochs. xpnn's inverted dropout
learns at nearly the speed of the plain network: it narrows the gap while it trains (by
half at epoch 100), but 301 epochs are enough for it to learn the 300 images by heart too.

``--quick`` trains 100 epochs and evaluates on the first 1 000 test images.
"""

from __future__ import annotations

import time

import common
from overfit_weight_decay import network, plot, train

import xpnn

NAME = "overfit_dropout"


class BookDropout(xpnn.Dropout):
    """The book's Dropout layer (``common/layers.py``): not inverted::

        training:   out = x·mask,  mask = (u ≥ p)      dx = dout·mask
        inference:  out = x·(1 − p)

    Built on xpnn's inverted layer (x·mask/(1 − p) at training, x at inference): both
    directions times (1 − p). Draws its masks with the same generator.
    """

    def forward(self, x, train_flg=True):
        return super().forward(x, train_flg) * (1.0 - self.dropout_ratio)

    def backward(self, dout):
        return super().backward(dout) * (1.0 - self.dropout_ratio)


def use_book_dropout(net: xpnn.MultiLayerNet) -> xpnn.MultiLayerNet:
    """Replace each of ``net``'s Dropout layers by :class:`BookDropout` (same ratio and
    generator), in place; return ``net``."""
    for name, layer in net.layers.items():
        if isinstance(layer, xpnn.Dropout):
            net.layers[name] = BookDropout(layer.dropout_ratio, layer.generator)
    return net


def main(argv=None) -> dict:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--dropout-ratio", type=float, default=0.2, help="drop probability (0.2)")
    args = p.parse_args(argv)
    backend = common.backend(args)
    epochs, n_test = (100, 1000) if args.quick else (301, None)
    data = common.mnist(args, n_train=300, n_test=n_test)
    ratio = args.dropout_ratio

    nets = {
        "no dropout": network(backend, args.seed),
        f"dropout {ratio:g}": network(backend, args.seed, use_dropout=True, dropout_ratio=ratio),
        f"dropout {ratio:g}, book's layer": use_book_dropout(
            network(backend, args.seed, use_dropout=True, dropout_ratio=ratio)
        ),
    }
    start = time.perf_counter()
    runs = [{"run": label, **train(net, data, args.seed, epochs)} for label, net in nets.items()]
    seconds = time.perf_counter() - start

    mid = min(100, epochs) - 1  # epoch 100 (index 99): xpnn's dropout still training
    rows = [
        [
            run["run"], run["final_train_acc"], run["final_test_acc"], run["gap"],
            run["train_acc"][mid] - run["test_acc"][mid], f"{run['seconds']:.1f}",
        ]
        for run in runs
    ]  # fmt: skip
    header = ["run", "train acc", "test acc", "gap", f"gap @ epoch {mid + 1}", "seconds"]
    print(f"{NAME}: {epochs} epochs, {len(data[1][0])} test images, {backend.name}")
    print(common.format_table(header, rows))
    common.quick_note(args, f"{epochs} epochs, 1000 test images", "301 epochs, all 10,000")

    results = {
        "experiment": NAME,
        "backend": backend.name,
        "seed": args.seed,
        "quick": args.quick,
        "n_train": len(data[0][0]),
        "n_test": len(data[1][0]),
        "epochs": epochs,
        "hidden_size_list": [100] * 6,
        "dropout_ratio": ratio,
        "optimizer": {"name": "SGD", "lr": 0.01},
        "batch_size": 100,
        "runs": runs,
        "seconds": seconds,
    }
    title = f"Dropout: {len(data[0][0])} training images, 6x100 ReLU, SGD lr 0.01"
    common.save_results(args.out, NAME, results, plot(runs, list(nets), title))
    return results


if __name__ == "__main__":
    common.run(main)
