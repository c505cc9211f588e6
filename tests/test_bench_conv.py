"""benchmarks/bench_conv.py runs (a smoke run: a few images, one round) and prints its table;
timings are not asserted."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from guarantees_support import ROOT


def bench(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "XPNN_BACKEND": ""}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_conv.py"), *args],
                          capture_output=True, text=True, env=env, timeout=600)  # fmt: skip


def test_bench_conv_prints_a_row_per_case_and_variant():
    proc = bench("--limit", "200", "--rounds", "1", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    for case in ("Simple", "Deep"):
        for variant in (r"floor \(numpy @\)", "torch eager", "xpnn Trainer"):
            if variant == "torch eager" and "torch is not installed" in proc.stdout:
                continue
            assert re.search(rf"^{case}\s+{variant}\s+\d+\.\d\d\s", proc.stdout, re.M), variant
    assert "GFLOP per epoch: Simple" in proc.stdout


def test_bench_conv_names_a_book_dir_that_is_not_the_books_repository(tmp_path):
    proc = bench("--book-dir", str(tmp_path), "--limit", "100")
    assert proc.returncode != 0
    assert f"--book-dir {tmp_path}: no common/layers.py there" in proc.stderr


def test_bench_conv_prints_a_block_per_thread_count_and_the_share_outside_matmuls():
    proc = bench("--limit", "100", "--rounds", "1", "--threads", "1,2", "--cases", "simple")
    assert proc.returncode == 0, proc.stderr
    for threads in ("1 thread", "2 threads"):
        assert f"Simple on {threads}:" in proc.stdout
    rows = re.findall(r"^Simple\s+xpnn Trainer\s+\d+\.\d\d\s.*\s(-?\d+)%$", proc.stdout, re.M)
    assert len(rows) == 2, proc.stdout  # (negative where a noisy floor took longer)
    # xpnn's own threads: a row of the 2-thread block only (on one it is the Trainer's)
    assert len(re.findall(r"^Simple\s+xpnn threads\s+\d+\.\d\d\s", proc.stdout, re.M)) == 1


def test_bench_conv_layers_prints_each_layer_pass_and_the_step_per_path():
    proc = bench("--limit", "100", "--rounds", "1", "--threads", "1", "--cases", "simple",
                 "--layers", "--layer-steps", "1", "--no-epochs")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = ("Conv1+Relu1+Pool1 fwd", "Conv1+Relu1+Pool1 bwd", "Affine1 fwd", "update", "step",
            "outside @")  # fmt: skip
    for row in rows:  # the first three layers run as one block (xpnn.conv_pool) on NumPy
        assert re.search(rf"^{re.escape(row)}\s+\d", proc.stdout, re.M), row
    assert "numpy @1 ms (kern)" in proc.stdout
