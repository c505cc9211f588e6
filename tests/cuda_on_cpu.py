"""CuPy's kernels run on the CPU: the kernel's own text compiled as C++ with the machine's g++.

:class:`CpuCupy` stands in for the ``cupy`` module inside :class:`xpnn.backends.cupy.CupyBackend`
(``cpu_cupy_backend()``): its arrays are NumPy arrays, and its ``ElementwiseKernel`` and
``ReductionKernel`` take the same arguments as CuPy's, check their calls as CuPy does (types,
broadcasting, output shapes, ``size=`` only with raw arrays) and run the kernel's text in a
loop, so every line of the backend's glue and every kernel body runs here as on a GPU.

How a kernel becomes C++ (what CuPy's code generator does, with a loop for the grid):

- ``ElementwiseKernel``: ``typedef <dtype> T;``, the preamble, then
  ``for (i = 0; i < size; ++i) { <bind each non-raw argument>; <operation>; }`` — an input
  bound as ``const T &x``, an output as ``T &x``, both at index ``i`` of the broadcast
  shape through the array's strides; raw arrays are :cpp:`CArray` objects with CuPy's
  interface (``x[at]`` with an index array, ``x[k]`` with a flat index, ``x.shape()``,
  ``x.strides()``, ``x.size()``); scalars are constants of the parameter's type.
- ``ReductionKernel``: CuPy's ``REDUCE``/``POST_MAP`` macros and ``_type_reduce``; for each
  output element, ``_type_reduce(identity)`` folded with ``REDUCE`` over the reduced input
  elements in order (CuPy folds in a tree: sums differ in the last bits), then
  ``POST_MAP``.

The arithmetic is the GPU's: compiled without contraction into fused multiply-adds (as
xpnn's kernels are, ``--fmad=false``), and with float32 subnormals flushed to zero around a
float32 kernel (CuPy compiles with ``-ftz=true``). The math functions are the C library's
(``expf``, ``logf``, ``tanhf``), within an ulp or two of CUDA's.

Compiled libraries are cached per source text for the test session.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import numpy as np

__all__ = ["CpuCupy", "compiler_missing", "cpu_cupy_backend"]

MAX_DIMS = 8
_C_TYPES = {
    "float32": "float",
    "float64": "double",
    "int8": "signed char",
    "int16": "short",
    "int32": "int",
    "int64": "long long",
    "uint8": "unsigned char",
    "uint32": "unsigned int",
    "bool": "bool",
}

_HEADER = r"""
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif
using std::exp; using std::log; using std::sqrt; using std::tanh; using std::fabs;
using std::isinf; using std::isnan; using std::pow; using std::fmax; using std::fmin;
#define __device__
#define __host__
#define __forceinline__ inline

// CuPy's CArray (cupy/_core/include/cupy/carray.cuh), the part kernels use: strides in
// bytes, an index array resolved through them, a flat index in C order.
template <typename T, int ndim>
class CArray {
  T* data_;
  ptrdiff_t size_;
  ptrdiff_t shape_[ndim > 0 ? ndim : 1];
  ptrdiff_t strides_[ndim > 0 ? ndim : 1];
 public:
  CArray(void* data, const long long* meta) : data_(static_cast<T*>(data)), size_(1) {
    for (int d = 0; d < ndim; ++d) {
      shape_[d] = meta[d];
      strides_[d] = meta[MAX_DIMS + d];
      size_ *= shape_[d];
    }
  }
  ptrdiff_t size() const { return size_; }
  const ptrdiff_t* shape() const { return shape_; }
  const ptrdiff_t* strides() const { return strides_; }
  template <typename Int>
  T& operator[](const Int (&idx)[ndim]) const {
    ptrdiff_t diff = 0;
    for (int d = 0; d < ndim; ++d) diff += strides_[d] * static_cast<ptrdiff_t>(idx[d]);
    return *reinterpret_cast<T*>(reinterpret_cast<char*>(data_) + diff);
  }
  T& operator[](ptrdiff_t i) const {
    ptrdiff_t diff = 0;
    for (int d = ndim - 1; d > 0; --d) {
      diff += strides_[d] * (i % shape_[d]);
      i /= shape_[d];
    }
    diff += strides_[0] * i;
    return *reinterpret_cast<T*>(reinterpret_cast<char*>(data_) + diff);
  }
};

struct CpuIndexer {
  ptrdiff_t size_;
  ptrdiff_t size() const { return size_; }
};

