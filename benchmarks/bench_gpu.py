"""One MNIST epoch and one Adam update on a GPU: xpnn on CuPy beside PyTorch CUDA eager.

    python benchmarks/bench_gpu.py                          # CuPy vs torch CUDA, full MNIST
    python benchmarks/bench_gpu.py --quick --out gpu.md     # 5,000 samples, 2 rounds, Markdown
    python benchmarks/bench_gpu.py --backend numpy --torch-device cpu --quick   # on a CPU

The epoch cases are bench_mlp.py's (ReLU, He init, float32, every sample once per epoch):
784-100x5-10 at batch 100 with SGD lr 0.01, Adam, Adam + BatchNorm, Adam + Dropout 0.2, and
784-1000-1000-10 at batch 256 with Adam. Each is timed as

    floor          the epoch's matrix products alone, in the backend's own library
    xpnn Trainer   ``Trainer(net, ..., epochs=1, verbose=False).train()``
    xpnn loop      the loop by hand, losses read once at the end
    torch default  PyTorch eager on ``--torch-device``, torch.optim's default implementation
    torch foreach  the same with ``foreach=True``   (Adam cases)
    torch fused    the same with ``fused=True``     (Adam cases)

with bench_mlp.py's protocol: data on the device once, every variant warmed up untimed
(CuPy compiles its kernels on first use), then interleaved rounds (every variant of every
case once per round, in a rotating order), the device synchronised (``backend.synchronize()``
and ``torch.cuda.synchronize()``) before each clock stops; medians and mins over rounds.

Array operations per step come from ``benchmarks/opcount.py`` (``count_step_ops(case_name)``)
when that module exists, else "n/a".

The Adam update: one ``update`` over 10 M float32 parameters (bench_optimizers.py's layout:
4 large arrays and 400 small ones) for xpnn and torch.optim's three implementations. Its
effective bandwidth counts the least traffic an update needs (read p, g, m, v; write p, m, v:
7 x 4 bytes per parameter) over its time, against the copy bandwidth of this device (a
256 MiB device-to-device copy, its read and its write counted; the faster of the backend's
and torch's).

MNIST is read from ``--data-dir``, else ``$XPNN_DATA/mnist``, else ``~/.cache/xpnn/mnist``
(never downloaded); without it, random data of MNIST's shape, with a note. ``--limit N``
times the first N samples, ``--update-params N`` sizes the update (the CPU dry run of
gpu_check.sh uses 2,000 and 1 M), ``--max-seconds S`` starts no round that would end after
about S seconds (at least one runs). Every section is printed, and written to ``--out``,
as soon as it is measured.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import bench_mlp as mlp
import numpy as np
from bench_optimizers import ITEMSIZE, copy_bandwidth, layout, timed

import xpnn

QUICK_ROUNDS = 2
FULL_ROUNDS = 5
UPDATE_PARAMS = 10_000_000
ADAM_ARRAYS = 7  # read p, g, m, v; write p, m, v
TORCH_FORMS = {
    "torch default": {},
    "torch foreach": {"foreach": True},
    "torch fused": {"fused": True},
}
OP_KEYS = ("forward_backward", "update", "total")


# -- Markdown ------------------------------------------------------------------------------
def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table, its columns padded so that it also reads as plain text."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [
        line(r) for r in rows
    ]


# -- what runs where -----------------------------------------------------------------------
def load_torch(device: str) -> tuple[Any, list[str]]:
    """torch, or None and a note when it is missing or has no such device."""
    try:
        import torch
    except ImportError:
        return None, ["note: torch is not installed: the torch columns are skipped"]
    try:
        torch.zeros(1, device=device)
    except (RuntimeError, AssertionError) as exc:  # no CUDA build, no device
        first = str(exc).splitlines()[0]
        return None, [f"note: torch cannot use device {device!r} ({first}): torch skipped"]
    return torch, []


def torch_forms(torch: Any, device: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The torch.optim.Adam implementations this torch offers on ``device``."""
    forms, notes = {}, []
    for label, kwargs in TORCH_FORMS.items():
        try:
            p = torch.zeros(1, device=device, requires_grad=True)
            torch.optim.Adam([p], lr=1e-3, **kwargs)
            forms[label] = kwargs
        except (RuntimeError, TypeError, ValueError) as exc:
            notes.append(f"note: {label} unavailable on {device} ({exc}): skipped")
    return forms, notes


