"""How to build the patches of a convolution on the Array API: slices or a gather, which layout.

    python benchmarks/bench_im2col.py                  # numpy, float32, 9 interleaved rounds
    python benchmarks/bench_im2col.py --threads 1      # numpy's BLAS and torch on one thread
    python benchmarks/bench_im2col.py --backend torch  # the same variants on torch's namespace
    python benchmarks/bench_im2col.py --quick          # a smoke run (small batch, 2 rounds)

Each variant is one forward + backward of a convolution layer (output, dx, dW, db), written
against the Array API (``array_api_compat``'s namespace of the backend), on two layers:

    Simple   SimpleConvNet's conv:  N=100, C=1, 28x28, FN=30, 5x5, stride 1, pad 0
    Deep     DeepConvNet's 3x3:     N=100, C=16, 28x28, FN=16, 3x3, stride 1, pad 1

Variants (the book's ``col`` is (N·OH·OW, C·FH·FW)):

    book col, slices + transpose  the FH·FW strided slices stacked as (N, C, FH·FW, OH, OW),
                                  permuted to the book's col; ``col @ W_col``, output
                                  transposed; col2im by FH·FW slice-adds (the book's layer)
    book col, gather              the same layer on xpnn.im2col/col2im: one ``xp.take`` with
                                  an index array writes col directly
    book col, channels-last       the input transposed to (N, H, W, C), its slices stacked on
                                  a last axis: the book's col without transposing col itself
    per-sample, stacked           patches per sample (N, C·FH·FW, OH·OW), which the stacked
                                  slices are without a copy; ``W_mat @ patches`` broadcast
                                  over N: N small matmuls per product, no transposes
    per-sample, gather            the same layout built with ``xp.take`` instead of slices
    xpnn: channel-major           what xpnn.Convolution does: the input viewed as
                                  (C, N, H, W), its slices stacked as (C·FH·FW, N·OH·OW)
                                  (the book's col transposed, without a copy): each product
                                  is one large matmul; output and dx are permuted views
    shifted matmuls               no patch matrix: Σ over (i, j) of ``W[:, :, i, j] @ slice``
                                  (the FH·FW slices kept from forward for backward, as a
                                  layer must; dx likewise, slice by slice)

and max pooling, forward + backward (SimpleConvNet's 2x2/2 on (100, 30, 24, 24),
DeepConvNet's 2x2/2 on (100, 16, 28, 28), an overlapping 3x3/2 with pad 1 on the latter):

    xpnn Pooling                  ``maximum`` over the window slices; backward walks the
                                  slices giving the unassigned gradient to the first maximum
    stack + argmax                the slices stacked, ``max`` and ``argmax`` over the window
                                  axis; backward adds ``dout · (argmax == k)`` per slice
    book (im2col + argmax)        the book's layer on xpnn.im2col/col2im, one-hot for
                                  the book's fancy-index scatter

References, where torch is installed: ``torch.nn.functional.conv2d`` and ``max_pool2d``,
forward + backward with autograd, on the CPU (or the backend's CUDA device).

Every variant is checked against the first before timing. Rounds are interleaved (each round
runs every variant once, in a rotating order); the table gives the median over rounds in ms,
and the ratio to the first variant of its table. ``--clock cpu`` times process CPU time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as device_of

import xpnn
from xpnn.conv import Convolution, Pooling, col2im, im2col

CONV_CASES = {
    "Simple 5x5": dict(n=100, c=1, h=28, w=28, fn=30, f=5, stride=1, pad=0),
    "Deep 3x3": dict(n=100, c=16, h=28, w=28, fn=16, f=3, stride=1, pad=1),
}
POOL_CASES = {
    "Simple 2x2/2": dict(n=100, c=30, h=24, w=24, p=2, stride=2, pad=0),
    "Deep 2x2/2": dict(n=100, c=16, h=28, w=28, p=2, stride=2, pad=0),
    "3x3/2 pad 1": dict(n=100, c=16, h=28, w=28, p=3, stride=2, pad=1),
}


# -- convolution variants: each returns f(x, W, b, dout) -> (out, dx, dW, db) --------------


def _pad(xp: Any, x: Any, pad: int, value: float = 0.0) -> Any:
    if pad == 0:
        return x
    n, c, h, w = x.shape
    out = xp.full((n, c, h + 2 * pad, w + 2 * pad), value, dtype=x.dtype, device=device_of(x))
    out[:, :, pad : pad + h, pad : pad + w] = x
    return out


def _sl(i: int, j: int, oh: int, ow: int, s: int) -> tuple[slice, ...]:
    return (slice(None), slice(None), slice(i, i + s * (oh - 1) + 1, s),
            slice(j, j + s * (ow - 1) + 1, s))  # fmt: skip


def _sizes(x: Any, W: Any, s: int, p: int) -> tuple[int, ...]:
    n, c, h, w = x.shape
    fn, _, fh, fw = W.shape
    return n, c, h, w, fn, fh, fw, (h + 2 * p - fh) // s + 1, (w + 2 * p - fw) // s + 1


def _book_layer(xp: Any, col: Any, W: Any, b: Any, dout: Any, sizes: tuple[int, ...],
                s: int, p: int) -> tuple[Any, ...]:  # fmt: skip
    """The book's Convolution from its col on: col @ W_col, transposes, col2im."""
    n, c, h, w, fn, fh, fw, oh, ow = sizes
    w_col = xp.matrix_transpose(xp.reshape(W, (fn, c * fh * fw)))
    out = col @ w_col + b
    out = xp.permute_dims(xp.reshape(out, (n, oh, ow, fn)), (0, 3, 1, 2))
    d = xp.reshape(xp.permute_dims(dout, (0, 2, 3, 1)), (n * oh * ow, fn))
    db = xp.sum(d, axis=0)
    dW = xp.reshape(xp.matrix_transpose(xp.matrix_transpose(col) @ d), (fn, c, fh, fw))
    dx = col2im(d @ xp.matrix_transpose(w_col), (n, c, h, w), fh, fw, s, p)
    return out, dx, dW, db


