"""One epoch of MNIST training: xpnn against PyTorch eager and against its matrix products.

    python benchmarks/bench_mlp.py                      # xpnn on NumPy vs torch on the CPU
    python benchmarks/bench_mlp.py --quick              # a smoke run on 5,000 samples
    XPNN_BACKEND=cupy python benchmarks/bench_mlp.py    # CuPy vs torch CUDA on the GPU
    python benchmarks/bench_mlp.py --threads 1          # numpy's BLAS and torch on 1 thread

Cases (ReLU, He init, float32, every sample once per epoch, the last batch partial):

    SGD        784-100-100-100-100-100-10, batch 100, SGD lr 0.01
    Adam       the same, Adam lr 1e-3
    Adam+BN    the same with BatchNorm after each hidden Affine
    Adam+Drop  the same with Dropout 0.2 after each hidden ReLU
    wide Adam  784-1000-1000-10, batch 256, Adam lr 1e-3

Variants, timed side by side in one process, in interleaved rounds (each round runs every
variant of every case once, in a rotating order, so that machine noise spreads over all):

    xpnn Trainer   what a user gets: ``Trainer(net, ..., epochs=1, verbose=False).train()``
                   (evaluation limited to 100 train and 100 test samples: < 0.5 % of the work)
    xpnn loop      the tight loop by hand: permutation, ``xp.take`` per batch,
                   ``net.loss_and_gradient``, ``optimizer.update``; losses read once at the end
    torch          the same network in PyTorch eager on the same device: ``nn.Sequential`` of
                   Linear/BatchNorm1d/ReLU/Dropout, ``CrossEntropyLoss``, ``torch.optim`` with
                   the same hyperparameters and its default implementation; data on the
                   device once, ``randperm`` and an index per batch, losses read at the end
    numpy by hand  (NumPy backend only) the same network written by hand in plain NumPy,
                   ``benchmarks/numpy_mlp.py``: xpnn's formulas without xpnn, the reference
                   its overhead is measured against (targets one-hot, built once)
    floor          only the matrix products the epoch performs, in the backend's own library
                   (numpy on the CPU, cupy on the GPU) on arrays of the same shapes: for each
                   batch and layer the forward ``X @ W``, the backward ``X.T @ dY`` and
                   ``dY @ W.T`` (not for the first layer: nobody needs the data's gradient)

Network and optimizer are built anew (untimed) before each timed epoch, from the same seed.
The table gives the median and the min over rounds; images/s and the ratios use the median
(``--stat min``: the min). The device is synchronised before a timer stops.

Threads: by default torch gets as many threads as numpy's BLAS has (read with threadpoolctl
when installed); ``--threads N`` sets both. OpenBLAS picks its kernel at load time from
OPENBLAS_CORETYPE: where the environment pins an older one, the header says so; compare with
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_mlp.py``.

A busy machine: with several BLAS threads, epochs vary by 2x and more when other processes
compete for the cores; the script warns. ``--threads 1 --clock cpu`` times this process's
CPU time on one thread, which they barely disturb.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import xpnn

EVAL_SAMPLES = 100  # the Trainer's evaluate_sample_num_per_epoch
QUICK_SAMPLES = 5_000


@dataclass(frozen=True)
class Case:
    name: str
    hidden: tuple[int, ...]
    batch: int
    optimizer: str  # an xpnn optimizer name; torch.optim has the same class name
    lr: float
    batchnorm: bool = False
    dropout: float = 0.0
    sizes: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", (784, *self.hidden, 10))


FIVE = (100, 100, 100, 100, 100)
CASES = [
    Case("SGD", FIVE, 100, "SGD", 0.01),
    Case("Adam", FIVE, 100, "Adam", 1e-3),
    Case("Adam+BN", FIVE, 100, "Adam", 1e-3, batchnorm=True),
    Case("Adam+Drop", FIVE, 100, "Adam", 1e-3, dropout=0.2),
    Case("wide Adam", (1000, 1000), 256, "Adam", 1e-3),
]
VARIANTS = ("floor", "numpy by hand", "torch", "xpnn loop", "xpnn Trainer")

# An epoch: set up untimed, return a callable that runs one epoch and waits for the device.
Epoch = Callable[[], None]


@dataclass
class Data:
    x: Any  # (N, 784) float32 on the backend's device
    t: Any  # (N,) int64
    x_test: Any
    t_test: Any
    host: tuple[np.ndarray, np.ndarray]  # the training set on the host, for torch
    torch_cache: dict[str, Any] = field(default_factory=dict)  # device -> (x, t), moved once


# -- data ----------------------------------------------------------------------------------
def load_data(args: argparse.Namespace) -> tuple[np.ndarray, ...]:
    """MNIST (60,000 + 10,000) from ``--data-dir`` or ``$XPNN_DATA/mnist``; random data of
    MNIST's shape, with a note, when the files are not there."""
    try:
        (x, t), (xt, tt) = xpnn.load_mnist(
            normalize=True, data_dir=args.data_dir, download=args.download
        )
        where = args.data_dir or os.environ.get("XPNN_DATA") or "~/.cache/xpnn"
        print(f"data: MNIST from {where}")
    except xpnn.DatasetNotFoundError as exc:
        first = str(exc).splitlines()[0].rstrip(":")
        print(f"note: {first}; timing random data of MNIST's shape instead")
        rng = np.random.default_rng(0)
        x = rng.random((60_000, 784), dtype=np.float32)
        t = rng.integers(0, 10, 60_000, dtype=np.int64)
        xt = rng.random((10_000, 784), dtype=np.float32)
        tt = rng.integers(0, 10, 10_000, dtype=np.int64)
    if args.quick:
        x, t = x[:QUICK_SAMPLES], t[:QUICK_SAMPLES]
    return x, t.astype(np.int64), xt, tt.astype(np.int64)


