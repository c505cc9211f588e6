"""The wheel is a complete, working package: built from this checkout without network,
installed (not editable) into a fresh venv, imported and run from outside the checkout.

The fresh venv sees the test interpreter's packages (``--system-site-packages``, and a
``.pth`` naming this interpreter's own site-packages when it is itself a venv), so nothing is
downloaded: the wheel is installed with ``--no-deps --no-index``. Lines of a ``.pth`` file
only add folders to ``sys.path``; the ``.pth`` files inside those folders (the editable
install's finder among them) are not run, and the fresh venv's own site-packages comes first,
so the import below finds the wheel's copy, and the tests check that it does.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import xpnn

ROOT = Path(__file__).resolve().parent.parent
BIN = "Scripts" if os.name == "nt" else "bin"

# What a copy of the source tree leaves out: environments, build outputs, caches.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".nox", ".venv", "build", "dist", "site", "out", "*.egg-info", "__pycache__",
    ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis",
)  # fmt: skip


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that would point Python back at the checkout."""
    drop = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "XPNN_BACKEND", "XPNN_DEVICE")
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built by ``pip wheel --no-build-isolation`` from a copy of the source tree
    (a build in the checkout itself could pick up stale files from its ``build/``).

    XPNN_BACKEND names no backend during the build: setuptools must read the version from
    xpnn/__init__.py without importing xpnn (which would fail on that name)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=_NOT_SOURCE)
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--wheel-dir", str(tmp / "dist"), str(src)],
        env=_clean_env(XPNN_BACKEND="no-such-backend"),
    )  # fmt: skip
    (found,) = (tmp / "dist").glob("xpnn-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel: Path) -> Path:
    """A fresh venv with the wheel installed; its Python."""
    home = tmp_path_factory.mktemp("venv") / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(home)])
    python = home / BIN / ("python.exe" if os.name == "nt" else "python")
    purelib = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
    ).stdout.strip()
    ours = [p for p in site.getsitepackages() if os.path.isdir(p)]
    Path(purelib, "_test_interpreter.pth").write_text("\n".join(ours) + "\n")
    _run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed",
         "--disable-pip-version-check", str(wheel)],
        env=_clean_env(),
    )  # fmt: skip
    return python


def test_the_wheel_holds_the_package_its_license_and_py_typed_and_nothing_else(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    info = f"xpnn-{xpnn.__version__}.dist-info/"
    assert f"{info}licenses/LICENSE" in names
    assert "xpnn/py.typed" in names
    assert "xpnn/book/common/layers.py" in names  # subpackages too
    strays = [n for n in names if not n.startswith(("xpnn/", info))]
    assert strays == []  # no tests, examples, benchmarks or docs


def test_the_installed_wheel_is_what_imports_outside_the_checkout(venv, tmp_path):
    code = (
        "import importlib.metadata as md, json, os, sys, xpnn\n"
        "dist = md.distribution('xpnn')\n"
        "here = os.path.dirname(xpnn.__file__)\n"
        "print(json.dumps({'prefix': sys.prefix, 'file': xpnn.__file__,\n"
        "    'typed': os.path.isfile(os.path.join(here, 'py.typed')),\n"
        "    'version': xpnn.__version__, 'metadata': md.version('xpnn'),\n"
        "    'dist_at': str(dist.locate_file('')),\n"
        "    'license': [str(f) for f in dist.files or [] if f.name == 'LICENSE']}))\n"
    )
    out = json.loads(_run([str(venv), "-c", code], cwd=tmp_path, env=_clean_env()).stdout)
    prefix = Path(out["prefix"]).resolve()
    assert Path(out["file"]).resolve().is_relative_to(prefix), out  # not the checkout
    assert Path(out["dist_at"]).resolve().is_relative_to(prefix), out  # its own metadata
    assert out["typed"]
    assert out["metadata"] == out["version"] == xpnn.__version__
    assert out["license"], out


def test_the_main_job_trains_an_epoch_on_the_installed_wheel(venv, tmp_path, mnist):
    for script in (ROOT / "examples").glob("*.py"):  # mnist.py and the helpers it imports
        shutil.copy(script, tmp_path)
    proc = _run(
        [str(venv), "mnist.py", "--epochs", "1", "--limit", "3000", "--quiet"],
        cwd=tmp_path,
        env=_clean_env(),
    )
    accuracy = float(proc.stdout.split("test accuracy")[1].split()[0])
    assert accuracy > 0.8  # 30 steps of the default network: it learned