def conv_book_slices(s: int, p: int) -> Callable[..., tuple[Any, ...]]:
    def run(x, W, b, dout):
        xp = array_namespace(x)
        sizes = _sizes(x, W, s, p)
        n, c, _, _, _, fh, fw, oh, ow = sizes
        xpd = _pad(xp, x, p)
        st = xp.stack([xpd[_sl(i, j, oh, ow, s)] for i in range(fh) for j in range(fw)], axis=2)
        col6 = xp.permute_dims(xp.reshape(st, (n, c, fh, fw, oh, ow)), (0, 4, 5, 1, 2, 3))
        col = xp.reshape(col6, (n * oh * ow, c * fh * fw))
        return _book_layer(xp, col, W, b, dout, sizes, s, p)

    return run


def conv_book_gather(s: int, p: int) -> Callable[..., tuple[Any, ...]]:
    def run(x, W, b, dout):
        xp = array_namespace(x)
        sizes = _sizes(x, W, s, p)
        col = im2col(x, sizes[5], sizes[6], s, p)
        return _book_layer(xp, col, W, b, dout, sizes, s, p)

    return run


def conv_book_channels_last(s: int, p: int) -> Callable[..., tuple[Any, ...]]:
    def run(x, W, b, dout):
        xp = array_namespace(x)
        sizes = _sizes(x, W, s, p)
        n, c, _, _, _, fh, fw, oh, ow = sizes
        xt = xp.permute_dims(_pad(xp, x, p), (0, 2, 3, 1))
        rows = lambda i: slice(i, i + s * (oh - 1) + 1, s)  # noqa: E731
        cols = lambda j: slice(j, j + s * (ow - 1) + 1, s)  # noqa: E731
        st = xp.stack([xt[:, rows(i), cols(j), :] for i in range(fh) for j in range(fw)], axis=-1)
        col = xp.reshape(st, (n * oh * ow, c * fh * fw))
        return _book_layer(xp, col, W, b, dout, sizes, s, p)

    return run