def batch_sizes(n: int, batch: int) -> list[int]:
    return [min(batch, n - i) for i in range(0, n, batch)]


# -- the variants --------------------------------------------------------------------------
def xpnn_net(case: Case, backend: xpnn.Backend) -> xpnn.MultiLayerNet:
    return xpnn.MultiLayerNet(
        784,
        list(case.hidden),
        10,
        activation="relu",
        weight_init_std="he",
        use_batchnorm=case.batchnorm,
        use_dropout=case.dropout > 0,
        dropout_ratio=case.dropout,
        backend=backend,
        seed=0,
    )


def xpnn_trainer(case: Case, backend: xpnn.Backend, data: Data) -> Epoch:
    trainer = xpnn.Trainer(
        xpnn_net(case, backend),
        data.x,
        data.t,
        data.x_test,
        data.t_test,
        epochs=1,
        mini_batch_size=case.batch,
        optimizer=case.optimizer,
        optimizer_param={"lr": case.lr},
        evaluate_sample_num_per_epoch=EVAL_SAMPLES,
        verbose=False,
        seed=0,
    )

    def epoch() -> None:
        trainer.train()
        backend.synchronize()

    return epoch


def xpnn_loop(case: Case, backend: xpnn.Backend, data: Data) -> Epoch:
    xp = backend.xp
    net = xpnn_net(case, backend)
    opt = xpnn.get_optimizer(case.optimizer, lr=case.lr)
    rng = backend.rng(0)
    n = int(data.x.shape[0])

    def epoch() -> None:
        perm = rng.permutation(n)
        losses = []
        for i in range(0, n, case.batch):
            idx = perm[i : i + case.batch]
            x = xp.take(data.x, idx, axis=0)
            t = xp.take(data.t, idx, axis=0)
            loss, grads = net.loss_and_gradient(x, t)
            opt.update(net.params, grads)
            losses.append(loss)
        float(xp.sum(xp.stack(losses)))  # one read, at the end

    return epoch


def numpy_by_hand(case: Case, data: Data) -> Epoch:
    """The same network written by hand in NumPy (``numpy_mlp.py``): the reference xpnn's
    overhead is measured against. Targets one-hot, built once, as the Trainer's are."""
    from numpy_mlp import NumpyMLP

    x, t = data.host
    t1 = np.eye(10, dtype=np.float32)[t]
    net = NumpyMLP(case.sizes, optimizer=case.optimizer, lr=case.lr,
                   batchnorm=case.batchnorm, dropout=case.dropout, seed=0)  # fmt: skip
    rng = np.random.default_rng(0)
    n = int(x.shape[0])

    def epoch() -> None:
        perm = rng.permutation(n)
        for i in range(0, n, case.batch):
            idx = perm[i : i + case.batch]
            net.step(x.take(idx, axis=0), t1.take(idx, axis=0))

    return epoch


