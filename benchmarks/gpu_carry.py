"""What a GPU machine without network needs from here: wheels of the packages it lacks, and
MNIST; and installing those wheels there.

    python benchmarks/gpu_carry.py prepare              # here: .gpu_carry/{wheels,mnist}
    python benchmarks/gpu_carry.py install DIR TARGET   # there (gpu_check.sh --wheels DIR)

The GPU machines lent to this project (Python 3.12, CuPy, torch, numba, pytest, hypothesis,
matplotlib, ...) have no array-api-compat, array-api-strict, dask or distributed, and no
network. ``prepare`` downloads :data:`WHEELS` (xpnn's and its tests' missing requirements,
pinned to versions tested together, with those of their requirements that such a machine
lacks: pure-Python wheels, and tornado's abi3 manylinux wheel) for CPython 3.12 on x86-64
Linux into ``DIR/wheels`` (default ``.gpu_carry``, ignored by git) with ``pip download``,
and copies MNIST (``$XPNN_DATA/mnist``, 11 MB) into ``DIR/mnist``. The folder then travels
with the working tree (the device tool's ``carry``).

``install`` installs, from the wheels in ``DIR`` alone (``pip install --no-index
--no-deps --target TARGET``), those whose distribution is not installed in this Python, and
prints one line per wheel: installed or already there. ``TARGET`` then goes on
``PYTHONPATH`` (gpu_check.sh does it).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / ".gpu_carry"
#: Wheels for the GPU machine: what it lacks of xpnn's and its tests' requirements.
WHEELS = [
    "array-api-compat==1.16.0",
    "array-api-strict==2.6.1",
    "dask==2026.8.0",
    "distributed==2026.8.0",
    "locket==1.0.0",
    "partd==1.4.2",
    "tblib==3.2.2",
    "threadpoolctl==3.8.0",
    "tornado==6.6.1",
    "zict==3.0.0",
]
#: The platform of the GPU machine (pip downloads for it, whatever machine runs pip).
TARGET_PLATFORM = [
    "--python-version", "3.12", "--implementation", "cp",
    "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
    "--platform", "manylinux2014_x86_64",
]  # fmt: skip


def download_command(folder: Path) -> list[str]:
    """The ``pip download`` of :data:`WHEELS` into ``folder``."""
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            *TARGET_PLATFORM, "-d", str(folder), *WHEELS]  # fmt: skip


def distribution(wheel: Path) -> str:
    """The distribution a wheel file installs, normalised (``array_api_strict-2.6.1-py3-none-
    any.whl`` -> ``array-api-strict``)."""
    return re.sub(r"[-_.]+", "-", wheel.name.split("-", 1)[0]).lower()


def installed(name: str) -> bool:
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def missing(folder: Path) -> list[Path]:
    """The wheels in ``folder`` whose distribution this Python does not have."""
    return [w for w in sorted(folder.glob("*.whl")) if not installed(distribution(w))]


def install(folder: Path, target: Path) -> int:
    """Install the missing wheels of ``folder`` into ``target``; 0, or pip's exit status."""
    wheels = sorted(folder.glob("*.whl"))
    if not wheels:
        print(f"gpu_carry: no wheels in {folder}", file=sys.stderr)
        return 2
    todo = missing(folder)
    for wheel in wheels:
        print(f"{distribution(wheel)}: {'installing' if wheel in todo else 'already installed'}")
    if not todo:
        return 0
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
               "--no-compile", "--no-cache-dir", "--disable-pip-version-check",
               "--root-user-action=ignore", "--target",
               str(target), *map(str, todo)]  # fmt: skip
    return subprocess.run(command, check=False).returncode


def prepare(folder: Path, data: str | None) -> int:
    """Download the wheels into ``folder/wheels``; copy MNIST from ``data`` (or
    ``$XPNN_DATA/mnist``) into ``folder/mnist``."""
    wheels = folder / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    code = subprocess.run(download_command(wheels), check=False).returncode
    if code:
        return code
    source = Path(data) if data else Path(os.environ.get("XPNN_DATA", ".")) / "mnist"
    if (source / "train-images-idx3-ubyte.gz").exists():
        (folder / "mnist").mkdir(exist_ok=True)
        for f in source.iterdir():  # copyfile: not the read-only modes of a shared copy
            if f.is_file():
                shutil.copyfile(f, folder / "mnist" / f.name)
        print(f"gpu_carry: MNIST copied from {source}")
    else:
        print(f"gpu_carry: no MNIST in {source} (--data-dir, or set XPNN_DATA): not copied")
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"gpu_carry: {folder} holds {size / 2**20:.1f} MiB (the device tool carries 64 MiB)")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="download the wheels and copy MNIST (here)")
    p.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"default {DEFAULT_DIR}")
    p.add_argument("--data-dir", default=None, help="MNIST folder (default $XPNN_DATA/mnist)")
    i = sub.add_parser("install", help="install the missing wheels of DIR into TARGET (there)")
    i.add_argument("dir", type=Path)
    i.add_argument("target", type=Path)
    args = ap.parse_args(argv)
    if args.command == "prepare":
        return prepare(args.dir, args.data_dir)
    if not args.dir.is_dir():
        ap.error(f"no wheel folder {args.dir}")
    return install(args.dir, args.target)


if __name__ == "__main__":
    sys.exit(main())
