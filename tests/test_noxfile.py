"""``nox -s gpu`` on a GPU machine with CuPy preinstalled and no internet.

The noxfile is loaded with a stand-in for nox (CI does not install nox), and the ``gpu``
session is run against a session object that records what it would install and run.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


class FakeSession:
    def __init__(self, missing: str = "", posargs: tuple[str, ...] = ()) -> None:
        self.missing = missing
        self.posargs = list(posargs)
        self.installed: list[tuple[str, ...]] = []
        self.ran: list[tuple[tuple[str, ...], dict]] = []

    def run(self, *args, silent=False, env=None):
        if silent:
            return self.missing
        self.ran.append((args, env or {}))
        return ""

    def install(self, *args):
        self.installed.append(args)

    def error(self, message):
        raise RuntimeError(message)


@pytest.fixture
def noxfile(monkeypatch):
    sessions: dict[str, dict] = {}

    def session(func=None, **kwargs):
        def register(f):
            sessions[f.__name__] = kwargs
            return f

        return register(func) if func is not None else register

    fake = types.SimpleNamespace(session=session, options=types.SimpleNamespace(), Session=object)
    monkeypatch.setitem(sys.modules, "nox", fake)
    spec = importlib.util.spec_from_file_location("noxfile_under_test", ROOT / "noxfile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.registered = sessions
    return module


def test_the_gpu_session_sees_the_interpreters_installed_packages(noxfile):
    assert "--system-site-packages" in noxfile.registered["gpu"]["venv_params"]


def test_with_everything_installed_the_gpu_session_installs_nothing(noxfile):
    session = FakeSession(missing="")
    noxfile.gpu(session)
    assert session.installed == []
    ((args, env),) = session.ran
    assert args[:3] == ("python", "-m", "pytest")
    assert env["XPNN_BACKEND"] == "cupy" and "cupy" in env["XPNN_TEST_BACKENDS"]
    assert env["PYTHONPATH"] == str(ROOT)  # xpnn is imported from the checkout, not built


def test_the_gpu_session_installs_only_what_is_missing(noxfile):
    session = FakeSession(missing="hypothesis matplotlib")
    noxfile.gpu(session)
    assert session.installed == [("hypothesis>=6.100", "matplotlib>=3.7")]


def test_without_cupy_the_gpu_session_says_which_extra_to_install(noxfile):
    with pytest.raises(RuntimeError, match=r"xpnn\[cuda12\].*xpnn\[cuda13\].*--cuda 12"):
        noxfile.gpu(FakeSession(missing="cupy"))


@pytest.mark.parametrize(("cuda", "wheel"), [("12", "cupy-cuda12x"), ("13", "cupy-cuda13x")])
def test_the_gpu_session_installs_the_cupy_of_the_cuda_asked_for(noxfile, cuda, wheel):
    session = FakeSession(missing="cupy", posargs=("--cuda", cuda, "-k", "optim"))
    noxfile.gpu(session)
    assert session.installed[0][0].startswith(wheel)
    ((args, _),) = session.ran
    assert args[3:] == ("-k", "optim")


def test_the_cuda_extras_match_the_wheels_the_gpu_session_installs(noxfile):
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert extras["cuda12"] == [noxfile.CUPY_WHEELS["12"]]
    assert extras["cuda13"] == [noxfile.CUPY_WHEELS["13"]]
    assert extras["cuda"] == ["xpnn[cuda12]"]
