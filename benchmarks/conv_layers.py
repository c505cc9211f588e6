"""Per-layer times of a convnet's training step on each xpnn CPU path, and how much of the
step runs outside matrix products (``bench_conv.py --layers``).

For each backend given (NumPy's) and each thread count, the same
network (same seed) takes ``steps`` training steps (``net.gradient`` + ``Adam.update``) on
one batch of real images; the rounds interleave the backends and thread counts. Each
layer's ``forward``/``forward_with`` and ``backward`` is timed (wall clock), and inside it
the time spent in the backend's kernel-seam operations (patches, col2im, pooling, bias +
activation, activation backward, softmax, dropout) and in the shifted-rows convolution's
copies and additions (:data:`ROW_COPIES`): everything else a layer does is its matrix
products (and a few reshapes). A pooling's ``backward_after`` (the ReLU before it folded
in) is its backward row. The Adam update is its own row (a seam operation,
elementwise). "Outside matmuls" is the seam operations' share of the step.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import xpnn
from xpnn.backends import SEAM, numpy_conv_pool
from xpnn.conv_pool import ConvReluPool
from xpnn.ops import conv_rows

#: The functions of the shifted-rows convolution (:mod:`xpnn.ops.conv_rows`) that copy or
#: add arrays, timed with the kernel-seam operations: the rest of that path is its products.
ROW_COPIES = ("layout", "shifts", "combine")

#: The elementwise parts of NumPy's conv + ReLU + pooling kernel
#: (:mod:`xpnn.backends.numpy_conv_pool`), timed with the seam operations likewise.
BLOCK_PARTS = ("pool_patches", "pool_max_relu", "window_grads")

Times = dict[str, list[float]]  # "Conv1 fwd", "Conv1 fwd kernels", ..., "step" -> seconds


@contextmanager
def instrumented(net: Any, backend: xpnn.Backend, times: defaultdict) -> Iterator[None]:
    """Time each layer's passes into ``times`` (added up within a step), and the seam
    operations inside them, while the block runs; everything is put back after."""
    current = ["update"]
    seam_originals = {name: getattr(backend, name) for name in SEAM}
    # the row path's copies and additions and the block's elementwise parts: outside
    # matmuls too, timed as the seam operations are
    copies = [(module, name, getattr(module, name))
              for module, names in ((conv_rows, ROW_COPIES), (numpy_conv_pool, BLOCK_PARTS))
              for name in names]  # fmt: skip

    def seam(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return f(*args, **kwargs)
            finally:
                times[current[0] + " kernels"] += time.perf_counter() - t0

        return timed

    def layer(label: str, f: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if current[0] != "update":  # inside a pass already (backward_after's backward)
                return f(*args, **kwargs)
            current[0] = label
            t0 = time.perf_counter()
            try:
                return f(*args, **kwargs)
            finally:
                times[label] += time.perf_counter() - t0
                current[0] = "update"

        return timed

    for name, f in seam_originals.items():
        setattr(backend, name, seam(name, f))
    for module, name, f in copies:
        setattr(module, name, seam(name, f))
    names = {id(obj): lname for lname, obj in net.layers.items()}

    block_passes = {meth: getattr(ConvReluPool, meth) for meth in ("forward", "backward")}

    def block(meth: str, tag: str) -> Callable[..., Any]:
        """A block's pass, one row named after its layers ("Conv1+Relu1+Pool1 fwd")."""
        original = block_passes[meth]

        def timed(self: ConvReluPool, *args: Any, **kwargs: Any) -> Any:
            parts = (self.conv, self.relu, self.pool)
            label = "+".join(names.get(id(p), "?") for p in parts) + f" {tag}"
            return layer(label, original)(self, *args, **kwargs)

        return timed

    for meth, tag in (("forward", "fwd"), ("backward", "bwd")):
        setattr(ConvReluPool, meth, block(meth, tag))
    wrapped = []
    for lname, obj in net.layers.items():
        passes = (("forward", "fwd"), ("forward_with", "fwd"), ("backward", "bwd"),
                  ("backward_after", "bwd"))  # fmt: skip
        for meth, tag in passes:
            if hasattr(obj, meth):
                setattr(obj, meth, layer(f"{lname} {tag}", getattr(obj, meth)))
                wrapped.append((obj, meth))
    try:
        yield
    finally:
        for name in seam_originals:
            delattr(backend, name)  # the class's own method again
        for module, name, f in copies:
            setattr(module, name, f)
        for meth, f in block_passes.items():
            setattr(ConvReluPool, meth, f)
        for obj, meth in wrapped:
            delattr(obj, meth)


def measure(backend: xpnn.Backend, deep: bool, x: Any, t: Any, steps: int) -> dict[str, float]:
    """Seconds per step of each layer pass, its kernels, the update and the whole step."""
    network = xpnn.DeepConvNet if deep else xpnn.SimpleConvNet
    net = network(seed=0, backend=backend)
    opt = xpnn.Adam(lr=1e-3)
    xb, tb = backend.asarray(x), backend.asarray(t)
    for _ in range(2):  # first calls: buffers, compilation
        opt.update(net.params, net.gradient(xb, tb))
    times: defaultdict = defaultdict(float)
    with instrumented(net, backend, times):
        t0 = time.perf_counter()
        for _ in range(steps):
            grads = net.gradient(xb, tb)
            u0 = time.perf_counter()
            opt.update(net.params, grads)
            times["update"] += time.perf_counter() - u0
        times["step"] = time.perf_counter() - t0
    return {k: v / steps for k, v in times.items()}


def print_layers(title: str, columns: dict[str, list[dict[str, float]]]) -> None:
    """A table: a row per layer pass, per column (backend and threads) its median ms and
    the kernels' ms inside it; then the step and the share outside matrix products."""
    med = {c: _medians(rounds) for c, rounds in columns.items()}
    first = next(iter(med.values()))
    rows = [k for k in first if not k.endswith(" kernels") and k not in ("step", "update")]
    rows.append("update")
    width = max(len(c) for c in columns) + 12
    w0 = max(14, *(len(row) + 1 for row in rows))
    print(f"\n{title}\n{'layer pass':<{w0}}" + "".join(f"{c + ' ms (kern)':>{width}}" for c in med))
    for row in rows:
        cells = [f"{m.get(row, 0) * 1e3:.2f} ({m.get(row + ' kernels', 0) * 1e3:.2f})"
                 for m in med.values()]  # fmt: skip
        print(f"{row:<{w0}}" + "".join(f"{c:>{width}}" for c in cells))
    steps = [f"{m['step'] * 1e3:.1f}" for m in med.values()]
    print(f"{'step':<{w0}}" + "".join(f"{c:>{width}}" for c in steps))
    shares = [f"{100 * _outside(m):.0f} %" for m in med.values()]
    print(f"{'outside @':<{w0}}" + "".join(f"{c:>{width}}" for c in shares))


def _medians(rounds: list[dict[str, float]]) -> dict[str, float]:
    keys = list(dict.fromkeys(k for r in rounds for k in r))
    return {k: statistics.median(r.get(k, 0.0) for r in rounds) for k in keys}


def _outside(m: dict[str, float]) -> float:
    """The seam operations' share of the step: the time outside matrix products."""
    return sum(v for k, v in m.items() if k.endswith(" kernels")) / m["step"]