def torch_device(backend: xpnn.Backend) -> str:
    if backend.name == "torch":
        return str(backend.device)
    if backend.name == "cupy":
        return f"cuda:{backend.device.id}"
    return "cpu"


def torch_loop(
    case: Case,
    backend: xpnn.Backend,
    data: Data,
    torch: Any,
    *,
    device: str | None = None,
    optim_kwargs: dict[str, Any] | None = None,
) -> Epoch:
    """torch eager on ``device`` (default: the one matching ``backend``); ``optim_kwargs``
    pick torch.optim's implementation (``{"foreach": True}``, ``{"fused": True}``)."""
    nn = torch.nn
    dev = torch.device(device or torch_device(backend))
    if str(dev) not in data.torch_cache:  # the data moves to the device once
        x_host, t_host = data.host
        data.torch_cache[str(dev)] = (
            torch.as_tensor(x_host, device=dev),
            torch.as_tensor(t_host, device=dev),
        )
    x, t = data.torch_cache[str(dev)]
    torch.manual_seed(0)
    layers: list[Any] = []
    for n_in, n_out in zip(case.sizes[:-2], case.sizes[1:-1], strict=True):
        layers.append(nn.Linear(n_in, n_out))
        if case.batchnorm:  # xpnn's running average keeps 0.9 of the old value: torch's 0.1
            layers.append(nn.BatchNorm1d(n_out, eps=1e-6, momentum=0.1))
        layers.append(nn.ReLU())
        if case.dropout > 0:
            layers.append(nn.Dropout(case.dropout))
    layers.append(nn.Linear(case.sizes[-2], case.sizes[-1]))
    model = nn.Sequential(*layers).to(dev)
    for m in model.modules():
        if isinstance(m, nn.Linear):  # He: N(0, 2/n_in), biases 0, as xpnn's 'he'
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    model.train()
    opt = getattr(torch.optim, case.optimizer)(
        model.parameters(), lr=case.lr, **(optim_kwargs or {})
    )
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator(device=dev)
    gen.manual_seed(0)
    n = int(x.shape[0])

    def epoch() -> None:
        perm = torch.randperm(n, generator=gen, device=dev)
        losses = []
        for i in range(0, n, case.batch):
            idx = perm[i : i + case.batch]
            xb = x.index_select(0, idx)
            tb = t.index_select(0, idx)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), tb)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        float(torch.stack(losses).sum())  # one read, at the end (waits for the device)

    return epoch


def floor(case: Case, backend: xpnn.Backend, data: Data) -> Epoch:
    """Only the matrix products of an epoch, with the backend's own ``@`` (no xpnn code)."""
    rng = backend.rng(1)
    sizes = case.sizes
    counts: dict[int, int] = {}
    for b in batch_sizes(int(data.x.shape[0]), case.batch):
        counts[b] = counts.get(b, 0) + 1
    shapes = {
        b: [
            (
                rng.normal((b, n_in)),  # X, the layer's input
                rng.normal((n_in, n_out)),  # W
                rng.normal((b, n_out)),  # dY, the gradient of its output
            )
            for n_in, n_out in itertools.pairwise(sizes)
        ]
        for b in counts
    }

    def epoch() -> None:
        for b, count in counts.items():
            layers = shapes[b]
            for _ in range(count):
                for X, W, _dY in layers:
                    X @ W
                for i in range(len(layers) - 1, -1, -1):
                    X, W, dY = layers[i]
                    X.T @ dY
                    if i:
                        dY @ W.T
        backend.synchronize()

    return epoch


# -- timing --------------------------------------------------------------------------------
def run(
    make: Callable[[], Epoch],
    sync: Callable[[], None],
    clock: Callable[[], float] = time.perf_counter,
    times: list[float] | None = None,
) -> None:
    """Build (untimed), then time one epoch into ``times``."""
    epoch = make()
    sync()
    t0 = clock()
    epoch()
    sync()
    if times is not None:
        times.append(clock() - t0)


