"""Guarantee: a small hostile file cannot exhaust memory (issue 20).

Every loader that takes a file is fed, each in a fresh process, a decompression bomb (a file
of about 1.6 MB whose content is, or declares, 1.6 GB or more) and a header that lies about
its size. Each must end with its own clear error, naming the file, at a peak resident
memory (``VmHWM``: the interpreter, NumPy and xpnn included, about 50-60 MB) under 400 MB,
and no more than 64 MB above what the process held just before the call. Before the fix
the first two files below took 1,574 and 3,294 MB.

The files are built streaming, in a temporary folder (``hostile_files.py``). The time each
refusal takes is not asserted here (no timing in unit tests):
``benchmarks/bench_hostile_files.py`` measures it for the issue's two files, and the unit
tests in ``test_checkpoint.py`` and ``test_datasets.py`` show that no byte of the data is
read or decompressed before the refusal, which is what made it slow.

The numbers are printed (``pytest -s``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
from guarantees_support import make_trainer, run_python
from hostile_files import (
    DeflatedZeros,
    checkpoint_bomb,
    entries_of,
    idx_header,
    npy_header,
    write_gzip,
    write_zip,
)

from xpnn import MultiLayerNet, datasets

PEAK_MB = 400
RISE_MB = 64
ZEROS = 1_600_000_000  # bytes of zeros in every bomb

CHILD = """
import json, os, sys

def peak_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) / 1024 for l in f if l.startswith("VmHWM:"))

import numpy as np
import xpnn
from xpnn import datasets
{setup}
before = peak_mb()
try:
{call}
    error = None
except Exception as exc:
    error = [type(exc).__name__, str(exc)]
print(json.dumps({{"before": before, "peak": peak_mb(), "error": error}}))
"""


def refusal_in_a_fresh_process(call: str, setup: str = "") -> tuple[str, str]:
    """Run ``call`` in a fresh interpreter (after ``setup``), assert that it raised within
    the memory bound, and return the error's type name and message."""
    code = CHILD.format(setup=textwrap.dedent(setup), call=textwrap.indent(call, "    "))
    outcome = json.loads(run_python(code, timeout=120).stdout.strip().splitlines()[-1])
    print(f"\n{call.strip()[:60]}: peak {outcome['peak']:.0f} MB (before {outcome['before']:.0f})")
    assert outcome["error"] is not None, "the hostile file loaded"
    assert outcome["peak"] < PEAK_MB, outcome
    assert outcome["peak"] - outcome["before"] < RISE_MB, outcome
    return outcome["error"][0], outcome["error"][1]


def test_the_bombs_built_here_are_valid_files(tmp_path):
    # The control: a small bomb decompresses to its content, CRC and length checked by
    # gzip and zipfile themselves, so every refusal below is for its size, not a defect.
    content = DeflatedZeros.build(b"head", 3 * (1 << 20) + 5)
    expected = b"head" + bytes(3 * (1 << 20) + 5)
    assert gzip.decompress(write_gzip(tmp_path / "b.gz", content).read_bytes()) == expected
    write_zip(tmp_path / "b.zip", {"a.npy": b"stored", "b.npy": content})
    assert entries_of(tmp_path / "b.zip") == {"a.npy": b"stored", "b.npy": expected}


# -- checkpoints ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def params(folder) -> Path:
    """``save_params`` of ``MultiLayerNet(784, [50], 10)``, as in the issue."""
    path = folder / "params.pkl"
    MultiLayerNet(784, [50], 10, seed=0).save_params(path)
    return path


