"""Hyperparameter random search on a validation split (figure 6-24 of the book).

    python examples/ch06/hyperparameter_search.py --out docs/ch06 --workers 2   # book's size
    python examples/ch06/hyperparameter_search.py --quick                       # seconds
    python examples/ch06/hyperparameter_search.py --dask tcp://scheduler:8786   # a Dask cluster
    python examples/ch06/hyperparameter_search.py --dask local --workers 4      # one here
    XPNN_BACKEND=cupy python examples/ch06/hyperparameter_search.py --dask local  # per GPU

As the book's ``ch06/hyperparameter_optimization.py``: the first 500 MNIST training images,
shuffled, 20 % (100) held out for validation (:func:`xpnn.train_val_split`), the other 400
for training. 100 trials, each sampling a weight decay λ ~ 10^U(−8, −4) and a learning rate
~ 10^U(−6, −2), and training a 784-100x6-10 ReLU network (He init) with SGD, batches of
100, for 50 epochs with the book's ``Trainer`` (here xpnn's). Trials are ranked by their
final validation accuracy; the figure draws the best 20 as the book does (validation
solid, training dashed, 0 to 1), with a map of all trials in (lr, λ) beside them, and the
table lists the best and ``best_ranges``: the range of each hyperparameter over the best 5,
where the book would search next. The book finds the learning rate matters most (good
trials have lr ≈ 1e-3..1e-2) and weight decay much less (it narrows λ to 1e-8..1e-6).

The search is :func:`xpnn.random_search`: every configuration and trial seed is drawn up
front from ``--seed``, so ``--workers N`` (``xpnn.process_pool``: N processes, each with one
BLAS thread, started by spawn on a GPU backend) runs the same trials as ``--workers 1`` (in
this process), with the same numbers up to the last-bit differences a BLAS may make with
another thread count (which 50 epochs of SGD can grow into a point of accuracy).

**On a Dask cluster.** ``--dask ADDRESS`` connects a ``distributed.Client`` to the
scheduler at ADDRESS (``tcp://host:8786``, what ``dask scheduler`` prints) and runs the
trials through its executor (``client.get_executor()``, a ``concurrent.futures.Executor``);
``--dask local`` starts a ``distributed.LocalCluster`` of ``--workers`` processes (default:
one per core), one thread each, for the run. The trials, their seeds and their numbers are
the ones ``--workers 1`` gives. The workers need xpnn (and numpy) installed, and no MNIST:
the data travels with each trial (500 images); this script's ``objective`` travels by value
(Dask pickles functions of ``__main__`` with cloudpickle). ``pip install distributed``.

**On several GPUs.** With a device backend (``XPNN_BACKEND=cupy``, or torch on CUDA),
``--dask local`` starts one worker per GPU (dask-cuda's ``LocalCUDACluster`` where it is
installed, else one worker process per device with its own ``XPNN_DEVICE``;
``dask_devices.py``), and each trial trains on its worker's GPU; ``--devices 0,2`` picks
the GPUs. Each trial reports the device it ran on (``device`` in its metrics). The trials and
their numbers are the same as on one device, up to the last bits a GPU library may change.

``--quick`` runs 10 trials of 15 epochs.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time

import common
import dask_devices

import xpnn

NAME = "hyperparameter_search"
#: The book's search space, sampled in the book's order (weight decay, then lr).
SPACE = {
    "weight_decay": xpnn.LogUniform(1e-8, 1e-4),
    "lr": xpnn.LogUniform(1e-6, 1e-2),
}
#: The ranges the book narrows to after its first search.
BOOK_RANGES = {"lr": (1e-3, 1e-2), "weight_decay": (1e-8, 1e-6)}
GRID = (4, 5)  # the book draws the best 20 trials in 4 rows of 5


def objective(config: dict, seed: int, *, data, backend: str, device=None) -> dict:
    """One trial: train on ``data``'s training part with ``config``, as the book's
    ``__train``, on ``backend`` (a name) and ``device`` (``None``: the worker's own, its
    ``XPNN_DEVICE`` when the trial runs, else the library's first); the final and per-epoch
    accuracies on both parts, and the device it ran on. (Dask sends this function by value:
    it uses nothing of this folder, so that remote workers need only xpnn.)"""
    (x, t), (x_val, t_val) = data
    if device is None:
        device = os.environ.get("XPNN_DEVICE", "").strip() or None
    where = xpnn.get_backend(backend, device)
    net = xpnn.MultiLayerNet(
        784, [100] * 6, 10, weight_decay_lambda=config["weight_decay"],
        backend=where, seed=seed,
    )  # fmt: skip
    trainer = xpnn.Trainer(
        net, x, t, x_val, t_val, epochs=config["epochs"], mini_batch_size=100,
        optimizer="SGD", optimizer_param={"lr": config["lr"]}, verbose=False, seed=seed,
    )  # fmt: skip
    trainer.train()
    return {
        "val_acc": trainer.test_acc_list[-1],
        "train_acc": trainer.train_acc_list[-1],
        "val_acc_list": trainer.test_acc_list,
        "train_acc_list": trainer.train_acc_list,
        "device": f"{where.name} {where.device_key()}",
    }


def _one_blas_thread() -> None:
    """Worker initializer: one BLAS thread per process (N workers on N cores, not N²)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it each worker keeps its BLAS default
        return
    threadpool_limits(1)


def search(
    data, backend: xpnn.Backend, n_trials: int, epochs: int, seed: int, workers: int | None,
    dask: str | None = None, devices: list[str] | None = None,
):  # fmt: skip
    """Run the search (in this process, on ``workers`` processes, or on the Dask cluster at
    ``dask``: for ``"local"``, one started here, one worker per device of a device backend);
    print each trial as it finishes, as the book does."""
    space = {**SPACE, "epochs": epochs}
    # on a cluster each trial runs on its worker's device; here and on a pool, on backend's
    device = None if dask is not None else backend.device_key()
    fn = functools.partial(objective, data=data, backend=backend.name, device=device)
    done = []

    def report(trial: xpnn.Trial) -> None:
        done.append(trial)
        c = trial.config
        what = f"val acc {trial.metrics['val_acc']:.2f}" if trial.ok else trial.error
        print(
            f"trial {len(done):>3}/{n_trials}  {what}  lr {c['lr']:.2e}  "
            f"weight decay {c['weight_decay']:.2e}",
            flush=True,
        )

    if dask is not None:
        with dask_client(dask, backend, workers, devices) as (client, what):
            print(f"dask: {what}")
            return xpnn.random_search(
                fn, space, n_trials, seed=seed, executor=client.get_executor(), callback=report
            )
    if workers is None or workers <= 1:
        return xpnn.random_search(fn, space, n_trials, seed=seed, callback=report)
    # workers start by spawn on a GPU backend (CUDA cannot be used in a forked child)
    with xpnn.process_pool(workers, backend=backend, initializer=_one_blas_thread) as pool:
        return xpnn.random_search(fn, space, n_trials, seed=seed, executor=pool, callback=report)


@contextlib.contextmanager
def dask_client(address: str, backend: xpnn.Backend, workers: int | None, devices):
    """``(client, what)``: a ``distributed.Client`` of the scheduler at ``address``, or for
    ``"local"`` of a cluster started here (``dask_devices.local_client``), and a line saying
    what it is."""
    if address == "local":
        with dask_devices.local_client(backend, workers, devices) as client_what:
            yield client_what
        return
    from distributed import Client

    with Client(address, timeout="30s") as client:
        yield client, f"{len(client.scheduler_info()['workers'])} worker(s) at {address}"


def plot(result: xpnn.SearchResult, ranges: dict):
    """The book's figure 6-24 (the best 20 trials' curves, val solid, train dashed) and a
    map of every trial's final validation accuracy in (lr, λ), the best ranges boxed."""
    plt = common.pyplot()
    from matplotlib.patches import Rectangle

    rows, cols = GRID
    fig = plt.figure(figsize=(16.0, 7.5))
    grid = fig.add_gridspec(
        rows, cols + 4, width_ratios=[1.0] * cols + [0.25, 1.1, 1.1, 0.08],
        left=0.04, right=0.96, top=0.87, bottom=0.07, wspace=0.25, hspace=0.6,
    )  # fmt: skip
    for i, trial in enumerate(result.trials[: rows * cols]):
        ax = fig.add_subplot(grid[i // cols, i % cols])
        c = trial.config
        if trial.ok:
            val, train = trial.metrics["val_acc_list"], trial.metrics["train_acc_list"]
            ax.plot(range(len(val)), val)
            ax.plot(range(len(train)), train, "--")
            head = f"Best-{i + 1} (val {trial.metrics['val_acc']:.2f})"
        else:
            head = f"trial {trial.index}: failed"
        ax.set_title(f"{head}\nlr {c['lr']:.1e}, λ {c['weight_decay']:.1e}", fontsize=8, pad=2)
        ax.set_ylim(0.0, 1.0)
        ax.set_xticks([])
        if i % cols:
            ax.set_yticks([])

    ax = fig.add_subplot(grid[:, cols + 1 : cols + 3])
    ok = result.succeeded
    points = ax.scatter(
        [t.config["lr"] for t in ok], [t.config["weight_decay"] for t in ok],
        c=[t.metrics["val_acc"] for t in ok], cmap="viridis", vmin=0.0, vmax=1.0, s=28,
    )  # fmt: skip
    if result.failed:
        ax.scatter(
            [t.config["lr"] for t in result.failed],
            [t.config["weight_decay"] for t in result.failed],
            marker="x", color="red", label="failed",
        )  # fmt: skip
        ax.legend(loc="upper left", fontsize=8)
    (lr0, lr1), (wd0, wd1) = ranges["lr"], ranges["weight_decay"]
    box = Rectangle((lr0, wd0), lr1 - lr0, wd1 - wd0, fill=False, ec="red", lw=1.2)
    ax.add_patch(box)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(SPACE["lr"].low / 1.4, SPACE["lr"].high * 1.4)  # room for points at the edges
    ax.set_ylim(SPACE["weight_decay"].low / 1.4, SPACE["weight_decay"].high * 1.4)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("weight decay λ")
    ax.set_title("every trial's final val acc; red box: best 5", fontsize=10)
    fig.colorbar(points, cax=fig.add_subplot(grid[:, cols + 3]), label="validation accuracy")
    n, epochs = len(result), result.space["epochs"]
    fig.suptitle(
        f"Random search, {n} trials of {epochs} epochs: the best {min(n, rows * cols)} "
        "(validation solid, training dashed)"
    )
    return fig


def parse(argv):
    """The command line, checked; ``(args, devices)``, ``devices`` a list or ``None``."""
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument(
        "--workers", type=int, default=None,
        help="processes for the trials (default 1; with --dask local, one per core)",
    )  # fmt: skip
    p.add_argument(
        "--dask", default=None, metavar="ADDRESS",
        help="run the trials on the Dask cluster at ADDRESS (tcp://host:8786), or on a "
        "LocalCluster started here for 'local'",
    )  # fmt: skip
    p.add_argument(
        "--devices", default=None, metavar="LIST",
        help="with --dask local: one worker per device of the backend (XPNN_DEVICE names, "
        "e.g. 0,1 or device1,device2); default every GPU of a device backend",
    )  # fmt: skip
    p.add_argument("--trials", type=int, default=None, help="number of trials (100)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per trial (50)")
    args = p.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        p.error(f"--workers must be at least 1, got {args.workers}")
    if args.dask not in (None, "local") and args.workers is not None:
        p.error("--workers sets the processes of this machine; a cluster has its own workers")
    if args.devices is None:
        return args, None
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    if args.dask != "local":
        p.error("--devices starts one worker per device: it goes with --dask local")
    if args.workers is not None:
        p.error("--devices starts one worker per device: leave out --workers")
    if not devices:
        p.error("--devices needs at least one device name")
    return args, devices


def worker_count(args, devices, backend: xpnn.Backend) -> int | None:
    """Processes of this machine for the trials; ``None``: a cluster's own, or one per
    device on a device backend."""
    if args.dask is None:
        return args.workers or 1
    if args.dask != "local" or devices is not None:
        return None
    if not backend.is_cpu:
        return args.workers  # None: one per device
    return args.workers or os.cpu_count() or 1


def main(argv=None) -> dict:
    args, devices = parse(argv)
    backend = common.backend(args)
    workers = worker_count(args, devices, backend)
    n_trials = args.trials or (10 if args.quick else 100)
    epochs = args.epochs or (15 if args.quick else 50)

    (x, t), _ = common.mnist(args, n_train=500)
    data = xpnn.train_val_split(x, t, val_ratio=0.2, seed=args.seed)
    start = time.perf_counter()
    result = search(data, backend, n_trials, epochs, args.seed, workers, args.dask, devices)
    seconds = time.perf_counter() - start
    ranges = result.best_ranges(top=5)

    header = ["rank", "trial", "val acc", "train acc", "lr", "weight decay"]
    rows = [
        [rank, t.index, t.metrics["val_acc"], t.metrics["train_acc"],
         f"{t.config['lr']:.2e}", f"{t.config['weight_decay']:.2e}"]
        for rank, t in enumerate(result.succeeded[:10], start=1)
    ]  # fmt: skip
    print(
        f"{NAME}: {n_trials} trials x {epochs} epochs, {len(data[0][0])} train / "
        f"{len(data[1][0])} validation images, {backend.name}, "
        f"{'dask ' + args.dask if args.dask else f'{workers} worker(s)'}, {seconds:.1f} s"
    )
    print(common.format_table(header, rows))
    for name, (low, high) in ranges.items():
        book_low, book_high = BOOK_RANGES[name]
        print(f"best 5 {name}: {low:.2e} .. {high:.2e}   (book: {book_low:.0e} .. {book_high:.0e})")
    if result.failed:
        print(f"{len(result.failed)} trial(s) failed, e.g. {result.failed[0].error}")
    common.quick_note(args, f"{n_trials} trials of {epochs} epochs", "100 of 50")

    results = {
        "experiment": NAME,
        "backend": backend.name,
        "seed": args.seed,
        "quick": args.quick,
        "n_train": len(data[0][0]),
        "n_val": len(data[1][0]),
        "n_trials": n_trials,
        "epochs": epochs,
        "workers": workers,
        "dask": args.dask,
        "devices": devices,
        "hidden_size_list": [100] * 6,
        "best_ranges": {k: list(v) for k, v in ranges.items()},
        "book_ranges": {k: list(v) for k, v in BOOK_RANGES.items()},
        "seconds": seconds,
        "search": result.to_dict(),
    }
    common.save_results(args.out, NAME, results, plot(result, ranges))
    return results


if __name__ == "__main__":
    common.run(main)