def conv_xpnn(s: int, p: int) -> Callable[..., tuple[Any, ...]]:
    def run(x, W, b, dout):
        layer = Convolution(W, b, stride=s, pad=p)
        out = layer.forward(x)
        dx = layer.backward(dout)
        return out, dx, layer.dW, layer.db

    return run


def _per_sample_rest(xp, patches, W, b, dout, sizes, s, p):
    n, c, h, w, fn, fh, fw, oh, ow = sizes
    w_mat = xp.reshape(W, (fn, c * fh * fw))
    out = w_mat @ patches
    out += xp.reshape(b, (fn, 1))
    d = xp.reshape(dout, (n, fn, oh * ow))
    db = xp.sum(d, axis=(0, 2))
    dW = xp.reshape(xp.sum(d @ xp.matrix_transpose(patches), axis=0), (fn, c, fh, fw))
    dpatch = xp.reshape(xp.matrix_transpose(w_mat) @ d, (n, c, fh, fw, oh, ow))
    img = xp.zeros((n, c, h + 2 * p, w + 2 * p), dtype=dout.dtype, device=device_of(dout))
    for i in range(fh):
        for j in range(fw):
            img[_sl(i, j, oh, ow, s)] += dpatch[:, :, i, j, :, :]
    dx = img[:, :, p : p + h, p : p + w]
    return xp.reshape(out, (n, fn, oh, ow)), dx, dW, db


def conv_per_sample_stack(s: int, p: int) -> Callable[..., tuple[Any, ...]]:
    def run(x, W, b, dout):
        xp = array_namespace(x)
        sizes = _sizes(x, W, s, p)
        n, c, _, _, _, fh, fw, oh, ow = sizes
        xpd = _pad(xp, x, p)
        st = xp.stack([xpd[_sl(i, j, oh, ow, s)] for i in range(fh) for j in range(fw)], axis=2)
        patches = xp.reshape(st, (n, c * fh * fw, oh * ow))  # no copy: (N, C, K, OH, OW)
        return _per_sample_rest(xp, patches, W, b, dout, sizes, s, p)

    return run


def conv_per_sample_gather(s: int, p: int) -> Callable[..., tuple[Any, ...]]:
    cache: dict[tuple, Any] = {}

    def run(x, W, b, dout):
        xp = array_namespace(x)
        sizes = _sizes(x, W, s, p)
        n, c, h, w, _, fh, fw, oh, ow = sizes
        hp, wp = h + 2 * p, w + 2 * p
        key = (c, hp, wp, fh, fw, oh, ow)
        if key not in cache:  # built once, on the host, like a precomputed table
            ci = np.arange(c)[:, None, None, None, None] * hp
            oi = np.arange(oh)[None, None, None, :, None] * s
            oj = np.arange(ow)[None, None, None, None, :] * s
            fi = np.arange(fh)[None, :, None, None, None]
            fj = np.arange(fw)[None, None, :, None, None]
            flat = ((ci + oi + fi) * wp + oj + fj).reshape(-1)
            cache[key] = xp.asarray(flat, device=device_of(x))
        flat_x = xp.reshape(_pad(xp, x, p), (n, c * hp * wp))
        patches = xp.reshape(xp.take(flat_x, cache[key], axis=1), (n, c * fh * fw, oh * ow))
        return _per_sample_rest(xp, patches, W, b, dout, sizes, s, p)

    return run


