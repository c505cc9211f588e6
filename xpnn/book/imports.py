"""``import common.layers`` answered by ``xpnn.book.common.layers``: how the book's imports
reach xpnn.

:func:`install` does two things:

1. It imports every served module under its real name (``xpnn.book.common.layers``) and
   registers the same module object under the book's name (``sys.modules['common.layers']``).
   Python looks in ``sys.modules`` before it searches ``sys.path``, so the book's own
   ``common/`` folder, which its scripts put on the path with ``sys.path.append(os.pardir)``,
   is never read. One module object has both names: classes are the same classes,
   ``importlib.reload(common.layers)`` re-executes xpnn's file (the module keeps its real
   ``__spec__``), and ``from common.layers import *`` exports the module's ``__all__``.
2. It puts a finder first in ``sys.meta_path`` for what ``sys.modules`` no longer answers: a
   served name that was deleted from ``sys.modules`` is registered again, and a name under
   ``common`` or ``dataset`` that xpnn does not serve fails with ``ModuleNotFoundError``
   saying so, instead of being looked up in the book's folder.

:func:`uninstall` undoes both, restoring whatever the names meant before.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

__all__ = ["SERVED", "install", "installed", "uninstall"]

#: The book's module names that xpnn serves, packages first (a package must be registered
#: before its modules are imported).
SERVED: tuple[str, ...] = (
    "common",
    "common.functions",
    "common.gradient",
    "common.util",
    "common.layers",
    "common.optimizer",
    "common.multi_layer_net",
    "common.multi_layer_net_extend",
    "common.trainer",
    "dataset",
    "dataset.mnist",
)

_ROOTS = ("common", "dataset")
_PREFIX = __name__.rsplit(".", 1)[0] + "."  # "xpnn.book."

_saved: dict[str, ModuleType | None] | None = None  # what the names meant before install()


def _real_name(name: str) -> str:
    return _PREFIX + name


def _is_book_name(name: str) -> bool:
    return name.split(".", 1)[0] in _ROOTS


class _AliasLoader(importlib.abc.Loader):
    """Gives back the already imported xpnn module for a book name (nothing is executed)."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.spec = module.__spec__

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return self.module

    def exec_module(self, module: ModuleType) -> None:
        # Loading set __spec__ to the alias's spec; the module keeps its real one, so that
        # importlib.reload finds and re-executes xpnn's file.
        module.__spec__ = self.spec


class BookFinder(importlib.abc.MetaPathFinder):
    """First in ``sys.meta_path`` while installed: answers the book's ``common`` and
    ``dataset`` names with xpnn's modules, and refuses the ones xpnn does not serve."""

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not _is_book_name(fullname):
            return None
        if fullname not in SERVED:
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: xpnn.book serves the book's common/ and "
                f"dataset/ with xpnn's modules ({', '.join(SERVED)}), and {fullname} is not "
                "one of them",
                name=fullname,
            )
        module = importlib.import_module(_real_name(fullname))
        return importlib.machinery.ModuleSpec(
            fullname, _AliasLoader(module), is_package=hasattr(module, "__path__")
        )


_FINDER = BookFinder()


def installed() -> bool:
    """Whether :func:`install` is in effect."""
    return _saved is not None


def install() -> None:
    """Serve the book's ``common`` and ``dataset`` imports with xpnn's modules, in this
    interpreter, until :func:`uninstall` (calling it again does nothing)."""
    global _saved
    if _saved is not None:
        return
    saved = {name: sys.modules.get(name) for name in list(sys.modules) if _is_book_name(name)}
    modules = {name: importlib.import_module(_real_name(name)) for name in SERVED}
    for name in [n for n in sys.modules if _is_book_name(n)]:
        del sys.modules[name]  # another 'common' (or a submodule of it) imported before
    sys.modules.update(modules)
    sys.meta_path.insert(0, _FINDER)
    _saved = saved


def uninstall() -> None:
    """Undo :func:`install`: the book's names mean again what they meant before it."""
    global _saved
    if _saved is None:
        return
    while _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    for name in [n for n in sys.modules if _is_book_name(n)]:
        del sys.modules[name]
    sys.modules.update({k: v for k, v in _saved.items() if v is not None})
    _saved = None
