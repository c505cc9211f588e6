"""MNIST epochs and one Adam update on a GPU: xpnn on CuPy, and on torch CUDA, beside PyTorch
CUDA eager, with the kernel launches of each training step.

    python benchmarks/bench_gpu.py                          # CuPy vs torch CUDA, full MNIST
    python benchmarks/bench_gpu.py --quick --out gpu.md     # fewer samples, 2 rounds, Markdown
    python benchmarks/bench_gpu.py --dry-run                # every code path on the CPU, tiny

Epochs. The MLP cases are bench_mlp.py's (ReLU, He init, float32, every sample once per
epoch): 784-100x5-10 at batch 100 with SGD lr 0.01, Adam, Adam + BatchNorm, Adam + Dropout
0.2, and 784-1000-1000-10 at batch 256 with Adam. The convnet cases are bench_conv.py's:
SimpleConvNet ("Simple") and DeepConvNet ("Deep"), batch 100, Adam lr 1e-3, on the first
``--conv-limit`` images (a DeepConvNet epoch of 60,000 takes minutes on CuPy before its
kernels). Each case is timed as

    floor                  the epoch's matrix products alone, in the backend's own library
    torch default          PyTorch eager on --torch-device, torch.optim's default Adam/SGD;
                           convolutions by cuDNN with torch.backends.cudnn.benchmark = True
    torch foreach, fused   the same with foreach=True, fused=True   (MLP Adam cases)
    xpnn loop              the loop by hand, losses read once at the end   (MLP cases)
    xpnn Trainer           Trainer(net, ..., epochs=1, verbose=False).train() on --backend
    xpnn Trainer on torch  the same on xpnn's torch backend on --torch-device (what
                           XPNN_BACKEND=torch XPNN_DEVICE=cuda:0 gives): the second GPU path

with bench_mlp.py's protocol: data on the device once, every variant warmed up untimed
(CuPy compiles its kernels on first use), then interleaved rounds in a rotating order, the
devices synchronised before each clock stops; medians and mins over rounds.

**Launches per step**, beside each time: for xpnn on CuPy (or on the CPU in a dry run) the
CuPy model of ``benchmarks/opcount.py`` (``--backend cupy-model``: a Trainer step); for torch
and xpnn on torch the ATen operations one step dispatches, views, allocations and host reads
left out (``_torch_launches.py``: epochs of 2 and 1 batches on --torch-device, their
difference); for the floor its matrix products.

The Adam update: one ``update`` over 10 M float32 parameters (bench_optimizers.py's layout)
for xpnn and torch.optim's three implementations, its effective bandwidth (read p, g, m, v;
write p, m, v) against the copy bandwidth of the device.

MNIST is read from ``--data-dir``, else ``$XPNN_DATA/mnist``, else ``~/.cache/xpnn/mnist``
(never downloaded); without it, random data of MNIST's shape, with a note. ``--max-seconds
S`` starts no round that would end after about S seconds (at least one runs per table).
``--dry-run``: numpy and torch on the CPU, 500 MLP and 100 convnet images, one round, a
2,000-parameter update: a check that every path runs, not a measurement. Every section is
printed, and written to ``--out``, as soon as it is measured.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import bench_conv as conv
import bench_mlp as mlp
import numpy as np
from _torch_launches import launches_per_step
from bench_optimizers import ITEMSIZE, copy_bandwidth, layout, timed

import xpnn

QUICK_ROUNDS = 2
FULL_ROUNDS = 5
UPDATE_PARAMS = 10_000_000
CONV_SAMPLES = 10_000
QUICK_CONV_SAMPLES = 2_000
DRY_RUN = {
    "backend": "numpy",
    "device": None,
    "torch_device": "cpu",
    "limit": 500,
    "conv_limit": 100,
    "repeats": 1,
    "update_params": 2_000,
}
ADAM_ARRAYS = 7  # read p, g, m, v; write p, m, v
TORCH_FORMS = {
    "torch default": {},
    "torch foreach": {"foreach": True},
    "torch fused": {"fused": True},
}
ON_TORCH = "xpnn Trainer on torch"
Case = mlp.Case | conv.Case


# -- Markdown ------------------------------------------------------------------------------
def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table, its columns padded so that it also reads as plain text."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [
        line(r) for r in rows
    ]


@dataclass
class Report:
    """The sections so far: each printed, and ``path`` rewritten, as it comes (a run cut
    short keeps what it measured)."""

    path: str | None
    lines: list[str] = field(default_factory=list)

    def emit(self, section: list[str]) -> None:
        print("\n".join(section), flush=True)
        self.lines.extend(section)
        if self.path:
            with open(self.path, "w") as f:
                f.write("\n".join(self.lines) + "\n")


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
    torch.backends.cudnn.benchmark = True  # cuDNN picks its fastest convolution per shape
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


@dataclass
class Setup:
    """The backends and libraries of a run."""

    backend: xpnn.Backend  # xpnn's main path (CuPy)
    torch: Any  # None without torch (or without its device)
    torch_device: str
    torch_backend: xpnn.Backend | None  # xpnn's torch backend on the torch device
    forms: dict[str, dict[str, Any]]
    xpnn_on_torch: bool  # time xpnn on torch: the second GPU path

    def sync(self) -> None:
        self.backend.synchronize()
        if self.torch_backend is not None:
            self.torch_backend.synchronize()

    def variants(self, case: Case) -> list[str]:
        if isinstance(case, conv.Case):
            forms = ["torch default"] if "torch default" in self.forms else []
            ours = ["xpnn Trainer"]
        else:
            forms = [v for v in self.forms if case.optimizer == "Adam" or v == "torch default"]
            ours = ["xpnn loop", "xpnn Trainer"]
        return ["floor", *forms, *ours, *([ON_TORCH] if self.xpnn_on_torch else [])]


def make_setup(args: argparse.Namespace) -> tuple[Setup, list[str]]:
    backend = xpnn.get_backend(args.backend, args.device)
    torch, forms, torch_backend, notes = None, {}, None, []
    if not args.no_torch:
        torch, notes = load_torch(args.torch_device)
    if torch is not None:
        forms, more = torch_forms(torch, args.torch_device)
        notes += more
        torch_backend = xpnn.get_backend("torch", args.torch_device)
    on_torch = torch_backend is not None and not args.no_xpnn_torch
    return Setup(backend, torch, args.torch_device, torch_backend, forms, on_torch), notes


def environment(s: Setup) -> list[str]:
    """Header lines: machine, versions, devices."""
    import array_api_compat

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    backend = s.backend
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
    else:
        lib = importlib.import_module(backend.name)
        lines.append(f"- xpnn on {backend.name} {getattr(lib, '__version__', '?')}")
    lines[-1] += f" ({backend.device})"
    if s.torch is not None:
        torch, where = s.torch, s.torch_device
        if where.startswith("cuda"):
            where += f": {torch.cuda.get_device_name(torch.device(where))}"
        lines.append(
            f"- torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN "
            f"{torch.backends.cudnn.version()}) on {where}, {torch.get_num_threads()} CPU threads"
        )
    if s.xpnn_on_torch and s.torch_backend is not None:
        lines.append(f"- second GPU path: xpnn on torch ({s.torch_backend.device})")
    return lines


# -- data ----------------------------------------------------------------------------------
@dataclass
class Host:
    """MNIST on the host: training images (N, 784) and labels, test images and labels."""

    x: np.ndarray
    t: np.ndarray
    xt: np.ndarray
    tt: np.ndarray

    def data(self, backend: xpnn.Backend, n: int, images: bool = False) -> mlp.Data:
        """The first ``n`` training samples (as (n, 1, 28, 28) ``images`` for a convnet) and
        1,000 test samples on ``backend``'s device."""
        x, xt = self.x[:n], self.xt[:1000]
        if images:
            x, xt = x.reshape(-1, 1, 28, 28), xt.reshape(-1, 1, 28, 28)
        t = self.t[:n]
        return mlp.Data(
            backend.asarray(x, dtype="float32"),
            backend.asarray(t, dtype="int64"),
            backend.asarray(xt, dtype="float32"),
            backend.asarray(self.tt[:1000], dtype="int64"),
            (x, t),
        )


