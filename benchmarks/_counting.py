"""Counting what xpnn asks of an array library: operations, kernel launches, host reads.

:class:`CountingBackend` wraps any xpnn backend: its namespace (:class:`CountingNamespace`)
and its arrays (:class:`CountedArray`) pass every call through to the real library and
count it in a :class:`Counter`, by phase and name. Three numbers:

- an **operation** is a call of a namespace function or of an array's operator or method
  (views included); metadata is not one (``shape``, ``dtype``, ``device``, ``ndim``,
  ``size``, the transposes ``T``/``mT``, and the dtype queries ``isdtype``, ``finfo``, ...);
- a **launch** is what a GPU would run for it: one for every operation but a view (a result
  that shares memory with an input array: basic slices, reshapes and permutations that do
  not copy, ``asarray`` of an array) and an allocation (``empty``, ``empty_like``: no kernel
  on CuPy); in-place operators and ``__setitem__`` are one each, moving host data to the
  device is one;
- a **host read** (``float()``, ``int()``, ``bool()``, ``index()``, ``to_numpy``) waits
  for the device on a GPU; reads are counted apart.

Views are told by memory (``numpy.may_share_memory``), so for NumPy, array_api_strict and
torch on the CPU; on another library every operation counts as a launch.

**A model of a device library.** With a :class:`Model`, the wrapped backend (NumPy) runs
xpnn the way that library would: it reports device memory (``is_cpu`` false: losses stay
on the device, as on a GPU), and each operation of the kernel seam
(:data:`xpnn.backends.SEAM`) that the model's backend class replaces — found by comparing
its methods with :class:`~xpnn.backends.Backend`'s — runs the portable reference uncounted
and counts the launches that class declares in its ``LAUNCHES`` dict; ``matmul_into`` and
``sum_into`` count one where the class replaces them (``out=``). Random draws count what
the model says they launch.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from xpnn.backends import SEAM, Backend

__all__ = [
    "CountedArray",
    "Counter",
    "CountingBackend",
    "CountingGenerator",
    "CountingNamespace",
    "Model",
    "declared_kernels",
]

_METADATA_FUNCTIONS = frozenset(
    {"isdtype", "finfo", "iinfo", "result_type", "can_cast", "__array_namespace_info__"}
)
#: Functions that allocate without a kernel on a GPU library (CuPy's memory pool).
_NO_KERNEL = frozenset({"empty", "empty_like"})


class Counter:
    """Operations, launches and host reads, by phase (``with counter.phase("update"):``) and
    name; nothing is counted while ``active`` is false."""

    def __init__(self) -> None:
        self.ops: collections.Counter[tuple[str, str]] = collections.Counter()
        self.launches: collections.Counter[tuple[str, str]] = collections.Counter()
        self.reads: collections.Counter[tuple[str, str]] = collections.Counter()
        self.active = False
        self.current = "other"

    def op(self, name: str, launches: int = 1) -> None:
        if self.active:
            self.ops[self.current, name] += 1
            self.launches[self.current, name] += launches

    def read(self, name: str) -> None:
        if self.active:
            self.reads[self.current, name] += 1

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        previous, self.current = self.current, name
        try:
            yield
        finally:
            self.current = previous

    @staticmethod
    def _sum(counts: collections.Counter[tuple[str, str]], phase: str | None) -> int:
        return sum(n for (p, _), n in counts.items() if phase is None or p == phase)

    def total(self, phase: str | None = None) -> int:
        """Operations (of ``phase``, or all)."""
        return self._sum(self.ops, phase)

    def launch_total(self, phase: str | None = None) -> int:
        return self._sum(self.launches, phase)

    def read_total(self, phase: str | None = None) -> int:
        return self._sum(self.reads, phase)

    def by_name(self, phase: str | None = None, launches: bool = False) -> dict[str, int]:
        """Operations (or launches) by name, the names with none left out."""
        out: collections.Counter[str] = collections.Counter()
        for (p, name), n in (self.launches if launches else self.ops).items():
            if (phase is None or p == phase) and n:
                out[name] += n
        return dict(out)

    def reset(self) -> None:
        self.ops.clear()
        self.launches.clear()
        self.reads.clear()


# -- telling views by memory -------------------------------------------------------------------
def _memory(array: Any) -> np.ndarray | None:
    """The NumPy array holding ``array``'s elements, where there is one."""
    if isinstance(array, np.ndarray):
        return array
    inner = getattr(array, "_array", None)  # array_api_strict's Array wraps a NumPy array
    if isinstance(inner, np.ndarray):
        return inner
    if type(array).__module__.startswith("torch") and str(getattr(array, "device", "")) == "cpu":
        try:
            return array.detach().numpy()  # shares the tensor's memory
        except (RuntimeError, TypeError):  # a dtype NumPy lacks
            return None
    return None


