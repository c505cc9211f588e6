"""Does a run resumed in a new process end bitwise where an uninterrupted run ends?

    python benchmarks/resume_check.py                                   # CuPy (GPU 0)
    python benchmarks/resume_check.py --backend numpy --limit 5000
    python benchmarks/resume_check.py --backend array_api_strict --device device1
    python benchmarks/resume_check.py --backend numpy --limit 5000 --mid-epoch

The network is the main job's (examples/mnist.py's DEFAULTS: 784-500-300-10 ReLU, He init,
BatchNorm, Dropout 0.2, Adam lr 1e-3, batch 100), trained on the first ``--limit`` MNIST
images (random data of MNIST's shape, with a note, when MNIST is not found), seed 0:

1. uninterrupted: ``Trainer(..., epochs=E)`` for E epochs, in this process;
2. interrupted: a fresh network and ``Trainer(..., epochs=E-1, checkpoint_dir=...)`` in this
   process, then a NEW process builds ``Trainer(..., epochs=E, resume=checkpoint)`` and
   trains the last epoch. With ``--mid-epoch`` the first process trains
   ``Trainer(..., epochs=E, checkpoint_dir=..., checkpoint_steps=S)`` and stops before step
   S, the middle of the last epoch (its last checkpoint is a step checkpoint there); the new
   process resumes from it, in the middle of that epoch.

Both final states are saved with ``Trainer.save_checkpoint`` and compared key by key, bit
for bit: every parameter, the BatchNorm statistics, the dropout generator, the optimizer's
moments and step counts, the epoch and step, the loss and accuracy history (wall-clock
epoch times excepted). One line per key that differs (with the largest absolute
difference), then PASS (exit 0) or FAIL (exit 1). Only xpnn's public API is used.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import xpnn

ROOT = Path(__file__).resolve().parent.parent
IGNORED = ("history/epoch_time", "trainer/epoch_seconds")  # wall-clock: never the same twice


def main_job_defaults() -> dict[str, Any]:
    """``DEFAULTS`` of examples/mnist.py, the main job's configuration."""
    spec = importlib.util.spec_from_file_location("xpnn_main_job", ROOT / "examples" / "mnist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.DEFAULTS)


@functools.cache
def load_data(data_dir: str | None, limit: int) -> tuple[tuple[np.ndarray, ...], str]:
    """The first ``limit`` training images of MNIST and its test set, and where they came
    from; random data of MNIST's shape (the same in every process) when MNIST is missing."""
    try:
        (x, t), (xt, tt) = xpnn.load_mnist(normalize=True, data_dir=data_dir, download=False)
        where = "MNIST"
    except xpnn.DatasetNotFoundError as exc:
        rng = np.random.default_rng(0)
        x = rng.random((60_000, 784), dtype=np.float32)
        t = rng.integers(0, 10, 60_000, dtype=np.int64)
        xt = rng.random((10_000, 784), dtype=np.float32)
        tt = rng.integers(0, 10, 10_000, dtype=np.int64)
        where = f"random data of MNIST's shape ({str(exc).splitlines()[0].rstrip(':')})"
    return (x[:limit], t[:limit], xt, tt), where


def make_trainer(args: argparse.Namespace, epochs: int, **kw: Any) -> xpnn.Trainer:
    """The main job's network and optimizer on ``args.backend``, seeded, quiet."""
    d = main_job_defaults()
    backend = xpnn.get_backend(args.backend, args.device)
    (x, t, xt, tt), _ = load_data(args.data_dir, args.limit)
    net = xpnn.MultiLayerNet(
        784,
        [int(s) for s in str(d["hidden"]).split(",")],
        10,
        activation=d["activation"],
        weight_init_std=d["init"],
        weight_decay_lambda=d["weight_decay"],
        use_batchnorm=d["batchnorm"],
        use_dropout=d["dropout"] > 0,
        dropout_ratio=d["dropout"] if d["dropout"] > 0 else 0.5,
        backend=backend,
        seed=args.seed,
    )
    return xpnn.Trainer(
        net,
        x,
        t,
        xt,
        tt,
        epochs=epochs,
        mini_batch_size=d["batch_size"],
        optimizer=d["optimizer"],
        optimizer_param={"lr": d["lr"]},
        verbose=False,  # the progress bar is not what is checked here
        seed=args.seed,
        **kw,
    )


# -- comparing two saved states ------------------------------------------------------------
def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"network/W1": array, "history/train_loss": [...], ...}``: the leaves by path."""
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}/{key}" if prefix else str(key)))
        return out
    return {prefix: tree}


def difference(a: Any, b: Any) -> str | None:
    """None when ``a`` and ``b`` are bitwise equal, else what differs (for one line)."""
    if isinstance(a, str | bool | type(None)) or isinstance(b, str | bool | type(None)):
        return None if (type(a) is type(b) and a == b) else f"{a!r} != {b!r}"[:120]
    try:
        x, y = np.asarray(a), np.asarray(b)
    except (TypeError, ValueError):
        return None if a == b else f"{a!r} != {b!r}"[:120]
    if (x.dtype, x.shape) != (y.dtype, y.shape):
        return f"{x.dtype}{list(x.shape)} != {y.dtype}{list(y.shape)}"
    if np.ascontiguousarray(x).tobytes() == np.ascontiguousarray(y).tobytes():
        return None
    if x.dtype.kind not in "biuf":
        return f"{x.dtype}{list(x.shape)}: values differ"
    with np.errstate(invalid="ignore", over="ignore"):
        delta = np.abs(x.astype(np.float64) - y.astype(np.float64))
    count = int(np.count_nonzero(~(delta == 0)))
    kind = f"{x.dtype}{list(x.shape)}"
    if count == 0:
        return f"equal values, different bits (signed zeros or NaN payloads; {kind})"
    worst = float(np.nanmax(delta)) if np.any(~np.isnan(delta)) else math.nan
    return f"max |diff| {worst:.3g} ({count} of {x.size} entries differ; {kind})"


def compare(full: dict[str, Any], resumed: dict[str, Any]) -> tuple[list[str], int]:
    """Lines for the keys that differ, and the number of keys compared."""
    a, b = flatten(full), flatten(resumed)
    lines = []
    keys = list(a) + [k for k in b if k not in a]
    compared = 0
    for key in keys:
        if key in IGNORED:
            continue
        compared += 1
        if key not in b:
            lines.append(f"DIFF {key}: only in the uninterrupted run")
        elif key not in a:
            lines.append(f"DIFF {key}: only in the resumed run")
        else:
            why = difference(a[key], b[key])
            if why is not None:
                lines.append(f"DIFF {key}: {why}")
    return lines, compared


# -- the two phases ------------------------------------------------------------------------
def resume_in_this_process(args: argparse.Namespace) -> int:
    """The child: resume from ``--resume-from``, train to the end, save to ``--save-to``."""
    trainer = make_trainer(args, args.epochs, resume=args.resume_from)
    at = f"epoch {trainer.current_epoch + 1}, step {trainer.epoch_step} of it"
    start = time.perf_counter()
    trainer.train()
    trainer.save_checkpoint(args.save_to)
    print(
        f"resumed at {at} in process {os.getpid()}, trained to epoch {args.epochs}'s end in "
        f"{time.perf_counter() - start:.1f} s"
    )
    return 0


def check(args: argparse.Namespace) -> int:
    backend = xpnn.get_backend(args.backend, args.device)
    _, where = load_data(args.data_dir, args.limit)
    d = main_job_defaults()
    print(
        f"resume check: xpnn on {backend.name} ({backend.device}); main job network "
        f"784-{d['hidden'].replace(',', '-')}-10, batchnorm {d['batchnorm']}, dropout "
        f"{d['dropout']}, {d['optimizer']} lr {d['lr']}, batch {d['batch_size']}; "
        f"{args.limit:,} images of {where}; {args.epochs} epochs, seed {args.seed}"
    )
    with tempfile.TemporaryDirectory(prefix="xpnn-resume-") as tmp:
        work = Path(args.work_dir) if args.work_dir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)

        start = time.perf_counter()
        full = make_trainer(args, args.epochs)
        full.train()
        full.save_checkpoint(work / "uninterrupted.npz")
        print(
            f"uninterrupted: {args.epochs} epochs in {time.perf_counter() - start:.1f} s, "
            f"test accuracy {full.test_acc_list[-1]:.4f}"
        )

        start = time.perf_counter()
        first = interrupted_run(args, work / "run")
        print(
            f"interrupted: stopped after step {first.current_iter} (epoch "
            f"{first.current_epoch + 1}, step {first.epoch_step} of it) with checkpoints, in "
            f"{time.perf_counter() - start:.1f} s"
        )
        del first

        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            *child_args(args),
            "--resume-from",
            str(work / "run" / "checkpoint.npz"),
            "--save-to",
            str(work / "resumed.npz"),
        ]
        child = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
        if child.returncode != 0:
            print(f"FAIL: the resuming process exited with status {child.returncode}")
            print(child.stdout + child.stderr)
            return 1
        print(child.stdout.strip())

        lines, compared = compare(
            xpnn.load_checkpoint(work / "uninterrupted.npz"),
            xpnn.load_checkpoint(work / "resumed.npz"),
        )
    for line in lines:
        print(line)
    ignored = ", ".join(IGNORED)
    if lines:
        print(f"FAIL: {len(lines)} of {compared} state keys differ (ignored: {ignored})")
        return 1
    print(f"PASS: all {compared} state keys bitwise equal (ignored: {ignored})")
    return 0


class _Stop(Exception):
    """Stands for the end of the interrupted process."""


class StopBefore(xpnn.Callback):
    """Raise :class:`_Stop` before global step ``step`` (its checkpoint is written)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_begin(self, trainer: Any, step: int) -> None:
        if step == self.step:
            raise _Stop


