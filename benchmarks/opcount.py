"""Count the array operations of a training step, on any backend.

On a GPU every array operation is a kernel launch with 10-20 µs of host time, so a step
costs what its operation count costs. :class:`CountingBackend` wraps any xpnn backend: its
namespace and its arrays (:class:`CountedArray`) pass every call through to the real
library and count it. An *operation* is a call of a namespace function or of an array's
operator or method; metadata is not counted (``shape``, ``dtype``, ``device``, ``ndim``,
``size``, the transposes ``T``/``mT``, which are views, and the dtype queries ``isdtype``,
``finfo``, ``iinfo``). Host reads (``float()``, ``int()``, ``bool()``, ``to_numpy``) are
counted apart. A backend's own helpers count as what they do there: ``matmul_into`` is one
operation where the library has ``out=`` (two, a product and an assignment, on
array_api_strict), a fused optimizer kernel is one.

::

    counts = count_step(CASES_BY_NAME["Adam"], "array_api_strict")
    counts["forward_backward"], counts["update"], counts["total"]

``python benchmarks/opcount.py`` prints the table of every case at depths 2, 5 and 10.
``count_step_ops(name)`` is what ``bench_gpu.py`` asks for.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import operator
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import xpnn  # noqa: E402
from xpnn.backends import Backend, get_backend  # noqa: E402

_METADATA_FUNCTIONS = frozenset(
    {"isdtype", "finfo", "iinfo", "result_type", "can_cast", "__array_namespace_info__"}
)


class Counter:
    """Operations and host reads by phase (``with counter.phase("update"): ...``)."""

    def __init__(self) -> None:
        self.ops: collections.Counter[tuple[str, str]] = collections.Counter()
        self.reads: collections.Counter[str] = collections.Counter()
        self.active = False
        self.current = "other"

    def op(self, name: str) -> None:
        if self.active:
            self.ops[self.current, name] += 1

    def read(self, name: str) -> None:
        if self.active:
            self.reads[self.current] += 1

    @contextlib.contextmanager
    def phase(self, name: str):
        previous, self.current = self.current, name
        try:
            yield
        finally:
            self.current = previous

    def total(self, phase: str | None = None) -> int:
        return sum(n for (p, _), n in self.ops.items() if phase is None or p == phase)

    def by_name(self, phase: str | None = None) -> dict[str, int]:
        out: collections.Counter[str] = collections.Counter()
        for (p, name), n in self.ops.items():
            if phase is None or p == phase:
                out[name] += n
        return dict(out)

    def reset(self) -> None:
        self.ops.clear()
        self.reads.clear()


def _unwrap(value: Any) -> Any:
    if isinstance(value, CountedArray):
        return value._a
    if type(value) in (list, tuple):
        return type(value)(_unwrap(v) for v in value)
    return value


class CountedArray:
    """An array of the wrapped backend that counts what is done with it. Each
    :class:`CountingBackend` has its own subclass: xpnn looks a namespace up once per array
    type (``xpnn._array_api.namespace_of``), and each counter has its own namespace."""

    __slots__ = ("_a", "_b")

    def __init__(self, array: Any, backend: CountingBackend) -> None:
        self._a = array
        self._b = backend

    # -- metadata (not counted) ----------------------------------------------------------
    def __array_namespace__(self, api_version: Any = None) -> Any:
        return self._b.xp

    @property
    def __xpnn_backend__(self) -> CountingBackend:
        return self._b

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    device = property(lambda self: self._a.device)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    T = property(lambda self: self._b.wrap(self._a.T))
    mT = property(lambda self: self._b.wrap(self._a.mT))

    def __len__(self) -> int:
        return len(self._a)

    def __repr__(self) -> str:
        return f"CountedArray({self._a!r})"

    # -- host reads ------------------------------------------------------------------------
    def __float__(self) -> float:
        self._b.counter.read("float")
        return float(self._a)

    def __int__(self) -> int:
        self._b.counter.read("int")
        return int(self._a)

    def __index__(self) -> int:
        self._b.counter.read("index")
        return operator.index(self._a)

    def __bool__(self) -> bool:
        self._b.counter.read("bool")
        return bool(self._a)

    # -- operations ------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        self._b.counter.op("__getitem__")
        return self._b.wrap(self._a[_unwrap(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._b.counter.op("__setitem__")
        self._a[_unwrap(key)] = _unwrap(value)

    def to_device(self, device: Any, /, stream: Any = None) -> Any:
        self._b.counter.op("to_device")
        return self._b.wrap(self._a.to_device(device))


def _binary(name: str) -> Any:
    def method(self: CountedArray, other: Any) -> Any:
        self._b.counter.op(name)
        return self._b.wrap(getattr(self._a, name)(_unwrap(other)))

    method.__name__ = name
    return method


def _inplace(name: str) -> Any:
    def method(self: CountedArray, other: Any) -> Any:
        self._b.counter.op(name)
        result = getattr(self._a, name)(_unwrap(other))
        if result is NotImplemented:
            return NotImplemented
        self._a = result  # the same array for every library xpnn supports
        return self

    method.__name__ = name
    return method


def _unary(name: str) -> Any:
    def method(self: CountedArray) -> Any:
        self._b.counter.op(name)
        return self._b.wrap(getattr(self._a, name)())

    method.__name__ = name
    return method


for _op in ("add", "sub", "mul", "truediv", "floordiv", "pow", "mod", "matmul",
            "and", "or", "xor", "lshift", "rshift"):  # fmt: skip
    setattr(CountedArray, f"__{_op}__", _binary(f"__{_op}__"))
    setattr(CountedArray, f"__r{_op}__", _binary(f"__r{_op}__"))
    setattr(CountedArray, f"__i{_op}__", _inplace(f"__i{_op}__"))
for _op in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(CountedArray, f"__{_op}__", _binary(f"__{_op}__"))
for _op in ("neg", "pos", "abs", "invert"):
    setattr(CountedArray, f"__{_op}__", _unary(f"__{_op}__"))
CountedArray.__hash__ = None  # type: ignore[assignment]  # arrays compare elementwise


class CountingNamespace:
    """The wrapped backend's namespace, counting each function call."""

    def __init__(self, xp: Any, backend: CountingBackend) -> None:
        self._xp = xp
        self._b = backend

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._xp, name)
        if not callable(attr) or isinstance(attr, type) or name.startswith("_"):
            return attr  # dtypes, constants, submodules
        backend = self._b

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            if name not in _METADATA_FUNCTIONS:
                backend.counter.op(name)
            args = tuple(_unwrap(a) for a in args)
            kwargs = {k: _unwrap(v) for k, v in kwargs.items()}
            return backend.wrap(attr(*args, **kwargs))

        setattr(self, name, call)  # looked up once
        return call