def _is_view(result: Any, inputs: list[Any]) -> bool:
    """Whether ``result`` (or any array in it) shares memory with one of ``inputs``."""
    if type(result) in (list, tuple):
        return any(_is_view(r, inputs) for r in result)
    mine = _memory(result)
    if mine is None:
        return False
    for array in inputs:
        other = _memory(array)
        if other is not None and np.may_share_memory(mine, other):
            return True
    return False


def _counted_inputs(values: Any) -> list[Any]:
    """The wrapped arrays of the counted arrays among ``values`` (lists and tuples too)."""
    out = []
    for value in values:
        if isinstance(value, CountedArray):
            out.append(value._a)
        elif type(value) in (list, tuple):
            out += _counted_inputs(value)
    return out


def _unwrap(value: Any) -> Any:
    if isinstance(value, CountedArray):
        return value._a
    if type(value) in (list, tuple):
        return type(value)(_unwrap(v) for v in value)
    return value


# -- arrays ------------------------------------------------------------------------------------
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
        result = self._a[_unwrap(key)]
        # NumPy gives a scalar for an element (x[1, 2]), a device library a 0-d view
        scalar = isinstance(getattr(result, "_array", result), np.generic)
        self._b.counter.op("__getitem__", 0 if scalar or _is_view(result, [self._a]) else 1)
        return self._b.wrap(result)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._b.counter.op("__setitem__")
        self._a[_unwrap(key)] = _unwrap(value)

    def to_device(self, device: Any, /, stream: Any = None) -> Any:
        result = self._a.to_device(device)
        self._b.counter.op("to_device", 0 if _is_view(result, [self._a]) else 1)
        return self._b.wrap(result)


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
        counted = name not in _METADATA_FUNCTIONS

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()})
            if counted:
                inputs = _counted_inputs((*args, *kwargs.values()))
                view = name in _NO_KERNEL or _is_view(result, inputs)
                backend.counter.op(name, 0 if view else 1)
            return backend.wrap(result)

        setattr(self, name, call)  # looked up once
        return call


class CountingGenerator:
    """The wrapped backend's generator; each draw is one operation, launching what the
    backend's model says (one without a model)."""

    def __init__(self, generator: Any, backend: CountingBackend) -> None:
        self._g = generator
        self._b = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._g, name)

    def _draw(self, name: str, *args: Any, **kwargs: Any) -> Any:
        model = self._b.model
        launches = 1 if model is None else model.draw_launches(name, args, kwargs)
        self._b.counter.op(f"rng.{name}", launches)
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


@dataclass(frozen=True)
class Model:
    """A device library as the counter models it: ``kernels``, the backend class whose
    seam replacements count their declared ``LAUNCHES``; ``draw_launches(kind, args,
    kwargs)``, the launches of a random draw (``kind``: normal, uniform, random,
    permutation; ``args``/``kwargs`` as :class:`xpnn.random.Generator` takes them)."""

    name: str
    kernels: type[Backend]
    draw_launches: Callable[[str, tuple[Any, ...], dict[str, Any]], int]


def declared_kernels(kernels: type[Backend]) -> dict[str, int]:
    """``{seam operation: launches per call}`` of each seam operation ``kernels`` replaces,
    from its ``LAUNCHES``; a clear error for a replaced operation it declares none for."""
    declared = getattr(kernels, "LAUNCHES", {})
    out = {}
    for name in SEAM:
        if getattr(kernels, name) is getattr(Backend, name):
            continue
        launches = declared.get(name)
        if isinstance(launches, bool) or not isinstance(launches, int) or launches < 0:
            raise ValueError(
                f"{kernels.__name__} replaces the seam operation {name!r} but its LAUNCHES "
                f"declares {launches!r} kernel launches for it: add {name!r}: <launches per "
                f"call> to {kernels.__name__}.LAUNCHES"
            )
        out[name] = launches
    return out


