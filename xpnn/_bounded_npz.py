"""An ``.npz`` whose arrays are read only once their size is known and allowed.

``numpy.load`` and ``np.lib.format.read_array`` allocate the array an entry's ``.npy``
header declares and fill it from the zip entry, decompressing as they go: a 1.5 MB file can
declare 1.6 GB of zeros and get them. Here nothing is allocated before it is checked:

1. **Opening** checks the zip itself, from its central directory and local headers, before
   any entry is read: every entry is a ``.npy`` stored or deflated (the methods ``np.savez``
   and ``np.savez_compressed`` use), no name appears twice, no entry's bytes overlap
   another's (the trick of the non-recursive zip bombs, which make many entries read one
   compressed kernel) or run past the end of the file, and a stored entry's declared size
   is its size on disk.
2. :meth:`BoundedNpz.header` reads an entry's ``.npy`` header only (at most
   :data:`MAX_HEADER_BYTES`; NumPy's own default limit): dtype, shape, order. A dtype
   holding Python objects (pickle) is refused there. The size the zip directory declares
   for the entry must be exactly the header's size plus ``prod(shape) * itemsize``.
3. The caller compares :attr:`NpyHeader.nbytes` and the shape with what it expects; then
   :meth:`BoundedNpz.read` allocates exactly that many bytes and fills them in chunks of
   :data:`CHUNK` bytes, so that reading costs the array plus a constant. The entry's CRC-32
   is checked at its end.

Every refusal is an :class:`NpzRefused` whose message names the entry (without the
``.npy`` suffix), never the file: the caller adds the file's name. NumPy-only host I/O.
"""

from __future__ import annotations

import ast
import itertools
import math
import os
import struct
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CHUNK", "MAX_HEADER_BYTES", "BoundedNpz", "NpyHeader", "NpzRefused"]

#: The longest ``.npy`` header dictionary read (NumPy's default ``max_header_size``).
MAX_HEADER_BYTES = 10_000
#: Bytes read from an entry at a time: the constant that reading adds to the array.
CHUNK = 1 << 20

_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_NPY_MAGIC = b"\x93NUMPY"
_LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # signature ... name length, extra length


class NpzRefused(ValueError):
    """An ``.npz`` (or one of its entries) is refused: damaged, hostile or holding pickles.
    The message names the entry, not the file."""


@dataclass(frozen=True)
class NpyHeader:
    """What an entry's ``.npy`` header declares, and where its data starts."""

    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool
    offset: int  # bytes of magic, version and header before the data

    @property
    def nbytes(self) -> int:
        """The size of the data the header declares, in bytes (a Python int: no overflow)."""
        return math.prod(self.shape) * self.dtype.itemsize

    def check_fits(self, entry: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        """Refuse the entry unless it has ``shape`` and at most 8 bytes an element (or
        ``dtype``'s size if larger): a receiver of ``dtype`` arrays converts any number."""
        if self.shape != tuple(shape) or self.dtype.itemsize > max(8, dtype.itemsize):
            raise NpzRefused(
                f"entry {entry!r} is a {self.dtype} array of shape {self.shape}, but the "
                f"receiver expects shape {tuple(shape)} ({dtype}); refused before reading "
                "its data"
            )


def _check_header_dict(text: str, entry: str) -> tuple[Any, tuple[int, ...], bool]:
    try:
        d = ast.literal_eval(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError, TypeError):
        raise NpzRefused(f"entry {entry!r} is corrupt (unreadable .npy header)") from None
    if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
        raise NpzRefused(f"entry {entry!r} is corrupt (.npy header {text.strip()[:80]!r})")
    shape, fortran = d["shape"], d["fortran_order"]
    if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)):
        raise NpzRefused(f"entry {entry!r} is corrupt (.npy shape {shape!r:.80})")
    if not isinstance(fortran, bool):
        raise NpzRefused(f"entry {entry!r} is corrupt (.npy fortran_order {fortran!r:.40})")
    return d["descr"], shape, fortran


