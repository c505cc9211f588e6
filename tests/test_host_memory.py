"""The NumPy backend keeps large freed arrays for reuse (:mod:`xpnn.backends.host_memory`):
a training step then takes no fresh pages from the kernel; ``XPNN_MALLOC=system`` and a
process's own ``MALLOC_*_`` tuning leave glibc as it is; a bad value says how to fix it."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

GLIBC = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"

STEPS = """
import resource, numpy as np, xpnn
from xpnn.backends import host_memory
b = xpnn.get_backend("numpy")
rng = np.random.default_rng(0)
x = rng.random((100, 1, 28, 28), dtype=np.float32)
t = rng.integers(0, 10, 100)
net = xpnn.SimpleConvNet(seed=0, backend=b, dtype="float32")
opt = xpnn.Adam(lr=1e-3)
for _ in range(3):
    opt.update(net.params, net.gradient(x, t))
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    opt.update(net.params, net.gradient(x, t))
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5
print(host_memory.keep_freed_memory(), faults)
"""


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    def tuning(k: str) -> bool:
        return k == "XPNN_MALLOC" or (k.startswith("MALLOC_") and k.endswith("_"))

    environ = {k: v for k, v in os.environ.items() if not tuning(k)}
    environ.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environ, timeout=300)  # fmt: skip


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only (Linux)")
def test_a_training_step_reuses_its_freed_arrays_instead_of_fresh_pages():
    proc = run_python(STEPS)
    assert proc.returncode == 0, proc.stderr
    applied, faults = proc.stdout.split()
    assert applied == "True"
    # without it, 1,300-1,900 page faults a step here (5-7 MB of fresh pages)
    assert float(faults) < 100, faults


@pytest.mark.parametrize("env", [{"XPNN_MALLOC": "system"}, {"MALLOC_ARENA_MAX_": "2"},
                                 {"MALLOC_TRIM_THRESHOLD_": "1000000"}])  # fmt: skip
def test_the_system_setting_and_a_tuned_allocator_are_left_as_they_are(env):
    proc = run_python("from xpnn.backends import host_memory as h; import xpnn; "
                      "print(h.keep_freed_memory())", **env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False"]


def test_a_bad_xpnn_malloc_names_the_variable_and_its_values():
    proc = run_python("import xpnn", XPNN_MALLOC="lots")
    assert proc.returncode != 0
    assert "XPNN_MALLOC must be 'keep' (the default: freed large arrays reused) or " \
        "'system'" in proc.stderr  # fmt: skip
    assert "got 'lots'" in proc.stderr