class CountingBackend(Backend):
    """``inner`` with its namespace and arrays counted by ``counter``; with a ``model``, run
    the way that model's library would (see the module docstring)."""

    def __init__(self, inner: Backend, counter: Counter, model: Model | None = None) -> None:
        self.inner = inner
        self.counter = counter
        self.model = model
        label = inner.name if model is None else f"{model.name} (on {inner.name})"
        self.name = f"counting {label}"  # type: ignore[misc]
        super().__init__(CountingNamespace(inner.xp, self), inner.device, inner._lib)
        self._array_type = type(inner.asarray(np.zeros(1, dtype=np.float32)))
        self._counted = type("CountedArray", (CountedArray,), {"__slots__": ()})
        self.kernels = {} if model is None else declared_kernels(model.kernels)
        for name, launches in self.kernels.items():  # instance attributes shadow the methods
            setattr(self, name, functools.partial(self._kernel, name, launches))

    def wrap(self, value: Any) -> Any:
        if isinstance(value, np.generic) and self._array_type is np.ndarray:
            value = np.asarray(value)  # NumPy gives scalars for full reductions: 0-d arrays
        if type(value) is self._array_type:
            return self._counted(value, self)
        if type(value) in (list, tuple):
            return type(value)(self.wrap(v) for v in value)
        return value

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        active, self.counter.active = self.counter.active, False
        try:
            yield
        finally:
            self.counter.active = active

    def _kernel(self, name: str, launches: int, *args: Any, **kwargs: Any) -> Any:
        """A seam operation the model replaces: its declared launches; the portable
        reference computes the result, uncounted."""
        self.counter.op(name, launches)
        with self.paused():
            return getattr(Backend, name)(self, *args, **kwargs)

    def conv_pool_kernel(self) -> None:
        """None: the layers' operations are counted. CuPy runs them (it has no block
        kernel), and the count of NumPy's steps is that of its seam operations, as for
        its shifted-rows convolution (``conv_by_rows`` is the default's here too)."""
        return None

    @property
    def is_cpu(self) -> bool:
        return self.inner.is_cpu if self.model is None else False

    @property
    def fork_safe(self) -> bool:
        return self.inner.fork_safe

    def activate(self) -> Any:
        return self.inner.activate()

    def synchronize(self) -> None:
        self.inner.synchronize()

    def asarray(self, data: Any, dtype: Any = None, *, copy: bool | None = None) -> Any:
        if dtype is not None:
            dtype = self.inner.dtype(dtype)
        with self.paused():
            result = self.inner.asarray(_unwrap(data), dtype, copy=copy)
        self.counter.op("asarray", 0 if _is_view(result, _counted_inputs([data])) else 1)
        return self.wrap(result)

    def to_numpy(self, array: Any) -> np.ndarray:
        self.counter.read("to_numpy")
        return self.inner.to_numpy(_unwrap(array))

    def _own(self, method: str) -> bool:
        """Whether ``method`` is one operation here: replaced by the model's class, or
        (without a model) by the wrapped backend's (else the portable default runs here, on
        counted arrays, so that each of its operations is counted)."""
        owner = type(self.inner) if self.model is None else self.model.kernels
        return getattr(owner, method) is not getattr(Backend, method)

    def _into(self, method: str, *args: Any) -> None:
        if not self._own(method):
            getattr(Backend, method)(self, *args)
            return
        self.counter.op(method)
        if getattr(type(self.inner), method) is not getattr(Backend, method):
            getattr(self.inner, method)(*_unwrap(args))
        else:
            with self.paused():
                getattr(Backend, method)(self, *args)

    def matmul_into(self, a: Any, b: Any, out: Any) -> None:
        self._into("matmul_into", a, b, out)

    def sum_into(self, x: Any, axis: Any, out: Any) -> None:
        self._into("sum_into", x, axis, out)

    def rng(self, seed: Any = None) -> Any:
        return CountingGenerator(self.inner.rng(seed), self)

    def device_key(self) -> Any:
        return self.inner.device_key()

    def __reduce__(self) -> Any:
        raise TypeError("a CountingBackend does not pickle")