def load_host(args: argparse.Namespace) -> tuple[Host, list[str]]:
    args.download, quick, args.quick = False, args.quick, False  # all 60,000: limits below
    said = io.StringIO()
    with contextlib.redirect_stdout(said):  # where the data came from, for the report
        x, t, xt, tt = mlp.load_data(args)
    args.quick = quick
    return Host(x, t, xt, tt), said.getvalue().splitlines()


def on_torch_data(s: Setup, d: mlp.Data) -> mlp.Data:
    """``d`` on xpnn's torch backend: moved once per Data (kept in its torch cache)."""
    key = "xpnn on torch"
    if key not in d.torch_cache:
        assert s.torch_backend is not None
        b, (x, t) = s.torch_backend, d.host
        xt, tt = s.backend.to_numpy(d.x_test), s.backend.to_numpy(d.t_test)
        d.torch_cache[key] = mlp.Data(
            b.asarray(x), b.asarray(t), b.asarray(xt), b.asarray(tt), d.host
        )
    return d.torch_cache[key]


def make_epoch(s: Setup, case: Case, variant: str, d: mlp.Data) -> mlp.Epoch:
    """An epoch of ``variant`` for ``case`` on ``d`` (built untimed)."""
    if variant == ON_TORCH:
        assert s.torch_backend is not None
        module: Any = conv if isinstance(case, conv.Case) else mlp
        return module.xpnn_trainer(case, s.torch_backend, on_torch_data(s, d))
    if isinstance(case, conv.Case):
        if variant == "floor":
            return conv.floor(case, s.backend, d)
        if variant == "xpnn Trainer":
            return conv.xpnn_trainer(case, s.backend, d)
        assert s.torch_backend is not None  # bench_conv's torch runs on this backend's device
        return conv.torch_loop(case, s.torch_backend, d, s.torch)
    if variant == "floor":
        return mlp.floor(case, s.backend, d)
    if variant == "xpnn loop":
        return mlp.xpnn_loop(case, s.backend, d)
    if variant == "xpnn Trainer":
        return mlp.xpnn_trainer(case, s.backend, d)
    return mlp.torch_loop(
        case, s.backend, d, s.torch, device=s.torch_device, optim_kwargs=s.forms[variant]
    )


