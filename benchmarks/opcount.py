"""Count the array operations and kernel launches of a training step, on any backend, and on
a model of CuPy.

On a GPU every operation that is not a view is a kernel launch with 10-140 µs of host time
(CuPy), so a step costs what its launches cost whatever the GPU. ``_counting.py`` wraps an
xpnn backend and counts (see its docstring for the rules): **operations** (every call,
views included), **launches** (views and allocations left out; a seam operation the
modelled backend replaces counts the launches it declares) and **host reads**.

``--backend cupy-model`` runs the step on NumPy the way CuPy would: device memory (losses
stay on the device), the seam operations :class:`xpnn.backends.cupy.CupyBackend` replaces
(those of its methods that differ from :class:`~xpnn.backends.Backend`'s, among
:data:`~xpnn.backends.SEAM`) counted as the launches it declares in ``CupyBackend.LAUNCHES``,
``matmul_into``/``sum_into`` one launch each (``out=``), random draws as CuPy launches them
(:func:`cupy_draw_launches`). No GPU and no CuPy are needed.

A step is one Trainer step in the middle of an epoch, counted from the start of one
``loss_and_gradient`` call to the start of the next: its forward and backward pass
(phase ``forward_backward``), the optimizer update (``update``), and the rest (``batch``:
recording the loss, gathering the next batch). ::

    python benchmarks/opcount.py                                   # tables, array_api_strict
    python benchmarks/opcount.py --backend cupy-model --json       # the issue's four cases
    python benchmarks/opcount.py --backend numpy --json --cases W-Adam,W-Adam-BN

``count_step(case, backend)`` counts one case; ``count_step_ops(name)`` is what
``bench_gpu.py`` asks for (on the CuPy model by default).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from _counting import Counter, CountingBackend, Model  # noqa: E402

import xpnn  # noqa: E402
from xpnn.backends import Backend, get_backend  # noqa: E402
from xpnn.backends.cupy import CupyBackend  # noqa: E402  (imports without CuPy)

PHASES = ("batch", "forward_backward", "update")
CUPY_MODEL_NAME = "cupy-model"


def cupy_draw_launches(kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """Kernel launches of a draw of :class:`xpnn.backends.cupy.CupyGenerator`: cuRAND's
    normal generator, then ``*= std`` and ``+= mean`` unless trivial; ``random_sample`` is
    cuRAND's uniform generator and CuPy's kernel mapping 1 to 0, then a scale and a shift
    unless (low, high) = (0, 1); a permutation counts one (it is drawn once per epoch)."""
    if kind == "normal":
        std = kwargs.get("std", args[1] if len(args) > 1 else 1.0)
        mean = kwargs.get("mean", args[2] if len(args) > 2 else 0.0)
        return 1 + (std != 1.0) + (mean != 0.0)
    if kind == "uniform":
        low = kwargs.get("low", args[1] if len(args) > 1 else 0.0)
        high = kwargs.get("high", args[2] if len(args) > 2 else 1.0)
        return 2 + 2 * ((low, high) != (0.0, 1.0))
    if kind == "random":
        return 2
    return 1


CUPY_MODEL = Model(CUPY_MODEL_NAME, CupyBackend, cupy_draw_launches)


def counting_backend(
    backend: str | Backend, counter: Counter, device: Any = None
) -> CountingBackend:
    """``backend`` (a name, ``"cupy-model"``, or a Backend) counted by ``counter``."""
    if backend == CUPY_MODEL_NAME:
        return CountingBackend(get_backend("numpy"), counter, CUPY_MODEL)
    return CountingBackend(get_backend(backend, device), counter)


# -- the cases -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """A 784-hidden-10 ReLU MultiLayerNet (He init) trained with ``optimizer``."""

    name: str
    optimizer: str
    lr: float
    batchnorm: bool = False
    dropout: float = 0.0
    hidden: tuple[int, ...] = (100,) * 5
    batch: int = 100

    def at_depth(self, depth: int) -> Case:
        return replace(self, hidden=(self.hidden[0],) * depth)

    def network(self, backend: Backend) -> xpnn.Network:
        return xpnn.MultiLayerNet(784, list(self.hidden), 10, use_batchnorm=self.batchnorm,
                                  use_dropout=self.dropout > 0,
                                  dropout_ratio=self.dropout or 0.5, backend=backend,
                                  seed=0)  # fmt: skip

    def inputs(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(0)
        return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n)


@dataclass(frozen=True)
class ConvCase:
    """The book's SimpleConvNet or DeepConvNet (``net``: ``"simple"``, ``"deep"``) on 28x28
    images, its defaults, trained with ``optimizer``."""

    name: str
    net: str
    optimizer: str = "Adam"
    lr: float = 1e-3
    batch: int = 100

    def network(self, backend: Backend) -> xpnn.Network:
        make = xpnn.SimpleConvNet if self.net == "simple" else xpnn.DeepConvNet
        return make(backend=backend, seed=0)

    def inputs(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(0)
        return rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, n)


CASES = [
    Case("SGD", "SGD", 0.01),
    Case("Adam", "Adam", 1e-3),
    Case("Adam+BN", "Adam", 1e-3, batchnorm=True),
    Case("Adam+Drop", "Adam", 1e-3, dropout=0.2),
    Case("wide Adam", "Adam", 1e-3, hidden=(1000, 1000), batch=256),
]
#: The cases of issue 17 and their targets: kernel launches per training step on CuPy.
TARGET_CASES: list[Case | ConvCase] = [
    Case("W-Adam", "Adam", 1e-3),
    Case("W-Adam-BN", "Adam", 1e-3, batchnorm=True),
    ConvCase("SimpleConvNet-Adam", "simple"),
    ConvCase("DeepConvNet-Adam", "deep"),
]
TARGETS = {"W-Adam": 40, "W-Adam-BN": 70, "SimpleConvNet-Adam": 30, "DeepConvNet-Adam": 100}
#: Every case by name; "Simple" and "Deep" are bench_conv.py's (and bench_gpu.py's) names.
CASES_BY_NAME: dict[str, Case | ConvCase] = {
    c.name: c
    for c in [*CASES, *TARGET_CASES, ConvCase("Simple", "simple"), ConvCase("Deep", "deep")]
}
RULES = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "AdamW"]


# -- counting a step -------------------------------------------------------------------------
def _count_one_step(trainer: xpnn.Trainer, net: Any, counter: Counter, warm: int) -> None:
    """Train, counting from the start of forward + backward number ``warm`` (0-based) to the
    start of the next one."""
    forward_backward, update = net.loss_and_gradient, trainer.optimizer.update
    calls = 0

    def counted_forward_backward(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        if calls in (warm, warm + 1):
            counter.active = calls == warm
        calls += 1
        with counter.phase("forward_backward"):
            return forward_backward(*args, **kwargs)

    def counted_update(*args: Any, **kwargs: Any) -> Any:
        with counter.phase("update"):
            return update(*args, **kwargs)

    net.loss_and_gradient = counted_forward_backward
    trainer.optimizer.update = counted_update
    with counter.phase("batch"):
        trainer.train()
    counter.active = False
    if calls < warm + 2:
        raise RuntimeError(
            f"the Trainer called loss_and_gradient {calls} times, not {warm + 2}: "
            "benchmarks/opcount.py no longer finds the step boundaries"
        )


def count_step(
    case: Case | ConvCase, backend: str | Backend = "array_api_strict", warm: int = 2,
    device: Any = None,
) -> dict[str, Any]:  # fmt: skip
    """Operations, launches and host reads of one Trainer step of ``case`` on ``backend``
    (a name, ``"cupy-model"`` or a Backend), after ``warm`` steps (so that the optimizer's
    state exists). Keys: ``launches``, ``reads``, ``ops``, ``phases`` (each phase's
    ``launches``, ``ops``, ``reads``), the operations of each phase under its own name
    (``batch``, ``forward_backward``, ``update``) and in all (``total``), ``by_name`` and
    ``launches_by_name``."""
    counter = Counter()
    counting = counting_backend(backend, counter, device)
    x, t = case.inputs(case.batch * (warm + 2))
    net = case.network(counting)
    trainer = xpnn.Trainer(net, x, t, x[: case.batch], t[: case.batch], epochs=1,
                           mini_batch_size=case.batch, optimizer=case.optimizer,
                           optimizer_param={"lr": case.lr},
                           evaluate_sample_num_per_epoch=case.batch, verbose=False,
                           seed=0)  # fmt: skip
    _count_one_step(trainer, net, counter, warm)
    phases = {
        p: {"launches": counter.launch_total(p), "ops": counter.total(p),
            "reads": counter.read_total(p)}
        for p in PHASES
    }  # fmt: skip
    return {
        "launches": counter.launch_total(),
        "reads": counter.read_total(),
        "ops": counter.total(),
        "phases": phases,
        **{p: counter.total(p) for p in PHASES},
        "total": counter.total(),
        "by_name": counter.by_name(),
        "launches_by_name": counter.by_name(launches=True),
    }


def count_update(rule: str, depth: int, backend: str | Backend = "array_api_strict") -> int:
    """The operations of one ``rule`` update of a 784-100×depth-10 network's own params
    and grads (the flat path)."""
    counter = Counter()
    counting = counting_backend(backend, counter)
    net = xpnn.MultiLayerNet(784, [100] * depth, 10, backend=counting, seed=0)
    x = np.random.default_rng(0).random((10, 784), dtype=np.float32)
    t = np.arange(10) % 10
    opt = xpnn.get_optimizer(rule)
    with counting.activate():
        for _ in range(2):
            opt.update(net.params, net.gradient(x, t))
        grads = net.gradient(x, t)
        counter.active = True
        opt.update(net.params, grads)
        counter.active = False
    return counter.total()


def count_step_ops(case_name: str, backend: str | Backend = CUPY_MODEL_NAME) -> dict:
    """``count_step`` of the case ``case_name`` (bench_mlp's, bench_conv's or the issue's)
    on ``backend`` (default: the CuPy model), without the by-name breakdowns."""
    counts = count_step(CASES_BY_NAME[case_name], backend)
    return {k: v for k, v in counts.items() if not k.endswith("by_name")}


def step_json(cases: list[Case | ConvCase], backend: str, device: Any = None,
              by_name: bool = False) -> dict[str, Any]:  # fmt: skip
    """``{case name: {launches, reads, ops, phases[, target][, launches_by_name]}}``."""
    out: dict[str, Any] = {}
    for case in cases:
        c = count_step(case, backend, device=device)
        entry = {k: c[k] for k in ("launches", "reads", "ops", "phases")}
        if backend == CUPY_MODEL_NAME and case.name in TARGETS:
            entry["target"] = TARGETS[case.name]
        if by_name:
            entry["launches_by_name"] = c["launches_by_name"]
        out[case.name] = entry
    return out


# -- the tables ------------------------------------------------------------------------------
def depth_tables(backend: str, device: Any, by_name: bool) -> list[str]:
    """Operations per step of the MLP cases at depths 2, 5, 10, and per update rule."""
    lines = [
        f"array operations per training step on {backend}, 784-100×depth-10 ReLU, batch 100",
        "",
        "| case | depth | batch | forward + backward | update | total | launches | host reads |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in CASES[:4]:
        for depth in (2, 5, 10):
            c = count_step(case.at_depth(depth), backend, device=device)
            cells = [c[k] for k in ("batch", "forward_backward", "update", "total", "launches",
                                    "reads")]  # fmt: skip
            lines.append(f"| {case.name} | {depth} | " + " | ".join(map(str, cells)) + " |")
            if by_name:
                lines.append(f"|  | | {c['by_name']} | | | | | |")
    lines += ["", "| update rule | depth 2 | depth 5 | depth 10 |", "|---|---|---|---|"]
    for rule in RULES:
        row = [count_update(rule, depth, backend) for depth in (2, 5, 10)]
        lines.append(f"| {rule} | " + " | ".join(map(str, row)) + " |")
    return lines


def target_table(cases: list[Case | ConvCase]) -> list[str]:
    """The issue's cases: launches (and host reads) per step on the CuPy model, NumPy and
    array_api_strict side by side, with the targets."""
    backends = [CUPY_MODEL_NAME, "numpy", "array_api_strict"]
    lines = [
        "kernel launches per training step (host reads in brackets)",
        "",
        "| case | target | " + " | ".join(backends) + " |",
        "|---|---|" + "---|" * len(backends),
    ]
    for case in cases:
        cells = []
        for b in backends:
            c = count_step(case, b)
            cells.append(f"{c['launches']} ({c['reads']})")
        lines.append(f"| {case.name} | ≤ {TARGETS.get(case.name, '-')} | " + " | ".join(cells)
                     + " |")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="array_api_strict",
                    help=f"xpnn backend to count on, or {CUPY_MODEL_NAME!r}")  # fmt: skip
    ap.add_argument("--device", default=None, help="the backend's device (default its first)")
    ap.add_argument("--json", action="store_true",
                    help="one JSON object keyed by case: launches, reads, ops, phases")  # fmt: skip
    ap.add_argument("--cases", default=None,
                    help="comma-separated case names for --json and the launch table (default "
                    "the issue's: " + ", ".join(c.name for c in TARGET_CASES) + ")")  # fmt: skip
    ap.add_argument("--by-name", action="store_true", help="also list operations by name")
    args = ap.parse_args(argv)
    cases = TARGET_CASES
    if args.cases:
        names = [n.strip() for n in args.cases.split(",") if n.strip()]
        unknown = [n for n in names if n not in CASES_BY_NAME]
        if unknown:
            ap.error(f"--cases: unknown {unknown}; choose from {', '.join(CASES_BY_NAME)}")
        cases = [CASES_BY_NAME[n] for n in names]
    if args.backend == CUPY_MODEL_NAME and args.device is not None:
        ap.error(f"--device: the {CUPY_MODEL_NAME} runs on numpy's cpu")
    if args.json:
        print(json.dumps(step_json(cases, args.backend, args.device, args.by_name), indent=2))
        return 0
    print("\n".join(depth_tables(args.backend, args.device, args.by_name)))
    print()
    print("\n".join(target_table(cases)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
