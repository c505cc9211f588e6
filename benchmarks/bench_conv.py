"""One epoch of MNIST training of the book's convnets: xpnn against PyTorch eager, against the
epoch's matrix products, and (with ``--book-dir``) against the book's own code.

    python benchmarks/bench_conv.py --limit 5000 --rounds 3     # 1 and 2 threads, wall clock
    python benchmarks/bench_conv.py --quick                     # a smoke run (1,000 images)
    python benchmarks/bench_conv.py --threads 1 --clock cpu     # one thread, process CPU time
    python benchmarks/bench_conv.py --layers --no-epochs        # per-layer times only
    python benchmarks/bench_conv.py --layers --no-epochs --xpnn-threads follow  # xpnn's too
    python benchmarks/bench_conv.py --book-dir ../deep-learning-from-scratch --limit 2000
    XPNN_BACKEND=cupy python benchmarks/bench_conv.py           # CuPy vs torch CUDA

Cases (batch 100, Adam lr 1e-3, float32, every sample once per epoch):

    Simple   SimpleConvNet: conv 30x5x5 - relu - pool 2x2/2 - affine 100 - relu - affine 10
             (the book's defaults, weights N(0, 0.01²))
    Deep     DeepConvNet: 2x(conv 3x3 - relu) - pool, three times (16, 16, 32, 32, 64, 64
             filters, pad 1, the fourth pad 2), affine 50 - relu - dropout 0.5 - affine 10 -
             dropout 0.5 (He init)

Variants, timed side by side in one process in interleaved rounds (``bench_mlp.py``'s
protocol and functions: each round runs every variant of every case once, in an order
rotated each round; medians over rounds; the device synchronised before a clock stops):

    xpnn Trainer   ``Trainer(net, ..., epochs=1, optimizer='adam', verbose=False).train()``
                   (accuracy evaluated on 100 train and 100 test samples), on NumPy
    xpnn threads   the same with xpnn's own threads set to the block's count too (its NumPy
                   kernels cut into parts, ``XPNN_NUM_THREADS``); NumPy only, blocks of 2+
    xpnn parallel  the same with each step's batch cut into as many parts as the block has
                   threads, run at once on one BLAS thread each (:mod:`xpnn.data_parallel`,
                   ``XPNN_DATA_PARALLEL``); NumPy only, blocks of 2+
    torch eager    the same network in PyTorch on the same device: ``nn.Conv2d``, ``nn.ReLU``,
                   ``nn.MaxPool2d`` (``conv2d``/``max_pool2d``), ``nn.Linear``, ``nn.Dropout``,
                   ``CrossEntropyLoss``, autograd, ``torch.optim.Adam``; data on the device
                   once, ``randperm`` and an index per batch, losses read at the end
    floor          only the matrix products xpnn's layers make, in the backend's own library on
                   arrays of the same shapes (:func:`conv_products`): per convolution through
                   the patch matrix the forward ``W (FN, C·FH·FW) @ P (C·FH·FW, N·OH·OW)``,
                   ``dW = (P @ dYᵀ)ᵀ`` and (not for the first layer) the input gradient's
                   product, ``W' (C, FN·FH·FW) @ P(dY)`` where it is a convolution of dY,
                   else ``Wᵀ @ dY`` (col2im's); per convolution by shifted rows (where the
                   backend's ``conv_by_rows`` says) ``Wrows (FH·FN, FW·C) @ Q (FW·C, Lq)``,
                   FH products ``Q_i (FW·C, L) @ dYᵀ`` for dW and the input gradient's
                   ``(FH·C, FW·FN) @ (FW·FN, Lq)``; for a first convolution with its ReLU
                   and pooling run as one block (:mod:`xpnn.conv_pool`, where the backend
                   has the kernel) ``[W | b] (FN, C·FH·FW + 1) @ P`` and ``dY @ Pᵀ``; per
                   Affine layer ``X @ W``, ``Xᵀ @ dY``, ``dY @ Wᵀ``
    book           the book's own ``SimpleConvNet``/``DeepConvNet`` (``ch07/simple_convnet.py``,
                   ``ch08/deep_convnet.py`` of ``--book-dir``, with its ``common/``: im2col,
                   ``col2im``, argmax pooling) and its ``common.optimizer.Adam``, in a loop by
                   hand over the same batches, parameters cast to float32 (``--book-dtype``);
                   only with ``--book-dir`` (the book's code is read from there, never copied)

Each variant runs at each thread count of ``--threads`` (default ``1,2``: NumPy's BLAS,
torch's intra-op threads set alike, between epochs, in the same rounds), and the
table gives one block per thread count: the ratios compare rows of the same block. xpnn's
own threads (its NumPy kernels' parts, ``XPNN_NUM_THREADS``, one by default) stay as they
are, unless ``--xpnn-threads follow`` sets them alike too. Its last
column is the share of each xpnn epoch outside matrix products, 1 - floor / epoch.

``--layers`` adds, per case and thread count, each layer's forward and backward time on
each xpnn CPU path, the kernel-seam operations' part of it, and their share of the step
(:mod:`conv_layers`).

Networks and optimizers are built anew (untimed) before each timed epoch, from the same seed.
``--limit N`` trains on the first N images (the full 60,000 take minutes per epoch here).
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import bench_mlp as mlp
import conv_layers
import numpy as np

import xpnn
from xpnn.conv import dx_as_convolution
from xpnn.ops.conv_rows import RowGeometry

BATCH = 100
LR = 1e-3
QUICK_SAMPLES = 1_000


@dataclass(frozen=True)
class Case:
    name: str
    convs: tuple[tuple[int, int, int], ...]  # (filter_num, filter_size, pad) per convolution
    pool_after: tuple[int, ...]  # 1-based indices of the convolutions followed by a 2x2 pool
    hidden: int
    dropout: bool
    init: str  # "0.01" (the book's SimpleConvNet) or "he"
    batch: int = BATCH
    sizes: tuple[Any, ...] = field(init=False)  # bench_mlp's key for the shared floor

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", (self.name, self.convs, self.hidden))

    def layer_shapes(self) -> tuple[list[tuple[int, ...]], list[tuple[int, int]]]:
        """Per convolution (C, H, W, FN, F, pad, OH, OW) and per Affine layer (D_in, D_out)."""
        c, h, w = 1, 28, 28
        convs = []
        for i, (fn, f, pad) in enumerate(self.convs, 1):
            oh, ow = h + 2 * pad - f + 1, w + 2 * pad - f + 1
            convs.append((c, h, w, fn, f, pad, oh, ow))
            c, h, w = fn, oh, ow
            if i in self.pool_after:
                h, w = h // 2, w // 2
        return convs, [(c * h * w, self.hidden), (self.hidden, 10)]


CASES = [
    Case("Simple", ((30, 5, 0),), (1,), 100, dropout=False, init="0.01"),
    Case(
        "Deep",
        ((16, 3, 1), (16, 3, 1), (32, 3, 1), (32, 3, 2), (64, 3, 1), (64, 3, 1)),
        (2, 4, 6),
        50,
        dropout=True,
        init="he",
    ),
]
VARIANTS = ("floor", "torch", "xpnn Trainer", "xpnn threads", "xpnn parallel", "book")
#: The variants only of blocks of 2+ threads, and the xpnn setting each sets to the count.
PER_THREAD_SETTING = {
    "xpnn threads": (xpnn.get_num_threads, xpnn.set_num_threads),
    "xpnn parallel": (xpnn.get_data_parallel, xpnn.set_data_parallel),
}
PER_THREAD = tuple(PER_THREAD_SETTING)


@dataclass
class Data:
    x: Any  # (N, 1, 28, 28) float32 on the backend's device
    t: Any
    x_test: Any
    t_test: Any
    host: tuple[np.ndarray, np.ndarray]  # the training set on the host (torch, the book)
    torch_cache: dict[str, Any] = field(default_factory=dict)


# -- xpnn ----------------------------------------------------------------------------------
def xpnn_net(case: Case, backend: xpnn.Backend) -> xpnn.Network:
    if case.name == "Simple":
        return xpnn.SimpleConvNet(backend=backend, seed=0)
    return xpnn.DeepConvNet(backend=backend, seed=0)


def xpnn_trainer(case: Case, backend: xpnn.Backend, data: Data) -> mlp.Epoch:
    trainer = xpnn.Trainer(
        xpnn_net(case, backend),
        data.x,
        data.t,
        data.x_test,
        data.t_test,
        epochs=1,
        mini_batch_size=case.batch,
        optimizer="adam",
        optimizer_param={"lr": LR},
        evaluate_sample_num_per_epoch=mlp.EVAL_SAMPLES,
        verbose=False,
        seed=0,
    )

    def epoch() -> None:
        trainer.train()
        backend.synchronize()

    return epoch


# -- torch ---------------------------------------------------------------------------------
def torch_loop(case: Case, backend: xpnn.Backend, data: Data, torch: Any) -> mlp.Epoch:
    nn = torch.nn
    dev = torch.device(mlp.torch_device(backend))
    if str(dev) not in data.torch_cache:
        x_host, t_host = data.host
        data.torch_cache[str(dev)] = (
            torch.as_tensor(x_host, device=dev),
            torch.as_tensor(t_host, device=dev),
        )
    x, t = data.torch_cache[str(dev)]
    torch.manual_seed(0)
    convs, affines = case.layer_shapes()
    layers: list[Any] = []
    for i, (c, _, _, fn, f, pad, _, _) in enumerate(convs, 1):
        layers += [nn.Conv2d(c, fn, f, padding=pad), nn.ReLU()]
        if i in case.pool_after:
            layers.append(nn.MaxPool2d(2, 2))
    layers += [nn.Flatten(), nn.Linear(*affines[0]), nn.ReLU()]
    if case.dropout:
        layers.append(nn.Dropout(0.5))
    layers.append(nn.Linear(*affines[1]))
    if case.dropout:
        layers.append(nn.Dropout(0.5))
    model = nn.Sequential(*layers).to(dev)
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            if case.init == "he":
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            else:
                nn.init.normal_(m.weight, std=float(case.init))
            nn.init.zeros_(m.bias)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator(device=dev)
    gen.manual_seed(0)
    n = int(x.shape[0])

    def epoch() -> None:
        perm = torch.randperm(n, generator=gen, device=dev)
        losses = []
        for i in range(0, n, case.batch):
            idx = perm[i : i + case.batch]
            xb, tb = x.index_select(0, idx), t.index_select(0, idx)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), tb)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        float(torch.stack(losses).sum())

    return epoch


# -- the floor: the matrix products xpnn's convolutions make, by whichever path ------------
def floor(case: Case, backend: xpnn.Backend, data: Data) -> mlp.Epoch:
    rng = backend.rng(1)
    convs, affines = case.layer_shapes()
    counts: dict[int, int] = {}
    for b in mlp.batch_sizes(int(data.x.shape[0]), case.batch):
        counts[b] = counts.get(b, 0) + 1
    shapes = {}
    for b in counts:
        conv_arrays = [
            [[(rng.normal(a), rng.normal(k)) for a, k in part] for part in parts]
            for parts in (
                conv_products(backend, b, conv, i > 0, i + 1 in case.pool_after)
                for i, conv in enumerate(convs)
            )
        ]
        affine_arrays = [
            (rng.normal((b, n_in)), rng.normal((n_in, n_out)), rng.normal((b, n_out)))
            for n_in, n_out in affines
        ]
        shapes[b] = (conv_arrays, affine_arrays)

    def epoch() -> None:
        for b, count in counts.items():
            conv_arrays, affine_arrays = shapes[b]
            for _ in range(count):
                for forward, _backward in conv_arrays:
                    for A, B in forward:
                        A @ B
                for X, W, _dY in affine_arrays:
                    X @ W
                for X, W, dY in reversed(affine_arrays):
                    X.T @ dY
                    dY @ W.T
                for _forward, backward in reversed(conv_arrays):
                    for A, B in backward:
                        A @ B
        backend.synchronize()

    return epoch


Shape = tuple[int, int]


def conv_products(
    backend: xpnn.Backend, b: int, conv: tuple[int, ...], input_grad: bool, pooled: bool = False
) -> tuple[list[tuple[Shape, Shape]], list[tuple[Shape, Shape]]]:
    """The (A, B) shapes of the products A @ B of one convolution's forward and backward,
    as :class:`xpnn.conv.Convolution` forms them on ``backend`` for a batch of ``b``: by
    shifted rows (:mod:`xpnn.ops.conv_rows`) or through the patch matrix; or, for a first
    convolution with a ReLU and a 2x2 pooling after it (``pooled``) where the backend has a
    kernel for the three (:mod:`xpnn.conv_pool`), through its pool-ordered patches, which
    carry a row of ones for the bias."""
    c, h, w, fn, f, pad, oh, ow = conv
    if pooled and not input_grad and backend.conv_pool_kernel() is not None:
        k, p = c * f * f + 1, b * (oh // 2 * 2) * (ow // 2 * 2)
        return [((fn, k), (k, p))], [((fn, p), (p, k))]  # [W | b] @ P, dY @ Pᵀ
    if backend.conv_by_rows((fn, c, f, f), (b, c, h, w), 1, pad):
        g = RowGeometry(b, h, w, f, f, pad, pad)
        length, lq = g.length, g.q_length
        forward = [((f * fn, f * c), (f * c, lq))]  # Wrows @ Q
        backward = [((f * c, length), (length, fn))] * f  # dW: one per filter row
        if input_grad:  # the same convolution of dout, flipped filters
            backward.append(((f * c, f * fn), (f * fn, lq)))
        return forward, backward
    k, p = c * f * f, b * oh * ow
    forward = [((fn, k), (k, p))]  # W @ P
    backward = [((k, p), (p, fn))]  # dW = (P @ dYᵀ)ᵀ
    if input_grad and dx_as_convolution((fn, c, f, f), (b, c, h, w), 1, pad):
        backward.append(((c, fn * f * f), (fn * f * f, b * h * w)))
    elif input_grad:
        backward.append(((k, fn), (fn, p)))  # Wᵀ @ dY, then col2im
    return forward, backward


def floor_flops(case: Case, n: int, backend: xpnn.Backend) -> float:
    """Multiply-adds of the floor's products over an epoch of ``n`` samples (batches of
    ``case.batch``; a last, smaller batch counted at that size)."""
    convs, affines = case.layer_shapes()
    total = 0.0
    for b in mlp.batch_sizes(n, case.batch):
        for i, conv in enumerate(convs):
            for part in conv_products(backend, b, conv, i > 0, i + 1 in case.pool_after):
                total += sum(a[0] * a[1] * k[1] for a, k in part)
        total += b * sum(3 * a * o for a, o in affines)
    return total


# -- the book's own code -------------------------------------------------------------------
class BookCode:
    """The book's networks and Adam, imported from a checkout of its repository."""

    def __init__(self, book_dir: str, dtype: str) -> None:
        root = os.path.abspath(book_dir)
        for sub in ("common/layers.py", "ch07/simple_convnet.py", "ch08/deep_convnet.py"):
            if not os.path.isfile(os.path.join(root, sub)):
                raise SystemExit(f"--book-dir {book_dir}: no {sub} there (a checkout of "
                                 "oreilly-japan/deep-learning-from-scratch?)")  # fmt: skip
        for path in (root, os.path.join(root, "ch07"), os.path.join(root, "ch08")):
            sys.path.insert(0, path)
        self.simple = importlib.import_module("simple_convnet").SimpleConvNet
        self.deep = importlib.import_module("deep_convnet").DeepConvNet
        self.adam = importlib.import_module("common.optimizer").Adam
        self.dtype = np.dtype(dtype)
        self.root = root

    def network(self, case: Case) -> Any:
        np.random.seed(0)  # noqa: NPY002 - the book draws its weights from np.random
        net = self.simple() if case.name == "Simple" else self.deep()
        if self.dtype != np.float64:  # cast the weights; the layers hold the same arrays
            new = {k: v.astype(self.dtype) for k, v in net.params.items()}
            old = {id(v): k for k, v in net.params.items()}
            layers = net.layers.values() if isinstance(net.layers, dict) else net.layers
            for layer in layers:
                for attr in ("W", "b"):
                    value = getattr(layer, attr, None)
                    if value is not None and id(value) in old:
                        setattr(layer, attr, new[old[id(value)]])
            net.params.clear()
            net.params.update(new)
        return net


