"""The fused optimizer kernels (one launch per update, CuPy) against the portable rules.

Each rule's CUDA operation (``xpnn.backends.cupy.FUSED_RULES``) is the portable rule's
formula, operation for operation. Without a GPU the kernel's own text runs on the CPU
(compiled with g++, ``tests/cuda_on_cpu.py``) through ``CupyBackend.optimizer_step``, fed
the optimizer's own ``scalars``, against the portable rule over several steps, in float32
and float64: the same numbers, up to float32 subnormals (flushed on the GPU). Where CuPy and
a GPU are present, the compiled kernels are checked against the portable path on the device.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CASES
from cuda_on_cpu import compiler_missing, cpu_cupy_backend

import xpnn
from xpnn.backends.cupy import FUSED_RULES
from xpnn.flat import FlatLayout

RULES = {
    "SGD": lambda: xpnn.SGD(lr=0.1),
    "Momentum": lambda: xpnn.Momentum(lr=0.1, momentum=0.8),
    "Nesterov": lambda: xpnn.Nesterov(lr=0.1, momentum=0.8),
    "AdaGrad": lambda: xpnn.AdaGrad(lr=0.1),
    "RMSprop": lambda: xpnn.RMSprop(lr=0.01, decay_rate=0.9),
    "Adam": lambda: xpnn.Adam(lr=0.01),
    "AdamW": lambda: xpnn.AdamW(lr=0.01, weight_decay=0.1),
}


@pytest.mark.skipif(compiler_missing() is not None, reason=str(compiler_missing()))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(RULES))
def test_the_fused_kernel_computes_the_portable_rule(name, dtype):
    cpu = cpu_cupy_backend()
    rng = np.random.default_rng(0)
    optimizer = RULES[name]()
    assert set(FUSED_RULES[optimizer.rule].slots) == set(optimizer.slots)
    p_fused = rng.standard_normal(50).astype(dtype)
    p_portable = p_fused.copy()
    fused = {slot: np.zeros(50, dtype) for slot in optimizer.slots}
    portable = {slot: np.zeros(50, dtype) for slot in optimizer.slots}
    tiny = np.finfo(dtype).smallest_normal
    for step in range(1, 6):
        g = rng.standard_normal(50).astype(dtype)
        cpu.optimizer_step(optimizer, p_fused, g, fused, step)
        optimizer.apply(cpu.xp, p_portable, g, portable, optimizer.scalars(step, cpu.xp, g.dtype))
        np.testing.assert_allclose(p_fused, p_portable, rtol=0, atol=tiny)
        for slot in optimizer.slots:
            np.testing.assert_allclose(fused[slot], portable[slot], rtol=0, atol=tiny)


class RecordingBackend(type(xpnn.get_backend("array_api_strict"))):
    """array_api_strict with a 'fused kernel' that records its calls and applies nothing."""

    calls: list[tuple[str, int]]

    def optimizer_step(self, optimizer, p, g, state, step):
        self.calls.append((type(optimizer).__name__, step))


def test_the_flat_path_hands_the_whole_update_to_a_fused_kernel_once():
    real = xpnn.get_backend("array_api_strict")
    backend = RecordingBackend(real.xp, real.device, real._lib)
    backend.calls = []
    net = xpnn.MultiLayerNet(4, [3, 3], 2, backend=backend, seed=0)
    before = backend.to_numpy(net.params.flat)
    opt = xpnn.Adam()
    x, t = np.ones((2, 4), np.float32), np.array([0, 1])
    for _ in range(3):
        opt.update(net.params, net.gradient(x, t))
    assert backend.calls == [("Adam", 1), ("Adam", 2), ("Adam", 3)]
    np.testing.assert_array_equal(backend.to_numpy(net.params.flat), before)  # not applied twice


GPU_CASE = next((c for c in CASES if c.name == "cupy"), None)


@pytest.mark.skipif(
    GPU_CASE is None, reason="needs CuPy and a CUDA GPU: run `nox -s gpu` on a GPU machine"
)
def test_on_a_gpu_the_fused_kernels_match_the_portable_path():
    """Run where CuPy finds a GPU (``nox -s gpu``, ``benchmarks/gpu_check.sh``); the kernel
    text itself is checked everywhere by the test above."""
    backend = xpnn.get_backend(GPU_CASE.name, GPU_CASE.device)
    shapes = {"a": (30, 20), "b": (20,)}
    for name, make in RULES.items():
        rng = np.random.default_rng(1)
        start = {k: rng.standard_normal(s) for k, s in shapes.items()}
        grads = [{k: rng.standard_normal(s) for k, s in shapes.items()} for _ in range(10)]
        flats = []
        for fused in (True, False):
            backend.use_fused_kernels = fused
            arrays = {k: backend.asarray(v, "float32") for k, v in start.items()}
            layout = FlatLayout.of(arrays, backend)
            p, opt = layout.pack(arrays), make()
            for g in grads:
                opt.update(p, layout.pack({k: backend.asarray(v, "float32") for k, v in g.items()}))
            flats.append(backend.to_numpy(p.flat))
        backend.use_fused_kernels = True
        np.testing.assert_allclose(flats[0], flats[1], rtol=2e-6, atol=1e-7, err_msg=name)