def warm_up(
    cases: list[Case],
    variants_of: Callable[[Case], list[str]],
    make: Callable[[Case, str, Data], Epoch],
    data: Data,
    sync: Callable[[], None],
    samples: int = 1_000,
) -> None:
    """Run every variant of every case once, untimed, on the first ``samples`` samples:
    first calls, BLAS and torch initialisation, CuPy's kernel compilation."""
    k = min(int(data.x.shape[0]), samples)
    host = (data.host[0][:k], data.host[1][:k])
    small = Data(data.x[:k, ...], data.t[:k], data.x_test, data.t_test, host)
    for case in cases:
        for v in variants_of(case):
            run(lambda case=case, v=v: make(case, v, small), sync)


def time_rounds(
    cases: list[Case],
    variants_of: Callable[[Case], list[str]],
    make: Callable[[Case, str, Data], Epoch],
    data: Data,
    sync: Callable[[], None],
    clock: Callable[[], float],
    repeats: int,
    deadline: float | None = None,
) -> dict[tuple[str, str], list[float]]:
    """Seconds per epoch of each (case name, variant), over ``repeats`` interleaved rounds.

    Each round runs every variant of every case once, the variants of a case in an order
    rotated by one each round. The floor (variant ``"floor"``) is the same for cases of the
    same shapes: it is timed once per shape per round and shared by those cases. With a
    ``deadline`` (a ``time.perf_counter()`` value), no round starts that would, at the
    previous round's pace, end after it; at least one round runs.
    """
    floor_key = {c.name: (c.sizes, c.batch) for c in cases}
    times: dict[tuple[str, str], list[float]] = {
        (c.name, v): [] for c in cases for v in variants_of(c)
    }
    floor_times: dict[Any, list[float]] = {key: [] for key in floor_key.values()}
    for r in range(repeats):
        start = time.perf_counter()
        floors_done: set[Any] = set()
        jobs = []
        for c in cases:
            vs = variants_of(c)
            shift = r % len(vs)  # rotate the order of the variants within each case
            jobs += [(c, v) for v in vs[shift:] + vs[:shift]]
        for case, v in jobs:
            if v == "floor":
                key = floor_key[case.name]
                if key in floors_done:
                    continue
                floors_done.add(key)
                run(lambda case=case: make(case, "floor", data), sync, clock, floor_times[key])
            else:
                record = times[(case.name, v)]
                run(lambda case=case, v=v: make(case, v, data), sync, clock, record)
        now = time.perf_counter()
        print(f"  round {r + 1}/{repeats}: {now - start:.1f} s", flush=True)
        if deadline is not None and r + 1 < repeats and now + (now - start) > deadline:
            print(f"  stopping after {r + 1} of {repeats} rounds: out of time", flush=True)
            break
    for c in cases:
        if "floor" in variants_of(c):
            times[(c.name, "floor")] = floor_times[floor_key[c.name]]
    return times


BUSY_ADVICE = (
    "Compare the min column, rerun on a quiet machine, base the ratios on the min "
    "(--stat min), or time CPU work alone (--threads 1 --clock cpu)."
)


def busy_note(times: dict[Any, list[float]], advice: str = BUSY_ADVICE) -> str | None:
    """A warning when one variant's epochs varied more than 1.3x between rounds."""
    spread = max(max(v) / min(v) for v in times.values() if v)
    if spread <= 1.3:
        return None
    return (
        f"note: one variant's epochs varied {spread:.1f}x between rounds: the machine was "
        f"busy (other processes?). {advice}"
    )