# -- launches per step ---------------------------------------------------------------------
def floor_launches(case: Case) -> int:
    """The matrix products of a step of the floor."""
    if isinstance(case, conv.Case):
        convs, affines = case.layer_shapes()
        return 3 * len(convs) - 1 + 3 * len(affines)
    return 3 * (len(case.sizes) - 1) - 1


def torch_step_launches(s: Setup, case: Case, variant: str, host: Host) -> int:
    """Launches of a step of a torch-based variant, counted over epochs of 2 and 1 batches."""
    images = isinstance(case, conv.Case)

    def epoch_of(k: int) -> mlp.Epoch:
        return make_epoch(s, case, variant, host.data(s.backend, k * case.batch, images))

    return launches_per_step(s.torch, epoch_of)


def step_launches(
    s: Setup, cases: list[Case], host: Host
) -> tuple[dict[tuple[str, str], str], dict[str, dict[str, Any]], list[str]]:
    """Launches per step of each (case, variant) as cells; the CuPy model's counts by case;
    notes on what could not be counted (a failure costs a cell, not the timings)."""
    from opcount import count_step_ops

    cells: dict[tuple[str, str], str] = {}
    model: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for case in cases:
        try:
            model[case.name] = count_step_ops(case.name)
        except Exception as exc:
            notes.append(f"note: the CuPy model failed on {case.name}: {exc!r}")
        for v in s.variants(case):
            if v == "floor":
                cells[case.name, v] = str(floor_launches(case))
            elif v.startswith("xpnn") and v != ON_TORCH:
                cells[case.name, v] = str(model.get(case.name, {}).get("launches", "n/a"))
            else:
                try:
                    cells[case.name, v] = str(torch_step_launches(s, case, v, host))
                except Exception as exc:
                    cells[case.name, v] = "n/a"
                    notes.append(f"note: counting {case.name}/{v} failed: {exc!r}")
    return cells, model, notes


