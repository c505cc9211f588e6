"""What a training step costs beyond its arithmetic: array operations, and time at small batches.

Two measurements, side by side in one run:

1. **Array operations per step** (``opcount.py``'s counting wrapper over the backend's
   namespace and arrays): SGD, Adam, Adam + BatchNorm, Adam + Dropout 0.2 on
   784-100×depth-10 ReLU at batch 100, depths 2, 5 and 10, split into the batch gather,
   forward + backward, and the update; and one update of each rule. On array_api_strict
   (the portable code: ``out[...] = a @ b`` is two operations there) and on NumPy (where
   ``matmul_into`` has ``out=``: one). On a GPU each operation is a kernel launch.
2. **Time per step** at batch 1, 10 and 100 (depth 5): xpnn's Trainer step on NumPy
   against the same network written by hand in NumPy (``numpy_mlp.py``), torch eager (CPU,
   ``nn.Sequential``, ``torch.optim``), and, with ``--book-dir``, the book's own
   ``MultiLayerNetExtend`` and optimizers (a clone of the book's repository; its code is
   imported from there, never copied here). Interleaved rounds, median µs per step.

::

    python benchmarks/bench_dispatch.py                     # both, ~2 minutes
    python benchmarks/bench_dispatch.py --counts-only
    python benchmarks/bench_dispatch.py --book-dir ~/deep-learning-from-scratch \
        --threads 1 --clock cpu            # robust on a busy machine
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import opcount  # noqa: E402
from numpy_mlp import NumpyMLP  # noqa: E402

import xpnn  # noqa: E402

Step = Callable[[int], None]  # run the step for batch number i


def counts_table(backends: list[str]) -> str:
    lines = ["| case | depth | " + " | ".join(
        f"{b}: batch, fwd+bwd, update, total" for b in backends) + " |"]  # fmt: skip
    lines.append("|---|---|" + "---|" * len(backends))
    for case in opcount.CASES[:4]:
        for depth in (2, 5, 10):
            cells = []
            for b in backends:
                c = opcount.count_step(case.at_depth(depth), b)
                cells.append(f"{c['batch']}, {c['forward_backward']}, {c['update']}, "
                             f"**{c['total']}**")  # fmt: skip
            lines.append(f"| {case.name} | {depth} | " + " | ".join(cells) + " |")
    lines += ["", "| update rule | " + " | ".join(f"{b} (depth 2, 5, 10)" for b in backends)
              + " |", "|---|" + "---|" * len(backends)]  # fmt: skip
    for rule in opcount.RULES:
        cells = [", ".join(str(opcount.count_update(rule, d, b)) for d in (2, 5, 10))
                 for b in backends]  # fmt: skip
        lines.append(f"| {rule} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- the step variants ------------------------------------------------------------------------
def data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 784), dtype=np.float32)
    t = rng.integers(0, 10, n)
    return x, t, np.eye(10, dtype=np.float32)[t]


def xpnn_step(case: opcount.Case, batch: int, n: int) -> Step:
    x, t, _ = data(n)
    net = xpnn.MultiLayerNet(784, list(case.hidden), 10, use_batchnorm=case.batchnorm,
                             use_dropout=case.dropout > 0, dropout_ratio=case.dropout or 0.5,
                             backend="numpy", seed=0)  # fmt: skip
    trainer = xpnn.Trainer(net, x, t, x[:10], t[:10], epochs=1, mini_batch_size=batch,
                           optimizer=case.optimizer, optimizer_param={"lr": case.lr},
                           verbose=False, seed=0)  # fmt: skip
    batches = trainer._epoch_batches(0)

    def step(i: int) -> None:
        trainer._step(batches[i % len(batches)])

    return step


def numpy_step(case: opcount.Case, batch: int, n: int) -> Step:
    x, _, t1 = data(n)
    net = NumpyMLP((784, *case.hidden, 10), optimizer=case.optimizer, lr=case.lr,
                   batchnorm=case.batchnorm, dropout=case.dropout, seed=0)  # fmt: skip
    perm = np.random.default_rng(0).permutation(n)

    def step(i: int) -> None:
        idx = perm[(i * batch) % n : (i * batch) % n + batch]
        net.step(x.take(idx, axis=0), t1.take(idx, axis=0))

    return step


def torch_step(case: opcount.Case, batch: int, n: int, torch: Any) -> Step:
    nn = torch.nn
    x_host, t_host, _ = data(n)
    x, t = torch.as_tensor(x_host), torch.as_tensor(t_host)
    torch.manual_seed(0)
    layers: list[Any] = []
    sizes = (784, *case.hidden, 10)
    for n_in, n_out in itertools.pairwise(sizes[:-1]):
        layers.append(nn.Linear(n_in, n_out))
        if case.batchnorm:
            layers.append(nn.BatchNorm1d(n_out, eps=1e-6, momentum=0.1))
        layers.append(nn.ReLU())
        if case.dropout:
            layers.append(nn.Dropout(case.dropout))
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    model = nn.Sequential(*layers).train()
    opt = getattr(torch.optim, case.optimizer)(model.parameters(), lr=case.lr)
    loss_fn = nn.CrossEntropyLoss()
    perm = torch.randperm(n)

    def step(i: int) -> None:
        start = (i * batch) % n
        idx = perm[start : start + batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x.index_select(0, idx)), t.index_select(0, idx))
        loss.backward()
        opt.step()
        float(loss.detach())  # as the CPU Trainers read each loss

    return step


def book_step(case: opcount.Case, batch: int, n: int, book_dir: Path) -> Step:
    """The book's MultiLayerNetExtend and optimizer, imported from a clone of its repo."""
    sys.path.insert(0, str(book_dir))
    try:
        from common.multi_layer_net_extend import MultiLayerNetExtend
        from common.optimizer import SGD, Adam
    finally:
        sys.path.remove(str(book_dir))
    x, t, _ = data(n)
    net = MultiLayerNetExtend(784, list(case.hidden), 10, weight_init_std="relu",
                              use_batchnorm=case.batchnorm, use_dropout=case.dropout > 0,
                              dropout_ration=case.dropout or 0.5)  # fmt: skip
    opt = Adam(lr=case.lr) if case.optimizer == "Adam" else SGD(lr=case.lr)
    perm = np.random.default_rng(0).permutation(n)

    def step(i: int) -> None:
        start = (i * batch) % n
        idx = perm[start : start + batch]
        grads = net.gradient(x[idx], t[idx])
        opt.update(net.params, grads)

    return step