def book_loop(case: Case, data: Data, book: BookCode) -> mlp.Epoch:
    net = book.network(case)
    opt = book.adam(lr=LR)
    x, t = data.host
    x = x.astype(book.dtype, copy=False)
    n = int(x.shape[0])
    rng = np.random.default_rng(0)

    def epoch() -> None:
        perm = rng.permutation(n)
        for i in range(0, n, case.batch):
            idx = perm[i : i + case.batch]
            grads = net.gradient(x[idx], t[idx])
            opt.update(net.params, grads)

    return epoch


# -- main ----------------------------------------------------------------------------------
def load_data(args: argparse.Namespace) -> tuple[np.ndarray, ...]:
    try:
        (x, t), (xt, tt) = xpnn.load_mnist(normalize=True, flatten=False, data_dir=args.data_dir)
        where = args.data_dir or os.environ.get("XPNN_DATA") or "~/.cache/xpnn"
        print(f"data: MNIST from {where}")
    except xpnn.DatasetNotFoundError as exc:
        print(f"note: {str(exc).splitlines()[0].rstrip(':')}; timing random data instead")
        rng = np.random.default_rng(0)
        x = rng.random((60_000, 1, 28, 28), dtype=np.float32)
        t = rng.integers(0, 10, 60_000)
        xt = rng.random((10_000, 1, 28, 28), dtype=np.float32)
        tt = rng.integers(0, 10, 10_000)
    if args.limit is not None:
        x, t = x[: args.limit], t[: args.limit]
    return x, t.astype(np.int64), xt[:1000], tt[:1000].astype(np.int64)