class CountingGenerator:
    """The wrapped backend's generator; each draw is one operation on the device."""

    def __init__(self, generator: Any, backend: CountingBackend) -> None:
        self._g = generator
        self._b = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._g, name)

    def _draw(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._b.counter.op(f"rng.{name}")
        with self._b.paused():
            return self._b.wrap(getattr(self._g, name)(*args, **kwargs))

    def normal(self, *args: Any, **kwargs: Any) -> Any:
        return self._draw("normal", *args, **kwargs)

    def uniform(self, *args: Any, **kwargs: Any) -> Any:
        return self._draw("uniform", *args, **kwargs)

    def random(self, *args: Any, **kwargs: Any) -> Any:
        return self._draw("random", *args, **kwargs)

    def permutation(self, *args: Any, **kwargs: Any) -> Any:
        return self._draw("permutation", *args, **kwargs)


class CountingBackend(Backend):
    """``inner`` with its namespace and arrays counted by ``counter``."""

    def __init__(self, inner: Backend, counter: Counter) -> None:
        self.inner = inner
        self.counter = counter
        self.name = f"counting {inner.name}"  # type: ignore[misc]
        super().__init__(CountingNamespace(inner.xp, self), inner.device, inner._lib)
        self._array_type = type(inner.asarray(np.zeros(1, dtype=np.float32)))
        self._counted = type("CountedArray", (CountedArray,), {"__slots__": ()})

    def wrap(self, value: Any) -> Any:
        if isinstance(value, np.generic) and self._array_type is np.ndarray:
            value = np.asarray(value)  # NumPy gives scalars for full reductions: 0-d arrays
        if type(value) is self._array_type:
            return self._counted(value, self)
        if type(value) in (list, tuple):
            return type(value)(self.wrap(v) for v in value)
        return value

    @contextlib.contextmanager
    def paused(self):
        active, self.counter.active = self.counter.active, False
        try:
            yield
        finally:
            self.counter.active = active

    @property
    def is_cpu(self) -> bool:
        return self.inner.is_cpu

    @property
    def fork_safe(self) -> bool:
        return self.inner.fork_safe

    def activate(self) -> Any:
        return self.inner.activate()

    def synchronize(self) -> None:
        self.inner.synchronize()

    def asarray(self, data: Any, dtype: Any = None, *, copy: bool | None = None) -> Any:
        self.counter.op("asarray")
        if dtype is not None:
            dtype = self.inner.dtype(dtype)
        with self.paused():
            return self.wrap(self.inner.asarray(_unwrap(data), dtype, copy=copy))

    def to_numpy(self, array: Any) -> np.ndarray:
        self.counter.read("to_numpy")
        return self.inner.to_numpy(_unwrap(array))

    def _own(self, method: str) -> bool:
        """Whether the wrapped backend overrides ``method`` (else the portable default runs
        here, on counted arrays, so that each of its operations is counted)."""
        return getattr(type(self.inner), method) is not getattr(Backend, method)

    def matmul_into(self, a: Any, b: Any, out: Any) -> None:
        if not self._own("matmul_into"):
            return super().matmul_into(a, b, out)
        self.counter.op("matmul_into")
        self.inner.matmul_into(_unwrap(a), _unwrap(b), _unwrap(out))

    def sum_into(self, x: Any, axis: Any, out: Any) -> None:
        if not self._own("sum_into"):
            return super().sum_into(x, axis, out)
        self.counter.op("sum_into")
        self.inner.sum_into(_unwrap(x), axis, _unwrap(out))

    def rng(self, seed: Any = None) -> Any:
        return CountingGenerator(self.inner.rng(seed), self)

    def device_key(self) -> Any:
        return self.inner.device_key()

    def __reduce__(self) -> Any:
        raise TypeError("a CountingBackend does not pickle")


# -- the cases -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str
    optimizer: str
    lr: float
    batchnorm: bool = False
    dropout: float = 0.0
    hidden: tuple[int, ...] = (100,) * 5
    batch: int = 100

    def at_depth(self, depth: int) -> Case:
        return Case(self.name, self.optimizer, self.lr, self.batchnorm, self.dropout,
                    (self.hidden[0],) * depth, self.batch)  # fmt: skip


CASES = [
    Case("SGD", "SGD", 0.01),
    Case("Adam", "Adam", 1e-3),
    Case("Adam+BN", "Adam", 1e-3, batchnorm=True),
    Case("Adam+Drop", "Adam", 1e-3, dropout=0.2),
    Case("wide Adam", "Adam", 1e-3, hidden=(1000, 1000), batch=256),
]
CASES_BY_NAME = {c.name: c for c in CASES}
RULES = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "AdamW"]


