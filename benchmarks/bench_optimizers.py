"""One optimizer update over a 10-million-parameter dict: xpnn against torch.optim.

    python benchmarks/bench_optimizers.py                       # xpnn on NumPy vs torch CPU
    python benchmarks/bench_optimizers.py --backend torch       # both on torch (CPU)
    python benchmarks/bench_optimizers.py --backend cupy        # CuPy vs torch on the GPU

The parameters are a few large arrays (80 % of them, in 4 arrays) and many small ones (20 %,
in 400 arrays), float32 by default. For Adam and Momentum it times one ``update`` of xpnn and
one ``step`` of torch.optim on the same device (torch's default implementation, which is the
per-tensor loop on the CPU and ``foreach`` on CUDA, and its ``foreach`` and ``fused`` ones
explicitly), all in one run, and prints the median of ``--repeats`` timings.

Memory traffic: an update must at least read the parameter, its gradient and its state and
write the parameter and its state: 7 arrays for Adam, 5 for Momentum. ``GB/s`` is that
minimum divided by the time, and ``% copy`` compares it with the copy bandwidth measured here
(the faster of the backend's and torch's copy of a 256 MiB array on the same device, counting
its read and its write).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import xpnn
from xpnn.optimizers import Adam, Momentum

# (name, xpnn optimizer, torch optimizer, arrays read or written per element at the least)
CASES = [
    ("Adam", lambda: Adam(lr=1e-3), ("Adam", {"lr": 1e-3}), 7),
    (
        "Momentum",
        lambda: Momentum(lr=0.01, momentum=0.9),
        ("SGD", {"lr": 0.01, "momentum": 0.9}),
        5,
    ),
]

ITEMSIZE = {"float32": 4, "float64": 8}


def layout(total: int) -> list[tuple[int, ...]]:
    """4 large arrays holding 80 % of ``total`` parameters and 400 small ones holding 20 %."""
    large = total * 4 // 5 // 4
    cols = 1000 if large % 1000 == 0 else 1
    small = (total - 4 * large) // 400
    shapes = [(large // cols, cols)] * 4 + [(small,)] * 400
    return shapes


def timed(fn: Callable[[], Any], sync: Callable[[], None], repeats: int, warmup: int = 3) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def copy_bandwidth(backend: xpnn.Backend, dtype: str, repeats: int) -> float:
    """Bytes per second of a 256 MiB device copy, counting its read and its write."""
    xp = backend.xp
    n = 64 * 2**20
    src = xp.ones(n, dtype=backend.dtype(dtype), device=backend.device)
    dst = xp.zeros(n, dtype=backend.dtype(dtype), device=backend.device)

    def copy() -> None:
        dst[...] = src

    return 2 * n * ITEMSIZE[dtype] / timed(copy, backend.synchronize, repeats)


def torch_device(backend: xpnn.Backend) -> str:
    if backend.name == "torch":
        return str(backend.device)
    if backend.name == "cupy":
        return f"cuda:{backend.device.id}"
    return "cpu"


def time_torch(torch: Any, backend: xpnn.Backend, args: Any, params: dict, grads: dict):
    """Seconds per ``step`` of torch.optim's default, foreach and fused implementations, on
    copies of ``params`` and ``grads`` on the torch device matching ``backend``."""
    dev = torch_device(backend)
    dtype = getattr(torch, args.dtype)
    tparams = [torch.tensor(backend.to_numpy(p), dtype=dtype, device=dev) for p in params.values()]
    for tp, g in zip(tparams, grads.values(), strict=True):
        tp.grad = torch.tensor(backend.to_numpy(g), dtype=dtype, device=dev)

    def sync() -> None:
        if dev.startswith("cuda"):
            torch.cuda.synchronize(dev)

    out: dict[str, list[tuple[str, float]]] = {}
    for name, _, (torch_name, kwargs), _ in CASES:
        out[name] = []
        for impl, extra in (
            ("default", {}),
            ("foreach", {"foreach": True}),
            ("fused", {"fused": True}),
        ):
            label = f"torch.optim.{torch_name} {impl}"
            try:
                topt = getattr(torch.optim, torch_name)(tparams, **kwargs, **extra)
                out[name].append((label, timed(topt.step, sync, args.repeats)))
            except (RuntimeError, TypeError, ValueError) as exc:
                print(f"{label}: unavailable ({exc})")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--backend", default="numpy", help="xpnn backend (default numpy)")
    ap.add_argument("--device", default=None, help="the backend's device (default its first)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--params", type=int, default=10_000_000, help="parameters in all")
    ap.add_argument("--repeats", type=int, default=11, help="timed updates per row")
    ap.add_argument("--no-torch", action="store_true", help="time xpnn only")
    args = ap.parse_args(argv)

    backend = xpnn.get_backend(args.backend, args.device)
    dtype = backend.dtype(args.dtype)
    shapes = layout(args.params)
    total = sum(math.prod(s) for s in shapes)
    itemsize = ITEMSIZE[args.dtype]
    rng = backend.rng(0)
    params = {f"p{i}": rng.normal(s, std=0.1, dtype=dtype) for i, s in enumerate(shapes)}
    grads = {k: rng.normal(v.shape, std=0.01, dtype=dtype) for k, v in params.items()}

    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("torch is not installed: timing xpnn only")

    bandwidth = copy_bandwidth(backend, args.dtype, args.repeats)
    if torch is not None and backend.name != "torch":  # torch's copy may use more threads
        torch_backend = xpnn.get_backend("torch", torch_device(backend))
        bandwidth = max(bandwidth, copy_bandwidth(torch_backend, args.dtype, args.repeats))
    print(
        f"xpnn on {backend.name} ({backend.device}), {args.dtype}: {total:,} parameters in "
        f"{len(shapes)} arrays (4 x {shapes[0]}, 400 x {shapes[-1]}); {os.cpu_count()} CPUs"
        + (f", torch {torch.__version__} with {torch.get_num_threads()} threads" if torch else "")
    )
    print(f"copy bandwidth on this device: {bandwidth / 1e9:.1f} GB/s (read + write, best copy)")
    print(f"median of {args.repeats} updates each\n")

    timings: dict[str, list[tuple[str, float]]] = {}
    for name, make_xpnn, _, _ in CASES:
        opt = make_xpnn()
        seconds = timed(
            lambda opt=opt: opt.update(params, grads), backend.synchronize, args.repeats
        )
        timings[name] = [(f"xpnn ({backend.name})", seconds)]
    if torch is not None:
        for name, seconds in time_torch(torch, backend, args, params, grads).items():
            timings[name] += seconds

    header = f"{'optimizer':<9} {'implementation':<28} {'ms/update':>9} {'xpnn/this':>9}"
    header += f" {'GB/s':>7} {'% copy':>7}"
    print(header)
    print("-" * len(header))
    for name, _, _, arrays in CASES:
        min_bytes = arrays * total * itemsize
        ours = timings[name][0][1]
        for label, seconds in timings[name]:
            gbs = min_bytes / seconds / 1e9
            print(
                f"{name:<9} {label:<28} {seconds * 1e3:9.2f} {ours / seconds:9.2f} "
                f"{gbs:7.1f} {100 * gbs * 1e9 / bandwidth:6.0f}%"
            )
    print(
        "\nGB/s counts the least traffic an update needs (Adam: read p, g, m, v and write p, m, v;"
        "\nMomentum: read p, g, v and write p, v). xpnn's operators each make a pass of their own"
        "\n(Adam 28, Momentum 10, per parameter); on NumPy it runs them block by block so that"
        "\nthe extra passes stay in the cache."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