def split(variant: str) -> tuple[str, int | None]:
    """``"torch @2"`` -> ``("torch", 2)``; a name without threads -> ``(name, None)``."""
    name, _, threads = variant.rpartition(" @")
    return (name, int(threads)) if name else (variant, None)


def print_table(cases: list[Case], variants: list[str], times: dict[tuple[str, str], list[float]],
                n: int, backend: xpnn.Backend, stat: str) -> None:  # fmt: skip
    """One block of rows per case and thread count; ratios within a block."""
    lib = backend.name if backend.name in ("numpy", "cupy", "torch") else "xpnn.xp"
    label = {"floor": f"floor ({lib} @)", "torch": "torch eager", "book": "book (im2col)"}
    pick = statistics.median if stat == "median" else min
    sec = {key: pick(v) for key, v in times.items()}
    header = (
        f"{'case':<7} {'variant':<16} {'median s':>8} {'min s':>7} {'img/s':>8} "
        f"{'/torch':>7} {'/floor':>7} {'outside @':>9}"
    )
    print(f"\n{header}\n" + "-" * len(header))
    blocks = list(dict.fromkeys(split(v)[1] for v in variants))
    for case in cases:
        for threads in blocks:
            if threads is not None:
                print(f"{case.name} on {threads} thread{'s' if threads > 1 else ''}:")
            suffix = "" if threads is None else f" @{threads}"
            torch_s = sec.get((case.name, "torch" + suffix))
            floor_s = sec.get((case.name, "floor" + suffix))
            for v in variants:
                name, t = split(v)
                if t != threads:
                    continue
                key = (case.name, v)
                s = sec[key]
                median = statistics.median(times[key])
                line = (f"{case.name:<7} {label.get(name, name):<16} {median:8.2f} "
                        f"{min(times[key]):7.2f} {n / s:8,.0f}")  # fmt: skip
                line += f" {s / torch_s:7.2f}" if torch_s and name != "torch" else f" {'':>7}"
                line += f" {s / floor_s:7.2f}" if floor_s and name != "floor" else f" {'':>7}"
                if floor_s and name.startswith("xpnn"):
                    line += f" {100 * (1 - floor_s / s):8.0f}%"
                print(line.rstrip())
        print()
    gflop = ", ".join(f"{c.name} {2 * floor_flops(c, n, backend) / 1e9:.0f}" for c in cases)
    print(f"img/s and ratios from the {stat}; /torch: seconds over torch eager's; "
          f"/floor: over the floor's; outside @: 1 - floor / epoch.")  # fmt: skip
    print(f"floor: xpnn's matrix products alone, GFLOP per epoch: {gflop}.")
    note = mlp.busy_note(times)
    if note:
        print(note)


