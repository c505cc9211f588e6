"""The example scripts end a user's mistake in one line: what is wrong, what to do, status 2.

Each script runs in its own process, as a user runs it. A missing data set is an empty
``--data-dir`` with downloading made impossible: every proxy variable points at a closed
local port, so urllib's download attempts are refused at once, network or not. CuPy is made
unusable by a ``cupy`` package on ``PYTHONPATH`` whose import fails, so ``XPNN_BACKEND=cupy``
cannot work even on a GPU machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
#: The scripts (helper modules beside them, such as ch06/common.py, have no __main__).
SCRIPTS = [
    "mnist.py",
    "convnet.py",
    "optimizer_paths.py",
    *sorted(f"ch06/{p.name}" for p in (EXAMPLES / "ch06").glob("*.py")
            if 'if __name__ == "__main__":' in p.read_text()),
]  # fmt: skip
#: The scripts that read MNIST.
NO_MNIST = ("optimizer_paths.py", "ch06/activation_histograms.py")
MNIST_SCRIPTS = [s for s in SCRIPTS if s not in NO_MNIST]

CLOSED_PORT = "http://127.0.0.1:9"  # the discard port; nothing listens there
PROXIES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")


def run_example(script: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """Run ``examples/<script>`` with ``args`` from ``cwd``, offline, with ``env`` added."""
    base = {k: v for k, v in os.environ.items() if k not in ("XPNN_BACKEND", "XPNN_DEVICE")}
    base.update({name: CLOSED_PORT for name in PROXIES}, no_proxy="", NO_PROXY="")
    base["MPLBACKEND"] = "Agg"
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line_error(proc: subprocess.CompletedProcess, script: str) -> str:
    """The error line, after checking it is the only line on stderr, with status 2."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    prefix = f"{Path(script).name}: error: "
    assert lines[0].startswith(prefix), lines[0]
    return lines[0][len(prefix) :]


@pytest.mark.parametrize("script", MNIST_SCRIPTS)
def test_a_missing_data_set_is_one_line_naming_the_folder_and_what_to_do(script, tmp_path):
    empty = tmp_path / "no-mnist"
    empty.mkdir()
    proc = run_example(script, "--data-dir", str(empty), cwd=tmp_path)
    line = one_line_error(proc, script)
    assert f"MNIST is not in {empty}" in line
    assert "could not be downloaded" in line and "Connection refused" in line
    assert "--data-dir" in line and "XPNN_DATA" in line
    assert list(empty.iterdir()) == []  # no partial download left behind


@pytest.mark.parametrize("script", SCRIPTS)
def test_an_unusable_backend_at_import_is_one_line_saying_what_to_install(script, tmp_path):
    hide = tmp_path / "hide"
    (hide / "cupy").mkdir(parents=True)
    (hide / "cupy" / "__init__.py").write_text("raise ImportError('cupy hidden by the test')\n")
    proc = run_example(script, cwd=tmp_path, XPNN_BACKEND="cupy", PYTHONPATH=str(hide))
    line = one_line_error(proc, script)
    assert "cupy" in line and "pip install 'xpnn[cuda12]'" in line


@pytest.mark.parametrize(
    ("variable", "says"),
    [
        ("XPNN_DATA_PARALLEL", "whole number of parts >= 1 or 'auto'"),
        ("XPNN_NUM_THREADS", "whole number of threads >= 1 or 'auto'"),
        ("XPNN_MALLOC", "must be 'keep'"),
    ],
)
def test_a_bad_setting_in_the_environment_is_one_line_naming_it(variable, says, tmp_path):
    proc = run_example("mnist.py", cwd=tmp_path, **{variable: "many"})
    line = one_line_error(proc, "mnist.py")
    assert line.startswith(f"{variable} ") and says in line and "'many'" in line


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_bad_argument_is_one_line_naming_it(script, tmp_path):
    option = "--steps" if script == "optimizer_paths.py" else "--seed"  # an int option
    proc = run_example(script, option, "many", cwd=tmp_path)
    line = one_line_error(proc, script)
    assert f"argument {option}: invalid int value: 'many'" in line and "--help" in line


def test_an_unknown_backend_option_is_one_line_listing_the_valid_names(tmp_path):
    proc = run_example("ch06/batch_norm.py", "--backend", "gpu", "--quick", cwd=tmp_path)
    line = one_line_error(proc, "ch06/batch_norm.py")
    assert "unknown xpnn backend 'gpu'" in line and "array_api_strict" in line


def test_a_value_xpnn_refuses_is_one_line_naming_it(tmp_path, mnist):
    proc = run_example("mnist.py", "--optimizer", "adamax", "--limit", "100", cwd=tmp_path)
    line = one_line_error(proc, "mnist.py")
    assert "unknown optimizer 'adamax'" in line and "adamw" in line


def test_debug_shows_the_traceback_instead(tmp_path):
    empty = tmp_path / "no-mnist"
    empty.mkdir()
    proc = run_example("mnist.py", "--data-dir", str(empty), "--debug", cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr
    assert "DatasetNotFoundError" in proc.stderr
    assert "t10k-labels-idx1-ubyte" in proc.stderr  # the full message, every missing file


def test_debug_shows_the_traceback_of_a_failing_import_too(tmp_path):
    proc = run_example("mnist.py", "--debug", cwd=tmp_path, XPNN_BACKEND="no-such-backend")
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr
    assert "BackendError" in proc.stderr
