"""benchmarks/gpu_carry.py: a GPU machine without network installs, from carried wheels, the
packages it lacks, and only those; gpu_check.sh --wheels refuses a folder without wheels."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from guarantees_support import ROOT


def _gpu_carry():
    spec = importlib.util.spec_from_file_location("gpu_carry", ROOT / "benchmarks" / "gpu_carry.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_wheel(folder: Path, name: str, version: str = "0.1") -> Path:
    """A minimal pure-Python wheel of a package ``name`` (one module, ``VALUE = 42``)."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "VALUE = 42\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    files[f"{dist}/RECORD"] = "".join(f"{f},,\n" for f in [*files, f"{dist}/RECORD"])
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return wheel


def test_a_wheel_names_its_distribution_normalised():
    carry = _gpu_carry()
    assert carry.distribution(Path("array_api_strict-2.6.1-py3-none-any.whl")) == "array-api-strict"
    assert carry.distribution(Path("tornado-6.6.1-cp311-abi3-manylinux1_x86_64.whl")) == "tornado"


def test_install_installs_the_missing_packages_and_leaves_the_installed_ones(tmp_path):
    carry = _gpu_carry()
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "xpnn_carry_probe")
    make_wheel(wheels, "numpy", "0.0.1")  # installed here: must not be touched
    target = tmp_path / "site"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert carry.install(wheels, target) == 0
    assert out.getvalue().splitlines() == [
        "numpy: already installed",
        "xpnn-carry-probe: installing",
    ]
    assert (target / "xpnn_carry_probe" / "__init__.py").exists()
    assert not (target / "numpy").exists()
    probe = subprocess.run(
        [sys.executable, "-c", "import xpnn_carry_probe; print(xpnn_carry_probe.VALUE)"],
        capture_output=True, text=True, env={"PYTHONPATH": str(target)},
    )  # fmt: skip
    assert probe.stdout.strip() == "42", probe.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="gpu_check.sh needs bash")
def test_gpu_check_refuses_a_wheel_folder_without_wheels(tmp_path):
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run", "--wheels", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert f"--wheels {tmp_path}: no wheels there" in proc.stderr
    assert "gpu_carry.py prepare" in proc.stderr
