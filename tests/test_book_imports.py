"""``xpnn.book.install()``: the book's ``common`` and ``dataset`` imports answered by xpnn's
modules in this interpreter, and ``uninstall()`` putting back what the names meant."""

from __future__ import annotations

import importlib
import sys
import types

import pytest

import xpnn.book
from xpnn.book import SERVED


@pytest.fixture
def books_folder(tmp_path, monkeypatch):
    """A folder with the book's own ``common/`` and ``dataset/``, first on ``sys.path``;
    importing either is an error."""
    for package in ("common", "dataset"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(f"raise ImportError('decoy {package}')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.fixture
def installed(books_folder):
    xpnn.book.install()
    yield
    xpnn.book.uninstall()


def test_the_books_names_are_xpnns_modules_even_with_the_books_folder_on_the_path(installed):
    import common.layers
    import dataset.mnist
    from common.multi_layer_net import MultiLayerNet

    import xpnn.book.common.layers

    assert common.layers is xpnn.book.common.layers
    assert dataset.mnist.load_mnist is xpnn.book.dataset.mnist.load_mnist
    real = importlib.import_module("xpnn.book.common.multi_layer_net")
    assert MultiLayerNet is real.MultiLayerNet
    assert all(sys.modules[name] is sys.modules["xpnn.book." + name] for name in SERVED)


def test_a_star_import_gives_the_modules_all(installed):
    names: dict = {}
    exec("from common.layers import *", names)
    real = importlib.import_module("xpnn.book.common.layers")
    assert set(names) - {"__builtins__"} == set(real.__all__)
    assert names["np"].__name__ == "numpy" and names["Relu"] is real.Relu


def test_reload_re_executes_xpnns_file_in_the_same_module(installed):
    import common.util

    common.util.marker = "set before the reload"
    reloaded = importlib.reload(common.util)
    assert reloaded is common.util and reloaded.__name__ == "xpnn.book.common.util"
    assert callable(reloaded.smooth_curve)


def test_a_served_name_dropped_from_sys_modules_is_served_again(installed):
    import common.gradient

    real = common.gradient
    del sys.modules["common.gradient"]
    del sys.modules["common"]
    import common.gradient as again

    assert again is real and again.__spec__.name == "xpnn.book.common.gradient"
    assert sys.modules["common"] is importlib.import_module("xpnn.book.common")


@pytest.mark.parametrize("name", ["common.np_util", "dataset.cifar10"])
def test_a_name_xpnn_does_not_serve_is_refused_saying_so(installed, name):
    with pytest.raises(ModuleNotFoundError, match=rf"No module named '{name}': xpnn\.book serves"):
        importlib.import_module(name)


def test_uninstall_puts_back_what_the_names_meant_before(books_folder, monkeypatch):
    mine = types.ModuleType("common")
    monkeypatch.setitem(sys.modules, "common", mine)
    monkeypatch.setitem(sys.modules, "common.extra", types.ModuleType("common.extra"))
    xpnn.book.install()
    try:
        assert xpnn.book.installed()
        assert sys.modules["common"] is importlib.import_module("xpnn.book.common")
        assert "common.extra" not in sys.modules
        xpnn.book.install()  # a second install changes nothing
    finally:
        xpnn.book.uninstall()
    assert not xpnn.book.installed()
    assert sys.modules["common"] is mine and "common.extra" in sys.modules
    assert "common.layers" not in sys.modules and not any(
        isinstance(f, xpnn.book.imports.BookFinder) for f in sys.meta_path
    )
