"""Train a multilayer perceptron on MNIST: the main job.

    python examples/mnist.py                          # NumPy on the CPU
    XPNN_BACKEND=cupy python examples/mnist.py        # CuPy on a CUDA GPU
    python examples/mnist.py --epochs 1 --plot curves.png

MNIST is read from ``--data-dir``, else ``$XPNN_DATA/mnist``, else ``~/.cache/xpnn/mnist``,
and downloaded (checksum-verified) when missing. The defaults are the best configuration we
found for an MLP; README.md says what they reach.

A missing data set, an unusable backend or a bad argument ends in one line on stderr and
exit status 2 (``cli_errors``); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# cli_errors and cli_checkpoints live beside this file (on sys.path already when it is run)
sys.path.insert(1, os.path.dirname(os.path.abspath(__file__)))
import cli_checkpoints
import cli_errors  # before xpnn: a bad XPNN_BACKEND is a one-line error too

import xpnn
from xpnn import DivergenceError, MultiLayerNet, Trainer, load_mnist

# The defaults: see README.md ("What the defaults reach") for how they were chosen.
DEFAULTS = {
    "epochs": 20,
    "batch_size": 100,
    "optimizer": "adam",
    "lr": 1e-3,
    "hidden": "500,300",
    "activation": "relu",
    "init": "he",
    "batchnorm": True,
    "dropout": 0.2,
    "weight_decay": 0.0,
}


def _hidden(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--hidden takes comma-separated layer sizes such as 100,100,100, not {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--hidden needs positive layer sizes, got {text!r}")
    return sizes


def _init(text: str) -> str | float:
    try:
        return float(text)
    except ValueError:
        return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = DEFAULTS
    p = cli_errors.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=d["epochs"], help="passes over the training set")
    p.add_argument("--batch-size", type=int, default=d["batch_size"], help="mini-batch size")
    p.add_argument(
        "--optimizer",
        default=d["optimizer"],
        help="sgd, momentum, nesterov, adagrad, rmsprop, adam or adamw",
    )
    p.add_argument("--lr", type=float, default=d["lr"], help="learning rate")
    p.add_argument("--hidden", type=_hidden, default=_hidden(d["hidden"]), help="e.g. 100,100")
    p.add_argument("--activation", default=d["activation"], help="relu, sigmoid or tanh")
    p.add_argument(
        "--init", type=_init, default=d["init"], help="he, xavier, or a std such as 0.01"
    )
    bn = p.add_mutually_exclusive_group()
    bn.add_argument(
        "--batchnorm",
        dest="batchnorm",
        action="store_true",
        default=d["batchnorm"],
        help="Batch Normalization before each activation",
    )
    bn.add_argument("--no-batchnorm", dest="batchnorm", action="store_false", help="without it")
    p.add_argument(
        "--dropout", type=float, default=d["dropout"], help="dropout ratio; 0 turns it off"
    )
    p.add_argument("--weight-decay", type=float, default=d["weight_decay"], help="lambda")
    p.add_argument("--seed", type=int, default=0, help="initial weights, dropout, data order")
    p.add_argument("--data-dir", default=None, help="folder holding the four MNIST files")
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    cli_checkpoints.add_arguments(p)
    add_output_args(p)
    args = p.parse_args(argv)
    args.checkpoint_dir = cli_checkpoints.folder(p, args)
    if args.dropout and not 0.0 <= args.dropout < 1.0:
        p.error(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.limit is not None and args.limit < 1:
        p.error(f"--limit must be positive, got {args.limit}")
    return args


def add_output_args(p: argparse.ArgumentParser) -> None:
    """What the training examples write at the end: curves, the network, its ONNX model."""
    p.add_argument("--plot", default=None, metavar="PATH", help="write loss/accuracy curves (PNG)")
    p.add_argument(
        "--save",
        default=None,
        metavar="PATH",
        help="save the trained network (an .npz with its architecture: examples/predict.py "
        "and xpnn.load_network read it)",
    )
    p.add_argument(
        "--export-onnx",
        default=None,
        metavar="PATH",
        help="export the trained network's inference as an ONNX model (needs xpnn[onnx])",
    )
    p.add_argument("--quiet", action="store_true", help="print only the final accuracy")


def check_output_args(args: argparse.Namespace) -> None:
    """Fail before training, not after it, where an output cannot be written."""
    if args.export_onnx:
        try:
            import onnx  # noqa: F401
        except ImportError:
            cli_errors.fail("--export-onnx needs the onnx package: pip install 'xpnn[onnx]'")


def write_outputs(net: xpnn.Network, args: argparse.Namespace, log) -> None:
    """``--save`` and ``--export-onnx``, in that order (a failed export keeps the save)."""
    for path, write, what in (
        (args.save, net.save_params, "the network (examples/predict.py reads it)"),
        (args.export_onnx, net.export_onnx, "its ONNX model"),
    ):
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            write(path)
            log(f"wrote {path}: {what}")


def plot_history(history: dict[str, list[float]], iter_per_epoch: int, path: str) -> None:
    """Loss per step (with its running mean) and accuracy per epoch, side by side, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    loss = np.asarray(history["train_loss"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    steps = np.arange(1, loss.size + 1) / iter_per_epoch
    ax1.plot(steps, loss, lw=0.5, alpha=0.4, label="per step")
    w = max(1, min(iter_per_epoch, loss.size) // 10)
    if loss.size >= w:
        smooth = np.convolve(loss, np.ones(w) / w, mode="valid")
        ax1.plot(steps[w - 1 :], smooth, lw=1.5, label=f"mean of {w}")
    ax1.set(xlabel="epoch", ylabel="training loss", yscale="log", title="loss")
    ax1.legend()
    epochs = np.arange(1, len(history["test_acc"]) + 1)
    ax2.plot(epochs, history["train_acc"], "o-", label="train")
    ax2.plot(epochs, history["test_acc"], "s-", label="test")
    ax2.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    ax2.grid(alpha=0.3)
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def build(args: argparse.Namespace, backend: xpnn.Backend) -> MultiLayerNet:
    return MultiLayerNet(
        input_size=784,
        hidden_size_list=args.hidden,
        output_size=10,
        activation=args.activation,
        weight_init_std=args.init,
        weight_decay_lambda=args.weight_decay,
        use_dropout=args.dropout > 0,
        dropout_ratio=args.dropout if args.dropout > 0 else 0.5,
        use_batchnorm=args.batchnorm,
        backend=backend,
        seed=args.seed,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_output_args(args)
    backend = xpnn.backend
    log = (lambda *a: None) if args.quiet else print
    log(f"xpnn {xpnn.__version__} on {backend.name} ({backend.device})")

    (x_train, t_train), (x_test, t_test) = load_mnist(
        normalize=True, flatten=True, data_dir=args.data_dir
    )
    if args.limit is not None:
        x_train, t_train = x_train[: args.limit], t_train[: args.limit]
    net = build(args, backend)
    log(
        f"network 784-{'-'.join(map(str, args.hidden))}-10 {args.activation}, init {args.init}, "
        f"batchnorm {'on' if args.batchnorm else 'off'}, dropout {args.dropout}, "
        f"weight decay {args.weight_decay}; {args.optimizer} lr {args.lr}, "
        f"batch {args.batch_size}, {args.epochs} epochs"
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
        verbose=not args.quiet,
        seed=args.seed,
        checkpoint_dir=args.checkpoint_dir,
        checkpoint_steps=args.checkpoint_steps,
        resume=args.resume,
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
    print(
        f"test accuracy {history['test_acc'][-1]:.4f} after {len(history['test_acc'])} epochs "
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