def threads_setup(args: argparse.Namespace, torch: Any) -> tuple[list[str], Any]:
    """Align numpy's BLAS threads and torch's; return lines for the header and the limiter
    (kept alive for the run)."""
    lines: list[str] = []
    limiter = None
    try:
        import threadpoolctl
    except ImportError:
        threadpoolctl = None
    blas = []
    if threadpoolctl is not None:
        blas = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    if args.threads:
        if threadpoolctl is not None:
            limiter = threadpoolctl.threadpool_limits(args.threads, user_api="blas")
            blas = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
        else:
            lines.append(
                "note: threadpoolctl is not installed: numpy's BLAS threads were not set "
                "(pip install threadpoolctl, or set OPENBLAS_NUM_THREADS)"
            )
        if torch is not None:
            torch.set_num_threads(args.threads)
    elif torch is not None:
        if blas:
            torch.set_num_threads(int(blas[0]["num_threads"]))
        else:
            lines.append(
                "note: threadpoolctl is not installed: cannot read numpy's BLAS threads; torch "
                "keeps its default"
            )
    for info in blas:
        lines.append(
            f"numpy BLAS: {info.get('internal_api')} {info.get('version')}, kernel "
            f"{info.get('architecture')}, {info.get('num_threads')} threads"
        )
    if not blas and threadpoolctl is None:
        try:
            cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
            lines.append(f"numpy BLAS: {cfg.get('name')} {cfg.get('version')} (from show_config)")
        except Exception:  # older numpy: no dict mode
            lines.append("numpy BLAS: unknown (install threadpoolctl to see it)")
    timeout = os.environ.get("OPENBLAS_THREAD_TIMEOUT", "unset: OpenBLAS's 28")
    lines.append(
        f"xpnn threads: {xpnn.get_num_threads()} (its NumPy kernels); OPENBLAS_THREAD_TIMEOUT="
        f"{timeout}"
    )
    core = os.environ.get("OPENBLAS_CORETYPE")
    if core:
        lines.append(
            f"note: OPENBLAS_CORETYPE={core} (OPENBLAS_L2_SIZE="
            f"{os.environ.get('OPENBLAS_L2_SIZE', 'unset')}) pins OpenBLAS's kernel; for the "
            "native one run with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`"
        )
    return lines, limiter


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--backend",
        default=None,
        help="xpnn backend (default XPNN_BACKEND, else numpy)",
    )
    ap.add_argument("--device", default=None, help="the backend's device (default its first)")
    ap.add_argument("--repeats", type=int, default=None, help="timed rounds (default 5; quick 3)")
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_SAMPLES:,} samples: a smoke run")
    ap.add_argument("--threads", type=int, default=None, help="numpy BLAS and torch threads")
    ap.add_argument("--cases", default=None, help="comma-separated case names (default all)")
    ap.add_argument(
        "--stat",
        default="median",
        choices=["median", "min"],
        help="statistic for img/s and ratios (default median)",
    )
    ap.add_argument(
        "--clock",
        default="wall",
        choices=["wall", "cpu"],
        help="wall: elapsed time (default); cpu: this process's CPU time, summed over its\n"
        "threads (CPU backends; with --threads 1 it ignores time lost to other processes)",
    )
    ap.add_argument("--no-torch", action="store_true", help="skip the torch variant")
    ap.add_argument("--data-dir", default=None, help="MNIST folder (default $XPNN_DATA/mnist)")
    ap.add_argument("--download", action="store_true", help="download MNIST if it is missing")
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 5)
    if repeats < 1:
        ap.error("--repeats must be at least 1")
    cases = CASES
    if args.cases:
        wanted = [c.strip().lower() for c in args.cases.split(",")]
        cases = [c for c in CASES if c.name.lower() in wanted]
        if len(cases) != len(wanted):
            ap.error(f"--cases: choose from {', '.join(c.name for c in CASES)}")

    backend = xpnn.get_backend(args.backend, args.device)
    clock = time.perf_counter
    if args.clock == "cpu":
        if not backend.is_cpu:
            ap.error("--clock cpu times CPU backends only: a GPU's work is not this process's")
        clock = time.process_time
    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("note: torch is not installed: timing xpnn and the floor only")
    if torch is not None and torch_device(backend).startswith("cuda"):

        def sync() -> None:
            backend.synchronize()
            torch.cuda.synchronize(torch_device(backend))
    else:
        sync = backend.synchronize
    thread_lines, _limiter = threads_setup(args, torch)

    x, t, xt, tt = load_data(args)
    data = Data(
        backend.asarray(x, dtype="float32"),
        backend.asarray(t, dtype="int64"),
        backend.asarray(xt, dtype="float32"),
        backend.asarray(tt, dtype="int64"),
        (x, t),
    )
    n = int(x.shape[0])
    import array_api_compat

    versions = [
        f"Python {platform.python_version()}",
        f"numpy {np.__version__}",
        f"array-api-compat {array_api_compat.__version__}",
        f"xpnn {xpnn.__version__}",
    ]
    if backend.name not in ("numpy",):
        versions.append(f"{backend.name} {backend._lib.__version__}")
    if torch is not None:
        versions.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {os.cpu_count()} CPUs, {cpu_name()}; {platform.system()}; "
        f"load average {load:.1f} at start"
    )
    print("versions: " + ", ".join(versions))
    for line in thread_lines:
        print(line)
    print(
        f"xpnn on {backend.name} ({backend.device}), float32; {n:,} training samples; "
        f"median of {repeats} interleaved rounds; clock: "
        + ("wall" if args.clock == "wall" else "process CPU time (all threads)")
    )

    makers: dict[str, Callable[[Case, Data], Epoch]] = {
        "floor": lambda c, d: floor(c, backend, d),
        "xpnn loop": lambda c, d: xpnn_loop(c, backend, d),
        "xpnn Trainer": lambda c, d: xpnn_trainer(c, backend, d),
    }
    if torch is not None:
        makers["torch"] = lambda c, d: torch_loop(c, backend, d, torch)
    if backend.name == "numpy":
        makers["numpy by hand"] = numpy_by_hand
    variants = [v for v in VARIANTS if v in makers]

    def make(case: Case, variant: str, d: Data) -> Epoch:
        return makers[variant](case, d)

    warm_up(cases, lambda c: variants, make, data, sync)
    times = time_rounds(cases, lambda c: variants, make, data, sync, clock, repeats)
    print_table(cases, variants, times, n, backend, args.stat)
    return 0


