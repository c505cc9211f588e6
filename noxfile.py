"""Sessions: ``nox -s tests`` (CPU backends), ``nox -s gpu`` (CuPy, offline-friendly),
``nox -s lint`` (ruff and mypy), ``nox -s docs`` (the site, warnings as errors),
``nox -s bench`` (benchmarks, side by side with PyTorch where installed)."""

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
    session.install("-e", ".[test,kernels]")
    if "--torch" in session.posargs:
        session.install("torch")
    args = [a for a in session.posargs if a != "--torch"]
    session.run("pytest", *args, env=_data_env())


#: What the suite imports (module name -> the requirement that provides it).
SUITE_NEEDS = {
    "numpy": "numpy>=1.26",
    "array_api_compat": "array-api-compat>=1.9",
    "threadpoolctl": "threadpoolctl>=3.1",
    "tqdm": "tqdm>=4.66",
    "pytest": "pytest>=8",
    "array_api_strict": "array-api-strict>=2.3",
    "hypothesis": "hypothesis>=6.100",
    "matplotlib": "matplotlib>=3.7",
}

#: The CuPy wheel for each CUDA major version (pyproject's cuda12 and cuda13 extras).
CUPY_WHEELS = {"12": "cupy-cuda12x[ctk]>=14", "13": "cupy-cuda13x[ctk]>=14"}

_FIND_MISSING = (
    "import importlib.util, sys; "
    "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))"
)


@nox.session(venv_params=["--system-site-packages"])
def gpu(session: nox.Session) -> None:
    """The suite on CuPy (needs a CUDA device), with the CuPy already installed.

    The session's venv sees the interpreter's site-packages, so an installed CuPy (a
    cluster image, a container) is used as it is, whatever its CUDA version; nothing is
    downloaded when everything the suite imports is present, and xpnn itself is not
    built: the suite imports it from this checkout (``PYTHONPATH``). Only what is missing
    is installed. Without CuPy the session stops and says which extra to install
    (``xpnn[cuda12]`` or ``xpnn[cuda13]``, by the CUDA version ``nvidia-smi`` shows), or
    installs it with ``nox -s gpu -- --cuda 12`` (or ``13``). Where CuPy lives in the
    environment nox itself runs in (a conda env, say): ``nox -s gpu --no-venv``.
    """
    args = list(session.posargs)
    cuda = None
    if "--cuda" in args:
        i = args.index("--cuda")
        cuda = args[i + 1] if i + 1 < len(args) else ""
        del args[i : i + 2]
        if cuda not in ("12", "13"):
            session.error(f"--cuda takes 12 or 13 (the CUDA major version), not {cuda!r}")
    missing = session.run("python", "-c", _FIND_MISSING, "cupy", *SUITE_NEEDS, silent=True).split()
    if "cupy" in missing:
        if cuda is None:
            session.error(
                "CuPy is not installed here: install the wheel for your CUDA "
                "(pip install 'xpnn[cuda12]' or 'xpnn[cuda13]'; nvidia-smi shows the CUDA "
                "version), or run: nox -s gpu -- --cuda 12 (or 13)"
            )
        session.install(CUPY_WHEELS[cuda])
    wanted = [SUITE_NEEDS[m] for m in missing if m in SUITE_NEEDS]
    if wanted:
        session.install(*wanted)
    env = {
        "XPNN_BACKEND": "cupy",
        "XPNN_TEST_BACKENDS": "cupy,numpy",
        "PYTHONPATH": os.path.dirname(os.path.abspath(__file__)),
        **_data_env(),
    }
    session.run("python", "-m", "pytest", *args, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and mypy over xpnn/ (its settings: pyproject.toml).

    xpnn is installed (editable) so that mypy sees the types of its dependencies."""
    session.install("-e", ".", "ruff", "mypy")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs.yml, docs/ and the docstrings) into site/, with
    warnings as errors: a broken link or a docstring that does not parse fails it.
    ``nox -s docs -- serve`` serves it at http://127.0.0.1:8000 instead."""
    session.install("-e", ".[docs]")
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", *session.posargs[1:])
    else:
        session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session(venv_params=["--system-site-packages"])
def bench(session: nox.Session) -> None:
    """Benchmarks that print ratios measured side by side in one run (an installed torch or
    CuPy is seen: the venv has the interpreter's site-packages)."""
    session.install("-e", ".[plot]")
    scripts = ("bench_optimizers.py", "bench_mlp.py", "bench_im2col.py", "bench_conv.py")
    for script in (f"benchmarks/{name}" for name in scripts):
        if os.path.exists(script):
            session.run("python", script, *session.posargs, env=_data_env())