# -- the tables ----------------------------------------------------------------------------
def epoch_section(
    title: str,
    s: Setup,
    cases: list[Case],
    times: dict[tuple[str, str], list[float]],
    n: int,
    launches: dict[tuple[str, str], str],
) -> list[str]:
    """An epoch table: median and min seconds, images/s (median), ratios of medians, and
    the launches per step beside them."""
    rows = []
    for case in cases:
        med = {v: statistics.median(times[(case.name, v)]) for v in s.variants(case)}
        torch_s = med.get("torch default")
        best_torch = min((t for v, t in med.items() if v.startswith("torch")), default=None)
        for v in s.variants(case):
            sec, ours = med[v], v.startswith("xpnn")
            rows.append(
                [
                    case.name,
                    v,
                    f"{sec:.3f}",
                    f"{min(times[(case.name, v)]):.3f}",
                    f"{n / sec:,.0f}",
                    launches.get((case.name, v), "n/a"),
                    f"{sec / torch_s:.2f}" if ours and torch_s else "",
                    f"{sec / best_torch:.2f}" if ours and best_torch else "",
                    "" if v == "floor" else f"{sec / med['floor']:.2f}",
                ]
            )
    rounds = min(len(v) for v in times.values())
    header = [
        "case",
        "variant",
        "median s",
        "min s",
        "img/s",
        "launches/step",
        "xpnn/torch",
        "xpnn/best torch",
        "/floor",
    ]
    lines = ["", f"## {title} ({n:,} samples; median and min of {rounds} round(s))", ""]
    lines += md_table(header, rows)
    lines += [
        "",
        "img/s from the median. xpnn/torch: against torch.optim's default implementation; "
        "xpnn/best torch: against the fastest torch variant of the case; /floor: against the "
        f"epoch's matrix products alone ({s.backend.name} @). launches/step: xpnn on "
        f"{s.backend.name}: the CuPy model (opcount.py --backend cupy-model); torch and xpnn "
        "on torch: ATen operations dispatched per step, views, allocations and reads left out; "
        "floor: its matrix products.",
    ]
    note = mlp.busy_note(times, "Compare the min column, or rerun on a quiet machine.")
    return lines + ([note] if note else [])


def model_section(cases: list[Case], model: dict[str, dict[str, Any]]) -> list[str]:
    """The CuPy model's counts per step: launches, operations and host reads by phase."""
    rows = []
    for case in cases:
        c = model.get(case.name)
        if c is None:
            rows.append([case.name] + ["n/a"] * 6)
            continue
        phases = [c["phases"][p]["launches"] for p in ("forward_backward", "update", "batch")]
        rows.append(
            [case.name, *map(str, phases), str(c["launches"]), str(c["ops"]), str(c["reads"])]
        )
    header = ["case", "fwd+bwd", "update", "batch", "launches", "operations", "host reads"]
    lines = ["", "## Kernel launches per training step of xpnn on CuPy (the model)", ""]
    return [
        *lines,
        *md_table(header, rows),
        "",
        "opcount.py --backend cupy-model: a Trainer step run on NumPy as CuPy runs it; "
        "operations count views too.",
    ]


