"""Property: a damaged file loads exactly or is refused clearly, within bounded memory.

Valid files of every loader (a compressed checkpoint, a ``save_params`` file, a plain
``.npz`` of parameters, trusted MNIST files gzipped and raw, an IDX file) are truncated at a
random point or have 1 to 8 random bytes changed. Each load must give exactly what the
undamaged file gives (damage to bytes nothing reads) or raise the loader's own error naming
the file: never a ``MemoryError``, another exception, or a hang (a load still running after
30 s, where a good one takes milliseconds, fails the test). The memory traced by
``tracemalloc`` (NumPy's buffers included) during each load stays under 8 MiB: the files are
a few kB, so a damaged size field that got an allocation through would show.

Examples are bounded (about 2 s per test on two cores).
"""

from __future__ import annotations

import gzip
import hashlib
import signal
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from guarantees_support import assert_bitwise_equal, make_net
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_datasets import NAMES, fake_mnist, idx_bytes

from xpnn import datasets, load_mnist, read_idx
from xpnn.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from xpnn.datasets import DatasetError
from xpnn.params_io import load_params, save_params

TRACED_LIMIT = 8 << 20
HANG_S = 30
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class Hang(BaseException):
    """Raised by the alarm (a BaseException, so that no loader's handler can swallow it)."""


@contextmanager
def no_hang() -> Iterator[None]:
    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"a load of a few kB still ran after {HANG_S} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@st.composite
def damage(draw: Callable, data: bytes) -> bytes:
    """``data`` truncated at a random point, or with 1 to 8 random bytes changed."""
    if draw(st.booleans()):
        return data[: draw(st.integers(0, len(data) - 1))]
    damaged = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        damaged[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(damaged)


def load_within_bounds(load: Callable[[], Any], error: type[Exception]) -> Any:
    """``load()``'s result, or ``None`` when it raised ``error``; asserts no hang and a
    traced peak under :data:`TRACED_LIMIT`."""
    tracemalloc.start()
    try:
        with no_hang():
            return load()
    except error:
        return None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < TRACED_LIMIT, f"a few kB of damaged file took {peak} bytes"


# -- checkpoints and parameter files --------------------------------------------------------
@pytest.fixture(scope="module")
def compressed(tmp_path_factory) -> tuple[dict, bytes, Path]:
    folder = tmp_path_factory.mktemp("damaged-checkpoint")
    rng = np.random.default_rng(0)
    tree = {
        "network": {"W": rng.standard_normal((20, 30)).astype(np.float32), "b": np.zeros(30)},
        "history": {"loss": [0.5, 0.25]},
        "name": "Adam",
    }
    save_checkpoint(folder / "good.npz", tree, compress=True)
    return tree, (folder / "good.npz").read_bytes(), folder


@SETTINGS
@given(data=st.data())
def test_a_damaged_compressed_checkpoint_loads_exactly_or_is_refused(data, compressed):
    tree, raw, folder = compressed
    path = folder / "damaged.npz"
    path.write_bytes(data.draw(damage(raw)))
    try:
        back = load_within_bounds(lambda: load_checkpoint(path), CheckpointError)
    finally:
        path.unlink()
    if back is not None:
        assert_bitwise_equal(back, tree)


class ParamsFiles:
    """A network's saved state, and the bytes of its ``save_params`` file and of a plain
    ``.npz`` of its arrays (a short repr: hypothesis prints it with a failing example)."""

    def __init__(self, folder: Path) -> None:
        net = make_net(seed=3)
        save_params(net, folder / "params.pkl")
        self.arrays = {k: v for k, v in net.state_dict().items() if isinstance(v, np.ndarray)}
        np.savez(folder / "plain.npz", **self.arrays)
        self.state, self.folder = net.state_dict(), folder
        self.files = {n: (folder / n).read_bytes() for n in ("params.pkl", "plain.npz")}

    def __repr__(self) -> str:
        return f"ParamsFiles({self.folder})"


@pytest.fixture(scope="module")
def params_files(tmp_path_factory) -> ParamsFiles:
    return ParamsFiles(tmp_path_factory.mktemp("damaged-params"))


@SETTINGS
@given(data=st.data(), name=st.sampled_from(["params.pkl", "plain.npz"]))
def test_a_damaged_parameter_file_loads_exactly_or_is_refused_changing_nothing(
    data, name, params_files
):
    path = params_files.folder / f"damaged-{name}"
    path.write_bytes(data.draw(damage(params_files.files[name])))
    net = make_net(seed=4)
    before = net.state_dict()
    try:
        ok = load_within_bounds(lambda: load_params(net, path) or True, CheckpointError)
    finally:
        path.unlink()
    if not ok:
        assert_bitwise_equal(net.state_dict(), before)
    elif name == "params.pkl":
        assert_bitwise_equal(net.state_dict(), params_files.state)
    else:  # a plain .npz replaces the arrays and keeps the rest (the dropout generator)
        assert_bitwise_equal(net.state_dict(), {**before, **params_files.arrays})


# -- MNIST and IDX files --------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist_contents() -> dict[str, bytes]:
    return {name: idx_bytes(array) for name, array in fake_mnist().items()}


@pytest.fixture
def trusted_folder(tmp_path, monkeypatch, mnist_contents) -> Path:
    for name, content in mnist_contents.items():
        monkeypatch.setitem(datasets.MNIST_SHA256, name, hashlib.sha256(content).hexdigest())
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(content, mtime=0))
    return tmp_path