def conv_shifted_matmuls(s: int, p: int) -> Callable[..., tuple[Any, ...]]:
    def run(x, W, b, dout):
        xp = array_namespace(x)
        n, c, h, w, fn, fh, fw, oh, ow = _sizes(x, W, s, p)
        xpd = _pad(xp, x, p)
        # forward, as a layer's: keep the FH·FW slices (copied by the reshape) for backward
        out = xp.zeros((n, fn, oh * ow), dtype=x.dtype, device=device_of(x))
        kept = []
        for i in range(fh):
            for j in range(fw):
                sl = xp.reshape(xpd[_sl(i, j, oh, ow, s)], (n, c, oh * ow))
                out += W[:, :, i, j] @ sl
                kept.append(sl)
        out += xp.reshape(b, (fn, 1))
        # backward
        d = xp.reshape(dout, (n, fn, oh * ow))
        db = xp.sum(d, axis=(0, 2))
        dW = xp.zeros(W.shape, dtype=W.dtype, device=device_of(x))
        img = xp.zeros(xpd.shape, dtype=x.dtype, device=device_of(x))
        for i in range(fh):
            for j in range(fw):
                sl = kept[i * fw + j]
                dW[:, :, i, j] = xp.sum(d @ xp.matrix_transpose(sl), axis=0)
                dsl = xp.matrix_transpose(W[:, :, i, j]) @ d
                img[_sl(i, j, oh, ow, s)] += xp.reshape(dsl, (n, c, oh, ow))
        return xp.reshape(out, (n, fn, oh, ow)), img[:, :, p : p + h, p : p + w], dW, db

    return run


CONV_VARIANTS = {
    "book col, slices + transpose": conv_book_slices,
    "book col, gather (xp.take)": conv_book_gather,
    "book col, channels-last stack": conv_book_channels_last,
    "per-sample (N, CK, P), stacked": conv_per_sample_stack,
    "per-sample (N, CK, P), gather": conv_per_sample_gather,
    "xpnn: channel-major (CK, N·P)": conv_xpnn,
    "sum of shifted matmuls": conv_shifted_matmuls,
}


# -- pooling variants: f(x, dout) -> (out, dx) ------------------------------------------------


def pool_xpnn(k: int, s: int, p: int) -> Callable[..., tuple[Any, ...]]:
    def run(x, dout):
        layer = Pooling(k, k, stride=s, pad=p)
        return layer.forward(x), layer.backward(dout)

    return run


def pool_stack_argmax(k: int, s: int, p: int) -> Callable[..., tuple[Any, ...]]:
    def run(x, dout):
        xp = array_namespace(x)
        _, _, h, w = x.shape
        oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        xpd = _pad(xp, x, p, -float("inf"))
        st = xp.stack([xpd[_sl(i, j, oh, ow, s)] for i in range(k) for j in range(k)], axis=2)
        out, arg = xp.max(st, axis=2), xp.argmax(st, axis=2)
        dx = xp.zeros(xpd.shape, dtype=x.dtype, device=device_of(x))
        for i in range(k):
            for j in range(k):
                dx[_sl(i, j, oh, ow, s)] += dout * xp.astype(arg == i * k + j, dout.dtype)
        return out, dx[:, :, p : p + h, p : p + w]

    return run


def pool_book(k: int, s: int, p: int) -> Callable[..., tuple[Any, ...]]:
    def run(x, dout):
        xp = array_namespace(x)
        n, c, h, w = x.shape
        oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        xpd = _pad(xp, x, p, -float("inf"))  # the book pads with zeros; -inf never wins
        col = xp.reshape(im2col(xpd, k, k, s, 0), (n * oh * ow * c, k * k))
        arg = xp.argmax(col, axis=1)
        out = xp.permute_dims(xp.reshape(xp.max(col, axis=1), (n, oh, ow, c)), (0, 3, 1, 2))
        d = xp.reshape(xp.permute_dims(dout, (0, 2, 3, 1)), (n * oh * ow * c, 1))
        ks = xp.arange(k * k, device=device_of(x))
        dmax = xp.astype(arg[:, None] == ks, dout.dtype) * d
        dx = col2im(xp.reshape(dmax, (n * oh * ow, c * k * k)), xpd.shape, k, k, s, 0)
        dx = dx[:, :, p : p + h, p : p + w]
        return out, dx

    return run


POOL_VARIANTS = {
    "xpnn Pooling (maximum chain)": pool_xpnn,
    "stack + max + argmax": pool_stack_argmax,
    "book (im2col + argmax)": pool_book,
}


# -- torch references ---------------------------------------------------------------------------


