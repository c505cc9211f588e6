"""CuPy's own code generation and NVRTC, without a GPU: the CUDA source CuPy would build for a
kernel object, compiled to a cubin for a chosen architecture.

CuPy generates a kernel's source when it is first launched, from the arguments' types
(``cupy/_core/_kernel.pyx``: ``_get_elementwise_kernel_code``; ``_reduction.pyx``:
``_ReductionKernel_get_cached_function_code``), then compiles it with
``cupy._core.core.compile_with_cache`` (CuPy's headers and options, ``-ftz=true`` among
them) and loads the module on the current device. Two things there need a device, and
:func:`without_a_device` replaces just those: the architecture, which CuPy asks the current
device for (``cupy.cuda.compiler._get_arch_for_options_for_nvrtc``, memoized per device),
and loading the cubin (the ``Module`` class ``cupy.cuda.compiler`` makes). Everything else
is CuPy's own code. The argument types are described as a launch would find them: non-raw
arrays as 1-D contiguous (what CuPy reduces contiguous arguments to), raw arrays with the
dimensions the kernel indexes them with, scalars as scalars.

These are CuPy internals (CuPy 14); ``xpnn[kernels]`` pins the major version.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from xpnn.backends.cupy_kernels import Elementwise, Reduction

__all__ = ["compile_kernel", "without_a_device"]

_NDARRAY, _INDEXER, _SCALAR = 1, 2, 3  # cupy._core._kernel._ArgKind
_REDUCTION_BLOCK = 512  # CuPy's largest reduction block (_reduction._default_block_size)


@contextlib.contextmanager
def without_a_device(monkeypatch: Any, arch: str) -> Iterator[None]:
    """CuPy compiles for ``arch`` ("80", "90") and keeps the cubin instead of loading it."""
    from cupy.cuda import compiler, function

    class Unloaded(function.Module):
        """A module that keeps its cubin (loading one needs a device)."""

        cubin: bytes = b""

        def load(self, cubin: bytes) -> None:
            self.cubin = cubin

        def _set_mapping(self, mapping: Any) -> None:
            pass

    module = type(compiler.function)("unloaded")
    module.Module = Unloaded
    monkeypatch.setenv("CUPY_CACHE_IN_MEMORY", "1")  # always compile; write no cache
    monkeypatch.setattr(compiler, "function", module)
    monkeypatch.setattr(compiler, "_get_arch", lambda: arch)
    monkeypatch.setattr(
        compiler,
        "_get_arch_for_options_for_nvrtc",
        lambda a=None: (f"-arch=sm_{a or arch}", "cubin"),
    )
    yield


def _info(kind: int, dtype: Any, ndim: int = 0, contiguous: bool = True) -> Any:
    import cupy
    from cupy._core import _carray, _kernel, _scalar

    typ = {_NDARRAY: cupy.ndarray, _INDEXER: _carray.Indexer, _SCALAR: _scalar.CScalar}[kind]
    return _kernel._ArgInfo(kind, typ, dtype, ndim, contiguous, contiguous)


def _arg(p: Any, spec: Any, dtype: np.dtype, ndim: int) -> Any:
    t = np.dtype(p.dtype) if p.dtype is not None else dtype
    if p.name in spec.scalars:
        return _info(_SCALAR, t)
    if p.raw:
        return _info(_NDARRAY, t, spec.raw_ndim, contiguous=False)
    return _info(_NDARRAY, t, ndim, contiguous=ndim <= 1)


def source(kernel: Any, spec: Elementwise | Reduction, dtype: str) -> tuple[str, tuple[str, ...]]:
    """The CUDA source and NVRTC options CuPy builds for ``kernel`` launched on ``dtype``."""
    from cupy._core import _kernel, _reduction

    t = np.dtype(dtype)
    if isinstance(spec, Elementwise):
        infos = [_arg(p, spec, t, 1) for p in kernel.params[:-1]] + [_info(_INDEXER, None, 1)]
        type_map = _kernel._TypeMap((("T", t),))
        options = kernel.kwargs.get("options", ())
        code = _kernel._get_elementwise_kernel_code(
            tuple(infos),
            type_map,
            kernel.params,
            kernel.operation,
            kernel.name,
            kernel.preamble,
            options=options,
        )
        return code, options
    infos = [_arg(p, spec, t, spec.in_ndim) for p in kernel.in_params]
    infos += [_arg(p, spec, t, spec.out_ndim) for p in kernel.out_params]
    infos += [
        _info(_INDEXER, None, spec.in_ndim),
        _info(_INDEXER, None, spec.out_ndim),
        _info(_SCALAR, np.dtype(np.int32)),
    ]
    type_map = _kernel._TypeMap((("T", t.type), ("IndexT", "int32")))
    code = _reduction._ReductionKernel_get_cached_function_code(
        kernel.nin,
        kernel.nout,
        kernel._params,
        tuple(infos),
        type_map,
        kernel.name,
        _REDUCTION_BLOCK,
        kernel.reduce_type,
        kernel.identity,
        kernel.map_expr,
        kernel.reduce_expr,
        kernel.post_map_expr,
        kernel.preamble,
        kernel.options,
    )
    return code, kernel.options


def compile_kernel(kernel: Any, spec: Elementwise | Reduction, dtype: str, arch: str) -> bytes:
    """The cubin CuPy builds for ``kernel`` on ``dtype`` for ``sm_<arch>`` (inside
    :func:`without_a_device`); a compile error raises CuPy's ``CompileException`` with
    NVRTC's log."""
    from cupy._core import core

    code, options = source(kernel, spec, dtype)
    return core.compile_with_cache(code, tuple(options), arch).cubin