def count_step(case: Case, backend: str | Backend = "array_api_strict", warm: int = 2) -> dict:
    """The operations of one Trainer step of ``case`` (after ``warm`` steps, so that the
    optimizer's state exists): ``batch`` (gathering it), ``forward_backward``, ``update``,
    ``total``, ``reads`` (host reads in the step) and ``by_name``."""
    counter = Counter()
    inner = get_backend(backend)
    counting = CountingBackend(inner, counter)
    rng = np.random.default_rng(0)
    n = case.batch * (warm + 1)
    x = rng.random((n, 784), dtype=np.float32)
    t = rng.integers(0, 10, n)
    net = xpnn.MultiLayerNet(784, list(case.hidden), 10, use_batchnorm=case.batchnorm,
                             use_dropout=case.dropout > 0, dropout_ratio=case.dropout or 0.5,
                             backend=counting, seed=0)  # fmt: skip
    trainer = xpnn.Trainer(net, x, t, x[: case.batch], t[: case.batch], epochs=1,
                           mini_batch_size=case.batch, optimizer=case.optimizer,
                           optimizer_param={"lr": case.lr}, verbose=False, seed=0)  # fmt: skip
    forward_backward, update = net.loss_and_gradient, trainer.optimizer.update

    def counted_forward_backward(*args: Any, **kwargs: Any) -> Any:
        with counter.phase("forward_backward"):
            return forward_backward(*args, **kwargs)

    def counted_update(*args: Any, **kwargs: Any) -> Any:
        with counter.phase("update"):
            return update(*args, **kwargs)

    net.loss_and_gradient = counted_forward_backward
    trainer.optimizer.update = counted_update
    with inner.activate():
        batches = trainer._epoch_batches(0)
        for idx in batches[:warm]:
            trainer._step(idx)
        counter.active = True
        with counter.phase("batch"):
            trainer._step(batches[warm])
        counter.active = False
    return {
        "batch": counter.total("batch"),
        "forward_backward": counter.total("forward_backward"),
        "update": counter.total("update"),
        "total": counter.total(),
        "reads": sum(counter.reads.values()),
        "by_name": counter.by_name(),
    }