// The address of element j (C order over shape) of an array with these byte strides.
static inline void* xpnn_at(void* data, ptrdiff_t j, int ndim, const long long* shape,
                            const long long* strides) {
  ptrdiff_t diff = 0;
  for (int d = ndim - 1; d >= 0; --d) {
    diff += strides[d] * (j % shape[d]);
    j /= shape[d];
  }
  return static_cast<char*>(data) + diff;
}

// Float32 subnormals flushed to zero, as CuPy's -ftz=true does on the GPU.
struct FlushSubnormals {
#if defined(__SSE__)
  unsigned int saved;
  explicit FlushSubnormals(bool on) : saved(_mm_getcsr()) {
    if (on) _mm_setcsr(saved | 0x8040);
  }
  ~FlushSubnormals() { _mm_setcsr(saved); }
#else
  explicit FlushSubnormals(bool) {}
#endif
};
"""


_NL2, _NL4, _NL6 = "\n  ", "\n    ", "\n      "


class Param(NamedTuple):
    name: str
    type: str  # a placeholder ("T") or a dtype name ("int32")
    raw: bool
    const: bool

    @property
    def dtype(self) -> np.dtype | None:
        return np.dtype(self.type) if self.type in _C_TYPES else None


def parse_params(text: str, const: bool) -> list[Param]:
    """CuPy's parameter list syntax: ``"T x, raw T y, int32 n"``."""
    out = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        words = item.split()
        raw = words[0] == "raw"
        if raw:
            words = words[1:]
        if len(words) != 2 or not re.fullmatch(r"[A-Za-z_]\w*", words[1]):
            raise ValueError(f"bad kernel parameter {item!r}")
        if words[1] == "i":
            raise ValueError("Can not use 'i' as a parameter name")
        out.append(Param(words[1], words[0], raw, const))
    return out


def compiler_missing() -> str | None:
    """Why kernels cannot be compiled here (no g++), or None."""
    return None if shutil.which("g++") else "needs the machine's C++ compiler (g++)"


_BUILD_DIR: Path | None = None
_LIBRARIES: dict[str, Any] = {}


