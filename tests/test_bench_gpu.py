"""benchmarks/bench_gpu.py's dry run: every code path of the GPU benchmark on the CPU (numpy
for CuPy, torch on the CPU for torch CUDA), tiny sizes, one round. Timings are not asserted;
the rows, and the launches per step beside them, are."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest
from guarantees_support import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import opcount

HAS_TORCH = importlib.util.find_spec("torch") is not None
MLP_VARIANTS = ["floor", "torch default", "torch foreach", "torch fused", "xpnn loop",
                "xpnn Trainer", "xpnn Trainer on torch"]  # fmt: skip
CONV_VARIANTS = ["floor", "torch default", "xpnn Trainer", "xpnn Trainer on torch"]


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> str:
    """The Markdown report of ``bench_gpu.py --dry-run`` for one MLP and one convnet case."""
    out = tmp_path_factory.mktemp("bench-gpu") / "bench.md"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "XPNN_BACKEND": ""}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_gpu.py"), "--dry-run",
         "--cases", "Adam,Simple", "--threads", "1", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out.read_text()


def launches(report: str, case: str, variant: str) -> str:
    """The launches/step cell of a row of an epoch table."""
    row = re.search(rf"^\| {re.escape(case)} +\| {re.escape(variant)} +\|(.*)$", report, re.M)
    assert row is not None, f"no row {case} / {variant}:\n{report}"
    return row.group(1).split("|")[3].strip()


def expected(variants: list[str]) -> list[str]:
    return [v for v in variants if HAS_TORCH or "torch" not in v]


@pytest.mark.parametrize("variant", expected(MLP_VARIANTS))
def test_every_mlp_variant_has_a_row_with_its_launches_per_step(dry_run, variant):
    assert re.fullmatch(r"\d+", launches(dry_run, "Adam", variant))


@pytest.mark.parametrize("variant", expected(CONV_VARIANTS))
def test_every_convnet_variant_has_a_row_with_its_launches_per_step(dry_run, variant):
    assert re.fullmatch(r"\d+", launches(dry_run, "Simple", variant))


def test_xpnn_rows_show_the_cupy_models_launches(dry_run):
    for case in ("Adam", "Simple"):
        model = opcount.count_step_ops(case)["launches"]
        assert launches(dry_run, case, "xpnn Trainer") == str(model)


def test_the_floor_row_shows_its_matrix_products_per_step(dry_run):
    assert launches(dry_run, "Adam", "floor") == "17"  # 6 layers: 6 + 6 + 5
    assert launches(dry_run, "Simple", "floor") == "8"  # conv 2 (no dx), affine 3 + 3


def test_the_report_has_the_update_and_the_model_tables(dry_run):
    assert "## One Adam update over 0.002 M parameters" in dry_run
    assert re.search(r"^\| xpnn Adam \(numpy\) +\| [\d.]+ ", dry_run, re.M)
    assert "## Kernel launches per training step of xpnn on CuPy (the model)" in dry_run
    assert "failed" not in dry_run  # no counting or model note