def update_rows(
    s: Setup, repeats: int, size: int = UPDATE_PARAMS
) -> tuple[list[list[str]], list[str]]:
    """Rows of the Adam-update table (``size`` parameters) and the lines above it."""
    backend, torch = s.backend, s.torch
    shapes = layout(size)
    total = sum(math.prod(sh) for sh in shapes)
    rng = backend.rng(0)
    f32 = backend.dtype("float32")
    params = {f"p{i}": rng.normal(sh, std=0.1, dtype=f32) for i, sh in enumerate(shapes)}
    grads = {k: rng.normal(v.shape, std=0.01, dtype=f32) for k, v in params.items()}

    bandwidth = copy_bandwidth(backend, "float32", repeats)
    copies = f"{backend.name} {bandwidth / 1e9:.1f} GB/s"
    if s.torch_backend is not None:
        tb = copy_bandwidth(s.torch_backend, "float32", repeats)
        copies += f", torch {tb / 1e9:.1f} GB/s"
        bandwidth = max(bandwidth, tb)

    opt = xpnn.Adam(lr=1e-3)
    ours = timed(lambda: opt.update(params, grads), backend.synchronize, repeats)
    timings = [(f"xpnn Adam ({backend.name})", ours)]
    if torch is not None:
        tparams = []  # copies: torch.as_tensor would share numpy's memory with xpnn's
        for k, p in params.items():
            tp = torch.tensor(backend.to_numpy(p), device=s.torch_device)
            tp.grad = torch.tensor(backend.to_numpy(grads[k]), device=s.torch_device)
            tparams.append(tp)
        for label, kwargs in s.forms.items():
            topt = torch.optim.Adam(tparams, lr=1e-3, **kwargs)
            name = "torch.optim.Adam " + label.split(" ", 1)[1]
            timings.append((name, timed(topt.step, s.sync, repeats)))

    least = ADAM_ARRAYS * total * ITEMSIZE["float32"]
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