def _library(source: str) -> Any:
    """``source`` compiled as a shared library and loaded (cached per source text)."""
    global _BUILD_DIR
    key = hashlib.sha256(source.encode()).hexdigest()[:24]
    lib = _LIBRARIES.get(key)
    if lib is not None:
        return lib
    if _BUILD_DIR is None:  # one folder per test session, removed at its end
        _BUILD_DIR = Path(tempfile.mkdtemp(prefix="xpnn-cuda-on-cpu-"))
        atexit.register(shutil.rmtree, _BUILD_DIR, True)
    cpp, so = _BUILD_DIR / f"{key}.cpp", _BUILD_DIR / f"{key}.so"
    cpp.write_text(source, encoding="utf-8")
    cmd = [
        "g++",
        "-std=c++17",
        "-O1",
        "-shared",
        "-fPIC",
        "-ffp-contract=off",
        f"-DMAX_DIMS={MAX_DIMS}",
        "-o",
        str(so),
        str(cpp),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        numbered = "\n".join(f"{n + 1:4d}  {line}" for n, line in enumerate(source.splitlines()))
        raise RuntimeError(f"g++ failed on a kernel:\n{proc.stderr}\n--- source ---\n{numbered}")
    lib = _LIBRARIES[key] = ctypes.CDLL(str(so))
    return lib


# -- arguments ------------------------------------------------------------------------------
def _types(params: list[Param], args: list[Any]) -> dict[str, np.dtype]:
    """Each placeholder's dtype, from the array arguments bound to it (CuPy's rule)."""
    found: dict[str, np.dtype] = {}
    for p, a in zip(params, args, strict=False):
        if p.dtype is None and isinstance(a, np.ndarray):
            if p.type in found and found[p.type] != a.dtype:
                raise TypeError(f"Type is mismatched. {p.name} {a.dtype} {found[p.type]} {p.type}")
            found[p.type] = a.dtype
        elif p.dtype is not None and isinstance(a, np.ndarray) and a.dtype != p.dtype:
            raise TypeError(f"Type is mismatched. {p.name} {a.dtype} {p.dtype}")
    return found


def _dtype_of(p: Param, types: dict[str, np.dtype]) -> np.dtype:
    if p.dtype is not None:
        return p.dtype
    if p.type not in types:
        raise TypeError(f"cannot decide the type {p.type} of {p.name}: no array is bound to it")
    return types[p.type]


class _Call:
    """The arguments of one launch packed for the C wrapper: data pointers, and per
    argument its shape and byte strides (``MAX_DIMS`` each)."""

    def __init__(self, n: int) -> None:
        self.pointers = (ctypes.c_void_p * n)()
        self.meta = np.zeros((n, 2 * MAX_DIMS), dtype=np.int64)
        self.keep: list[Any] = []  # scalar buffers, alive until the call returns

    def array(self, k: int, a: np.ndarray) -> None:
        if a.ndim > MAX_DIMS:
            raise ValueError(f"arrays of up to {MAX_DIMS} dimensions, not {a.ndim}")
        self.pointers[k] = a.ctypes.data
        self.meta[k, : a.ndim] = a.shape
        self.meta[k, MAX_DIMS : MAX_DIMS + a.ndim] = a.strides

    def scalar(self, k: int, value: Any, dtype: np.dtype) -> None:
        buf = np.asarray(value).astype(dtype).reshape(1)
        self.keep.append(buf)
        self.pointers[k] = buf.ctypes.data


def _c_type(p: Param, types: dict[str, np.dtype]) -> str:
    return p.type if p.dtype is None else _C_TYPES[p.dtype.name]


def _typedefs(types: dict[str, np.dtype]) -> str:
    return "".join(f"typedef {_C_TYPES[d.name]} {t};\n" for t, d in sorted(types.items()))


def _binding(
    k: int,
    p: Param,
    a: Any,
    types: dict[str, np.dtype],
    where: str = "",
    ndim: str = "loop_ndim",
    by_value: bool = False,
) -> str:
    """The C++ line that makes parameter ``p`` (argument ``k``) visible to the body: a
    constant (a scalar), a ``CArray`` (a raw array), or a reference to element ``where`` of
    a non-raw array (an input ``const``, by value where ``by_value``: as CuPy binds them)."""
    ctype = _c_type(p, types)
    if not isinstance(a, np.ndarray):
        return f"const {ctype} {p.name} = *static_cast<const {ctype}*>(data[{k}]);"
    if p.raw:
        return f"CArray<{ctype}, {a.ndim}> {p.name}(data[{k}], meta + {k * 2 * MAX_DIMS});"
    ref = (f"const {ctype} " if by_value else f"const {ctype} &") if p.const else f"{ctype} &"
    return (
        f"{ref}{p.name} = *static_cast<{ctype}*>(xpnn_at(data[{k}], {where}, {ndim}, "
        f"loop_shape, meta + {k * 2 * MAX_DIMS + MAX_DIMS}));"
    )


def _ftz(types: dict[str, np.dtype], params: list[Param]) -> str:
    dtypes = [*types.values(), *(p.dtype for p in params if p.dtype is not None)]
    return "true" if any(d == np.float32 for d in dtypes) else "false"


def _call_library(source: str, call: _Call, loop_shape: tuple[int, ...], *sizes: int) -> None:
    shape = np.zeros(MAX_DIMS, dtype=np.int64)
    shape[: len(loop_shape)] = loop_shape
    fn = _library(source).xpnn_cpu_kernel
    fn.restype = None
    fn(
        call.pointers,
        call.meta.ctypes.data_as(ctypes.c_void_p),
        shape.ctypes.data_as(ctypes.c_void_p),
        ctypes.c_int(len(loop_shape)),
        *(ctypes.c_longlong(s) for s in sizes),
    )


# -- the kernels ------------------------------------------------------------------------------
class CpuElementwiseKernel:
    """``cupy.ElementwiseKernel`` on the CPU (same constructor, same call)."""

    def __init__(
        self,
        in_params: str,
        out_params: str,
        operation: str,
        name: str = "kernel",
        reduce_dims: bool = True,
        preamble: str = "",
        no_return: bool = False,
        return_tuple: bool = False,
        **kwargs: Any,
    ) -> None:
        self.in_params = parse_params(in_params, True)
        self.out_params = parse_params(out_params, False)
        self.params = self.in_params + self.out_params
        self.operation, self.name, self.preamble = operation, name, preamble
        self.no_return, self.return_tuple, self.kwargs = no_return, return_tuple, kwargs

    def __call__(
        self, *args: Any, size: int = -1, block_size: int = 128, stream: Any = None
    ) -> Any:
        nin, nargs = len(self.in_params), len(self.params)
        if len(args) not in (nin, nargs):
            raise TypeError(
                f"Wrong number of arguments for {self.name!r}. It must be either {nin} or "
                f"{nargs} (with outputs), but given {len(args)}."
            )
        args_ = list(args)
        types = _types(self.params, args_)
        shape = self._shape(args_, size)
        if len(args_) == nin:
            for p in self.out_params:
                if p.raw:
                    raise TypeError("Output array size is Undecided")
                args_.append(np.empty(shape, dtype=_dtype_of(p, types)))
        for p, a in zip(self.out_params, args_[nin:], strict=True):
            if not isinstance(a, np.ndarray):
                raise TypeError("Output arguments type must be cupy.ndarray")
            if not p.raw and a.shape != shape:
                raise ValueError("Out shape is mismatched")
        self._run(args_, types, shape)
        outs = args_[nin:]
        if self.no_return:
            return None
        return outs[0] if len(outs) == 1 and not self.return_tuple else tuple(outs)

    def _shape(self, args: list[Any], size: int) -> tuple[int, ...]:
        """The loop's shape: ``(size,)``, or the broadcast shape of the non-raw arrays."""
        nonraw = [
            a
            for p, a in zip(self.params, args, strict=False)
            if isinstance(a, np.ndarray) and not p.raw
        ]
        if size != -1:
            if nonraw:
                raise ValueError(
                    "Specified 'size' can be used only if all of the ndarray are 'raw'."
                )
            return (size,)
        if not nonraw:
            raise ValueError("Loop size is undecided.")
        return np.broadcast_shapes(*(a.shape for a in nonraw))

    def _run(self, args: list[Any], types: dict[str, np.dtype], shape: tuple[int, ...]) -> None:
        call = _Call(len(args))
        fixed, bound = [], []
        for k, (p, a) in enumerate(zip(self.params, args, strict=True)):
            if isinstance(a, np.ndarray):
                call.array(k, a if p.raw else np.broadcast_to(a, shape))
            else:
                call.scalar(k, a, _dtype_of(p, types))
            inside = isinstance(a, np.ndarray) and not p.raw
            (bound if inside else fixed).append(_binding(k, p, a, types, "i"))
        source = f"""{_HEADER}
{_typedefs(types)}
{self.preamble}
extern "C" void xpnn_cpu_kernel(void* const* data, const long long* meta,
                                const long long* loop_shape, int loop_ndim, long long size) {{
  FlushSubnormals ftz({_ftz(types, self.params)});
  {_NL2.join(fixed)}
  CpuIndexer _ind{{size}};
  (void)_ind;
  for (ptrdiff_t i = 0; i < size; ++i) {{
    {_NL4.join(bound)}
    {self.operation};
  }}
}}
"""
        _call_library(source, call, shape, int(np.prod(shape)))


class CpuReductionKernel:
    """``cupy.ReductionKernel`` on the CPU (same constructor, same call; no ``keepdims``)."""

    def __init__(
        self,
        in_params: str,
        out_params: str,
        map_expr: str,
        reduce_expr: str,
        post_map_expr: str,
        identity: Any,
        name: str = "reduce_kernel",
        reduce_type: str | None = None,
        reduce_dims: bool = True,
        preamble: str = "",
        options: tuple[str, ...] = (),
    ) -> None:
        self.in_params = parse_params(in_params, True)
        self.out_params = parse_params(out_params, False)
        self.params = self.in_params + self.out_params
        self.map_expr, self.reduce_expr, self.post_map_expr = map_expr, reduce_expr, post_map_expr
        self.identity = "" if identity is None else str(identity)
        self.name, self.preamble, self.options = name, preamble, options
        self.reduce_type = reduce_type if reduce_type is not None else self.out_params[0].type

    def __call__(self, *args: Any, out: Any = None, axis: Any = None, stream: Any = None) -> Any:
        nin = len(self.in_params)
        if len(args) not in (nin, len(self.params)):
            raise TypeError(f"Wrong number of arguments for {self.name}")
        ins, outs = list(args[:nin]), list(args[nin:])
        if out is not None:
            if len(self.out_params) != 1 or outs:
                raise ValueError("cannot specify 'out' as both a positional and keyword argument")
            outs = [out]
        types = _types(self.params, ins + outs)
        arrays = [
            a
            for p, a in zip(self.in_params, ins, strict=True)
            if isinstance(a, np.ndarray) and not p.raw
        ]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        if axis is None:
            axis = tuple(range(len(shape)))
        axes = tuple(sorted(a % len(shape) for a in ((axis,) if isinstance(axis, int) else axis)))
        keep = tuple(d for d in range(len(shape)) if d not in axes)
        out_shape = tuple(shape[d] for d in keep)
        if not outs:
            outs = [np.empty(out_shape, dtype=_dtype_of(p, types)) for p in self.out_params]
        for p, a in zip(self.out_params, outs, strict=True):
            if not p.raw and a.shape != out_shape:
                raise ValueError("Out shape is mismatched")
        self._run(ins + outs, types, shape, keep + axes, len(keep))
        return outs[0]

    def _run(
        self,
        args: list[Any],
        types: dict[str, np.dtype],
        shape: tuple[int, ...],
        order: tuple[int, ...],
        nkeep: int,
    ) -> None:
        """Loop over the output (``order``: its dimensions first, the reduced ones last)."""
        call = _Call(len(args))
        fixed, ins, outs = [], [], []
        for k, (p, a) in enumerate(zip(self.params, args, strict=True)):
            if not isinstance(a, np.ndarray) or p.raw:
                fixed.append(_binding(k, p, a, types))
                if isinstance(a, np.ndarray):
                    call.array(k, a)
                else:
                    call.scalar(k, a, _dtype_of(p, types))
            elif p.const:  # a reduced input, element j; CuPy binds it by value
                call.array(k, np.broadcast_to(a, shape).transpose(order))
                ins.append(_binding(k, p, a, types, "j", by_value=True))
            else:  # an output, element o
                call.array(k, a)
                outs.append(_binding(k, p, a, types, "o", ndim="nkeep"))
        permuted = tuple(shape[d] for d in order)
        out_size, red_size = int(np.prod(permuted[:nkeep])), int(np.prod(permuted[nkeep:]))
        source = f"""{_HEADER}
{_typedefs(types)}
{self.preamble}
#define REDUCE(a, b) ({self.reduce_expr})
#define POST_MAP(a) ({self.post_map_expr})
typedef {self.reduce_type} _type_reduce;
extern "C" void xpnn_cpu_kernel(void* const* data, const long long* meta,
                                const long long* loop_shape, int loop_ndim,
                                long long out_size, long long red_size, long long nkeep) {{
  FlushSubnormals ftz({_ftz(types, self.params)});
  {_NL2.join(fixed)}
  for (ptrdiff_t o = 0; o < out_size; ++o) {{
    _type_reduce _s = _type_reduce({self.identity});
    for (ptrdiff_t r = 0; r < red_size; ++r) {{
      const ptrdiff_t j = o * red_size + r;
      {_NL6.join(ins)}
      _type_reduce _a = static_cast<_type_reduce>({self.map_expr});
      _s = REDUCE(_s, _a);
    }}
    {_NL4.join(outs)}
    POST_MAP(_s);
  }}
}}
"""
        _call_library(source, call, permuted, out_size, red_size, nkeep)


# -- the stand-in cupy module ---------------------------------------------------------------
class _Device(str):
    """What CupyBackend asks of a ``cupy.cuda.Device`` (an id, a context manager, a
    synchronize), and the string ``"cpu"`` to NumPy, which computes here."""

    id = 0

    def __new__(cls) -> _Device:
        return super().__new__(cls, "cpu")

    def __enter__(self) -> _Device:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def synchronize(self) -> None:
        pass


class _RandomState:
    """``cupy.random.RandomState``'s draws that xpnn uses, with NumPy's generator."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def standard_normal(self, shape: Any, dtype: Any) -> np.ndarray:
        return self._rng.standard_normal(shape, dtype=dtype)

    def random_sample(self, shape: Any, dtype: Any) -> np.ndarray:
        return self._rng.random(shape, dtype=dtype)

    def permutation(self, n: int) -> np.ndarray:
        return self._rng.permutation(n)


class CpuCupy:
    """The part of the ``cupy`` module :class:`~xpnn.backends.cupy.CupyBackend` uses, on
    NumPy arrays, with kernels compiled for the CPU."""

    random = SimpleNamespace(RandomState=_RandomState)
    ElementwiseKernel = CpuElementwiseKernel
    ReductionKernel = CpuReductionKernel
    ndarray = np.ndarray
    float32, float64, int32, int64 = np.float32, np.float64, np.int32, np.int64
    empty, empty_like, zeros = (
        staticmethod(np.empty),
        staticmethod(np.empty_like),
        staticmethod(np.zeros),
    )

    @staticmethod
    def asnumpy(a: Any) -> np.ndarray:
        return np.array(a, copy=True)

    @staticmethod
    def matmul(a: Any, b: Any, out: Any = None) -> Any:
        return np.matmul(a, b, out=out)

    @staticmethod
    def sum(a: Any, axis: Any = None, out: Any = None) -> Any:
        return np.sum(a, axis=axis, out=out)


def cpu_cupy_backend() -> Any:
    """A :class:`~xpnn.backends.cupy.CupyBackend` whose library is :class:`CpuCupy`: the
    backend's own code, its kernels compiled for the CPU."""
    from array_api_compat import numpy as xp

    from xpnn.backends.cupy import CupyBackend

    return CupyBackend(xp, _Device(), CpuCupy)
