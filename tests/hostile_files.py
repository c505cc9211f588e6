"""Builders of hostile files: decompression bombs and headers that lie about their size.

Nothing here is a test. ``test_guarantees_hostile_files.py``, ``test_checkpoint.py`` and
``benchmarks/bench_hostile_files.py`` build their files with these functions, in a
temporary folder and streaming: a bomb that declares 1.6 GB is written from one compressed
MiB of zeros repeated, so building it never holds more than a few MiB, and its CRC-32 is
computed without the zeros (:func:`crc32_of_zeros`): a bomb takes milliseconds to build,
plus the time to write its 1.6 MB.

- :class:`DeflatedZeros` is a raw deflate stream of a prefix followed by N zero bytes;
- :func:`write_gzip` writes it as a ``.gz`` file (valid: CRC and length as gzip wants);
- :func:`write_zip` writes a zip of stored and deflated entries (valid as well), optionally
  with one entry's local header placed inside another's data (overlapping entries);
- :func:`npy_header` is the ``.npy`` header of an array of a given dtype and shape, without
  the array;
- :func:`checkpoint_bomb` rewrites a real checkpoint with one entry replaced by a bomb,
  leaving every other entry (the manifest included) as it was: the issue's first file.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MIB = 1 << 20


def _apply(matrix: list[int], vector: int) -> int:
    """A 32x32 matrix over GF(2) (its columns as ints) times a 32-bit vector."""
    out, i = 0, 0
    while vector:
        if vector & 1:
            out ^= matrix[i]
        vector >>= 1
        i += 1
    return out


def crc32_of_zeros(crc: int, n: int) -> int:
    """``zlib.crc32(bytes(n), crc)`` in microseconds: one zero byte acts on the CRC's
    register as a linear map over GF(2), so n of them are its n-th power, taken by
    squaring (the principle of zlib's ``crc32_combine``)."""
    register = crc ^ 0xFFFFFFFF
    step = [zlib.crc32(b"\0", (1 << i) ^ 0xFFFFFFFF) ^ 0xFFFFFFFF for i in range(32)]
    while n:
        if n & 1:
            register = _apply(step, register)
        step = [_apply(step, column) for column in step]
        n >>= 1
    return register ^ 0xFFFFFFFF


@dataclass(frozen=True)
class DeflatedZeros:
    """A raw deflate stream of ``prefix`` followed by ``zeros`` zero bytes.

    After a full flush the compressor starts afresh, so one MiB of zeros compresses to the
    same ~1 KB block wherever it stands: the stream is that block repeated, between the
    compressed prefix and the compressed remainder.
    """

    head: bytes
    block: bytes
    repeats: int
    tail: bytes
    size: int  # uncompressed bytes
    crc: int  # CRC-32 of the uncompressed bytes

    @classmethod
    def build(cls, prefix: bytes, zeros: int) -> DeflatedZeros:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
        block = c.compress(bytes(MIB)) + c.flush(zlib.Z_FULL_FLUSH)
        repeats, rest = divmod(zeros, MIB)
        tail = c.compress(bytes(rest)) + c.flush(zlib.Z_FINISH)
        crc = crc32_of_zeros(zlib.crc32(prefix), zeros)
        return cls(head, block, repeats, tail, len(prefix) + zeros, crc)

    @property
    def compressed_size(self) -> int:
        return len(self.head) + self.repeats * len(self.block) + len(self.tail)

    def chunks(self) -> Iterator[bytes]:
        yield self.head
        for _ in range(self.repeats):
            yield self.block
        yield self.tail


def write_gzip(path: Path, stream: DeflatedZeros) -> Path:
    """``path`` as a gzip file of ``stream``'s content (one member, no name, mtime 0)."""
    with open(path, "wb") as f:
        f.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")
        for chunk in stream.chunks():
            f.write(chunk)
        f.write(struct.pack("<II", stream.crc, stream.size & 0xFFFFFFFF))
    return path


def write_zip(
    path: Path, entries: dict[str, bytes | DeflatedZeros], *, overlap: tuple[str, str] | None = None
) -> Path:
    """``path`` as a zip of ``entries`` (bytes are stored, a :class:`DeflatedZeros` is
    deflated), in order; an entry of 4 GiB or more gets zip64 sizes. ``overlap=(a, b)``
    writes no data of its own for ``b``: its central directory entry points at ``a``'s
    local header, so both read the same bytes (the trick of the non-recursive zip bombs)."""
    directory = []
    offsets: dict[str, int] = {}
    with open(path, "wb") as f:
        for name, data in entries.items():
            stored = isinstance(data, bytes)
            crc = zlib.crc32(data) if isinstance(data, bytes) else data.crc
            size = len(data) if isinstance(data, bytes) else data.size
            packed = len(data) if isinstance(data, bytes) else data.compressed_size
            method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            raw = name.encode()
            extra = b""
            if size >= 0xFFFFFFFF:  # zip64: the sizes move to an extra field
                extra = struct.pack("<2H2Q", 1, 16, size, packed)
                size = packed = 0xFFFFFFFF
            if overlap is not None and name == overlap[1]:
                offset = offsets[overlap[0]]
            else:
                offset = f.tell()
                f.write(struct.pack("<4s5H3I2H", b"PK\x03\x04", 45, 0, method, 0, 0x21,
                                    crc, packed, size, len(raw), len(extra)))  # fmt: skip
                f.write(raw + extra)
                for chunk in [data] if isinstance(data, bytes) else data.chunks():
                    f.write(chunk)
            offsets[name] = offset
            directory.append(
                struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 45, 45, 0, method, 0, 0x21, crc,
                            packed, size, len(raw), len(extra), 0, 0, 0, 0, offset)
                + raw + extra
            )  # fmt: skip
        start = f.tell()
        for record in directory:
            f.write(record)
        end = f.tell()
        n = len(directory)
        f.write(struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, n, n, end - start, start, 0))
    return path


def npy_header(dtype: str, shape: tuple[int, ...]) -> bytes:
    """The ``.npy`` header (magic, version, header dict) of an array of ``dtype`` and
    ``shape``, as NumPy writes it."""
    buf = io.BytesIO()
    descr = np.lib.format.dtype_to_descr(np.dtype(dtype))
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


def entries_of(path: Path) -> dict[str, bytes]:
    """The (decompressed) entries of a small zip, by name, in order."""
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def checkpoint_bomb(source: Path, target: Path, entry: str, dtype: str, count: int) -> Path:
    """``source`` (a checkpoint or ``.npz``) rewritten to ``target`` with the entry
    ``entry`` (e.g. ``"network/W1.npy"``) replaced by ``count`` zeros of ``dtype``,
    deflated; every other entry is kept, stored, byte for byte."""
    entries: dict[str, bytes | DeflatedZeros] = dict(entries_of(source))
    zeros = count * np.dtype(dtype).itemsize
    entries[entry] = DeflatedZeros.build(npy_header(dtype, (count,)), zeros)
    return write_zip(target, entries)


def idx_header(magic: int, shape: tuple[int, ...]) -> bytes:
    """An IDX header: the magic number, then each dimension (big-endian 32-bit)."""
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in shape)


__all__ = [
    "MIB",
    "DeflatedZeros",
    "checkpoint_bomb",
    "crc32_of_zeros",
    "entries_of",
    "idx_header",
    "npy_header",
    "write_gzip",
    "write_zip",
]
