"""Shared fixtures: every test that takes ``backend`` runs on each available backend.

Cases (``XPNN_TEST_BACKENDS``, comma-separated, picks a subset by case id or backend name):

- ``numpy``: NumPy through array_api_compat, float32;
- ``strict``: array_api_strict on its default device, float64;
- ``strict-device1``: array_api_strict on ``Device("device1")``, float32 — the GPU
  stand-in: xpnn treats it as device memory (``is_cpu`` is false: losses stay on the
  device, device arrays are not value-checked, reads happen only at bounded points), NumPy
  cannot read it, and any array created without ``device=`` lands on the wrong device and
  fails there (``tests/standin.py`` also counts its host reads and makes it allocate like
  CuPy, on the current device);
- ``torch``: PyTorch on the CPU, float32, where torch is installed;
- ``cupy``: CuPy on GPU 0, float32, where CuPy finds a CUDA device.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import xpnn

# Scripts in the book's style, run by test_book.py through `python -m xpnn.book`; some are
# named like tests (batch_norm_test.py) but are not pytest's to import.
collect_ignore = ["book_repo"]

# XPNN_DATA may be relative to where pytest was started (XPNN_DATA=../shared/datasets); the
# tests run scripts from other folders (tmp_path, the book's chapters), which inherit it, so
# it is made absolute once, here, before any of them starts.
if os.environ.get("XPNN_DATA", "").strip():
    os.environ["XPNN_DATA"] = os.path.abspath(os.path.expanduser(os.environ["XPNN_DATA"].strip()))


@dataclass(frozen=True)
class Case:
    id: str
    name: str
    device: Any
    dtype: str


def _cupy_available() -> bool:
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        return bool(cupy.cuda.is_available())
    except Exception:
        return False


def _cases() -> list[Case]:
    cases = [
        Case("numpy", "numpy", None, "float32"),
        Case("strict", "array_api_strict", None, "float64"),
        Case("strict-device1", "array_api_strict", "device1", "float32"),
    ]
    if importlib.util.find_spec("torch") is not None:
        cases.append(Case("torch", "torch", None, "float32"))
    if _cupy_available():
        cases.append(Case("cupy", "cupy", None, "float32"))
    wanted = os.environ.get("XPNN_TEST_BACKENDS", "").strip()
    if wanted:
        keys = {w.strip().lower() for w in wanted.split(",") if w.strip()}
        cases = [c for c in cases if c.id in keys or c.name in keys]
        if not cases:
            raise pytest.UsageError(f"XPNN_TEST_BACKENDS={wanted!r} selects no available backend")
    return cases


CASES = _cases()


@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
def case(request) -> Case:
    return request.param


@pytest.fixture
def backend(case: Case) -> xpnn.Backend:
    """The backend under test (one per case)."""
    return xpnn.get_backend(case.name, case.device)


@pytest.fixture
def dtype(case: Case, backend: xpnn.Backend):
    """The case's floating dtype, as a dtype of ``backend.xp``."""
    return backend.dtype(case.dtype)


@pytest.fixture
def to_np(backend: xpnn.Backend):
    """Copy an array of the backend under test to NumPy (checks nothing else)."""
    return backend.to_numpy


@pytest.fixture
def assert_on_device(backend: xpnn.Backend):
    """Assert that an array belongs to the backend under test and lives on its device."""
    from array_api_compat import array_namespace, device

    def check(array: Any) -> None:
        assert not isinstance(array, np.ndarray) or backend.name == "numpy", type(array)
        array_namespace(array)  # raises for a foreign type
        assert str(device(array)) == str(backend.device), (device(array), backend.device)

    return check


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST ``((x_train, t_train), (x_test, t_test))`` as host arrays, never downloaded.

    Skips only where MNIST is not found and ``XPNN_DATA`` is unset; with ``XPNN_DATA`` set (CI
    sets it to ../shared/datasets) a missing data set is a failure, not a skip.
    """
    from xpnn.datasets import DatasetNotFoundError

    try:
        return xpnn.load_mnist(download=False)
    except DatasetNotFoundError:
        if os.environ.get("XPNN_DATA"):
            raise
        pytest.skip("MNIST not found and XPNN_DATA unset (CI sets it to ../shared/datasets)")


def flat_views(backend, shapes, dtype="float64"):
    """Views of one flat zero buffer, shaped as ``shapes`` (as xpnn.flat lays them out)."""
    xp = backend.xp
    flat = xp.zeros(sum(int(np.prod(s)) for s in shapes.values()), dtype=backend.dtype(dtype),
                    device=backend.device)  # fmt: skip
    views, start = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        views[name] = xp.reshape(flat[start : start + size], shape)
        start += size
    return flat, views