@SETTINGS
@given(data=st.data(), name=st.sampled_from(NAMES), gz=st.booleans())
def test_a_damaged_mnist_file_loads_exactly_or_is_refused_naming_it(
    data, name, gz, trusted_folder, mnist_contents
):
    content = mnist_contents[name]
    good = gzip.compress(content, mtime=0) if gz else content
    path = trusted_folder / (f"{name}.gz" if gz else name)
    path.write_bytes(data.draw(damage(good)))
    try:
        out = load_within_bounds(
            lambda: load_mnist(data_dir=trusted_folder, normalize=False, download=False),
            DatasetError,
        )
    finally:
        path.unlink()
        (trusted_folder / f"{name}.gz").write_bytes(gzip.compress(content, mtime=0))
    if out is not None:
        (x, t), (xt, tt) = out
        arrays = fake_mnist()
        np.testing.assert_array_equal(x.reshape(-1, 28, 28), arrays[NAMES[0]])
        np.testing.assert_array_equal(t, arrays[NAMES[1]])
        np.testing.assert_array_equal(xt.reshape(-1, 28, 28), arrays[NAMES[2]])
        np.testing.assert_array_equal(tt, arrays[NAMES[3]])


def reference_idx(content: bytes) -> np.ndarray | None:
    """What an IDX file holds, parsed the plain way (``None`` when it is not one)."""
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if len(content) < 4 or content[:2] != b"\0\0" or content[2] not in dtypes or not content[3]:
        return None
    header = 4 + 4 * content[3]
    if len(content) < header:
        return None
    shape = [int.from_bytes(content[i : i + 4], "big") for i in range(4, header, 4)]
    dtype = np.dtype(dtypes[content[2]])
    if len(content) - header != np.prod(shape, dtype=object) * dtype.itemsize:
        return None
    values = np.frombuffer(content, dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


@SETTINGS
@given(data=st.data(), gz=st.booleans())
def test_a_damaged_idx_file_reads_as_what_it_holds_or_is_refused_naming_it(data, gz, tmp_path):
    # No checksum here: damage to the values gives other values, as the file says.
    array = np.arange(300, dtype=">i2").reshape(3, 10, 10)
    content = (0x0B03).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    content += array.tobytes()
    damaged = data.draw(damage(gzip.compress(content, mtime=0) if gz else content))
    path = tmp_path / ("x-idx.gz" if gz else "x-idx")
    path.write_bytes(damaged)
    try:
        out = load_within_bounds(lambda: read_idx(path), DatasetError)
    finally:
        path.unlink()
    try:
        expected = reference_idx(gzip.decompress(damaged) if gz else damaged)
    except (OSError, EOFError, zlib.error):  # gzip refuses it too
        expected = None
    if expected is None:
        assert out is None
    else:
        assert out is not None and out.dtype == expected.dtype
        np.testing.assert_array_equal(out, expected)
