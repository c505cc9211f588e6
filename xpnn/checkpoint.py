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
version, the tree's structure and, under ``arrays``, each stored array's dtype and shape
(``{"params/W1": ["<f4", [784, 50]]}``; files written before it was added lack it, and
still load). Python scalars (``int``, ``float``, ``bool``, ``str``,
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

**Bounded reads.** A file never makes :func:`load_checkpoint` allocate more than the arrays
it is expected to hold, plus a constant. Before any array's data is read, the zip is checked
(entries stored or deflated, none overlapping another or running past the file's end, none
more than the manifest lists), and so is every entry's ``.npy`` header: its dtype and shape
must be what the manifest's table lists, its size what the zip directory declares, and
fit what the receiver expects (``expected=``: a network's or optimizer's arrays) or, with
no receiver, the arrays may declare at most the file's own size or ``max_bytes``
(:data:`DEFAULT_MAX_BYTES`) in total. Each array is then allocated once and filled in
chunks of 1 MiB (:mod:`xpnn._bounded_npz`). A 1.5 MB file declaring 1.6 GB of zeros is
refused at its header, in milliseconds.

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

from ._bounded_npz import BoundedNpz, NpyHeader, NpzRefused

__all__ = [
    "CHECKPOINT_VERSION",
    "DEFAULT_MAX_BYTES",
    "SMALL_BYTES",
    "CheckpointError",
    "load_checkpoint",
    "save_checkpoint",
]

#: The format version written by :func:`save_checkpoint`; :func:`load_checkpoint` reads
#: this version and older ones.
CHECKPOINT_VERSION = 1

#: Without a receiver, the most bytes a checkpoint's arrays may declare in all, unless the
#: file itself is larger (stored arrays are on disk anyway): :func:`load_checkpoint`'s
#: ``max_bytes``.
DEFAULT_MAX_BYTES = 1 << 30

#: With a receiver, the most bytes the manifest may take, and the most the entries the
#: receiver does not list (generator states, names) may take together.
SMALL_BYTES = 16 << 20

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
    table = {path: [array.dtype.str, list(array.shape)] for path, array in arrays.items()}
    manifest = json.dumps(
        {"format": _FORMAT, "version": CHECKPOINT_VERSION, "tree": structure, "arrays": table},
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
def _walk(node: Any, where: tuple[str, ...], out: list[tuple[tuple[str, ...], str, str]]) -> None:
    """Append ``(location, entry, kind)`` for each array node under ``node``, checking the
    manifest's structure on the way (``location``: the keys and indices leading to it)."""
    if not (isinstance(node, list) and len(node) == 2):
        raise NpzRefused(f"malformed manifest node {node!r:.80}")
    kind, body = node
    if kind == "dict" and isinstance(body, dict):
        for key, child in body.items():
            _walk(child, (*where, str(key)), out)
    elif kind in ("list", "tuple") and isinstance(body, list):
        for i, child in enumerate(body):
            _walk(child, (*where, str(i)), out)
    elif kind in ("array", "scalar", "floats") and isinstance(body, str):
        out.append((where, body, kind))
    elif kind != "value":
        raise NpzRefused(f"malformed manifest node {node!r:.80}")


def _read_manifest(npz: BoundedNpz, limit: int) -> tuple[Any, Any]:
    """The manifest's tree and its table of arrays (``None`` in files written before it
    had one), read only once its header shows a string of at most ``limit`` bytes."""
    if _MANIFEST not in npz.names:
        raise NpzRefused(
            f"not an xpnn checkpoint (no {_MANIFEST!r} entry); a plain .npz can be read with "
            "numpy.load(path, allow_pickle=False)"
        )
    header = npz.header(_MANIFEST)
    if header.shape != () or header.dtype.kind != "U":
        raise NpzRefused(
            f"unreadable checkpoint manifest (a {header.dtype} array of shape "
            f"{header.shape}, not a string)"
        )
    if header.nbytes > limit:
        raise NpzRefused(
            f"the checkpoint manifest declares {header.nbytes} bytes, more than the {limit} "
            "allowed; refused before reading it"
        )
    try:
        manifest = json.loads(str(npz.read(_MANIFEST)[()]))
        fmt, version, structure = manifest["format"], manifest["version"], manifest["tree"]
        table = manifest.get("arrays")
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as e:
        raise NpzRefused(f"unreadable checkpoint manifest ({e})") from None
    if fmt != _FORMAT:
        raise NpzRefused(f"not an xpnn checkpoint (format {fmt!r})")
    if not isinstance(version, int) or version < 1:
        raise NpzRefused(f"bad checkpoint version {version!r}")
    if version > CHECKPOINT_VERSION:
        raise NpzRefused(
            f"checkpoint format version {version} was written by a newer xpnn; this one "
            f"reads up to version {CHECKPOINT_VERSION}"
        )
    if table is not None and not isinstance(table, dict):
        raise NpzRefused("unreadable checkpoint manifest (its table of arrays is not a dict)")
    return structure, table


def _check_entries(npz: BoundedNpz, listed: list[tuple[tuple[str, ...], str, str]]) -> None:
    """The file's entries must be exactly those its manifest lists (checked before any
    array is read: a zip cannot carry more entries than the manifest accounts for)."""
    entries = {entry for _, entry, _ in listed}
    unknown = sorted(set(npz.names) - entries - {_MANIFEST})
    if unknown:
        raise NpzRefused(
            f"entries not in the manifest: {unknown[:20]} (a damaged or altered file?)"
        )
    for entry in sorted(entries):
        if entry not in npz.names:
            raise NpzRefused(f"entry {entry!r} is missing (a damaged file?)")


def _check_kind(header: NpyHeader, entry: str, kind: str, table: Any) -> None:
    """The header must be what the manifest says the entry is: a 0-d array for a NumPy
    scalar, a 1-d float64 array for a list of floats, and what its table lists."""
    if (kind == "scalar" and header.shape != ()) or (
        kind == "floats" and (len(header.shape) != 1 or header.dtype != np.float64)
    ):
        raise NpzRefused(f"malformed manifest node {[kind, entry]!r:.80}")
    if table is None:
        return
    declared = table.get(entry)
    if declared != [header.dtype.str, list(header.shape)]:
        raise NpzRefused(
            f"entry {entry!r} is a {header.dtype} array of shape {header.shape}, but the "
            f"manifest lists it as {declared!r:.80}: a damaged or altered file; refused "
            "before reading its data"
        )


def _expected_at(expected: Any, where: tuple[str, ...]) -> np.ndarray | None:
    """The array ``expected`` holds at ``where``, when it is a numeric one, else ``None``."""
    node = expected
    for key in where:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    dtype = getattr(node, "dtype", None)
    if hasattr(node, "shape") and isinstance(dtype, np.dtype) and dtype.kind in "biufc":
        return node
    return None


def _check_sizes(
    npz: BoundedNpz,
    listed: list[tuple[tuple[str, ...], str, str]],
    table: Any,
    expected: Mapping[str, Any] | None,
    budget: int,
) -> None:
    """Read every listed entry's header and refuse, before any data is read, an entry that
    is not what the manifest or the receiver says, or sizes beyond the budget: without a
    receiver ``budget`` bounds the total; with one, each array it lists bounds its entry
    and ``budget`` bounds the others together."""
    total = npz.header(_MANIFEST).nbytes if expected is None else 0
    for where, entry, kind in listed:
        header = npz.header(entry)
        _check_kind(header, entry, kind, table)
        target = None if expected is None else _expected_at(expected, where)
        if target is not None:
            header.check_fits(entry, tuple(target.shape), target.dtype)
            continue
        total += header.nbytes
        if total > budget and expected is None:
            raise NpzRefused(
                f"the arrays up to entry {entry!r} declare {total} bytes, more than the "
                f"{budget} allowed (the file's size or max_bytes, whichever is larger); "
                "refused before reading them (a damaged or hostile file? To load a larger "
                "checkpoint you trust, pass max_bytes=)"
            )
        if total > budget:
            raise NpzRefused(
                f"the entries the receiver does not expect, up to {entry!r}, declare {total} "
                f"bytes, more than the {budget} allowed; refused before reading them (a "
                "damaged or hostile file?)"
            )


def _decode(node: Any, arrays: dict[str, np.ndarray]) -> Any:
    kind, body = node  # checked by _walk
    if kind == "dict":
        return {k: _decode(v, arrays) for k, v in body.items()}
    if kind in ("list", "tuple"):
        items = [_decode(v, arrays) for v in body]
        return tuple(items) if kind == "tuple" else items
    if kind == "value":
        return body
    array = arrays[body]
    if kind == "scalar":
        return array[()]
    if kind == "floats":
        return array.tolist()
    return array


def _load(npz: BoundedNpz, expected: Mapping[str, Any] | None, max_bytes: int) -> dict[str, Any]:
    budget = max(npz.size, max_bytes) if expected is None else SMALL_BYTES
    structure, table = _read_manifest(npz, budget)
    listed: list[tuple[tuple[str, ...], str, str]] = []
    _walk(structure, (), listed)
    _check_entries(npz, listed)
    if not (isinstance(structure, list) and structure[0] == "dict"):
        raise NpzRefused("the checkpoint's top level is not a dict")
    if expected is not None:  # only the receiver's top-level entries are read
        structure = ["dict", {k: v for k, v in structure[1].items() if k in expected}]
        listed = [item for item in listed if item[0][0] in expected]
    _check_sizes(npz, listed, table, expected, budget)
    arrays: dict[str, np.ndarray] = {}
    for _, entry, _ in listed:
        if entry not in arrays:
            arrays[entry] = npz.read(entry)
    return _decode(structure, arrays)


def load_checkpoint(
    path: str | os.PathLike,
    *,
    expected: Mapping[str, Any] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`: the same tree, with NumPy arrays.

    Arrays come back as writable host NumPy arrays of their saved dtype and shape; Python
    values, lists, tuples and NumPy scalars as they were saved. Nothing is unpickled, and
    no array is read before its size is known and allowed (see the module docstring):

    - without ``expected``, the arrays (the manifest included) may declare at most the
      file's own size or ``max_bytes`` (default :data:`DEFAULT_MAX_BYTES`, 1 GiB),
      whichever is larger, in total;
    - ``expected`` is what the receiver takes, as a tree shaped like the checkpoint's: only
      its top-level keys are read (the others are neither read nor returned); each numeric
      array in it (anything with ``shape`` and a NumPy ``dtype``) is the shape the entry at
      its place must have, with at most 8 bytes an element (or the array's own size if
      larger); the entries it does not give an array for (a generator's state, names,
      strings: ``None`` selects such a top-level key) may hold :data:`SMALL_BYTES`
      together, and so may the manifest. ``max_bytes`` is then unused.

    Raises ``FileNotFoundError`` for a missing file and :class:`CheckpointError` (naming the
    file) for a truncated, corrupt, foreign or hostile one, one from a newer xpnn, one
    holding pickled objects, or one whose arrays do not fit.
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise ValueError(f"max_bytes must be a non-negative int, got {max_bytes!r}")
    source = os.fspath(path)
    try:
        npz = BoundedNpz(source)
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint at {source}") from None
    except NpzRefused as exc:
        raise CheckpointError(f"{source}: {exc}") from None
    with npz:
        try:
            return _load(npz, expected, max_bytes)
        except NpzRefused as exc:
            raise CheckpointError(f"{source}: {exc}") from None
        except RecursionError:
            raise CheckpointError(f"{source}: the checkpoint manifest nests too deeply") from None