def count_update(rule: str, depth: int, backend: str | Backend = "array_api_strict") -> int:
    """The operations of one ``rule`` update of a 784-100×depth-10 network's own params
    and grads (the flat path)."""
    counter = Counter()
    counting = CountingBackend(get_backend(backend), counter)
    net = xpnn.MultiLayerNet(784, [100] * depth, 10, backend=counting, seed=0)
    x = np.random.default_rng(0).random((10, 784), dtype=np.float32)
    t = np.arange(10) % 10
    opt = xpnn.get_optimizer(rule)
    for _ in range(2):
        opt.update(net.params, net.gradient(x, t))
    grads = net.gradient(x, t)
    counter.active = True
    opt.update(net.params, grads)
    counter.active = False
    return counter.total()


def count_step_ops(case_name: str, backend: str | Backend | None = None) -> dict:
    """``count_step`` of bench_mlp's case ``case_name`` on ``backend`` (default: xpnn's)."""
    counts = count_step(CASES_BY_NAME[case_name], backend if backend is not None else xpnn.backend)
    return {k: v for k, v in counts.items() if k != "by_name"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="array_api_strict", help="xpnn backend to count on")
    ap.add_argument("--by-name", action="store_true", help="also list operations by name")
    args = ap.parse_args(argv)
    backend = get_backend(args.backend)
    print(f"array operations per training step on {backend.name} ({backend.device}), "
          "784-100×depth-10 ReLU, batch 100")  # fmt: skip
    print()
    print("| case | depth | batch | forward + backward | update | total | host reads |")
    print("|---|---|---|---|---|---|---|")
    for case in CASES[:4]:
        for depth in (2, 5, 10):
            c = count_step(case.at_depth(depth), backend)
            print(f"| {case.name} | {depth} | {c['batch']} | {c['forward_backward']} | "
                  f"{c['update']} | {c['total']} | {c['reads']} |")  # fmt: skip
            if args.by_name:
                print(f"|  | | {c['by_name']} | | | | |")
    print()
    print("| update rule | depth 2 | depth 5 | depth 10 |")
    print("|---|---|---|---|")
    for rule in RULES:
        row = [count_update(rule, depth, backend) for depth in (2, 5, 10)]
        print(f"| {rule} | " + " | ".join(map(str, row)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
