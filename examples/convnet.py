"""Train the book's convolutional networks on MNIST: SimpleConvNet (chapter 7) or, with
``--deep``, DeepConvNet (chapter 8).

    python examples/convnet.py                        # SimpleConvNet, NumPy on the CPU
    python examples/convnet.py --deep                 # DeepConvNet
    XPNN_BACKEND=cupy python examples/convnet.py --deep   # on a CUDA GPU
    python examples/convnet.py --epochs 1 --limit 5000 --plot curves.png

MNIST is read from ``--data-dir``, else ``$XPNN_DATA/mnist``, else ``~/.cache/xpnn/mnist``,
and downloaded (checksum-verified) when missing. The defaults (Adam with a cosine learning
rate decay over the epochs) are what README.md reports ("Convolutional networks"): 99.0 %
and more for SimpleConvNet, 99.3 % and more for DeepConvNet. Each epoch reports the
training accuracy on the first ``--eval-samples`` training images and the test accuracy on
as many test images (all 10,000 by default); the last line gives the accuracy on the whole
test set (or on its first ``--test-limit`` images).

A missing data set, an unusable backend or a bad argument ends in one line on stderr and
exit status 2 (``cli_errors``); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable

# cli_errors, cli_checkpoints and mnist.py live beside this file (on sys.path when it is run)
sys.path.insert(1, os.path.dirname(os.path.abspath(__file__)))
import cli_checkpoints
import cli_errors  # before xpnn: a bad XPNN_BACKEND is a one-line error too
from mnist import add_output_args, check_output_args, plot_history, write_outputs

import xpnn
from xpnn import DeepConvNet, DivergenceError, SimpleConvNet, Trainer, load_mnist

# The defaults of each network: see README.md ("Convolutional networks").
DEFAULTS = {
    "simple": {"epochs": 15, "batch_size": 100, "optimizer": "adam", "lr": 1e-3, "init": "he"},
    "deep": {"epochs": 12, "batch_size": 100, "optimizer": "adam", "lr": 1e-3, "init": "he"},
}
EVAL_SAMPLES = 10_000


def _init(text: str) -> str | float:
    try:
        return float(text)
    except ValueError:
        return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = cli_errors.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--deep", action="store_true", help="train DeepConvNet (default SimpleConvNet)")
    p.add_argument("--epochs", type=int, default=None, help="default 15 (simple), 12 (deep)")
    p.add_argument("--batch-size", type=int, default=None, help="default 100")
    p.add_argument(
        "--optimizer",
        default=None,
        help="sgd, momentum, nesterov, adagrad, rmsprop, adam or adamw (default adam)",
    )
    p.add_argument("--lr", type=float, default=None, help="initial learning rate (default 1e-3)")
    p.add_argument(
        "--lr-schedule",
        default="cosine",
        choices=["cosine", "constant"],
        help="cosine: lr·(1 + cos(π·epoch/epochs))/2 each epoch (default); constant: the book's",
    )
    p.add_argument(
        "--init",
        type=_init,
        default=None,
        help="SimpleConvNet's weight init: he (default), xavier, or a std such as 0.01 "
        "(the book's); DeepConvNet is always He-initialised",
    )
    p.add_argument("--weight-decay", type=float, default=0.0, help="lambda")
    p.add_argument("--seed", type=int, default=0, help="initial weights, dropout, data order")
    p.add_argument("--data-dir", default=None, help="folder holding the four MNIST files")
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    p.add_argument("--test-limit", type=int, default=None, help="test on the first N images only")
    p.add_argument(
        "--eval-samples",
        type=int,
        default=EVAL_SAMPLES,
        help=f"images of each set evaluated after every epoch (default {EVAL_SAMPLES:,})",
    )
    cli_checkpoints.add_arguments(p)
    add_output_args(p)
    args = p.parse_args(argv)
    args.checkpoint_dir = cli_checkpoints.folder(p, args)
    defaults = DEFAULTS["deep" if args.deep else "simple"]
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.deep and args.init != defaults["init"]:
        p.error("--init applies to SimpleConvNet only: DeepConvNet is He-initialised")
    for name in ("epochs", "batch_size", "eval_samples"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    for name in ("limit", "test_limit"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    return args


def cosine(lr: float, epochs: int) -> Callable[[int], float]:
    """The learning rate of each epoch: ``lr`` at the first, decaying to near 0 at the last."""
    return lambda epoch: 0.5 * lr * (1.0 + math.cos(math.pi * epoch / epochs))


def build(args: argparse.Namespace, backend: xpnn.Backend) -> xpnn.Network:
    if args.deep:
        return DeepConvNet(weight_decay_lambda=args.weight_decay, backend=backend, seed=args.seed)
    return SimpleConvNet(weight_init_std=args.init, weight_decay_lambda=args.weight_decay,
                         backend=backend, seed=args.seed)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_output_args(args)
    backend = xpnn.backend
    log = (lambda *a: None) if args.quiet else print
    log(f"xpnn {xpnn.__version__} on {backend.name} ({backend.device})")

    (x_train, t_train), (x_test, t_test) = load_mnist(
        normalize=True, flatten=False, data_dir=args.data_dir
    )
    if args.limit is not None:
        x_train, t_train = x_train[: args.limit], t_train[: args.limit]
    if args.test_limit is not None:
        x_test, t_test = x_test[: args.test_limit], t_test[: args.test_limit]
    net = build(args, backend)
    init = "he" if args.deep else args.init
    schedule = "cosine decay" if args.lr_schedule == "cosine" else "constant"
    log(
        f"network {net!r}, init {init}, weight decay {args.weight_decay}; {args.optimizer} "
        f"lr {args.lr} ({schedule}), batch {args.batch_size}, {args.epochs} epochs"
    )
    trainer = Trainer(
        net,
        x_train,
        t_train,
        x_test,
        t_test,
        epochs=args.epochs,
        mini_batch_size=args.batch_size,
        optimizer=args.optimizer,
        optimizer_param={"lr": args.lr},
        evaluate_sample_num_per_epoch=args.eval_samples,
        verbose=not args.quiet,
        seed=args.seed,
        lr_schedule=cosine(args.lr, args.epochs) if args.lr_schedule == "cosine" else None,
        checkpoint_dir=args.checkpoint_dir,
        checkpoint_steps=args.checkpoint_steps,
        resume=args.resume,
        eval_batch_size=1_000,
    )
    start = time.perf_counter()
    try:
        history = trainer.train()
    except DivergenceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the Trainer saved a checkpoint at the step it stopped
        raise cli_checkpoints.interrupted(trainer, argv) from None
    seconds = time.perf_counter() - start
    accuracy = net.accuracy(x_test, t_test)  # all of x_test, whatever --eval-samples is
    print(
        f"test accuracy {accuracy:.4f} after {len(history['test_acc'])} epochs "
        f"({seconds:.1f} s on {backend.name})"
    )
    if args.plot:
        os.makedirs(os.path.dirname(os.path.abspath(args.plot)), exist_ok=True)
        plot_history(history, trainer.iter_per_epoch, args.plot)
        log(f"wrote {args.plot}")
    write_outputs(net, args, log)
    return 0


if __name__ == "__main__":
    cli_errors.run(main)
