"""The GPU check cannot rot: its dry run (the same steps on the CPU) passes every step in CI.

``benchmarks/gpu_check.sh`` is run on a GPU machine only now and then; ``--dry-run`` runs
each of its steps on the CPU (the suite on the GPU stand-in, the main job on numpy, the
resume check on array_api_strict's second device, bench_gpu.py on numpy and torch CPU), so
that a change that breaks one of them fails here first. It takes two to five minutes.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
STEPS = ["environment", "test suite", "main job", "resume check", "benchmark"]

needs_bash = pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("timeout") is None,
    reason="gpu_check.sh needs bash and coreutils' timeout",
)


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory, mnist) -> tuple[subprocess.CompletedProcess, str]:
    """Run ``gpu_check.sh --dry-run`` once; its process and the report it wrote. Needs MNIST
    (the main job trains on it): the ``mnist`` fixture skips or fails as for the other
    real-MNIST tests."""
    report = tmp_path_factory.mktemp("gpu-check") / "report.md"
    env = {k: v for k, v in os.environ.items() if k not in ("OUT", "XPNN_BACKEND")}
    env.pop("XPNN_TEST_BACKENDS", None)
    env["PYTHON"] = sys.executable
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run", "--report", str(report)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert report.exists(), f"no report written:\n{proc.stdout}\n{proc.stderr}"
    return proc, report.read_text()


@pytest.mark.slow
@needs_bash
def test_the_dry_run_exits_0(dry_run):
    proc, report = dry_run
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{report}"
    assert report.startswith("# xpnn GPU check: PASS")


@pytest.mark.slow
@needs_bash
@pytest.mark.parametrize("index", range(len(STEPS)), ids=STEPS)
def test_every_step_of_the_dry_run_has_a_section_that_says_pass(dry_run, index):
    _, report = dry_run
    heading = re.search(rf"^## {index}\. {STEPS[index]}[^\n]*: (\S+)$", report, re.MULTILINE)
    assert heading is not None, f"no section for step {index} ({STEPS[index]}):\n{report}"
    assert heading.group(1) == "PASS", heading.group(0)


@pytest.mark.slow
@needs_bash
def test_the_dry_run_report_holds_the_measurements(dry_run):
    _, report = dry_run
    assert re.search(r"test accuracy 0\.\d{4} after 2 epochs", report)  # the main job
    assert "PASS: all" in report and "state keys bitwise equal" in report  # the resume check
    assert "| SGD " in report and "| wide Adam " in report  # the MLP epoch table
    assert "| Simple " in report and "| Deep " in report  # the convnet epoch table
    assert "launches/step" in report  # beside every time
    assert "| xpnn Adam (numpy)" in report  # the update table
    assert re.search(r"^- total: [\d.]+ s", report, re.MULTILINE)


def _resume_check():
    spec = importlib.util.spec_from_file_location(
        "resume_check", ROOT / "benchmarks" / "resume_check.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_resume_check_names_each_state_key_that_differs_with_its_largest_difference():
    full = {
        "network": {"W1": np.zeros((2, 3), np.float32), "b1": np.zeros(3, np.float32)},
        "optimizer": {"name": "Adam", "state": {"m": {"W1": np.ones(4)}}},
        "history": {"train_loss": [0.5, 0.25], "epoch_time": [1.0]},
        "trainer": {"epoch": 2},
    }
    resumed = {
        "network": {"W1": np.full((2, 3), 0.5, np.float32), "b1": np.zeros(3, np.float32)},
        "optimizer": {"name": "SGD", "state": {"m": {"W1": np.ones(4)}}},
        "history": {"train_loss": [0.5, 0.125], "epoch_time": [9.0]},
        "trainer": {"epoch": 2, "iter": 14},
    }
    lines, compared = _resume_check().compare(full, resumed)
    assert compared == 7  # history/epoch_time is wall-clock time, not compared
    assert lines == [
        "DIFF network/W1: max |diff| 0.5 (6 of 6 entries differ; float32[2, 3])",
        "DIFF optimizer/name: 'Adam' != 'SGD'",
        "DIFF history/train_loss: max |diff| 0.125 (1 of 2 entries differ; float64[2])",
        "DIFF trainer/iter: only in the resumed run",
    ]


def test_resume_check_finds_bitwise_equal_states_equal():
    state = {"network": {"W1": np.arange(6.0).reshape(2, 3)}, "history": {"train_loss": [0.5]}}
    copy = {"network": {"W1": state["network"]["W1"].copy()}, "history": {"train_loss": [0.5]}}
    assert _resume_check().compare(state, copy) == ([], 2)


def test_resume_check_tells_negative_zero_from_zero():
    lines, _ = _resume_check().compare({"b": np.zeros(2)}, {"b": -np.zeros(2)})
    assert lines == [
        "DIFF b: equal values, different bits (signed zeros or NaN payloads; float64[2])"
    ]