def torch_conv(torch: Any, s: int, p: int) -> Callable[..., tuple[Any, ...]]:
    F = torch.nn.functional

    def run(x, W, b, dout):
        x = x.detach().requires_grad_()
        W = W.detach().requires_grad_()
        b = b.detach().requires_grad_()
        out = F.conv2d(x, W, b, stride=s, padding=p)
        out.backward(dout)
        return out, x.grad, W.grad, b.grad

    return run


def torch_pool(torch: Any, k: int, s: int, p: int) -> Callable[..., tuple[Any, ...]]:
    F = torch.nn.functional

    def run(x, dout):
        x = x.detach().requires_grad_()
        out = F.max_pool2d(x, k, stride=s, padding=p)
        out.backward(dout)
        return out, x.grad

    return run


# -- timing -----------------------------------------------------------------------------------


def time_rounds(fns: dict[str, Callable[[], Any]], rounds: int, clock: Callable[[], float],
                syncs: dict[str, Callable[[], None]]) -> dict[str, list[float]]:  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for name in names:  # warm-up: allocations, caches, lazy imports
        fns[name]()
        syncs[name]()
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            t0 = clock()
            fns[name]()
            syncs[name]()
            times[name].append(clock() - t0)
    return times


def print_table(title: str, cases: list[str], table: dict[str, dict[str, list[float]]],
                base: str) -> None:  # fmt: skip
    rows = list(next(iter(table.values())))
    width = max(len(r) for r in rows)
    print(f"\n{title}: forward + backward, median ms (ratio to '{base}')")
    print(f"{'variant':<{width}}  " + "  ".join(f"{c:>20}" for c in cases))
    for row in rows:
        cells = []
        for case in cases:
            t = statistics.median(table[case][row]) * 1e3
            b = statistics.median(table[case][base]) * 1e3
            cells.append(f"{t:9.2f} ms  x{t / b:5.2f}")
        print(f"{row:<{width}}  " + "  ".join(f"{c:>20}" for c in cells))


def check_same(ref: tuple[Any, ...], got: tuple[Any, ...], what: str) -> None:
    """Every result of a variant within 1e-3 (of the largest value) of the first variant's."""
    for k, (a, b) in enumerate(zip(ref, got, strict=True)):
        a, b = host(a), host(b)
        scale = max(float(np.abs(a).max()), 1e-30)
        if a.shape != b.shape or float(np.abs(a - b).max()) > 1e-3 * scale:
            raise SystemExit(f"{what}: result {k} differs from the first variant's")


