"""Every CuPy kernel xpnn launches compiles for the GPUs we target, without a GPU.

``xpnn.backends.cupy.all_kernels()`` builds every kernel object; each is compiled here, for
``sm_80`` (A100) and ``sm_90`` (H100, H200), in float32 and float64, through CuPy's own code
generation and NVRTC (``tests/cupy_nvrtc.py``). A compile error fails with NVRTC's log.
Needs the ``kernels`` extra (``pip install 'xpnn[kernels]'``: CuPy and NVRTC, Linux); skips
where CuPy is not installed.
"""

from __future__ import annotations

import importlib.util

import pytest

from xpnn.backends.cupy_kernels import KERNELS

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("cupy") is None,
    reason="needs CuPy and NVRTC: pip install 'xpnn[kernels]' (cupy-cuda13x, nvidia-cuda-nvrtc)",
)
ARCHS = ("80", "90")


@pytest.fixture(scope="module")
def kernels():
    from xpnn.backends.cupy import all_kernels

    return all_kernels()


def test_all_kernels_builds_every_kernel_object_without_a_device(kernels):
    import cupy

    assert set(kernels) == set(KERNELS)
    for name, kernel in kernels.items():
        assert isinstance(kernel, cupy.ElementwiseKernel | cupy.ReductionKernel), name
        assert kernel.name == name


def test_nvrtc_is_there():
    from cupy.cuda import compiler

    try:
        major, _ = compiler._get_nvrtc_version()
    except Exception as exc:  # the extra installs it: missing is a failure, not a skip
        pytest.fail(f"CuPy cannot load NVRTC ({exc}): pip install 'xpnn[kernels]'")
    assert major >= 12


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("arch", ARCHS, ids=[f"sm_{a}" for a in ARCHS])
@pytest.mark.parametrize("name", list(KERNELS))
def test_the_kernel_compiles(kernels, monkeypatch, name, arch, dtype):
    from cupy_nvrtc import compile_kernel, without_a_device

    with without_a_device(monkeypatch, arch):
        cubin = compile_kernel(kernels[name], KERNELS[name], dtype, arch)
    assert name.encode() in cubin  # the kernel's entry point is in the binary


def test_a_compile_error_fails_with_nvrtcs_log(kernels, monkeypatch):
    import cupy
    from cupy.cuda.compiler import CompileException
    from cupy_nvrtc import compile_kernel, without_a_device

    spec = KERNELS["xpnn_dropout"]._replace(operation="out = x * mask_typo")
    kernel = cupy.ElementwiseKernel(spec.in_params, spec.out_params, spec.operation, spec.name)
    with without_a_device(monkeypatch, "90"), pytest.raises(CompileException) as raised:
        compile_kernel(kernel, spec, "float32", "90")
    assert 'identifier "mask_typo" is undefined' in str(raised.value)