def variants_of(case: mlp.Case, forms: dict[str, Any]) -> list[str]:
    torch_variants = [v for v in forms if case.optimizer == "Adam" or v == "torch default"]
    return ["floor", *torch_variants, "xpnn loop", "xpnn Trainer"]


def environment(backend: xpnn.Backend, torch: Any, torch_device: str) -> list[str]:
    """Header lines: machine, versions, devices."""
    import array_api_compat

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    lines = [
        f"- machine: {os.cpu_count()} CPUs, {mlp.cpu_name()}; {platform.system()}; "
        f"load average {load:.1f} at start",
        f"- Python {platform.python_version()}, numpy {np.__version__}, array-api-compat "
        f"{array_api_compat.__version__}, xpnn {xpnn.__version__}",
    ]
    if backend.name == "cupy":
        import cupy

        dev = backend.device
        props = cupy.cuda.runtime.getDeviceProperties(dev.id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        lines.append(
            f"- xpnn on CuPy {cupy.__version__}, CUDA runtime "
            f"{cupy.cuda.runtime.runtimeGetVersion()}, driver "
            f"{cupy.cuda.runtime.driverGetVersion()}, device {dev.id}: {name}"
        )
    elif backend.name != "numpy":
        lib = importlib.import_module(backend.name)
        lines.append(f"- xpnn on {backend.name} {getattr(lib, '__version__', '?')}")
    else:
        lines.append("- xpnn on numpy")
    lines[-1] += f" ({backend.device})"
    if torch is not None:
        where = torch_device
        if torch_device.startswith("cuda"):
            where += f": {torch.cuda.get_device_name(torch.device(torch_device))}"
        lines.append(
            f"- torch {torch.__version__} (CUDA {torch.version.cuda}) on {where}, "
            f"{torch.get_num_threads()} CPU threads"
        )
    return lines


# -- the Adam update -----------------------------------------------------------------------
def update_rows(
    backend: xpnn.Backend,
    torch: Any,
    torch_device: str,
    forms: dict[str, Any],
    repeats: int,
    size: int = UPDATE_PARAMS,
) -> tuple[list[list[str]], list[str]]:
    """Rows of the Adam-update table (``size`` parameters) and the lines above it."""
    shapes = layout(size)
    total = sum(math.prod(s) for s in shapes)
    rng = backend.rng(0)
    f32 = backend.dtype("float32")
    params = {f"p{i}": rng.normal(s, std=0.1, dtype=f32) for i, s in enumerate(shapes)}
    grads = {k: rng.normal(v.shape, std=0.01, dtype=f32) for k, v in params.items()}

    bandwidth = copy_bandwidth(backend, "float32", repeats)
    copies = f"{backend.name} {bandwidth / 1e9:.1f} GB/s"
    if torch is not None:
        tb = copy_bandwidth(xpnn.get_backend("torch", torch_device), "float32", repeats)
        copies += f", torch {tb / 1e9:.1f} GB/s"
        bandwidth = max(bandwidth, tb)

    opt = xpnn.Adam(lr=1e-3)
    timings = [
        (
            f"xpnn Adam ({backend.name})",
            timed(lambda: opt.update(params, grads), backend.synchronize, repeats),
        )
    ]
    if torch is not None:

        def sync() -> None:
            if torch_device.startswith("cuda"):
                torch.cuda.synchronize(torch_device)

        tparams = []  # copies: torch.as_tensor would share numpy's memory with xpnn's
        for k, p in params.items():
            tp = torch.tensor(backend.to_numpy(p), device=torch_device)
            tp.grad = torch.tensor(backend.to_numpy(grads[k]), device=torch_device)
            tparams.append(tp)
        for label, kwargs in forms.items():
            topt = torch.optim.Adam(tparams, lr=1e-3, **kwargs)
            name = "torch.optim.Adam " + label.split(" ", 1)[1]
            timings.append((name, timed(topt.step, sync, repeats)))

    least = ADAM_ARRAYS * total * ITEMSIZE["float32"]
    ours = timings[0][1]
    rows = []
    for label, seconds in timings:
        gbs = least / seconds / 1e9
        rows.append(
            [
                label,
                f"{seconds * 1e3:.2f}",
                f"{ours / seconds:.2f}",
                f"{gbs:.1f}",
                f"{100 * gbs * 1e9 / bandwidth:.0f} %",
            ]
        )
    head = [
        f"{total:,} float32 parameters in {len(shapes)} arrays; median of {repeats} updates "
        f"each; least traffic {least / 1e6:.0f} MB per update (read p, g, m, v; write p, m, v).",
        f"Copy bandwidth (256 MiB device-to-device copy, read + write): {copies}; "
        f"the percentages use {bandwidth / 1e9:.1f} GB/s.",
    ]
    return rows, head


# -- array operations per step -------------------------------------------------------------
def op_counts(cases: list[mlp.Case]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """``count_step_ops(case.name)`` from benchmarks/opcount.py for each case, or {} and a
    note when that module does not exist (yet) or fails."""
    if importlib.util.find_spec("opcount") is None:
        return {}, ["benchmarks/opcount.py does not exist yet: operation counts are n/a."]
    try:
        from opcount import count_step_ops
    except Exception as exc:  # a broken module must not cost the timings
        return {}, [f"note: benchmarks/opcount.py failed to import ({exc!r}): counts are n/a."]
    counts, notes = {}, []
    for case in cases:
        try:
            counts[case.name] = dict(count_step_ops(case.name))
        except Exception as exc:
            notes.append(f"note: count_step_ops({case.name!r}) failed: {exc!r}")
    return counts, notes


# -- main ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--backend", default="cupy", help="xpnn backend (default cupy)")
    ap.add_argument("--device", default=None, help="the backend's device (default its first)")
    ap.add_argument("--torch-device", default="cuda", help="torch's device (default cuda)")
    ap.add_argument("--no-torch", action="store_true", help="skip the torch variants")
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"{mlp.QUICK_SAMPLES:,} samples, {QUICK_ROUNDS} rounds: a smoke run",
    )
    ap.add_argument(
        "--repeats", type=int, default=None, help=f"timed rounds (default {FULL_ROUNDS})"
    )
    ap.add_argument("--limit", type=int, default=None, help="time the first N training samples")
    ap.add_argument("--threads", type=int, default=None, help="numpy BLAS and torch threads")
    ap.add_argument("--cases", default=None, help="comma-separated case names (default all)")
    ap.add_argument(
        "--update-params",
        type=int,
        default=UPDATE_PARAMS,
        help=f"parameters of the timed Adam update (default {UPDATE_PARAMS:,})",
    )
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="stop timing rounds early (at least one) so as to end in about this time",
    )
    ap.add_argument("--out", default=None, metavar="FILE.md", help="also write the tables here")
    ap.add_argument("--data-dir", default=None, help="MNIST folder (default $XPNN_DATA/mnist)")
    args = ap.parse_args(argv)
    args.download = False  # bench_mlp.load_data's option: never on a machine without network
    repeats = args.repeats or (QUICK_ROUNDS if args.quick else FULL_ROUNDS)
    if repeats < 1:
        ap.error("--repeats must be at least 1")
    if args.limit is not None and args.limit < 1_000:
        ap.error("--limit must be at least 1,000 (the warm-up slice)")
    if args.update_params < 2_000:
        ap.error("--update-params must be at least 2,000 (4 large arrays and 400 small ones)")
    cases = mlp.CASES
    if args.cases:
        wanted = [c.strip().lower() for c in args.cases.split(",")]
        cases = [c for c in mlp.CASES if c.name.lower() in wanted]
        if len(cases) != len(wanted):
            ap.error(f"--cases: choose from {', '.join(c.name for c in mlp.CASES)}")

    started = time.perf_counter()
    backend = xpnn.get_backend(args.backend, args.device)
    notes: list[str] = []
    torch, forms = None, {}
    if not args.no_torch:
        torch, more = load_torch(args.torch_device)
        notes += more
    if torch is not None:
        forms, more = torch_forms(torch, args.torch_device)
        notes += more
    on_cuda = torch is not None and args.torch_device.startswith("cuda")

    def sync() -> None:
        backend.synchronize()
        if on_cuda:
            torch.cuda.synchronize(args.torch_device)

    thread_lines, _limiter = mlp.threads_setup(args, torch)
    said = io.StringIO()
    with contextlib.redirect_stdout(said):  # where the data came from, for the report
        x, t, xt, tt = mlp.load_data(args)
    notes += said.getvalue().splitlines()
    if args.limit is not None:
        x, t = x[: args.limit], t[: args.limit]
    data = mlp.Data(
        backend.asarray(x, dtype="float32"),
        backend.asarray(t, dtype="int64"),
        backend.asarray(xt, dtype="float32"),
        backend.asarray(tt, dtype="int64"),
        (x, t),
    )
    n = int(x.shape[0])

    def make(case: mlp.Case, variant: str, d: mlp.Data) -> mlp.Epoch:
        if variant == "floor":
            return mlp.floor(case, backend, d)
        if variant == "xpnn loop":
            return mlp.xpnn_loop(case, backend, d)
        if variant == "xpnn Trainer":
            return mlp.xpnn_trainer(case, backend, d)
        return mlp.torch_loop(
            case, backend, d, torch, device=args.torch_device, optim_kwargs=forms[variant]
        )

    report: list[str] = []

    def emit(section: list[str]) -> None:
        """Print a section now and rewrite --out with everything so far (a run cut short
        keeps what it measured)."""
        print("\n".join(section), flush=True)
        report.extend(section)
        if args.out:
            with open(args.out, "w") as f:
                f.write("\n".join(report) + "\n")

    head = ["# bench_gpu: one MNIST epoch and one Adam update", ""]
    head += environment(backend, torch, args.torch_device)
    head += [f"- {line}" for line in thread_lines + notes]
    head.append(
        f"- {n:,} training samples; up to {repeats} interleaved "
        "rounds; wall clock, device synchronised before each stop"
    )
    emit(head)

    print("warming up (every variant once on 1,000 samples) ...", flush=True)
    vof: Callable[[mlp.Case], list[str]] = lambda c: variants_of(c, forms)  # noqa: E731
    mlp.warm_up(cases, vof, make, data, sync)
    deadline = None
    if args.max_seconds is not None:  # leave time for the update and the tables
        deadline = started + args.max_seconds - max(15.0, 0.1 * args.max_seconds)
    times = mlp.time_rounds(cases, vof, make, data, sync, time.perf_counter, repeats, deadline)
    emit(epoch_section(cases, vof, times, n, backend))
    update_rows_, update_head = update_rows(
        backend, torch, args.torch_device, forms, 5 if args.quick else 11, args.update_params
    )
    update_header = ["implementation", "ms/update", "xpnn/this", "GB/s", "% of copy"]
    title = ["", f"## One Adam update over {args.update_params / 1e6:g} M parameters", ""]
    emit([*title, *update_head, "", *md_table(update_header, update_rows_)])
    emit(ops_section(cases))
    emit(["", f"bench_gpu total: {time.perf_counter() - started:.1f} s"])
    return 0


