"""The NumPy backend's threads (:mod:`xpnn.backends.threads`): how work is cut into parts,
errors from any part, the thread count's checks and default, and a child after ``fork``.
That the kernels give the same bits in parts is shown by ``test_cpu_kernels.py`` and
``test_optimizers.py``."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import xpnn
from xpnn.backends import threads


@pytest.fixture
def three_threads(monkeypatch):
    before = xpnn.get_num_threads()
    xpnn.set_num_threads(3)
    monkeypatch.setattr(threads, "MIN_PART", 10)
    yield
    xpnn.set_num_threads(before)


def test_parts_cover_the_range_once_and_none_is_smaller_than_min_part(three_threads):
    assert threads.parts(9, 10**6) == [(0, 3), (3, 6), (6, 9)]
    assert threads.parts(2, 10**6) == [(0, 1), (1, 2)]  # never more parts than items
    assert threads.parts(100, 25) == [(0, 50), (50, 100)]  # 25 elements: 2 parts of >= 10
    assert threads.parts(100, 9) == [(0, 100)]  # too little work to split
    assert threads.parts(0, 10**6) == [(0, 0)]


def test_run_parts_runs_every_part_on_several_threads(three_threads):
    seen: list[tuple[int, int, str]] = []
    lock = threading.Lock()

    def task(lo: int, hi: int) -> None:
        with lock:
            seen.append((lo, hi, threading.current_thread().name))

    threads.run_parts(task, 9, 10**6)
    assert sorted((lo, hi) for lo, hi, _ in seen) == [(0, 3), (3, 6), (6, 9)]
    names = {name for _, _, name in seen}
    assert threading.current_thread().name in names  # the caller runs one part itself
    assert len(names) >= 2  # and the pool the others (a worker may take both)


def test_an_error_in_any_part_reaches_the_caller_after_every_part_ended(three_threads):
    done: list[int] = []

    def task(lo: int, hi: int) -> None:
        if lo == 3:
            raise ValueError("part 3:6 failed")
        done.append(lo)

    with pytest.raises(ValueError, match="part 3:6 failed"):
        threads.run_parts(task, 9, 10**6)
    assert sorted(done) == [0, 6]


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_set_num_threads_rejects_what_is_not_a_count_of_threads(bad):
    with pytest.raises((TypeError, ValueError), match="n"):
        xpnn.set_num_threads(bad)


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in env and
               k != "XPNN_NUM_THREADS"}  # fmt: skip
    environ.update({k: v for k, v in env.items() if v})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environ, timeout=300)  # fmt: skip


COUNT = "import xpnn; print(xpnn.get_num_threads())"


def test_xpnn_num_threads_sets_the_count_and_a_bad_value_says_how_to_fix_it():
    ok = run_python(COUNT, XPNN_NUM_THREADS=" 3 ")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == ["3"]
    for text in ("many", "0", "-2"):
        bad = run_python("import xpnn", XPNN_NUM_THREADS=text)
        assert bad.returncode != 0
        assert "XPNN_NUM_THREADS must be a whole number of threads >= 1 or 'auto'" in bad.stderr
        assert f"got {text!r}" in bad.stderr


def test_one_thread_unless_asked_and_auto_is_the_cpus_this_process_may_use():
    assert run_python(COUNT).stdout.split() == ["1"]  # measured to lose on some machines
    auto = run_python(COUNT, XPNN_NUM_THREADS="AUTO")
    assert auto.returncode == 0, auto.stderr
    assert auto.stdout.split() == [str(threads.available_cpus())]
    assert 1 <= threads.available_cpus() <= 8


FORK = """
import os, numpy as np, xpnn
from xpnn.backends import threads
xpnn.set_num_threads(2)
threads.MIN_PART = 1
x = np.arange(24.0).reshape(2, 3, 2, 2)
b = xpnn.get_backend("numpy")
b.maxpool_forward(x, 2, 2, 2, 0)  # the pool exists in the parent
pid = os.fork()
if pid == 0:
    out, _ = b.maxpool_forward(x, 2, 2, 2, 0)  # a child: a new pool, no hang
    os._exit(0 if out.ravel().tolist() == [3.0, 7.0, 11.0, 15.0, 19.0, 23.0] else 1)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_child_after_fork_runs_parts_on_a_pool_of_its_own():
    proc = run_python(FORK)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0"]


def test_the_parts_of_a_kernel_are_the_same_bits_as_one_thread(three_threads):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 3, 12, 12)).astype(np.float32)
    b = xpnn.get_backend("numpy")
    split = b.conv_patches(x, 3, 3, 1, 1)
    xpnn.set_num_threads(1)
    np.testing.assert_array_equal(split, b.conv_patches(x, 3, 3, 1, 1))