def print_table(
    cases: list[Case],
    variants: list[str],
    times: dict[tuple[str, str], list[float]],
    n: int,
    backend: xpnn.Backend,
    stat: str,
) -> None:
    """One row per case and variant: median and min seconds per epoch; images/s and the
    ratios from ``stat`` (median or min)."""
    lib = backend.name if backend.name in ("numpy", "cupy", "torch") else "xpnn.xp"
    label = {"floor": f"floor ({lib} @)", "torch": "torch eager"}
    pick = statistics.median if stat == "median" else min
    sec = {key: pick(v) for key, v in times.items()}
    print()
    header = (
        f"{'case':<10} {'variant':<16} {'median s':>8} {'min s':>7} {'img/s':>9} "
        f"{'xpnn/torch':>10} {'xpnn/floor':>10} {'xpnn/numpy':>10}"
    )
    print(header)
    print("-" * len(header))
    for case in cases:
        torch_s = sec.get((case.name, "torch"))
        floor_s = sec.get((case.name, "floor"))
        hand_s = sec.get((case.name, "numpy by hand"))
        for v in variants:
            key = (case.name, v)
            s = sec[key]
            line = (
                f"{case.name:<10} {label.get(v, v):<16} {statistics.median(times[key]):8.3f} "
                f"{min(times[key]):7.3f} {n / s:9,.0f}"
            )
            if v.startswith("xpnn"):
                line += f" {s / torch_s:10.2f}" if torch_s else f" {'-':>10}"
                line += f" {s / floor_s:10.2f}" if floor_s else f" {'-':>10}"
                line += f" {s / hand_s:10.2f}" if hand_s else ""
            elif v == "torch" and floor_s:
                line += f" {'':>10} {s / floor_s:10.2f}"
            print(line)
        print()
    gflop = ", ".join(f"{c.name} {2 * floor_flops(c, n) / 1e9:.0f}" for c in cases)
    print(f"img/s and ratios from the {stat}; torch's last column is torch/floor.")
    if any(v == "numpy by hand" for v in variants):
        print("numpy by hand: the same network written by hand in NumPy (numpy_mlp.py).")
    print(f"floor: the epoch's matrix products alone, GFLOP per epoch: {gflop}.")
    note = busy_note(times)
    if note:
        print(note)


def floor_flops(case: Case, n: int) -> float:
    """Multiply-adds of the floor's products over an epoch of ``n`` samples."""
    fwd = sum(a * b for a, b in itertools.pairwise(case.sizes))
    dx = fwd - case.sizes[0] * case.sizes[1]
    return n * (2 * fwd + dx)


if __name__ == "__main__":
    sys.exit(main())
