"""Sessions: ``nox -s tests`` (CPU backends), ``nox -s gpu`` (CuPy), ``nox -s lint``,
``nox -s bench`` (benchmarks, side by side with PyTorch where it is installed)."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "venv"

DATA = os.path.join(os.path.dirname(__file__), "..", "shared", "datasets")


def _data_env() -> dict[str, str]:
    """Point XPNN_DATA at ../shared/datasets when it exists and nothing else is set."""
    if "XPNN_DATA" not in os.environ and os.path.isdir(os.path.join(DATA, "mnist")):
        return {"XPNN_DATA": os.path.abspath(DATA)}
    return {}


@nox.session
def tests(session: nox.Session) -> None:
    """The suite on every CPU backend available: numpy, array_api_strict (two devices),
    and torch when it is installed in the session (``nox -s tests -- --torch``)."""
    session.install("-e", ".[test]")
    if "--torch" in session.posargs:
        session.install("torch")
    args = [a for a in session.posargs if a != "--torch"]
    session.run("pytest", *args, env=_data_env())


@nox.session
def gpu(session: nox.Session) -> None:
    """The suite on CuPy (needs a CUDA device): XPNN_BACKEND=cupy, the cupy backend case."""
    session.install("-e", ".[test,cuda]")
    env = {"XPNN_BACKEND": "cupy", "XPNN_TEST_BACKENDS": "cupy,numpy", **_data_env()}
    session.run("pytest", *session.posargs, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks that print ratios measured side by side in one run."""
    session.install("-e", ".[plot]")
    if os.environ.get("XPNN_BACKEND", "").strip().lower() == "cupy":
        session.install("-e", ".[cuda]")
    scripts = ("bench_optimizers.py", "bench_mlp.py", "bench_im2col.py")
    for script in (f"benchmarks/{name}" for name in scripts):
        if os.path.exists(script):
            session.run("python", script, *session.posargs, env=_data_env())
