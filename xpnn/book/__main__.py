"""``python -m xpnn.book SCRIPT.py [ARGS...]``: run a script of the book with xpnn serving
its ``common`` and ``dataset`` imports.

The script runs as ``python SCRIPT.py ARGS...`` would run it: as the module ``__main__``,
with ``sys.argv == [SCRIPT.py, ARGS...]``, its own folder as ``sys.path[0]`` (so it imports
its neighbours, ``from two_layer_net import TwoLayerNet``) and ``__file__`` the absolute path
Python would give it. An error in the script shows the script's traceback (this runner's own
frames left out) and exits with status 1; ``sys.exit(n)`` in the script exits with ``n``.
A script that cannot be opened gives one line and exit status 2, as Python does.

The backend is the one ``XPNN_BACKEND`` (and ``XPNN_DEVICE``) name, read when xpnn is
imported. Without a display, a script's ``plt.show()`` saves its figures and says where
(:mod:`xpnn.book.figures`).
"""

from __future__ import annotations

import builtins
import importlib.machinery
import os
import sys
import types

from .figures import save_figures_on_show
from .imports import install

USAGE = "usage: python -m xpnn.book SCRIPT.py [ARGS...]"


def _trimmed(tb: types.TracebackType | None, path: str) -> types.TracebackType | None:
    """The traceback from the script's first frame on (``None`` if it has none, as for a
    syntax error in the script: Python then shows the offending line itself)."""
    while tb is not None and tb.tb_frame.f_code.co_filename != path:
        tb = tb.tb_next
    return tb


def run(script: str, args: list[str]) -> int:
    """Run ``script`` with ``args`` as described in the module docstring; return the exit
    status."""
    path = script if os.path.isabs(script) else os.path.join(os.getcwd(), script)
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"xpnn.book: can't open file {path!r}: {reason}", file=sys.stderr)
        return 2
    install()
    if b"matplotlib" in source:
        save_figures_on_show(path)
    main = types.ModuleType("__main__")
    main.__file__ = path
    vars(main).update(__cached__=None, __builtins__=builtins)  # what ModuleType lacks
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    main.__spec__ = None
    main.__package__ = None
    sys.modules["__main__"] = main
    sys.argv[:] = [script, *args]
    sys.path[0] = os.path.dirname(os.path.abspath(path))
    try:
        code = compile(source, path, "exec", dont_inherit=True)
        exec(code, main.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:
        tb = _trimmed(exc.__traceback__, path)
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        return 130 if isinstance(exc, KeyboardInterrupt) else 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        print(USAGE, file=sys.stderr)
        return 2
    if args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    return run(args[0], args[1:])


if __name__ == "__main__":
    sys.exit(main())