def interrupted_run(args: argparse.Namespace, folder: Path) -> xpnn.Trainer:
    """The first process's run: E-1 epochs, or (``--mid-epoch``) up to the middle of the
    last one with a step checkpoint there."""
    if not args.mid_epoch:
        trainer = make_trainer(args, args.epochs - 1, checkpoint_dir=folder)
        trainer.train()
        return trainer
    steps = make_trainer(args, args.epochs).iter_per_epoch
    stop = (args.epochs - 1) * steps + max(1, steps // 2)
    trainer = make_trainer(args, args.epochs, checkpoint_dir=folder, checkpoint_steps=stop,
                           callbacks=[StopBefore(stop)])  # fmt: skip
    try:
        trainer.train()
    except _Stop:
        pass
    return trainer


def child_args(args: argparse.Namespace) -> list[str]:
    out = ["--backend", args.backend, "--limit", str(args.limit), "--epochs", str(args.epochs)]
    out += ["--seed", str(args.seed)]
    if args.device is not None:
        out += ["--device", args.device]
    if args.data_dir is not None:
        out += ["--data-dir", args.data_dir]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--backend", default="cupy", help="xpnn backend (default cupy)")
    ap.add_argument("--device", default=None, help="the backend's device (default its first)")
    ap.add_argument("--limit", type=int, default=10_000, help="training images (default 10,000)")
    ap.add_argument("--epochs", type=int, default=2, help="E, at least 2 (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None, help="MNIST folder (default $XPNN_DATA/mnist)")
    ap.add_argument("--work-dir", default=None, help="keep the checkpoints here (default: temp)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds for the new process")
    ap.add_argument(
        "--mid-epoch", action="store_true", help="stop and resume in the middle of the last epoch"
    )
    ap.add_argument("--resume-from", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--save-to", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.epochs < 2:
        ap.error("--epochs must be at least 2 (E-1 epochs, then a resumed one)")
    if not 1 <= args.limit <= 60_000:
        ap.error("--limit must be between 1 and 60,000")
    if args.resume_from is not None:
        return resume_in_this_process(args)
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