def host(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor, maybe on CUDA
        a = a.detach().cpu()
    return xpnn.backend_of(a).to_numpy(a).astype(np.float64)


def threads_setup(threads: int | None, torch: Any) -> tuple[str, Any]:
    try:
        import threadpoolctl
    except ImportError:
        threadpoolctl = None
    limiter = None
    if threads:
        if threadpoolctl is not None:
            limiter = threadpoolctl.threadpool_limits(threads, user_api="blas")
        else:
            note = "note: threadpoolctl is not installed: numpy's BLAS threads were not set"
            print(f"{note} (pip install threadpoolctl, or set OPENBLAS_NUM_THREADS)")
        if torch is not None:
            torch.set_num_threads(threads)
    blas = "unknown (pip install threadpoolctl)"
    if threadpoolctl is not None:
        info = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
        if info:
            blas = f"{info[0].get('internal_api')} {info[0].get('num_threads')} threads"
    tt = f", torch {torch.get_num_threads()} threads" if torch is not None else ""
    return f"BLAS: {blas}{tt}", limiter


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default=None, help="xpnn backend (default: XPNN_BACKEND)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--threads", type=int, default=None, help="numpy BLAS and torch threads")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    ap.add_argument("--quick", action="store_true", help="batch 10, 2 rounds: a smoke run")
    ap.add_argument("--no-torch", action="store_true", help="skip the torch references")
    args = ap.parse_args(argv)
    backend = xpnn.get_backend(args.backend) if args.backend else xpnn.backend
    rounds = 2 if args.quick else args.rounds
    try:
        import torch
    except ImportError:
        torch = None
    if args.no_torch:
        torch = None
    thread_line, _limiter = threads_setup(args.threads, torch)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    torch_dev = "cpu"
    if backend.name in ("cupy", "torch") and not backend.is_cpu:
        torch_dev = "cuda"
    print(f"backend {backend.name} ({backend.device}), {args.dtype}, {rounds} interleaved "
          f"rounds, clock {args.clock}; numpy {np.__version__}; {thread_line}")  # fmt: skip
    sync = backend.synchronize
    tsync = (lambda: torch.cuda.synchronize()) if torch_dev == "cuda" else (lambda: None)
    rng = np.random.default_rng(0)

    def on(a: np.ndarray) -> Any:
        return backend.asarray(a.astype(args.dtype))

    conv_table: dict[str, dict[str, list[float]]] = {}
    for case, cfg in CONV_CASES.items():
        n = 10 if args.quick else cfg["n"]
        c, h, w, fn, f, s, p = (cfg[k] for k in ("c", "h", "w", "fn", "f", "stride", "pad"))
        host = {
            "x": rng.normal(size=(n, c, h, w)),
            "W": rng.normal(size=(fn, c, f, f)) * 0.1,
            "b": rng.normal(size=fn),
            "dout": rng.normal(size=(n, fn, (h + 2 * p - f) // s + 1, (w + 2 * p - f) // s + 1)),
        }
        a = {k: on(v) for k, v in host.items()}
        fns, syncs = {}, {}
        ref = None
        for name, make in CONV_VARIANTS.items():
            run = make(s, p)
            got = run(a["x"], a["W"], a["b"], a["dout"])
            ref = got if ref is None else ref
            check_same(ref, got, f"{case}: {name}")
            fns[name] = lambda run=run, a=a: run(a["x"], a["W"], a["b"], a["dout"])
            syncs[name] = sync
        if torch is not None:
            t = {
                k: torch.as_tensor(v.astype(args.dtype), device=torch_dev) for k, v in host.items()
            }
            run = torch_conv(torch, s, p)
            got = run(t["x"], t["W"], t["b"], t["dout"])
            check_same(ref, got, f"{case}: torch")
            fns["torch conv2d (autograd)"] = lambda run=run, t=t: run(t["x"], t["W"], t["b"],
                                                                     t["dout"])  # fmt: skip
            syncs["torch conv2d (autograd)"] = tsync
        conv_table[case] = time_rounds(fns, rounds, clock, syncs)
    print_table("Convolution", list(CONV_CASES), conv_table, "book col, slices + transpose")

    pool_table: dict[str, dict[str, list[float]]] = {}
    for case, cfg in POOL_CASES.items():
        n = 10 if args.quick else cfg["n"]
        c, h, w, k, s, p = (cfg[key] for key in ("c", "h", "w", "p", "stride", "pad"))
        oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        host = {"x": rng.normal(size=(n, c, h, w)), "dout": rng.normal(size=(n, c, oh, ow))}
        a = {key: on(v) for key, v in host.items()}
        fns, syncs = {}, {}
        ref = None
        for name, make in POOL_VARIANTS.items():
            run = make(k, s, p)
            got = run(a["x"], a["dout"])
            ref = got if ref is None else ref
            check_same(ref, got, f"{case}: {name}")
            fns[name] = lambda run=run, a=a: run(a["x"], a["dout"])
            syncs[name] = sync
        if torch is not None:
            t = {key: torch.as_tensor(v.astype(args.dtype), device=torch_dev)
                 for key, v in host.items()}  # fmt: skip
            run = torch_pool(torch, k, s, p)
            got = run(t["x"], t["dout"])
            check_same(ref, got, f"{case}: torch")
            fns["torch max_pool2d (autograd)"] = lambda run=run, t=t: run(t["x"], t["dout"])
            syncs["torch max_pool2d (autograd)"] = tsync
        pool_table[case] = time_rounds(fns, rounds, clock, syncs)
    print_table("Max pooling", list(POOL_CASES), pool_table, "xpnn Pooling (maximum chain)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