def time_steps(
    makers: dict[str, Callable[[], Step]], steps: int, rounds: int, clock: Callable[[], float]
) -> dict[str, float]:
    """Median µs per step of each variant over interleaved rounds. Each round builds every
    variant afresh (untimed) and warms it up: a network trained for thousands of steps on
    random data at batch 1 kills ReLU units, whose Adam moments then decay through float32
    subnormals, which x86 computes several times slower (the float64 book would not)."""
    times: dict[str, list[float]] = {name: [] for name in makers}
    names = list(makers)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            step = makers[name]()
            for i in range(3):  # first calls, BLAS initialisation, optimizer state
                step(i)
            t0 = clock()
            for i in range(steps):
                step(i)
            times[name].append((clock() - t0) / steps * 1e6)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--counts-only", action="store_true")
    ap.add_argument("--times-only", action="store_true")
    ap.add_argument("--book-dir", type=Path, default=None,
                    help="a clone of the book's repository (its common/ is timed)")  # fmt: skip
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None, help="BLAS and torch threads")
    ap.add_argument("--cases", default="SGD,Adam,Adam+BN,Adam+Drop")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: this process's CPU time (with --threads 1, robust on a busy "
                    "machine)")  # fmt: skip
    args = ap.parse_args(argv)
    torch = None
    if importlib.util.find_spec("torch") is not None:
        import torch
    if args.threads:
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(args.threads)
        except ImportError:
            print("note: threadpoolctl is not installed; --threads sets torch's only")
        if torch is not None:
            torch.set_num_threads(args.threads)
    if not args.times_only:
        print("## Array operations per training step (784-100×depth-10 ReLU, batch 100)\n")
        print(counts_table(["array_api_strict", "numpy"]))
        print()
    if args.counts_only:
        return 0
    cases = [opcount.CASES_BY_NAME[c.strip()] for c in args.cases.split(",")]
    print("## Time per training step, µs (median of interleaved rounds), 784-100×5-10\n")
    header = ["xpnn", "NumPy by hand"] + (["torch eager"] if torch else [])
    header += ["book"] if args.book_dir else []
    ratios = (
        ["xpnn/NumPy"]
        + (["xpnn/torch"] if torch else [])
        + (["xpnn/book"] if args.book_dir else [])
    )
    print("| case | batch | " + " | ".join(header + ratios) + " |")
    print("|---|---|" + "---|" * (len(header) + len(ratios)))
    for case in cases:
        for batch in (1, 10, 100):
            n = max(2000, 20 * batch)
            steps = {1: 300, 10: 200, 100: 60}[batch]
            makers: dict[str, Callable[[], Step]] = {
                "xpnn": lambda c=case, b=batch, n=n: xpnn_step(c, b, n),
                "NumPy by hand": lambda c=case, b=batch, n=n: numpy_step(c, b, n),
            }
            if torch is not None and not (case.batchnorm and batch == 1):
                # torch's BatchNorm1d refuses a batch of one sample in training
                makers["torch eager"] = lambda c=case, b=batch, n=n: torch_step(c, b, n, torch)
            if args.book_dir:
                makers["book"] = lambda c=case, b=batch, n=n: book_step(c, b, n, args.book_dir)
            clock = time.process_time if args.clock == "cpu" else time.perf_counter
            us = time_steps(makers, steps, args.rounds, clock)
            cells = [f"{us[h]:.0f}" if h in us else "n/a" for h in header]
            for h in header[1:]:
                cells.append(f"{us['xpnn'] / us[h]:.2f}" if h in us else "n/a")
            print(f"| {case.name} | {batch} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