# -- main ----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add = ap.add_argument
    add("--backend", default="cupy", help="xpnn backend (default cupy)")
    add("--device", default=None, help="the backend's device (default its first)")
    add("--torch-device", default="cuda", help="torch's device (default cuda)")
    add("--no-torch", action="store_true", help="skip every torch variant")
    add("--no-xpnn-torch", action="store_true", help="skip xpnn on torch (the second path)")
    add(
        "--quick",
        action="store_true",
        help=f"{mlp.QUICK_SAMPLES:,} MLP and "
        f"{QUICK_CONV_SAMPLES:,} convnet samples, {QUICK_ROUNDS} rounds: a smoke run",
    )
    add(
        "--dry-run",
        action="store_true",
        help="every code path on the CPU (numpy, torch cpu), tiny sizes, one round",
    )
    add("--repeats", type=int, default=None, help=f"timed rounds (default {FULL_ROUNDS})")
    add("--limit", type=int, default=None, help="MLP epochs on the first N training samples")
    add(
        "--conv-limit",
        type=int,
        default=None,
        help=f"convnet epochs on the first N samples (default {CONV_SAMPLES:,})",
    )
    add("--threads", type=int, default=None, help="numpy BLAS and torch threads")
    add(
        "--cases",
        default=None,
        help="comma-separated case names (default all: "
        + ", ".join(c.name for c in [*mlp.CASES, *conv.CASES])
        + ")",
    )
    add(
        "--update-params",
        type=int,
        default=UPDATE_PARAMS,
        help=f"parameters of the timed Adam update (default {UPDATE_PARAMS:,})",
    )
    add(
        "--max-seconds",
        type=float,
        default=None,
        help="stop timing rounds early (at least one) so as to end in about this time",
    )
    add("--out", default=None, metavar="FILE.md", help="also write the tables here")
    add("--data-dir", default=None, help="MNIST folder (default $XPNN_DATA/mnist)")
    return ap


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line, with --dry-run's and --quick's sizes filled in, checked."""
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.dry_run:
        for key, value in DRY_RUN.items():
            setattr(args, key, value)
    args.repeats = args.repeats or (QUICK_ROUNDS if args.quick else FULL_ROUNDS)
    if args.conv_limit is None:
        args.conv_limit = QUICK_CONV_SAMPLES if args.quick else CONV_SAMPLES
    if args.limit is None and args.quick:
        args.limit = mlp.QUICK_SAMPLES
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    if args.limit is not None and args.limit < 300:
        ap.error("--limit must be at least 300 (a batch of every case)")
    if args.conv_limit < 100:
        ap.error("--conv-limit must be at least 100 (a batch)")
    if args.update_params < 2_000:
        ap.error("--update-params must be at least 2,000 (4 large arrays and 400 small ones)")
    all_cases = {c.name.lower(): c for c in [*mlp.CASES, *conv.CASES]}
    wanted = [w.strip().lower() for w in (args.cases or "").split(",") if w.strip()]
    if any(w not in all_cases for w in wanted):
        ap.error(f"--cases: choose from {', '.join(c.name for c in all_cases.values())}")
    args.case_list = [all_cases[w] for w in wanted] or list(all_cases.values())
    return args


def timed_epochs(
    s: Setup, cases: list[Case], d: mlp.Data, repeats: int, deadline: float | None, warm: int
) -> dict[tuple[str, str], list[float]]:
    """Warm every variant up on (at most) ``warm`` samples, then time interleaved rounds."""
    print(f"warming up {', '.join(c.name for c in cases)} ...", flush=True)

    def make(case: Case, variant: str, data: mlp.Data) -> mlp.Epoch:
        return make_epoch(s, case, variant, data)

    mlp.warm_up(cases, s.variants, make, d, s.sync, warm)
    return mlp.time_rounds(
        cases,
        s.variants,
        make,
        d,
        s.sync,
        time.perf_counter,
        repeats,
        deadline,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    s, notes = make_setup(args)
    thread_lines, _limiter = mlp.threads_setup(args, s.torch)
    host, said = load_host(args)
    report = Report(args.out)
    mlps = [c for c in args.case_list if isinstance(c, mlp.Case)]
    convs = [c for c in args.case_list if isinstance(c, conv.Case)]
    n_mlp = min(args.limit or len(host.x), len(host.x))
    n_conv = min(args.conv_limit, len(host.x))
    head = ["# bench_gpu: MNIST epochs and one Adam update", "", *environment(s)]
    head += [f"- {line}" for line in thread_lines + notes + said]
    head.append(
        f"- MLP epochs on {n_mlp:,} samples, convnet epochs on {n_conv:,}; up to "
        f"{args.repeats} interleaved rounds; wall clock, devices synchronised"
    )
    report.emit(head)

    print("counting launches per step ...", flush=True)
    launches, model, more = step_launches(s, [*mlps, *convs], host)
    end = None  # when the timed rounds must end: time is left for the update and the tables
    if args.max_seconds is not None:
        end = started + args.max_seconds - max(15.0, 0.1 * args.max_seconds)
    if mlps:
        now = time.perf_counter()
        deadline = None if end is None else now + (0.6 if convs else 1.0) * (end - now)
        d = host.data(s.backend, n_mlp)
        times = timed_epochs(s, mlps, d, args.repeats, deadline, 300 if args.dry_run else 1000)
        report.emit(epoch_section("MLP epochs", s, mlps, times, n_mlp, launches))
    if convs:
        d = host.data(s.backend, n_conv, images=True)
        times = timed_epochs(s, convs, d, args.repeats, end, 200)
        report.emit(epoch_section("Convnet epochs", s, convs, times, n_conv, launches))
    rows, update_head = update_rows(s, 5 if args.quick or args.dry_run else 11, args.update_params)
    update_header = ["implementation", "ms/update", "xpnn/this", "GB/s", "% of copy"]
    title = ["", f"## One Adam update over {args.update_params / 1e6:g} M parameters", ""]
    report.emit([*title, *update_head, "", *md_table(update_header, rows)])
    report.emit([*model_section([*mlps, *convs], model), *more])
    report.emit(["", f"bench_gpu total: {time.perf_counter() - started:.1f} s"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