def _dtype(descr: Any, entry: str) -> np.dtype:
    try:
        dtype = np.lib.format.descr_to_dtype(descr)
    except Exception:  # whatever np.dtype makes of a hostile description
        raise NpzRefused(f"entry {entry!r} is corrupt (.npy dtype {descr!r:.80})") from None
    if dtype.hasobject:
        raise NpzRefused(
            f"entry {entry!r} holds pickled Python objects; refusing to load it (loading "
            "pickle can run arbitrary code; xpnn never writes any)"
        )
    return dtype


def _read_exactly(stream: Any, n: int, entry: str, what: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise NpzRefused(f"entry {entry!r} is corrupt (it ends inside its {what})")
    return bytes(data)


def _parse_npy_header(stream: Any, entry: str) -> NpyHeader:
    """Read the magic, version and header dictionary of an ``.npy`` stream (format 1.0,
    2.0 or 3.0), nothing more."""
    magic = _read_exactly(stream, 8, entry, ".npy magic")
    if magic[:6] != _NPY_MAGIC or magic[6:] not in (b"\x01\x00", b"\x02\x00", b"\x03\x00"):
        raise NpzRefused(f"entry {entry!r} is corrupt (not a .npy array: {magic!r})")
    width = 2 if magic[6] == 1 else 4
    length = int.from_bytes(_read_exactly(stream, width, entry, ".npy header"), "little")
    if length > MAX_HEADER_BYTES:
        raise NpzRefused(
            f"entry {entry!r} is corrupt (a .npy header of {length} bytes, more than "
            f"{MAX_HEADER_BYTES})"
        )
    raw = _read_exactly(stream, length, entry, ".npy header")
    try:
        text = raw.decode("utf8" if magic[6] == 3 else "latin1")
    except UnicodeDecodeError:
        raise NpzRefused(f"entry {entry!r} is corrupt (.npy header not UTF-8)") from None
    descr, shape, fortran = _check_header_dict(text, entry)
    return NpyHeader(_dtype(descr, entry), shape, fortran, 8 + width + length)


class BoundedNpz:
    """An open ``.npz`` whose structure has been checked (see the module docstring).

    ``names`` lists its entries without the ``.npy`` suffix, in the zip's order; ``size``
    is the file's size in bytes. Use as a context manager, or call :meth:`close`.
    Raises ``FileNotFoundError`` for a missing file, :class:`NpzRefused` for one that is
    not a zip of ``.npy`` entries or whose entries are malformed, overlap or lie.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self._file = open(self.path, "rb")  # closed by close()
        try:
            self.size = os.fstat(self._file.fileno()).st_size
            self._zip = self._open_zip()
            self._infos = self._check_entries()
        except BaseException:
            self._file.close()
            raise
        self.names = list(self._infos)
        self._headers: dict[str, NpyHeader] = {}

    def _open_zip(self) -> zipfile.ZipFile:
        try:
            return zipfile.ZipFile(self._file)
        except (zipfile.BadZipFile, EOFError, NotImplementedError, ValueError, OSError) as exc:
            # A damaged central directory can also read as a zip "version" this Python does
            # not implement (NotImplementedError) or an undecodable name (UnicodeDecodeError).
            raise NpzRefused(
                f"not a readable .npz ({exc}): the file is truncated, corrupt, or not an .npz"
            ) from None

    def _check_entries(self) -> dict[str, zipfile.ZipInfo]:
        infos: dict[str, zipfile.ZipInfo] = {}
        for info in self._zip.infolist():
            if not info.filename.endswith(".npy"):
                raise NpzRefused(f"unexpected entry {info.filename!r} in the .npz")
            name = info.filename[: -len(".npy")]
            if name in infos:
                raise NpzRefused(f"entry {name!r} appears twice in the .npz")
            if info.compress_type not in _METHODS:
                raise NpzRefused(
                    f"entry {name!r} is compressed with zip method {info.compress_type}; "
                    ".npz entries are stored or deflated"
                )
            if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
                raise NpzRefused(
                    f"entry {name!r} is stored in {info.compress_size} bytes but declares "
                    f"{info.file_size} (a damaged or altered file?)"
                )
            infos[name] = info
        self._check_spans(infos)
        return infos

    def _check_spans(self, infos: dict[str, zipfile.ZipInfo]) -> None:
        """Refuse entries whose bytes (local header and data) overlap or leave the file."""
        spans = []
        for name, info in infos.items():
            local = b""
            if 0 <= info.header_offset < self.size:
                self._file.seek(info.header_offset)
                local = self._file.read(_LOCAL_HEADER.size)
            if len(local) != _LOCAL_HEADER.size or local[:4] != b"PK\x03\x04":
                raise NpzRefused(f"entry {name!r} is corrupt (no local header where declared)")
            name_len, extra_len = _LOCAL_HEADER.unpack(local)[-2:]
            end = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
            end += info.compress_size
            if end > self.size:
                raise NpzRefused(
                    f"entry {name!r} is corrupt (its data runs past the end of the file: "
                    "truncated?)"
                )
            spans.append((info.header_offset, end, name))
        spans.sort()
        for (_, end, first), (start, _, second) in itertools.pairwise(spans):
            if start < end:
                raise NpzRefused(
                    f"entries {first!r} and {second!r} overlap in the file (a zip bomb or a "
                    "damaged file); refusing both"
                )

    def header(self, name: str) -> NpyHeader:
        """The ``.npy`` header of entry ``name``, read without its data; the zip directory's
        size for the entry must agree with it."""
        if name in self._headers:
            return self._headers[name]
        info = self._infos[name]
        try:
            with self._open_entry(name) as stream:
                header = _parse_npy_header(stream, name)
        except (NpzRefused, MemoryError):
            raise
        except Exception as exc:  # zlib.error, BadZipFile (a short entry's CRC), EOFError
            raise NpzRefused(f"entry {name!r} is corrupt ({exc})") from None
        if info.file_size != header.offset + header.nbytes:
            raise NpzRefused(
                f"entry {name!r} declares {info.file_size} bytes in the zip directory, but its "
                f".npy header declares {header.offset + header.nbytes} (a {header.dtype} "
                f"array of shape {header.shape}): a damaged or altered file; refused before "
                "reading its data"
            )
        self._headers[name] = header
        return header

    def _open_entry(self, name: str) -> Any:
        try:
            return self._zip.open(self._infos[name])
        except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, NotImplementedError) as e:
            raise NpzRefused(f"entry {name!r} is corrupt ({e})") from None

    def read(self, name: str) -> np.ndarray:
        """The array of entry ``name``: a writable NumPy array of its header's dtype and
        shape. Allocates exactly :attr:`NpyHeader.nbytes` (call :meth:`header` first and
        check that) and reads it in chunks; refuses a stream that ends early or fails
        its CRC-32."""
        header = self.header(name)
        try:
            with self._open_entry(name) as stream:
                _read_exactly(stream, header.offset, name, ".npy header")
                array = _fill(stream, header, name)
                if stream.read(1):
                    raise NpzRefused(f"entry {name!r} is corrupt (longer than its header)")
        except (NpzRefused, MemoryError):  # a MemoryError here is the machine's, not the file's
            raise
        except Exception as exc:  # zlib.error, BadZipFile (CRC), EOFError, OSError
            raise NpzRefused(f"entry {name!r} is corrupt ({exc})") from None
        return array

    def close(self) -> None:
        self._zip.close()
        self._file.close()

    def __enter__(self) -> BoundedNpz:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fill(stream: Any, header: NpyHeader, entry: str) -> np.ndarray:
    """Read ``header.nbytes`` bytes from ``stream`` into a new array, ``CHUNK`` at a time."""
    dtype, shape = header.dtype, header.shape
    if dtype.itemsize == 0:
        return np.empty(shape, dtype)
    flat = np.empty(header.nbytes, np.uint8)
    view = flat.data
    filled = 0
    while filled < len(flat):
        n = stream.readinto(view[filled : filled + CHUNK])
        if not n:
            raise NpzRefused(f"entry {entry!r} is corrupt (it ends inside its data)")
        filled += n
    array = flat.view(dtype)
    if header.fortran_order:
        return array.reshape(shape[::-1]).transpose()
    return array.reshape(shape)