@pytest.fixture(scope="module")
def params_bomb(folder, params) -> Path:
    """The issue's first file: ``network/W1.npy`` replaced by 400 M float32 zeros (about
    1.6 MB on disk); every other entry, the manifest included, as it was."""
    return checkpoint_bomb(params, folder / "bomb.pkl", "network/W1.npy", "<f4", ZEROS // 4)


def with_manifest_listing(source: Path, target: Path, entry: str, dtype: str, count: int):
    """``source`` rewritten with its manifest's table of arrays listing ``entry`` as
    ``count`` elements of ``dtype``, and that entry a bomb of that size: only the size
    limits stand between it and the memory."""
    entries: dict = dict(entries_of(source))
    manifest_npy = entries["__xpnn_checkpoint__.npy"]
    manifest = json.loads(str(np.load(io.BytesIO(manifest_npy), allow_pickle=False)))
    manifest["arrays"][entry] = [np.dtype(dtype).str, [count]]
    out = io.BytesIO()
    np.lib.format.write_array(out, np.asarray(json.dumps(manifest)))
    entries["__xpnn_checkpoint__.npy"] = out.getvalue()
    zeros = count * np.dtype(dtype).itemsize
    entries[f"{entry}.npy"] = DeflatedZeros.build(npy_header(dtype, (count,)), zeros)
    return write_zip(target, entries)


@pytest.fixture(scope="module")
def forged_bomb(folder, params) -> Path:
    return with_manifest_listing(params, folder / "forged.pkl", "network/W1", "<f4", ZEROS // 4)


@pytest.fixture(scope="module")
def lying_header(folder, params) -> Path:
    """``network/W1.npy`` whose ``.npy`` header declares 400 M floats, followed by the 39,200
    floats it really holds."""
    entries: dict = dict(entries_of(params))
    data = entries["network/W1.npy"][len(npy_header("<f4", (784, 50))) :]
    entries["network/W1.npy"] = npy_header("<f4", (ZEROS // 4,)) + data
    return write_zip(folder / "lying.pkl", entries)


def test_the_issues_checkpoint_bomb_is_refused_by_load_params_within_memory(params_bomb):
    kind, message = refusal_in_a_fresh_process(
        f"xpnn.MultiLayerNet(784, [50], 10, seed=0).load_params({str(params_bomb)!r})"
    )
    assert kind == "CheckpointError"
    assert re.search(re.escape(str(params_bomb)) + r".*'network/W1'.*\(400000000,\)", message)


def test_the_issues_checkpoint_bomb_is_refused_by_load_checkpoint_within_memory(params_bomb):
    kind, message = refusal_in_a_fresh_process(f"xpnn.load_checkpoint({str(params_bomb)!r})")
    assert kind == "CheckpointError" and "before reading its data" in message


def test_a_bomb_its_manifest_lists_is_refused_by_load_checkpoint_within_memory(forged_bomb):
    kind, message = refusal_in_a_fresh_process(f"xpnn.load_checkpoint({str(forged_bomb)!r})")
    assert kind == "CheckpointError"
    assert re.search(r"declare \d+ bytes, more than the 1073741824 .*max_bytes=", message)


def test_a_bomb_its_manifest_lists_is_refused_by_load_params_within_memory(forged_bomb):
    kind, message = refusal_in_a_fresh_process(
        f"xpnn.MultiLayerNet(784, [50], 10, seed=0).load_params({str(forged_bomb)!r})"
    )
    assert kind == "CheckpointError"
    assert re.search(r"shape \(400000000,\), but the receiver expects shape \(784, 50\)", message)


def test_a_npy_header_that_lies_about_its_size_is_refused_within_memory(lying_header):
    kind, message = refusal_in_a_fresh_process(f"xpnn.load_checkpoint({str(lying_header)!r})")
    assert kind == "CheckpointError"
    assert re.search(r"declares 156928 bytes in the zip directory.*1600000128", message)


def test_a_bomb_in_a_plain_npz_is_refused_by_load_params_within_memory(folder):
    plain = folder / "plain.npz"
    np.savez(plain, W1=np.zeros((784, 50), np.float32))
    bomb = checkpoint_bomb(plain, folder / "plain-bomb.npz", "W1.npy", "<f4", ZEROS // 4)
    kind, message = refusal_in_a_fresh_process(
        f"xpnn.MultiLayerNet(784, [50], 10, seed=0).load_params({str(bomb)!r})"
    )
    assert kind == "CheckpointError" and "refused before reading its data" in message


def test_the_books_network_refuses_the_bomb_within_memory(params_bomb):
    kind, _ = refusal_in_a_fresh_process(
        f"MultiLayerNet(784, [50], 10).load_params({str(params_bomb)!r})",
        setup="from xpnn.book.common.multi_layer_net import MultiLayerNet",
    )
    assert kind == "CheckpointError"


def test_resuming_a_trainer_from_a_bomb_is_refused_within_memory(folder):
    make_trainer(epochs=1, checkpoint_dir=folder / "run").train()
    good = folder / "run" / "checkpoint.npz"
    bomb = checkpoint_bomb(good, folder / "trainer-bomb.npz", "optimizer/state/m/W1.npy",
                           "<f8", ZEROS // 8)  # fmt: skip
    kind, message = refusal_in_a_fresh_process(
        f"make_trainer(epochs=2).load_checkpoint({str(bomb)!r})",
        setup="from guarantees_support import make_trainer",
    )
    assert kind == "CheckpointError" and "'optimizer/state/m/W1'" in message


# -- MNIST ----------------------------------------------------------------------------------
NAMES = {
    "train-images-idx3-ubyte": 2051,
    "train-labels-idx1-ubyte": 2049,
    "t10k-images-idx3-ubyte": 2051,
    "t10k-labels-idx1-ubyte": 2049,
}
LABELS = "train-labels-idx1-ubyte"


def stand_in(magic: int) -> bytes:
    """A tiny valid IDX file: 6 images or labels of zeros."""
    dims = (6, 28, 28) if magic == 2051 else (6,)
    return idx_header(magic, dims) + bytes(math.prod(dims))


TRUST = "\n".join(
    f"datasets.MNIST_SHA256[{name!r}] = {hashlib.sha256(stand_in(magic)).hexdigest()!r}"
    for name, magic in NAMES.items()
    if name != LABELS
)


def mnist_folder(root: Path, labels: DeflatedZeros | None) -> Path:
    """``root/mnist`` holding gzipped stand-ins (trusted by :data:`TRUST`) and, as the
    training labels, a gzip of ``labels``' content (none when ``None``)."""
    folder = root / "mnist"
    folder.mkdir(parents=True)
    for name, magic in NAMES.items():
        if name != LABELS:
            (folder / f"{name}.gz").write_bytes(gzip.compress(stand_in(magic), mtime=0))
        elif labels is not None:
            write_gzip(folder / f"{name}.gz", labels)
    return folder


@pytest.fixture(scope="module")
def labels_bomb(folder) -> Path:
    """The issue's second file: an IDX header declaring 2,000,000,000 labels followed by
    1.6 GB of zeros, gzipped (about 1.6 MB), with tiny stand-ins for the other files."""
    header = idx_header(2049, (2_000_000_000,))
    return mnist_folder(folder / "bomb-data", DeflatedZeros.build(header, ZEROS))


def test_the_issues_mnist_bomb_is_refused_by_load_mnist_within_memory(labels_bomb):
    kind, message = refusal_in_a_fresh_process(
        f"xpnn.load_mnist(data_dir={str(labels_bomb)!r}, download=False)", setup=TRUST
    )
    assert kind == "DatasetError"
    assert re.search(r"train-labels-idx1-ubyte\.gz: refused at its IDX header.*checksum", message)


def test_the_books_load_mnist_refuses_the_bomb_within_memory(labels_bomb):
    setup = f"os.environ['XPNN_DATA'] = {str(labels_bomb.parent)!r}\n{TRUST}\n"
    setup += "from xpnn.book.dataset.mnist import load_mnist"
    kind, _ = refusal_in_a_fresh_process("load_mnist()", setup=setup)
    assert kind == "DatasetError"


def test_a_gzip_bomb_under_an_honest_header_is_refused_within_memory(folder):
    # The header says 60,000 labels, the real count; 1.6 GB of zeros follow.
    labels = DeflatedZeros.build(idx_header(2049, (60000,)), ZEROS)
    data = mnist_folder(folder / "long-data", labels)
    kind, message = refusal_in_a_fresh_process(
        f"xpnn.load_mnist(data_dir={str(data)!r}, download=False)", setup=TRUST
    )
    assert kind == "DatasetError"
    assert "longer than the 60008 bytes of MNIST's train-labels-idx1-ubyte" in message


def test_a_huge_uncompressed_file_is_refused_within_memory(folder):
    data = mnist_folder(folder / "raw-data", None)
    with open(data / LABELS, "wb") as f:  # sparse: 1.6 GB that take no disk space
        f.write(idx_header(2049, (60000,)))
        f.truncate(ZEROS)
    kind, message = refusal_in_a_fresh_process(
        f"xpnn.load_mnist(data_dir={str(data)!r}, download=False)", setup=TRUST
    )
    assert kind == "DatasetError" and "longer than the 60008 bytes" in message


def test_read_idx_refuses_a_bomb_within_memory(folder):
    # A valid IDX file of 1.6 G labels, all zero, in 1.6 MB: more than max_bytes.
    content = DeflatedZeros.build(idx_header(2049, (ZEROS,)), ZEROS)
    path = write_gzip(folder / "bomb-idx1-ubyte.gz", content)
    kind, message = refusal_in_a_fresh_process(f"xpnn.read_idx({str(path)!r})")
    assert kind == "DatasetError" and "more than max_bytes=1073741824 allows" in message


def lying_idx(folder: Path, count: int) -> Path:
    """A gzip file of about 1 MiB (random bytes) whose IDX header declares ``count`` labels."""
    rng = np.random.default_rng(0)
    content = idx_header(2049, (count,)) + rng.integers(0, 256, 1 << 20, np.uint8).tobytes()
    path = folder / f"liar-{count}-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(content, mtime=0))
    return path


def test_read_idx_refuses_a_header_declaring_more_than_the_file_can_hold_within_memory(folder):
    # A gzip file of 1 MiB cannot hold 1.6 GB (deflate's limit is 1032:1), whatever
    # max_bytes allows: refused at the header.
    path = lying_idx(folder, ZEROS)
    kind, message = refusal_in_a_fresh_process(f"xpnn.read_idx({str(path)!r}, max_bytes=1 << 40)")
    assert kind == "DatasetError" and "truncated or corrupt; refused before reading" in message


def test_read_idx_reads_only_what_a_lying_header_is_followed_by(folder):
    # 1 GB is within both bounds, so the header passes; 1 MiB is read and found short.
    path = lying_idx(folder, 1_000_000_000)
    kind, message = refusal_in_a_fresh_process(f"xpnn.read_idx({str(path)!r})")
    assert kind == "DatasetError"
    assert "truncated: the header says 1000000000 items" in message


SERVE = """
def fake_urlopen(url, timeout=None):  # every mirror serves the files of {folder!r}
    return open(os.path.join({folder!r}, url.rsplit("/", 1)[1]), "rb")

datasets.urlopen = fake_urlopen
"""


def test_a_mirror_serving_a_bomb_is_cut_off_within_memory(labels_bomb, tmp_path):
    # Every mirror serves the issue's labels file; the download stops at the longest gzip
    # of the real file, each time, and nothing is kept.
    setup = TRUST + "\n" + SERVE.format(folder=str(labels_bomb))
    kind, message = refusal_in_a_fresh_process(
        f"xpnn.load_mnist(data_dir={str(tmp_path / 'empty')!r})", setup=setup
    )
    assert kind == "DatasetNotFoundError"
    assert message.count(f"longer than {datasets._download_limit(LABELS)} bytes") == 3
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == ["train-images-idx3-ubyte.gz"]


def test_a_mirror_serving_a_header_that_lies_is_refused_within_memory(folder, tmp_path):
    served = folder / "served"
    served.mkdir()
    liar = idx_header(2049, (2_000_000_000,)) + bytes(100)
    (served / f"{LABELS}.gz").write_bytes(gzip.compress(liar, mtime=0))
    for name, magic in NAMES.items():
        if name != LABELS:
            (served / f"{name}.gz").write_bytes(gzip.compress(stand_in(magic), mtime=0))
    setup = TRUST + "\n" + SERVE.format(folder=str(served))
    kind, message = refusal_in_a_fresh_process(
        f"xpnn.load_mnist(data_dir={str(tmp_path / 'empty')!r})", setup=setup
    )
    assert kind == "DatasetNotFoundError"
    assert message.count("refused at its IDX header") == 3