class Threads:
    """Sets NumPy's BLAS threads, torch's and (``follow``) xpnn's own (its NumPy kernels')
    to one count (between epochs)."""

    def __init__(self, torch: Any, follow: bool = False) -> None:
        self.torch = torch
        self.follow = follow
        try:
            import threadpoolctl
        except ImportError:
            threadpoolctl = None
        self.threadpoolctl = threadpoolctl

    def set(self, n: int | None) -> None:
        if n is None:
            return
        if self.threadpoolctl is not None:
            self.threadpoolctl.threadpool_limits(n, user_api="blas")
        if self.follow:
            xpnn.set_num_threads(n)
        if self.torch is not None:
            self.torch.set_num_threads(n)


def parse_threads(text: str | None, ap: argparse.ArgumentParser) -> list[int | None]:
    """``"1,2"`` -> ``[1, 2]``; ``None`` -> ``[None]`` (leave the libraries' defaults)."""
    if text is None:
        return [None]
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        ap.error(f"--threads takes thread counts such as 1 or 1,2, not {text!r}")
    return list(dict.fromkeys(counts))


def layer_tables(cases: list[Case], backends: list[xpnn.Backend], data: Data,
                 thread_counts: list[int | None], threads: Threads, rounds: int,
                 steps: int) -> None:  # fmt: skip
    """Per-layer times (:mod:`conv_layers`) of each backend at each thread count,
    interleaved over ``rounds`` rounds of ``steps`` steps on the first batch."""
    x, t = data.host[0][:BATCH], data.host[1][:BATCH]
    for case in cases:
        columns: dict[str, list[dict[str, float]]] = {}
        for r in range(rounds):
            for b in backends if r % 2 == 0 else backends[::-1]:
                for n in thread_counts:
                    threads.set(n)
                    col = b.name + ("" if n is None else f" @{n}")
                    result = conv_layers.measure(b, case.name == "Deep", x, t, steps)
                    columns.setdefault(col, []).append(result)
        title = (f"{case.name}ConvNet, ms per training step (batch {BATCH}, median of "
                 f"{rounds} rounds of {steps} steps; in parentheses the kernel-seam "
                 "operations inside)")  # fmt: skip
        conv_layers.print_layers(title, columns)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--backend", default=None, help="xpnn backend (default XPNN_BACKEND)")
    ap.add_argument("--device", default=None, help="the backend's device")
    ap.add_argument("--limit", type=int, default=None, help="train on the first N images")
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds (default 3; quick 2)")
    quick = f"a smoke run: {QUICK_SAMPLES:,} samples (unless --limit), 2 rounds"
    ap.add_argument("--quick", action="store_true", help=quick)
    ap.add_argument("--cases", default=None, help="simple, deep or both (default both)")
    ap.add_argument("--threads", default="1,2",
                    help="thread counts, each timed: BLAS and torch (default 1,2)")  # fmt: skip
    ap.add_argument("--xpnn-threads", default="keep", choices=["keep", "follow"],
                    help="xpnn's own threads: keep XPNN_NUM_THREADS (default: 1), or follow "
                    "--threads")  # fmt: skip
    ap.add_argument("--layers", action="store_true", help="also per-layer times per CPU path")
    ap.add_argument("--no-epochs", action="store_true", help="with --layers: only those")
    ap.add_argument("--layer-steps", type=int, default=10, help="steps per --layers round")
    ap.add_argument("--stat", default="median", choices=["median", "min"])
    ap.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                    help="wall (default) or this process's CPU time (CPU backends)")  # fmt: skip
    ap.add_argument("--no-torch", action="store_true", help="skip the torch variant")
    ap.add_argument("--book-dir", default=None,
                    help="a checkout of oreilly-japan/deep-learning-from-scratch: also time "
                    "the book's own networks")  # fmt: skip
    ap.add_argument(
        "--book-dtype",
        default="float32",
        choices=["float32", "float64"],
        help="the book's parameters' dtype (its code makes float64; default float32)",
    )
    ap.add_argument("--data-dir", default=None, help="MNIST folder (default $XPNN_DATA/mnist)")
    args = ap.parse_args(argv)
    if args.rounds is None:
        args.rounds = 2 if args.quick else 3
    if args.quick and args.limit is None:
        args.limit = QUICK_SAMPLES
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if args.limit is not None and args.limit < 1:
        ap.error("--limit must be positive")
    cases = CASES
    if args.cases:
        wanted = {c.strip().lower() for c in args.cases.split(",")}
        cases = [c for c in CASES if c.name.lower() in wanted]
        if len(cases) != len(wanted):
            ap.error(f"--cases: choose from {', '.join(c.name.lower() for c in CASES)}")

    backend = xpnn.get_backend(args.backend, args.device)
    clock = time.perf_counter
    if args.clock == "cpu":
        if not backend.is_cpu:
            ap.error("--clock cpu times CPU backends only")
        clock = time.process_time
    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("note: torch is not installed: no torch variant")
    if torch is not None and mlp.torch_device(backend).startswith("cuda"):

        def sync() -> None:
            backend.synchronize()
            torch.cuda.synchronize(mlp.torch_device(backend))
    else:
        sync = backend.synchronize
    thread_counts = parse_threads(args.threads, ap)
    thread_lines, _limiter = mlp.threads_setup(argparse.Namespace(threads=None), torch)
    threads = Threads(torch, follow=args.xpnn_threads == "follow")
    if threads.follow:
        thread_lines.append("xpnn threads: as --threads (--xpnn-threads follow)")
    if threads.threadpoolctl is None and thread_counts != [None]:
        print("note: threadpoolctl is not installed: numpy's BLAS threads are not set "
              "(pip install threadpoolctl); timing the libraries' defaults only")  # fmt: skip
        thread_counts = [None]
    book = BookCode(args.book_dir, args.book_dtype) if args.book_dir else None

    x, t, xt, tt = load_data(args)
    data = Data(
        backend.asarray(x, dtype="float32"),
        backend.asarray(t, dtype="int64"),
        backend.asarray(xt, dtype="float32"),
        backend.asarray(tt, dtype="int64"),
        (x, t),
    )
    n = int(x.shape[0])
    versions = [f"Python {platform.python_version()}", f"numpy {np.__version__}",
                f"xpnn {xpnn.__version__}"]  # fmt: skip
    if torch is not None:
        versions.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, {mlp.cpu_name()}; load average {load:.1f} at start")
    print("versions: " + ", ".join(versions))
    for line in thread_lines:
        print(line)
    if book is not None:
        print(f"book: {book.root} (its own code, parameters as {book.dtype})")
    print(
        f"xpnn on {backend.name} ({backend.device}), float32; {n:,} training samples, batch "
        f"{BATCH}, Adam lr {LR:g}; {args.stat} of {args.rounds} interleaved rounds; clock: "
        + ("wall" if args.clock == "wall" else "process CPU time (all threads)")
    )

    makers: dict[str, Callable[[Case, Data], mlp.Epoch]] = {
        "floor": lambda c, d: floor(c, backend, d),
        "xpnn Trainer": lambda c, d: xpnn_trainer(c, backend, d),
    }
    if backend.name == "numpy" and not threads.follow:
        makers["xpnn threads"] = lambda c, d: xpnn_trainer(c, backend, d)
    if backend.name == "numpy":
        makers["xpnn parallel"] = lambda c, d: xpnn_trainer(c, backend, d)
    if torch is not None:
        makers["torch"] = lambda c, d: torch_loop(c, backend, d, torch)
    if book is not None:
        makers["book"] = lambda c, d: book_loop(c, d, book)
    if args.layers and backend.is_cpu:
        layer_tables(cases, [backend], data, thread_counts, threads, args.rounds,
                     args.layer_steps)  # fmt: skip
    if args.no_epochs:
        return 0
    variants = [v + ("" if t is None else f" @{t}") for t in thread_counts for v in VARIANTS
                if v in makers and (v not in PER_THREAD or (t or 1) > 1)]  # fmt: skip

    def make(case: Case, variant: str, d: Data) -> mlp.Epoch:
        name, n_threads = split(variant)
        epoch = makers[name](case, d)

        def with_threads() -> None:
            threads.set(n_threads)
            if name not in PER_THREAD or n_threads is None:
                epoch()
                return
            get, set_ = PER_THREAD_SETTING[name]
            before = get()
            set_(n_threads)
            try:
                epoch()
            finally:
                set_(before)

        return with_threads

    mlp.warm_up(cases, lambda c: variants, make, data, sync, samples=200)
    times = mlp.time_rounds(cases, lambda c: variants, make, data, sync, clock, args.rounds)
    print_table(cases, variants, times, n, backend, args.stat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
