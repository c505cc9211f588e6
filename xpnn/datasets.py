"""MNIST, as the book's ``dataset/mnist.py`` loads it: found, downloaded, verified, parsed.

::

    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=True)
    (x_tr, t_tr), (x_val, t_val) = train_val_split(x_train, t_train, val_ratio=0.2, seed=0)

Everything here is host I/O and returns host NumPy arrays; a backend moves them to its
device (``backend.asarray``), once.

**Where the files live.** ``data_dir`` when given, else ``$XPNN_DATA/mnist``, else
``~/.cache/xpnn/mnist``. The four canonical files (``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``) are
accepted gzipped (``.gz``, as the mirrors serve them) or decompressed; when both are there,
the decompressed one is read.

**Nothing unverified is used.** Every file's decompressed content is checked against the
SHA-256 in :data:`MNIST_SHA256` on every load (about 0.03 s for all four) and a mismatch is
refused, naming the file; the IDX parser then checks magic numbers, dimensions and lengths.
A missing file is downloaded from each of :data:`MNIST_MIRRORS` in turn into a temporary
file in the target folder, which is renamed into place only once its checksum matches; a
failed, truncated or corrupt download is deleted, never kept or used. When no mirror can be
reached, :class:`DatasetNotFoundError` says which files are missing, where they were looked
for and how to provide them.

**Nothing is read beyond what is expected.** Each file is decompressed, hashed and parsed in
chunks of 1 MiB, never further than its known size in :data:`MNIST_SIZES` plus one byte
(the byte that tells a longer file), into one buffer of which the parsed array is a view:
a file never makes ``load_mnist`` allocate more than that array, at most its known size,
plus a constant (besides the conversions that ``normalize`` and ``one_hot_label`` ask
for, which do not depend on the file). An IDX header
that declares more than the known size is refused at the header, before any data is
decompressed (it cannot match the checksum); a smaller one is read and then fails the
checksum. Downloads are cut at the longest size a gzip of the file can have.

**Labels are int64** (the book's loader gives uint8): int64 is the index type every array
library accepts, where torch would read a uint8 index array as a boolean mask.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import math
import os
import tempfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.request import urlopen

import numpy as np

from ._array_api import one_hot

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "MNIST_SHA256",
    "MNIST_SIZES",
    "DatasetError",
    "DatasetNotFoundError",
    "default_data_dir",
    "load_mnist",
    "read_idx",
    "shuffle_dataset",
    "train_val_split",
]

#: The four files, by role: (file name without ``.gz``, IDX magic number).
MNIST_FILES: dict[str, tuple[str, int]] = {
    "train_img": ("train-images-idx3-ubyte", 2051),
    "train_label": ("train-labels-idx1-ubyte", 2049),
    "test_img": ("t10k-images-idx3-ubyte", 2051),
    "test_label": ("t10k-labels-idx1-ubyte", 2049),
}

#: SHA-256 of each file's *decompressed* content (the canonical MNIST payload), so one hash
#: covers both the ``.gz`` and the raw form. Computed with ``zcat FILE.gz | sha256sum`` from
#: the files of ossci-datasets.s3.amazonaws.com/mnist/; they agree with the second block of
#: the SHA256SUMS shipped next to those files. Tests replace entries to check tiny files.
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: Size in bytes of each file's decompressed content (the canonical MNIST payload). No
#: file is decompressed further than its size plus one byte, and an IDX header that
#: declares more is refused before its data is read.
MNIST_SIZES: dict[str, int] = {
    "train-images-idx3-ubyte": 47_040_016,
    "train-labels-idx1-ubyte": 60_008,
    "t10k-images-idx3-ubyte": 7_840_016,
    "t10k-labels-idx1-ubyte": 10_008,
}

#: Mirrors tried in turn for a missing file (``<mirror><name>.gz``).
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

_DOWNLOAD_TIMEOUT_S = 30.0
_CHUNK = 1 << 20
#: :func:`read_idx`'s ``max_bytes``: the most bytes an IDX header may declare, unless the
#: file itself is larger.
DEFAULT_MAX_BYTES = 1 << 30
#: zlib's bound on deflate's compression ratio (its FAQ: 1032:1): a gzip file of n bytes
#: holds at most 1032 n bytes.
_DEFLATE_MAX_RATIO = 1032


def _download_limit(name: str) -> int:
    """The longest download accepted for ``name.gz``: its content stored uncompressed, plus
    deflate's 5 bytes per stored block of at most 64 KiB and room for gzip's headers."""
    size = MNIST_SIZES[name]
    return size + 5 * (size // 65535 + 1) + 4096


# IDX element types: third byte of the magic number -> big-endian dtype.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DatasetError(ValueError):
    """A dataset file is unusable: wrong checksum, not gzip, or not a valid IDX file."""


class DatasetNotFoundError(FileNotFoundError):
    """Dataset files are missing and could not be downloaded.

    Besides its message (which lists everything), it says what a command line needs for a
    one-line error: ``folder`` (where the files were looked for), ``missing`` (their names)
    and ``download_errors`` (one line per failed download; empty when downloading was off).
    """

    def __init__(
        self,
        message: str,
        *,
        folder: Path | None = None,
        missing: Iterable[str] = (),
        download_errors: Iterable[str] = (),
    ) -> None:
        super().__init__(message)
        self.folder = folder
        self.missing = list(missing)
        self.download_errors = list(download_errors)


# -- where ----------------------------------------------------------------------------------
def default_data_dir() -> Path:
    """The folder MNIST is looked for in without ``data_dir``: ``$XPNN_DATA/mnist`` when
    ``XPNN_DATA`` is set (and not blank), else ``~/.cache/xpnn/mnist``."""
    root = os.environ.get("XPNN_DATA", "").strip()
    if root:
        return Path(root).expanduser() / "mnist"
    return Path("~/.cache/xpnn/mnist").expanduser()


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


# -- reading and checking -------------------------------------------------------------------
@dataclass
class _Content:
    """What reading a file found: its first bytes (all of them unless the content is longer
    than its IDX header declares), how many bytes the content has (counted up to the
    reader's limit plus one), their SHA-256, and the shape its IDX header declares."""

    data: bytearray
    total: int
    sha256: str
    shape: tuple[int, ...] | None  # None: no complete header with a valid magic number
    complete: bool  # whether the end of the content was reached (else total is a minimum)


def _declared(head: bytes) -> tuple[tuple[int, ...], int] | None:
    """The shape and the total size (header included) an IDX header declares; ``None`` when
    ``head`` is no complete header with a valid magic number."""
    if len(head) < 4 or head[0] or head[1] or head[2] not in _IDX_DTYPES or head[3] == 0:
        return None
    size = 4 + 4 * head[3]
    if len(head) < size:
        return None
    shape = tuple(int.from_bytes(head[i : i + 4], "big") for i in range(4, size, 4))
    return shape, size + math.prod(shape) * np.dtype(_IDX_DTYPES[head[2]]).itemsize


def _open_content(path: Path, gz: bool) -> io.BufferedIOBase:
    """``path`` opened for reading its content: decompressed as it is read when ``gz``."""
    return gzip.open(path, "rb") if gz else open(path, "rb")


def _read_stream(
    path: Path,
    gz: bool,
    limit: int,
    refuse: Callable[[tuple[int, ...], int], DatasetError],
    overrun: int | None = None,
) -> _Content:
    """Read the content of ``path`` in chunks, never more than ``limit`` + 1 bytes of it.

    The IDX header is read first: when it declares more than ``limit`` bytes, ``refuse``
    (given the shape and that size) makes the error raised before anything else is read.
    The content is kept up to what the header declares plus one byte (``limit`` + 1
    without a header); the rest, if any, is only hashed and counted, all of it (up to
    ``limit`` + 1: what a checksum needs) or its first ``overrun`` bytes.
    """
    hasher = hashlib.sha256()
    try:
        with _open_content(path, gz) as f:
            data = bytearray(f.read(4))
            if len(data) == 4:
                data += f.read(4 * data[3])
            found = _declared(bytes(data))
            if found is not None and found[1] > limit:
                raise refuse(*found)
            keep = min(limit if found is None else found[1], limit) + 1
            while len(data) < keep and (chunk := f.read(min(_CHUNK, keep - len(data)))):
                data += chunk
            hasher.update(data)
            total = len(data)
            stop = limit if overrun is None else min(limit, len(data) + overrun)
            while total <= stop and (chunk := f.read(min(_CHUNK, stop + 1 - total))):
                hasher.update(chunk)
                total += len(chunk)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DatasetError(
            f"{path}: not a valid gzip file ({exc}); delete it or replace it"
        ) from None
    shape = None if found is None else found[0]
    return _Content(data, total, hasher.hexdigest(), shape, complete=total <= stop)


def _dims(shape: tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape)


def _length_error(
    source: Any, shape: tuple[int, ...], itemsize: int, actual: int, exact: bool = True
) -> DatasetError:
    """The error for an IDX file of ``actual`` data bytes (at least, unless ``exact``)
    whose header declares ``shape``."""
    expected = math.prod(shape) * itemsize
    least = "" if exact else "at least "
    problem = "truncated" if actual < expected else f"{least}{actual - expected} bytes too long"
    return DatasetError(
        f"{source}: {problem}: the header says {_dims(shape)} items ({expected} bytes of "
        f"data), the file holds {least}{actual} bytes"
    )


def _check_complete(content: _Content, source: Any) -> None:
    """Refuse a content longer than its IDX header declares (of which only the declared
    size plus one byte was kept)."""
    # (Without a header, everything up to the reader's limit plus one byte was kept.)
    if content.shape is not None and content.total > len(content.data):
        header = 4 + 4 * len(content.shape)
        itemsize = np.dtype(_IDX_DTYPES[content.data[2]]).itemsize
        actual = content.total - header
        raise _length_error(source, content.shape, itemsize, actual, content.complete)


def _read_content(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytearray:
    """The decompressed content of ``path`` (read as gzip when its name ends in ``.gz``),
    read in chunks, no further than its IDX header declares plus one byte; refused at the
    header when that is more than a file of its size can hold, or than the file's size or
    ``max_bytes`` (whichever is larger), and afterwards when the content is longer."""
    gz = path.suffix == ".gz"
    size = path.stat().st_size
    physical = size * _DEFLATE_MAX_RATIO if gz else size
    limit = min(physical, max(size, max_bytes))

    def refuse(shape: tuple[int, ...], declared: int) -> DatasetError:
        said = f"{path}: its IDX header declares {_dims(shape)} items ({declared} bytes)"
        if declared > physical:
            held = f"a gzip file of {size} bytes can hold" if gz else "the file holds"
            return DatasetError(
                f"{said}, more than the {physical} bytes {held}: truncated or corrupt; "
                "refused before reading its data"
            )
        return DatasetError(
            f"{said}, more than max_bytes={max_bytes} allows; refused before decompressing "
            "its data (a hostile file? To read a larger file you trust, pass max_bytes=)"
        )

    content = _read_stream(path, gz, limit, refuse, overrun=_CHUNK)
    _check_complete(content, path)
    return content.data


def _check_sha256(source: Any, actual: str, name: str) -> None:
    """Refuse ``source`` unless ``actual``, the SHA-256 of its (decompressed) content, is
    the known-good one for ``name``."""
    expected = MNIST_SHA256[name]
    if actual != expected:
        raise DatasetError(
            f"{source}: checksum mismatch, refusing to use it: the SHA-256 of its content "
            f"(decompressed, if gzipped) is {actual}, expected {expected} (a truncated or "
            "corrupt copy?). Delete it to have it downloaded again, or replace it with a good copy."
        )


def _verified(path: Path, gz: bool, name: str, source: Any) -> _Content:
    """The content of ``path``, read in chunks and never beyond ``MNIST_SIZES[name]`` + 1
    bytes, refused (naming ``source``) unless its SHA-256 is the known-good one for ``name``;
    a header that declares more than that size is refused before the data is read."""
    known = MNIST_SIZES[name]
    advice = "Delete it to have it downloaded again, or replace it with a good copy."

    def refuse(shape: tuple[int, ...], declared: int) -> DatasetError:
        return DatasetError(
            f"{source}: refused at its IDX header, before decompressing its data: it declares "
            f"{_dims(shape)} items ({declared} bytes with the header), more than the {known} "
            f"bytes of MNIST's {name}, so its checksum cannot match (a corrupt or hostile "
            f"file?). {advice}"
        )

    content = _read_stream(path, gz, known, refuse)
    if content.total > known:
        raise DatasetError(
            f"{source}: checksum mismatch, refusing to use it: its content (decompressed, if "
            f"gzipped) is longer than the {known} bytes of MNIST's {name}; reading stopped "
            f"there (a corrupt or hostile file?). {advice}"
        )
    _check_sha256(source, content.sha256, name)
    return content


def _parse_idx(content: bytes | bytearray, source: Any) -> np.ndarray:
    """Parse IDX bytes into a (writable, native-endian) array; ``source`` names the file.
    The array is a view of ``content`` when that is a (writable) bytearray, else a copy."""
    if len(content) < 4:
        raise DatasetError(
            f"{source}: not an IDX file: {len(content)} bytes, too short for a header"
        )
    zero, code, ndim = int.from_bytes(content[:2], "big"), content[2], content[3]
    magic = int.from_bytes(content[:4], "big")
    if zero != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise DatasetError(f"{source}: not an IDX file (bad magic number {magic:#010x})")
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DatasetError(
            f"{source}: truncated IDX header: {ndim} dimensions need {header} bytes, "
            f"the file has {len(content)}"
        )
    shape = tuple(int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[code])
    if len(content) - header != math.prod(shape) * dtype.itemsize:
        raise _length_error(source, shape, dtype.itemsize, len(content) - header)
    array = np.frombuffer(content, dtype=dtype, offset=header).reshape(shape)
    if not array.flags.writeable:
        array = array.copy()
    if not dtype.isnative:
        array = array.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return array


def read_idx(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Read one IDX file (gzipped when its name ends in ``.gz``) into a NumPy array.

    The shape and dtype are the file's (MNIST: ``uint8``, ``(N, 28, 28)`` images or ``(N,)``
    labels). Raises :class:`DatasetError` naming the file when it is not gzip, has a bad
    magic number, or its length disagrees with its header. No checksum is checked.

    The file is read in chunks into one buffer, of which the array is a view, no further
    than its header declares (plus one byte). A header that declares more than a file of
    its size can hold (gzip: 1032 times its size) or more than the file's size or
    ``max_bytes`` (default :data:`DEFAULT_MAX_BYTES`, 1 GiB), whichever is larger, is
    refused before its data is read.
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise ValueError(f"max_bytes must be a non-negative int, got {max_bytes!r}")
    path = Path(path)
    return _parse_idx(_read_content(path, max_bytes), path)


def _load_file(path: Path, name: str, magic: int) -> np.ndarray:
    content = _verified(path, path.suffix == ".gz", name, path)
    _check_complete(content, path)
    data = content.data
    found = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if found != magic:
        kind = "images" if magic == 2051 else "labels"
        shown = "none" if found is None else str(found)
        raise DatasetError(
            f"{path}: bad magic number {shown}, expected {magic} (MNIST {kind}); is this the "
            "right file?"
        )
    array = _parse_idx(data, path)
    if magic == 2051 and array.shape[1:] != (28, 28):
        raise DatasetError(f"{path}: images are {array.shape[1:]}, expected (28, 28)")
    if magic == 2049 and array.size and int(array.max()) > 9:
        raise DatasetError(f"{path}: label {int(array.max())} is out of range 0..9")
    return array


# -- downloading ----------------------------------------------------------------------------
def _copy_response(resp: Any, out: BinaryIO, limit: int, url: str) -> None:
    """Copy a download to ``out`` in chunks, refusing one longer than ``limit`` bytes."""
    copied = 0
    while chunk := resp.read(min(_CHUNK, limit + 1 - copied)):
        copied += len(chunk)
        if copied > limit:
            raise DatasetError(
                f"{url}: longer than {limit} bytes, more than any gzip of this MNIST file; "
                "stopped there"
            )
        out.write(chunk)


def _try_download(folder: Path, name: str) -> tuple[Path | None, list[str]]:
    """Download ``name.gz`` into ``folder`` from the first mirror whose copy verifies.

    Returns the final path (``None`` when every mirror failed) and one line per failure.
    Raises :class:`DatasetNotFoundError` when ``folder`` cannot be written to.
    """
    target = folder / f"{name}.gz"
    errors: list[str] = []
    for mirror in MNIST_MIRRORS:
        url = f"{mirror}{name}.gz"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.gz.", suffix=".part", dir=folder)
        except OSError as exc:
            raise DatasetNotFoundError(
                f"cannot download MNIST into {folder}: {exc}. Point data_dir or XPNN_DATA at a "
                "writable folder, or copy the files there yourself."
            ) from None
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as resp:
                _copy_response(resp, out, _download_limit(name), url)
                out.flush()
                os.fsync(out.fileno())
            _verified(tmp, True, name, url)
            os.replace(tmp, target)
            return target, errors
        except (OSError, EOFError, zlib.error, http.client.HTTPException, DatasetError) as exc:
            errors.append(f"{url}: {exc}")
        finally:
            tmp.unlink(missing_ok=True)
    return None, errors


def _not_found(folder: Path, missing: Iterable[str], errors: list[str]) -> DatasetNotFoundError:
    names = list(missing)
    listed = "\n".join(f"  {n} (or {n}.gz)" for n in names)
    tried = "\n".join(f"  {e}" for e in errors) or "  (downloading was disabled)"
    return DatasetNotFoundError(
        f"MNIST files missing from {folder}:\n{listed}\n"
        f"Downloading them failed:\n{tried}\n"
        "To provide them, copy the four files (gzipped or not) into that folder, or point "
        "load_mnist(data_dir=...) or the XPNN_DATA environment variable (which is used as "
        "$XPNN_DATA/mnist) at a folder that has them; they are served at "
        + ", ".join(MNIST_MIRRORS),
        folder=folder,
        missing=names,
        download_errors=errors,
    )


# -- the book's loader ----------------------------------------------------------------------
def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST as ``((x_train, t_train), (x_test, t_test))``, host NumPy arrays.

    ``N`` is 60000 for training and 10000 for testing.

    Parameters
    ----------
    normalize:
        Images as float32 in [0, 1] (``pixel / 255``) when true, else the raw uint8 pixels.
    flatten:
        Images of shape ``(N, 784)`` when true, else ``(N, 1, 28, 28)``, as the book's.
    one_hot_label:
        Labels as float32 one-hot rows ``(N, 10)`` when true, else int64 ``(N,)`` in 0..9.
    data_dir:
        The folder holding the files; default :func:`default_data_dir`.
    download:
        Fetch missing files from :data:`MNIST_MIRRORS` (else a missing file is an error).

    Raises
    ------
    DatasetNotFoundError
        Files are missing and cannot be downloaded; it names the folder and the files.
    DatasetError
        A file is corrupt (checksum, gzip or IDX structure); it names the file.
    """
    folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    paths = _locate(folder, download)
    arrays = {
        key: _load_file(paths[name], name, magic) for key, (name, magic) in MNIST_FILES.items()
    }
    for split in ("train", "test"):
        x, t = arrays[f"{split}_img"], arrays[f"{split}_label"]
        if len(x) != len(t):
            raise DatasetError(
                f"{folder}: {split} set has {len(x)} images but {len(t)} labels "
                f"({paths[MNIST_FILES[f'{split}_img'][0]].name}, "
                f"{paths[MNIST_FILES[f'{split}_label'][0]].name})"
            )
    return (
        (
            _images(arrays["train_img"], normalize, flatten),
            _labels(arrays["train_label"], one_hot_label),
        ),
        (
            _images(arrays["test_img"], normalize, flatten),
            _labels(arrays["test_label"], one_hot_label),
        ),
    )


def _locate(folder: Path, download: bool) -> dict[str, Path]:
    """The path of each MNIST file in ``folder``, downloading the missing ones (when
    ``download``); :class:`DatasetNotFoundError` where some remain missing."""
    missing = [name for name, _ in MNIST_FILES.values() if _find(folder, name) is None]
    errors: list[str] = []
    if missing and download:
        for name in list(missing):
            path, errs = _try_download(folder, name)
            errors += errs
            if path is None:
                break
            missing.remove(name)
    if missing:
        raise _not_found(folder, missing, errors)
    paths: dict[str, Path] = {}
    for name, _ in MNIST_FILES.values():
        found = _find(folder, name)
        assert found is not None
        paths[name] = found
    return paths


def _images(x: np.ndarray, normalize: bool, flatten: bool) -> np.ndarray:
    """uint8 images (N, 28, 28) as float32 in [0, 1] (``normalize``), (N, 784) or
    (N, 1, 28, 28) (``flatten``)."""
    if normalize:
        x = x.astype(np.float32)
        x /= np.float32(255.0)
    return x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, *x.shape[1:])


def _labels(t: np.ndarray, one_hot_label: bool) -> np.ndarray:
    """uint8 labels as int64 (N,), or float32 one-hot rows (N, 10)."""
    if one_hot_label:
        return one_hot(t, 10, np.float32)
    return t.astype(np.int64)


# -- shuffling and splitting ----------------------------------------------------------------
def _check_pair(x: Any, t: Any) -> tuple[np.ndarray, np.ndarray]:
    x, t = np.asarray(x), np.asarray(t)
    if x.ndim == 0 or t.ndim == 0:
        raise ValueError(f"x and t must have a sample axis, got shapes {x.shape} and {t.shape}")
    if len(x) != len(t):
        raise ValueError(f"x and t have different numbers of samples: {len(x)} and {len(t)}")
    return x, t


def shuffle_dataset(x: Any, t: Any, seed: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle samples and labels together (the book's ``shuffle_dataset``, seeded).

    ``x`` is ``(N, ...)``, ``t`` is ``(N,)`` or ``(N, K)``; both host arrays. ``seed`` is
    anything :func:`numpy.random.default_rng` takes (an int, a ``SeedSequence``, a
    ``Generator``, or ``None`` for fresh entropy). Returns new arrays of the same shapes and
    dtypes; the same seed gives the same order.
    """
    x, t = _check_pair(x, t)
    perm = np.random.default_rng(seed).permutation(len(x))
    return x[perm], t[perm]


def train_val_split(
    x: Any,
    t: Any,
    val_ratio: float = 0.2,
    *,
    seed: Any = None,
    shuffle: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Split off a validation set: ``((x_train, t_train), (x_val, t_val))``.

    As the book's chapter 6 search does: shuffle (with ``seed``, see :func:`shuffle_dataset`;
    skipped when ``shuffle=False``), then the first ``int(N * val_ratio)`` samples are the
    validation set and the rest the training set. ``val_ratio`` must be in (0, 1) and leave
    at least one sample on each side. Shapes and dtypes are kept.
    """
    x, t = _check_pair(x, t)
    if isinstance(val_ratio, bool) or not isinstance(val_ratio, int | float | np.floating):
        raise TypeError(f"val_ratio must be a number in (0, 1), got {val_ratio!r}")
    if not 0.0 < float(val_ratio) < 1.0:
        raise ValueError(f"val_ratio must be in (0, 1), got {val_ratio!r}")
    n = len(x)
    n_val = int(n * float(val_ratio))
    if n_val < 1 or n_val >= n:
        raise ValueError(
            f"val_ratio={val_ratio!r} of {n} samples leaves {n_val} for validation and "
            f"{n - n_val} for training; each needs at least one"
        )
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    val, train = order[:n_val], order[n_val:]
    return (x[train], t[train]), (x[val], t[val])