def epoch_section(
    cases: list[mlp.Case],
    variants: Callable[[mlp.Case], list[str]],
    times: dict[tuple[str, str], list[float]],
    n: int,
    backend: xpnn.Backend,
) -> list[str]:
    """The epoch table: median and min seconds, images/s (median), ratios of medians."""
    rows = []
    for case in cases:
        med = {v: statistics.median(times[(case.name, v)]) for v in variants(case)}
        torch_s = med.get("torch default")
        best_torch = min((s for v, s in med.items() if v.startswith("torch")), default=None)
        for v in variants(case):
            s = med[v]
            is_xpnn = v.startswith("xpnn")
            rows.append(
                [
                    case.name,
                    v,
                    f"{s:.3f}",
                    f"{min(times[(case.name, v)]):.3f}",
                    f"{n / s:,.0f}",
                    f"{s / torch_s:.2f}" if is_xpnn and torch_s else "",
                    f"{s / best_torch:.2f}" if is_xpnn and best_torch else "",
                    "" if v == "floor" else f"{s / med['floor']:.2f}",
                ]
            )
    rounds = min(len(v) for v in times.values())
    header = ["case", "variant", "median s", "min s", "img/s", "xpnn/torch", "xpnn/best torch"]
    lines = ["", f"## One epoch ({n:,} samples; median and min of {rounds} round(s))", ""]
    lines += md_table([*header, "/floor"], rows)
    lines += [
        "",
        "img/s from the median. xpnn/torch: against torch.optim's default implementation; "
        "xpnn/best torch: against the fastest torch variant of the case; /floor: against the "
        f"epoch's matrix products alone ({backend.name} @).",
    ]
    note = mlp.busy_note(times, "Compare the min column, or rerun on a quiet machine.")
    if note:
        lines.append(note)
    return lines


def ops_section(cases: list[mlp.Case]) -> list[str]:
    counts, notes = op_counts(cases)
    keys = list(OP_KEYS) + sorted({k for c in counts.values() for k in c} - set(OP_KEYS))
    rows = [[c.name] + [str(counts.get(c.name, {}).get(k, "n/a")) for k in keys] for c in cases]
    lines = ["", "## Array operations per training step (xpnn)", ""]
    return [*lines, *md_table(["case", *keys], rows), "", *notes]


if __name__ == "__main__":
    sys.exit(main())
