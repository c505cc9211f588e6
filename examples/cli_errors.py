"""One-line errors for the example scripts: what is wrong and what to do, then exit status 2.

A script imports this module before xpnn, builds its command line with
:class:`ArgumentParser` and runs its ``main(argv)`` through :func:`run`::

    import cli_errors  # before xpnn: a failing `import xpnn` is one line too

    import xpnn

    def main(argv=None):
        args = cli_errors.ArgumentParser(description="...").parse_args(argv)
        ...

    if __name__ == "__main__":
        cli_errors.run(main)

Then a missing data set, a backend that cannot be used (``xpnn.BackendError``, raised by
``import xpnn`` for a bad ``XPNN_BACKEND`` or ``XPNN_DEVICE``, or by ``--backend``), a bad
setting in the environment (``XPNN_NUM_THREADS``, ``XPNN_DATA_PARALLEL``, ``XPNN_MALLOC``), a bad
argument (argparse's, or a ``ValueError`` from xpnn naming the value), a missing package or
a file that cannot be read or written prints ``SCRIPT: error: ...`` on one line of stderr
and exits with status 2; Ctrl-C prints ``SCRIPT: interrupted`` (followed by the
interrupt's message, if it has one: where training stopped and how to resume it, see
:mod:`cli_checkpoints`) and exits with 130.
``--debug`` shows the full traceback instead. Any other exception is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

__all__ = ["ArgumentParser", "DefaultsHelpFormatter", "describe", "fail", "run"]

#: Extras that provide the optional packages an example may import.
_EXTRAS = {
    "matplotlib": "pip install 'xpnn[plot]'",
    "distributed": "pip install distributed",
    "dask": "pip install distributed",
}


def _prog() -> str:
    return os.path.basename(sys.argv[0]) or "python"


def _debug(argv: list[str] | None = None) -> bool:
    return "--debug" in (sys.argv[1:] if argv is None else argv)


def describe(exc: BaseException) -> str | None:
    """The one line that tells a user what went wrong and what to do, or ``None`` when
    ``exc`` is not one of the failures a user can fix (a bug: keep its traceback)."""
    folder = getattr(exc, "folder", None)
    missing = getattr(exc, "missing", None)
    if isinstance(exc, FileNotFoundError) and folder is not None and missing:
        tried = getattr(exc, "download_errors", [])
        why = f"downloading failed: {tried[-1].split(': ', 1)[-1]}" if tried else "no download"
        return (
            f"MNIST is not in {folder} and could not be downloaded ({why}); copy the four "
            "MNIST files there, or point --data-dir, or XPNN_DATA (read as $XPNN_DATA/mnist), "
            "at a folder that has them"
        )
    if isinstance(exc, ModuleNotFoundError) and exc.name in _EXTRAS:
        return f"{exc.name} is not installed; install it with: {_EXTRAS[exc.name]}"
    if isinstance(exc, ImportError | ValueError | OSError):  # xpnn.BackendError is an ImportError
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        return lines[0] + (" (--debug shows the rest)" if len(lines) > 1 else "")
    return None


def fail(message: str, status: int = 2) -> NoReturn:
    """Print ``SCRIPT: error: message`` to stderr and exit with ``status``."""
    print(f"{_prog()}: error: {message}", file=sys.stderr)
    sys.exit(status)


def run(main: Callable[[list[str]], Any], argv: list[str] | None = None) -> NoReturn:
    """Run ``main(argv)`` (default: the command line) and exit with the status it returns (0
    for anything not an int); a failure :func:`describe` knows becomes one line and status 2,
    unless ``--debug`` is among the arguments."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        status = main(args)
    except KeyboardInterrupt as exc:
        if _debug(args):
            raise
        print(f"{_prog()}: interrupted" + (f" {exc}" if str(exc) else ""), file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        line = describe(exc)
        if line is None or _debug(args):
            raise
        fail(line)
    sys.exit(status if isinstance(status, int) else 0)


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """``--help`` shows each option's default, ``(default: 20)``, where it has one to show
    (not ``None``, and not where its help already names it); of a flag, whether it is the
    default (``--batchnorm ... (the default)``)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if default is None or default is argparse.SUPPRESS or "default" in text:
            return text
        if action.nargs == 0:  # a flag: store_true, store_false
            return f"{text} (the default)".strip() if action.const == default else text
        if isinstance(default, list):
            default = ",".join(map(str, default))
        return f"{text} (default: {default})".strip()


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with a ``--debug`` option, defaults shown in ``--help``
    (:class:`DefaultsHelpFormatter`), and usage errors on one line (with ``--help`` named)
    instead of the usage text followed by the error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)
        self.add_argument(
            "--debug", action="store_true", help="on an error, show the full traceback"
        )

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (see {self.prog} --help)")


# A bad XPNN_BACKEND or XPNN_DEVICE (an ImportError), or a bad XPNN_NUM_THREADS,
# XPNN_DATA_PARALLEL or XPNN_MALLOC (a ValueError naming it), makes `import xpnn` itself
# raise: import it here, first, so that the script's own `import xpnn` finds it imported,
# or the script ends in one line.
try:
    import xpnn  # noqa: F401
except (ImportError, ValueError) as _exc:
    if _debug():
        raise
    fail(describe(_exc) or str(_exc))
