"""Checkpoints: a nested dict of host arrays and plain values in one ``.npz``, atomically,
without pickle.

::

    save_checkpoint("run/checkpoint.npz", {
        "params": {"W1": W1, "b1": b1},              # NumPy arrays, any non-object dtype
        "optimizer": {"name": "Adam", "hyperparameters": {"lr": 0.001}, "step": {}},
        "epoch": 3,
        "history": {"train_loss": [2.30, 0.41, 0.27]},
    })
    tree = load_checkpoint("run/checkpoint.npz")     # the same tree back

**Format** (version :data:`CHECKPOINT_VERSION`). A standard ``.npz`` (a zip of ``.npy``
files, readable with ``numpy.load(path, allow_pickle=False)``): each array is stored under
its path in the tree (``params/W1``, ``history/weights/0``), and the entry
``__xpnn_checkpoint__``, a 0-d string array, holds a JSON manifest: the format name, its
version and the tree's structure. Python scalars (``int``, ``float``, ``bool``, ``str``,
``None``) and lists of them live in the manifest, except that a list of floats is stored as
a float64 array under its path; all come back as the same Python values (floats exactly,
NaN and infinities included); dicts keep their key order, tuples stay
tuples, empty dicts and lists survive; a NumPy scalar (``np.float32(0.5)``) is stored as a
0-d array and comes back as the same NumPy scalar type.

**Safety.** The file is written to a temporary file in the same folder, flushed and
fsync'd, then renamed over ``path`` with :func:`os.replace`, so a crash at any moment
leaves either the previous checkpoint or the new one, never a mix, and the temporary file
is removed on any error. Nothing is pickled on save (object arrays are refused with a
``TypeError`` naming their key) or unpickled on load (``allow_pickle=False``: a file holding
pickled objects is refused). A truncated, corrupt or foreign file fails to load with
:class:`CheckpointError` naming the file.

This module is NumPy-only host I/O. Arrays of another backend are converted by the
``to_numpy`` callable passed to :func:`save_checkpoint` (``backend.to_numpy``); a
checkpoint saved from any backend loads as NumPy arrays, which any backend then takes.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["CHECKPOINT_VERSION", "CheckpointError", "load_checkpoint", "save_checkpoint"]

#: The format version written by :func:`save_checkpoint`; :func:`load_checkpoint` reads
#: this version and older ones.
CHECKPOINT_VERSION = 1

_FORMAT = "xpnn-checkpoint"
_MANIFEST = "__xpnn_checkpoint__"
_SCALARS = (bool, int, float, str, type(None))


class CheckpointError(ValueError):
    """A checkpoint file cannot be loaded: truncated, corrupt, not an xpnn checkpoint, from a
    newer version, or holding pickled objects."""


# -- save -----------------------------------------------------------------------------------
def _key_path(path: str, key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(
            f"checkpoint keys must be strings; {path or 'the top level'} has key {key!r} "
            f"({type(key).__name__})"
        )
    if not key or "/" in key or "\\" in key or "\0" in key:
        raise ValueError(
            f"checkpoint key {key!r} at {path or 'the top level'} must be non-empty and "
            "contain no '/' or '\\' (they separate the path of each stored array) and no NUL "
            "(a zip entry name ends there)"
        )
    return f"{path}/{key}" if path else key


def _host_array(value: Any, path: str, to_numpy: Callable[[Any], Any] | None) -> np.ndarray:
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"checkpoint entry {path!r} is a masked array; its mask would be lost")
    if not isinstance(value, np.ndarray | np.generic):
        if to_numpy is None:
            raise TypeError(
                f"checkpoint entry {path!r} is a {type(value).__module__}."
                f"{type(value).__qualname__}, not a NumPy array or a plain value; pass "
                "to_numpy=backend.to_numpy to save arrays of another backend"
            )
        value = to_numpy(value)
        if not isinstance(value, np.ndarray | np.generic):
            raise TypeError(
                f"to_numpy returned a {type(value).__name__} for checkpoint entry {path!r}, "
                "not a NumPy array"
            )
    array = np.asarray(value)
    if array.dtype.hasobject:
        raise TypeError(
            f"checkpoint entry {path!r} is an array of Python objects (dtype {array.dtype}); "
            "those would need pickle, which checkpoints never use: store numbers, strings "
            "or nested dicts/lists instead"
        )
    return array


def _is_plain_list(value: Any) -> bool:
    return type(value) is list and all(isinstance(v, _SCALARS) for v in value)


def _encode(value: Any, path: str, arrays: dict[str, np.ndarray], to_numpy: Any) -> list:
    """The manifest node of ``value``; its arrays are added to ``arrays`` by path."""
    if isinstance(value, Mapping):
        return [
            "dict",
            {k: _encode(v, _key_path(path, k), arrays, to_numpy) for k, v in value.items()},
        ]
    if isinstance(value, np.generic):  # before the scalars: np.float64 is a float
        arrays[path] = _host_array(value, path, None)
        return ["scalar", path]
    if isinstance(value, _SCALARS):
        return ["value", _plain(value)]
    if type(value) is list and value and all(type(v) is float for v in value):
        arrays[path] = np.asarray(value, dtype=np.float64)  # compact and exact
        return ["floats", path]
    if _is_plain_list(value):
        return ["value", [_plain(v) for v in value]]
    if isinstance(value, list | tuple):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return [kind, [_encode(v, f"{path}/{i}", arrays, to_numpy) for i, v in enumerate(value)]]
    if isinstance(value, bytes | bytearray | set | frozenset | complex):
        raise TypeError(
            f"checkpoint entry {path!r} is a {type(value).__name__}, which checkpoints do not "
            "store; use a NumPy array, a list or a string"
        )
    arrays[path] = _host_array(value, path, to_numpy)
    return ["array", path]


def _plain(value: Any) -> Any:
    """A JSON-exact copy of a Python scalar (subclasses such as IntEnum become the base type)."""
    if value is None or isinstance(value, bool):
        return None if value is None else bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def _fsync_dir(folder: str) -> None:
    """Persist a rename (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(
    path: str | os.PathLike,
    tree: Mapping[str, Any],
    *,
    to_numpy: Callable[[Any], np.ndarray] | None = None,
    compress: bool = False,
) -> None:
    """Write ``tree`` to ``path`` (a ``.npz`` file) atomically.

    ``tree`` is a dict whose keys are strings without ``/`` and whose values are dicts,
    lists, tuples, Python scalars (``int``, ``float``, ``bool``, ``str``, ``None``), NumPy
    arrays of any non-object dtype and shape, or NumPy scalars. Arrays of other backends are
    converted with ``to_numpy`` (e.g. ``backend.to_numpy``); without it they are a
    ``TypeError``. ``compress`` deflates the arrays (smaller, slower).

    The whole tree is checked before anything is written; the parent folder is created if
    needed. The previous file at ``path``, if any, is replaced only once the new one is
    completely on disk. Raises ``TypeError`` naming the offending entry for an object array
    or an unsupported value, ``ValueError`` for a bad key.
    """
    if not isinstance(tree, Mapping):
        raise TypeError(f"a checkpoint is a dict, not a {type(tree).__name__}")
    arrays: dict[str, np.ndarray] = {}
    structure = _encode(tree, "", arrays, to_numpy)
    if _MANIFEST in arrays:
        raise ValueError(f"{_MANIFEST!r} is reserved; rename that top-level key")
    manifest = json.dumps(
        {"format": _FORMAT, "version": CHECKPOINT_VERSION, "tree": structure},
        ensure_ascii=False,
        allow_nan=True,
    )
    entries = {_MANIFEST: np.asarray(manifest), **arrays}

    target = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            with zipfile.ZipFile(f, mode="w", compression=mode, allowZip64=True) as zf:
                for name, array in entries.items():
                    with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, array, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, os.stat(target).st_mode & 0o777)  # keep an existing file's mode
        except FileNotFoundError:
            os.chmod(tmp, 0o644)  # mkstemp's 0600 is stricter than a normal new file
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)


