"""The two hostile files of issue 20, each loaded in a fresh process: time and peak memory.

::

    python benchmarks/bench_hostile_files.py            # both files
    python benchmarks/bench_hostile_files.py --scale 10 # ten times the zeros (16 GB declared)

1. **A 1.5 MB checkpoint that declares 1.6 GB.** ``save_params`` of
   ``MultiLayerNet(784, [50], 10)`` with its ``network/W1.npy`` entry replaced by 400 M
   float32 zeros, deflated; loaded with ``net.load_params(path)``.
2. **A 1.6 MB MNIST file that declares 2 G labels.** ``train-labels-idx1-ubyte.gz`` replaced
   by a gzip stream of an IDX header declaring 2,000,000,000 labels followed by 1.6 GB of
   zeros; loaded with ``load_mnist(data_dir=...)``. The other three files are the real ones
   (from ``$XPNN_DATA/mnist``) when they are there, else tiny stand-ins whose checksums the
   child trusts, so that the bomb is reached either way. The files are read in the order
   of ``MNIST_FILES``, so the training images are loaded before the bomb is met; the last
   line, the four real files loaded without a bomb, is that cost.

Each line gives the seconds from the call to its error, the process's peak resident memory
(``VmHWM``: the interpreter, NumPy and xpnn included; the same process importing and doing
nothing else is the first line), and the error. Not a timing of xpnn against a reference:
this is the before/after of a fix, so run it on both commits. Files are built in a
temporary folder, streaming (a few MiB of memory), and deleted afterwards.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from hostile_files import DeflatedZeros, checkpoint_bomb, idx_header, write_gzip  # noqa: E402

CHILD = """
import json, sys, time, hashlib
sys.path.insert(0, {tests!r})

def peak_rss_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) / 1024 for l in f if l.startswith("VmHWM:"))

import numpy as np
import xpnn
from xpnn import datasets
for name, digest in {trusted!r}.items():
    datasets.MNIST_SHA256[name] = digest
start = time.perf_counter()
error = None
try:
{call}
except Exception as exc:
    error = f"{{type(exc).__name__}}: {{exc}}"
print(json.dumps({{"seconds": time.perf_counter() - start, "peak_mb": peak_rss_mb(),
                  "error": error}}))
"""

CALLS = {
    "baseline (import only)": "    pass",
    "checkpoint, net.load_params": (
        "    xpnn.MultiLayerNet(784, [50], 10, seed=0).load_params({path!r})"
    ),
    "MNIST labels, load_mnist": "    xpnn.load_mnist(data_dir={path!r}, download=False)",
    "real MNIST, load_mnist": "    xpnn.load_mnist(data_dir={path!r}, download=False)",
}


def run_child(call: str, path: str, trusted: dict[str, str]) -> dict:
    code = CHILD.format(tests=str(ROOT / "tests"), trusted=trusted, call=call.format(path=path))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"seconds": float("nan"), "peak_mb": float("nan"), "error": proc.stderr[-300:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def build_checkpoint(folder: Path, scale: int) -> Path:
    import xpnn

    plain = folder / "params.pkl"
    xpnn.MultiLayerNet(784, [50], 10, seed=0).save_params(str(plain))
    bomb = folder / "bomb-params.pkl"
    checkpoint_bomb(plain, bomb, "network/W1.npy", "<f4", 400_000_000 * scale)
    return bomb


def build_mnist(folder: Path, scale: int) -> tuple[Path, dict[str, str]]:
    from xpnn.datasets import MNIST_FILES, default_data_dir

    mnist = folder / "mnist"
    mnist.mkdir()
    real = default_data_dir() if os.environ.get("XPNN_DATA", "").strip() else None
    trusted: dict[str, str] = {}
    for name, magic in MNIST_FILES.values():
        if name == "train-labels-idx1-ubyte":
            header = idx_header(magic, (2_000_000_000,))
            write_gzip(mnist / f"{name}.gz", DeflatedZeros.build(header, 1_600_000_000 * scale))
        elif real is not None and (real / f"{name}.gz").is_file():
            (mnist / f"{name}.gz").symlink_to((real / f"{name}.gz").resolve())
        else:  # a tiny stand-in, trusted by the child
            count = 6
            dims = (count, 28, 28) if magic == 2051 else (count,)
            content = idx_header(magic, dims) + bytes(count * (784 if magic == 2051 else 1))
            (mnist / f"{name}.gz").write_bytes(gzip.compress(content, mtime=0))
            trusted[name] = hashlib.sha256(content).hexdigest()
    return mnist, trusted


def main() -> None:
    from xpnn.datasets import default_data_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=int, default=1, help="multiply the zeros (default 1)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        checkpoint = build_checkpoint(folder, args.scale)
        mnist, trusted = build_mnist(folder, args.scale)
        labels = mnist / "train-labels-idx1-ubyte.gz"
        print(f"checkpoint: {checkpoint.stat().st_size:,} bytes on disk")
        print(f"MNIST labels: {labels.stat().st_size:,} bytes on disk", end="")
        print(" (other files: real MNIST)" if not trusted else " (other files: stand-ins)")
        real = str(default_data_dir()) if not trusted else None
        paths = [str(folder), str(checkpoint), str(mnist), real]
        print(f"{'file':<30} {'seconds':>8} {'peak MB':>8}  error")
        for (label, call), path in zip(CALLS.items(), paths, strict=True):
            if path is None:
                continue
            r = run_child(call, path, trusted)
            error = (r["error"] or "none")[:150]
            print(f"{label:<30} {r['seconds']:>8.2f} {r['peak_mb']:>8.0f}  {error}")


if __name__ == "__main__":
    main()
