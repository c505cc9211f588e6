"""The backend switch (XPNN_BACKEND), explicit backends, and seeded random numbers."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import xpnn
from xpnn.backends import BackendError, backend_from_env, backend_of, get_backend

HAS_TORCH = importlib.util.find_spec("torch") is not None


# Run before ``import xpnn`` to make a library look absent, or CuPy look GPU-less.
HIDE_TORCH = "import sys; sys.modules['torch'] = None\n"
HIDE_CUPY = "import sys; sys.modules['cupy'] = None\n"
CUPY_WITHOUT_GPU = (
    "import sys, types\n"
    "cupy = types.ModuleType('cupy')\n"
    "cupy.cuda = types.SimpleNamespace(is_available=lambda: False)\n"
    "sys.modules['cupy'] = cupy\n"
)


def _import_xpnn_with(value: str | None, prelude: str = "") -> subprocess.CompletedProcess:
    """Import xpnn in a fresh interpreter with XPNN_BACKEND set to ``value`` (None: unset),
    after running ``prelude``."""
    env = {k: v for k, v in os.environ.items() if k != "XPNN_BACKEND"}
    if value is not None:
        env["XPNN_BACKEND"] = value
    code = prelude + "import xpnn; print(xpnn.backend.name, xpnn.backend.device)"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


# -- XPNN_BACKEND at import time, each in its own process ------------------------------------


def test_unset_backend_defaults_to_numpy():
    proc = _import_xpnn_with(None)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "numpy"


def test_empty_backend_means_unset():
    proc = _import_xpnn_with("   ")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "numpy"


def test_backend_name_is_stripped_and_case_insensitive():
    proc = _import_xpnn_with(" NumPy ")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "numpy"


def test_unknown_backend_fails_at_import_listing_valid_names():
    proc = _import_xpnn_with("tensorflow")
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "BackendError" in last
    assert "'tensorflow'" in last
    for name in xpnn.BACKEND_NAMES:
        assert name in last


def test_array_api_strict_backend_from_env():
    proc = _import_xpnn_with("array_api_strict")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "array_api_strict"


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed here")
def test_torch_backend_from_env():
    proc = _import_xpnn_with("torch")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["torch", "cpu"]


def test_torch_backend_without_torch_says_what_to_install():
    proc = _import_xpnn_with("torch", HIDE_TORCH)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "BackendError" in last and "pip install torch" in last


def test_cupy_not_installed_says_what_to_install():
    proc = _import_xpnn_with("cupy", HIDE_CUPY)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "BackendError" in last and "pip install 'xpnn[cuda12]'" in last and "cuda13" in last


def test_cupy_without_cuda_fails_at_import_with_what_to_check():
    """CuPy imports fine on a machine with no GPU; xpnn must probe and fail, never fall back."""
    proc = _import_xpnn_with("cupy", CUPY_WITHOUT_GPU)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "BackendError" in last and "no usable CUDA device" in last
    assert "nvidia-smi" in last


def test_cupy_on_this_machine_either_works_or_fails_at_import():
    """Whatever this machine has, XPNN_BACKEND=cupy never silently gives numpy."""
    proc = _import_xpnn_with("cupy")
    if proc.returncode == 0:
        assert proc.stdout.split()[0] == "cupy"
    else:
        assert "BackendError" in proc.stderr


# -- the same rules, in process ------------------------------------------------------------


def test_backend_from_env_reads_the_given_mapping():
    assert backend_from_env({}).name == "numpy"
    assert backend_from_env({"XPNN_BACKEND": "Array_API_Strict"}).name == "array_api_strict"
    with pytest.raises(BackendError, match="XPNN_BACKEND='jax'"):
        backend_from_env({"XPNN_BACKEND": "jax"})


def test_backend_error_is_an_import_error():
    assert issubclass(BackendError, ImportError)


def test_get_backend_none_is_the_default():
    assert get_backend() is xpnn.backend


def test_get_backend_passes_a_backend_through():
    b = get_backend("array_api_strict", "device1")
    assert get_backend(b) is b


def test_get_backend_rejects_a_non_string():
    with pytest.raises(TypeError, match="backend must be a name or a Backend"):
        get_backend(3.5)


def test_numpy_has_only_a_cpu_device():
    with pytest.raises(BackendError, match="only the 'cpu' device"):
        get_backend("numpy", "cuda:0")


def test_unknown_dtype_name_is_rejected(backend):
    with pytest.raises(ValueError, match="unknown dtype 'float8'"):
        backend.dtype("float8")


# -- data movement -------------------------------------------------------------------------


def test_asarray_puts_host_data_on_the_device(backend, assert_on_device, to_np):
    host = np.arange(6, dtype=np.float64).reshape(2, 3)
    arr = backend.asarray(host, dtype="float32")
    assert_on_device(arr)
    assert arr.dtype == backend.xp.float32
    np.testing.assert_array_equal(to_np(arr), host.astype(np.float32))


def test_only_host_arrays_of_another_backend_need_a_transfer(backend):
    host = np.ones(3, dtype=np.float32)
    assert backend.needs_transfer(host) is (backend.name != "numpy")
    assert not backend.needs_transfer(backend.asarray(host))


def test_to_numpy_returns_a_host_copy(backend):
    arr = backend.asarray(np.ones((2, 2), dtype=np.float32))
    out = backend.to_numpy(arr)
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float32


def test_asarray_accepts_read_only_host_arrays(backend, to_np):
    host = np.arange(4, dtype=np.float32)
    host.flags.writeable = False
    np.testing.assert_array_equal(to_np(backend.asarray(host)), host)


def test_synchronize_returns(backend):
    backend.asarray(np.ones(3))
    backend.synchronize()


def test_backend_of_recovers_library_and_device(backend):
    arr = backend.asarray(np.zeros(3, dtype=np.float32))
    found = backend_of(arr)
    assert found.name == backend.name
    assert str(found.device) == str(backend.device)


def test_backend_of_rejects_a_list():
    with pytest.raises(TypeError, match="expected an array"):
        backend_of([1.0, 2.0])


# -- random numbers ------------------------------------------------------------------------


def test_same_seed_same_numbers(backend, dtype, to_np):
    a = backend.rng(7).normal((4, 5), std=0.5, dtype=dtype)
    b = backend.rng(7).normal((4, 5), std=0.5, dtype=dtype)
    np.testing.assert_array_equal(to_np(a), to_np(b))


def test_different_seeds_different_numbers(backend, to_np):
    a = backend.rng(1).random(100)
    b = backend.rng(2).random(100)
    assert not np.array_equal(to_np(a), to_np(b))


def test_draws_are_on_the_device_in_the_requested_dtype(backend, dtype, assert_on_device):
    g = backend.rng(0)
    for arr in (g.normal((3, 2), dtype=dtype), g.uniform(5, -1.0, 1.0, dtype), g.random(4, dtype)):
        assert_on_device(arr)
        assert arr.dtype == dtype


def test_normal_has_the_requested_moments(backend, to_np):
    z = to_np(backend.rng(3).normal(200_000, std=2.0, mean=1.0, dtype="float64"))
    assert abs(z.mean() - 1.0) < 0.02
    assert abs(z.std() - 2.0) < 0.02


def test_uniform_stays_in_its_interval(backend, to_np):
    u = to_np(backend.rng(3).uniform(10_000, -2.0, 3.0, dtype="float64"))
    assert u.min() >= -2.0 and u.max() < 3.0
    assert abs(u.mean() - 0.5) < 0.05


def test_permutation_is_a_permutation(backend, assert_on_device, to_np):
    p = backend.rng(5).permutation(1000)
    assert_on_device(p)
    assert p.dtype == backend.xp.int64
    np.testing.assert_array_equal(np.sort(to_np(p)), np.arange(1000))


def test_state_round_trip_replays_the_stream(backend, to_np):
    g = backend.rng(11)
    g.normal(10)
    state = g.get_state()
    first = to_np(g.random(10))
    g.random(3)
    g.set_state(state)
    np.testing.assert_array_equal(to_np(g.random(10)), first)


def test_state_of_another_generator_kind_is_refused():
    strict = get_backend("array_api_strict").rng(0)
    state = strict.get_state()
    state["kind"] = np.asarray("TorchGenerator")
    with pytest.raises(ValueError, match="saved by a TorchGenerator"):
        strict.set_state(state)


def test_numpy_and_strict_draw_bit_identical_numbers():
    a = get_backend("numpy").rng(42).normal((50,), dtype="float32")
    b = get_backend("array_api_strict", "device1").rng(42).normal((50,), dtype="float32")
    np.testing.assert_array_equal(np.asarray(a), get_backend("array_api_strict").to_numpy(b))


def test_spawned_streams_are_independent_and_reproducible():
    s1, s2 = xpnn.spawn_seeds(0, 2)
    t1, t2 = xpnn.spawn_seeds(0, 2)
    b = get_backend("numpy")
    a1, a2 = b.rng(s1).random(50), b.rng(s2).random(50)
    assert not np.array_equal(a1, a2)
    np.testing.assert_array_equal(a1, b.rng(t1).random(50))
    np.testing.assert_array_equal(a2, b.rng(t2).random(50))


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True])
def test_bad_seed_is_rejected(seed):
    with pytest.raises((TypeError, ValueError), match="seed"):
        get_backend("numpy").rng(seed)


def test_integer_dtype_is_refused_for_random_floats(backend):
    with pytest.raises(ValueError, match="float32 or float64"):
        backend.rng(0).normal(3, dtype="int32")


def test_the_state_of_a_seed_given_as_a_list_round_trips():
    g = get_backend("numpy").rng(np.random.SeedSequence([1, 2]))
    g.reseed(3)
    state = g.get_state()
    expected = g.random(5)
    other = get_backend("numpy").rng(0)
    other.set_state(state)
    assert other.seed_sequence.entropy == [1, 2]
    np.testing.assert_array_equal(other.random(5), expected)


def test_reseed_restarts_the_stream_from_the_root_and_the_key(backend, to_np):
    g = backend.rng(4)
    g.reseed(7)
    first = to_np(g.random(6))
    g.random(3)
    g.reseed(7)
    np.testing.assert_array_equal(to_np(g.random(6)), first)
    g.reseed(8)
    assert not np.array_equal(to_np(g.random(6)), first)


def test_a_damaged_seed_in_a_state_is_refused_and_changes_nothing():
    g = get_backend("numpy").rng(1)
    state = g.get_state()
    state["entropy"] = np.asarray("{not json")
    before = g.get_state()
    with pytest.raises(ValueError, match="damaged HostGenerator seed"):
        g.set_state(state)
    assert {k: str(v) for k, v in g.get_state().items()} == {k: str(v) for k, v in before.items()}


# -- what each backend promises ------------------------------------------------------------


def test_to_numpy_never_shares_memory_with_the_array(backend, to_np):
    arr = backend.asarray(np.zeros(4, dtype=np.float32))
    out = backend.to_numpy(arr)
    out[:] = 7.0
    np.testing.assert_array_equal(to_np(arr), np.zeros(4, dtype=np.float32))
    host = np.zeros(3)
    copied = backend.to_numpy(host)
    copied[:] = 1.0
    assert not host.any()


def test_backends_are_cached_by_device_whatever_names_it():
    import array_api_strict

    named = get_backend("array_api_strict", "device1")
    assert get_backend("array_api_strict", array_api_strict.Device("device1")) is named
    assert get_backend("strict", "device1") is named
    assert get_backend("array_api_strict") is get_backend("array_api_strict", "CPU_DEVICE")


def test_cupy_devices_are_keyed_by_their_index():
    """cupy.cuda.Device is unhashable: the cache keys CuPy backends by the device id."""
    from types import SimpleNamespace

    from xpnn.backends import cupy as cupy_backend

    assert cupy_backend.device_key(None) == 0
    assert cupy_backend.device_key(1) == cupy_backend.device_key(SimpleNamespace(id=1)) == 1
    with pytest.raises(BackendError, match="GPU index"):
        cupy_backend.device_key("gpu")


def test_an_unknown_strict_device_is_a_backend_error():
    with pytest.raises(BackendError, match="no device 'device9'"):
        get_backend("array_api_strict", "device9")


def test_a_backend_pickles_as_its_name_and_device():
    import pickle

    b = get_backend("array_api_strict", "device1")
    assert pickle.loads(pickle.dumps(b)) is b
    assert pickle.loads(pickle.dumps(get_backend("numpy"))) is get_backend("numpy")


def test_xpnn_device_picks_the_default_backends_device():
    env = {"XPNN_BACKEND": "array_api_strict", "XPNN_DEVICE": " device1 "}
    assert backend_from_env(env) is get_backend("array_api_strict", "device1")
    with pytest.raises(BackendError, match="XPNN_DEVICE='cuda:0'"):
        backend_from_env({"XPNN_DEVICE": "cuda:0"})  # numpy has only the cpu


def test_the_standin_device_is_made_current_by_activate():
    from xpnn.backends.strict import current_device

    b = get_backend("array_api_strict", "device1")
    assert current_device.get() is None
    with b.activate():
        assert current_device.get() == b.device
        with get_backend("array_api_strict", "device2").activate():
            assert str(current_device.get()) != str(b.device)
        assert current_device.get() == b.device
    assert current_device.get() is None


# CuPy that sees a GPU but cannot run a kernel on it (a wheel built for another CUDA).
CUPY_WITHOUT_CUDA_LIBRARIES = (
    "import sys, types, contextlib\n"
    "cupy = types.ModuleType('cupy')\n"
    "class Device:\n"
    "    def __init__(self, i=0): self.id = i\n"
    "    def __enter__(self): return self\n"
    "    def __exit__(self, *a): return False\n"
    "def arange(*a, **k):\n"
    "    raise RuntimeError('CuPy failed to load libnvrtc.so.12: OSError: cannot open shared"
    " object file\\nmore lines of traceback')\n"
    "cupy.float32 = 'float32'\n"
    "cupy.arange = arange\n"
    "cupy.cuda = types.SimpleNamespace(is_available=lambda: True, Device=Device,\n"
    "    runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))\n"
    "sys.modules['cupy'] = cupy\n"
)


def test_cupy_that_cannot_run_a_kernel_fails_at_import_in_one_line():
    proc = _import_xpnn_with("cupy", CUPY_WITHOUT_CUDA_LIBRARIES)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "BackendError" in last and "cannot run a kernel on device 0" in last
    assert "libnvrtc.so.12" in last and "more lines" not in last
    assert "xpnn[cuda12]" in last and "xpnn[cuda13]" in last


# ... and CuPy whose kernels run, but without cuBLAS (or cuRAND): a wheel installed without
# CuPy's [ctk] libraries, which fails at the first matmul (or weight draw), not at import.
CUPY_WORKING_KERNELS = (
    CUPY_WITHOUT_CUDA_LIBRARIES + "class Array:\n"
    "    def sum(self): return self\n"
    "    def __int__(self): return 0\n"
    "    def __float__(self): return 0.0\n"
    "cupy.arange = cupy.ones = cupy.matmul = lambda *a, **k: Array()\n"
    "class RandomState:\n"
    "    def __init__(self, seed): pass\n"
    "    def random_sample(self, *a, **k): return Array()\n"
    "cupy.random = types.SimpleNamespace(RandomState=RandomState)\n"
)


def _missing(library: str) -> str:
    return (
        f"def missing(*a, **k):\n"
        f"    raise ImportError('{library}: cannot open shared object file: No such file')\n"
    )


def test_cupy_without_cublas_fails_at_import_naming_it_and_the_fix():
    prelude = CUPY_WORKING_KERNELS + _missing("libcublas.so.13") + "cupy.matmul = missing\n"
    proc = _import_xpnn_with("cupy", prelude)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "BackendError" in last and "cannot multiply matrices on device 0" in last
    assert "cuBLAS" in last and "libcublas.so.13" in last
    assert "xpnn[cuda12]" in last and "xpnn[cuda13]" in last


def test_cupy_without_curand_fails_at_import_naming_it_and_the_fix():
    prelude = (
        CUPY_WORKING_KERNELS
        + _missing("libcurand.so.10")
        + ("cupy.random = types.SimpleNamespace(RandomState=missing)\n")
    )
    proc = _import_xpnn_with("cupy", prelude)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "BackendError" in last and "cannot draw random numbers on device 0" in last
    assert "cuRAND" in last and "libcurand.so.10" in last
    assert "xpnn[cuda12]" in last and "xpnn[cuda13]" in last


def test_asking_cupy_for_a_gpu_it_does_not_see_names_the_ones_it_does():
    prelude = CUPY_WITHOUT_CUDA_LIBRARIES + "cupy.arange = lambda *a, **k: [0.0]\n"
    env_code = "import os; os.environ['XPNN_DEVICE'] = '3'\n"
    proc = _import_xpnn_with("cupy", prelude + env_code)
    last = proc.stderr.strip().splitlines()[-1]
    assert "BackendError" in last and "not device 3" in last and "CUDA_VISIBLE_DEVICES" in last