# -- load -----------------------------------------------------------------------------------
def _read_member(zf: zipfile.ZipFile, name: str, source: str) -> np.ndarray:
    try:
        with zf.open(f"{name}.npy") as member:
            return np.lib.format.read_array(member, allow_pickle=False)
    except KeyError:
        raise CheckpointError(f"{source}: entry {name!r} is missing (a damaged file?)") from None
    except ValueError as exc:
        if "pickle" in str(exc):
            raise CheckpointError(
                f"{source}: entry {name!r} holds pickled Python objects; refusing to load it "
                "(loading pickle can run arbitrary code; xpnn checkpoints never contain any)"
            ) from None
        raise CheckpointError(f"{source}: entry {name!r} is corrupt ({exc})") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointError(f"{source}: entry {name!r} is corrupt ({exc})") from None
    except Exception as exc:  # zlib.error and whatever else a damaged stream raises
        raise CheckpointError(f"{source}: entry {name!r} is corrupt ({exc!r})") from None


def _decode(node: Any, arrays: dict[str, np.ndarray], used: set[str], source: str) -> Any:
    try:
        kind, body = node
    except (TypeError, ValueError):
        raise CheckpointError(f"{source}: malformed manifest node {node!r:.80}") from None
    if kind == "dict" and isinstance(body, dict):
        return {k: _decode(v, arrays, used, source) for k, v in body.items()}
    if kind in ("list", "tuple") and isinstance(body, list):
        items = [_decode(v, arrays, used, source) for v in body]
        return tuple(items) if kind == "tuple" else items
    if kind == "value":
        return body
    if kind in ("array", "scalar", "floats") and isinstance(body, str):
        if body not in arrays:
            raise CheckpointError(f"{source}: entry {body!r} is missing (a damaged file?)")
        used.add(body)
        array = arrays[body]
        if kind == "array":
            return array
        if kind == "scalar" and array.ndim == 0:
            return array[()]
        if kind == "floats" and array.ndim == 1 and array.dtype == np.float64:
            return array.tolist()
    raise CheckpointError(f"{source}: malformed manifest node {node!r:.80}")


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`: the same tree, with NumPy arrays.

    Arrays come back as writable host NumPy arrays of their saved dtype and shape; Python
    values, lists, tuples and NumPy scalars as they were saved. Nothing is unpickled.
    Raises ``FileNotFoundError`` for a missing file and :class:`CheckpointError` (naming the
    file) for a truncated, corrupt or foreign one, one from a newer xpnn, or one holding
    pickled objects.
    """
    source = os.fspath(path)
    try:
        zf = zipfile.ZipFile(source)
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint at {source}") from None
    except (zipfile.BadZipFile, EOFError, NotImplementedError, ValueError) as exc:
        # A damaged central directory can also read as a zip "version" this Python does not
        # implement (NotImplementedError) or an undecodable name (UnicodeDecodeError).
        raise CheckpointError(
            f"{source}: not a readable checkpoint ({exc}): the file is truncated, corrupt, "
            "or not an .npz"
        ) from None
    with zf:
        names = set()
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                raise CheckpointError(f"{source}: unexpected entry {info.filename!r} in the .npz")
            names.add(info.filename[: -len(".npy")])
        if _MANIFEST not in names:
            raise CheckpointError(
                f"{source}: not an xpnn checkpoint (no {_MANIFEST!r} entry); a plain .npz "
                "can be read with numpy.load(path, allow_pickle=False)"
            )
        raw = _read_member(zf, _MANIFEST, source)
        try:
            manifest = json.loads(str(raw[()]))
            fmt, version, structure = manifest["format"], manifest["version"], manifest["tree"]
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise CheckpointError(f"{source}: unreadable checkpoint manifest ({exc})") from None
        if fmt != _FORMAT:
            raise CheckpointError(f"{source}: not an xpnn checkpoint (format {fmt!r})")
        if not isinstance(version, int) or version < 1:
            raise CheckpointError(f"{source}: bad checkpoint version {version!r}")
        if version > CHECKPOINT_VERSION:
            raise CheckpointError(
                f"{source}: checkpoint format version {version} was written by a newer xpnn; "
                f"this one reads up to version {CHECKPOINT_VERSION}"
            )
        arrays = {name: _read_member(zf, name, source) for name in names if name != _MANIFEST}
    used: set[str] = set()
    tree = _decode(structure, arrays, used, source)
    if not isinstance(tree, dict):
        raise CheckpointError(f"{source}: the checkpoint's top level is not a dict")
    if used != set(arrays):
        raise CheckpointError(
            f"{source}: entries not in the manifest: {sorted(set(arrays) - used)} "
            "(a damaged or altered file?)"
        )
    return tree
