"""MNIST loading: IDX parsing, checksums, downloads (mocked), the book's options, splits.

No test touches the network: ``urlopen`` is replaced for every test, and a test that wants a
download supplies its own fake. The real-data tests read ``$XPNN_DATA/mnist``; they are
skipped only when ``XPNN_DATA`` is unset and the files are not in the default folder.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import tracemalloc
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from xpnn import datasets
from xpnn.datasets import (
    MNIST_FILES,
    MNIST_MIRRORS,
    DatasetError,
    DatasetNotFoundError,
    default_data_dir,
    load_mnist,
    read_idx,
    shuffle_dataset,
    train_val_split,
)

NAMES = [name for name, _ in MNIST_FILES.values()]
TRAIN_IMG, TRAIN_LBL, TEST_IMG, TEST_LBL = NAMES


# -- building tiny IDX files ----------------------------------------------------------------
def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file holding ``array`` (uint8), with its natural magic number unless given."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = 0x0800 + array.ndim if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def fake_mnist(n_train: int = 6, n_test: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        TRAIN_IMG: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        TRAIN_LBL: rng.integers(0, 10, n_train, dtype=np.uint8),
        TEST_IMG: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        TEST_LBL: rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def trust(monkeypatch: pytest.MonkeyPatch, name: str, content: bytes) -> None:
    """Make ``content`` the known-good content of ``name`` for this test."""
    monkeypatch.setitem(datasets.MNIST_SHA256, name, hashlib.sha256(content).hexdigest())


def write_file(folder: Path, name: str, content: bytes, gz: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (f"{name}.gz" if gz else name)
    path.write_bytes(gzip.compress(content) if gz else content)
    return path


def write_mnist(
    folder: Path, monkeypatch: pytest.MonkeyPatch, *, gz: bool = True, **contents: bytes
) -> dict[str, np.ndarray]:
    """Write the four files into ``folder`` and trust them; ``contents`` overrides a file's
    bytes (by name with ``-`` as ``_``) with ones that are trusted too."""
    arrays = fake_mnist()
    for name in NAMES:
        content = contents.get(name.replace("-", "_"), idx_bytes(arrays[name]))
        trust(monkeypatch, name, content)
        write_file(folder, name, content, gz)
    return arrays


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch):
    """Any attempt to reach the network fails the test."""

    def refuse(url, *args, **kwargs):
        raise AssertionError(f"a test tried to download {url}")

    monkeypatch.setattr(datasets, "urlopen", refuse)


def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Simulate no network; returns the list of URLs tried."""
    tried: list[str] = []

    def fail(url, *args, **kwargs):
        tried.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(datasets, "urlopen", fail)
    return tried


class FakeResponse(io.BytesIO):
    """What ``urlopen`` returns: a readable, closeable context manager."""


def serve(monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes], fail_first: bool = False):
    """Serve ``files`` (name.gz -> bytes) from every mirror (the first mirror 404s when
    ``fail_first``); returns the list of URLs requested."""
    requested: list[str] = []

    def fake_urlopen(url, timeout=None):
        requested.append(url)
        if fail_first and url.startswith(MNIST_MIRRORS[0]):
            raise urllib.error.HTTPError(url, 404, "Not Found", None, None)
        return FakeResponse(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(datasets, "urlopen", fake_urlopen)
    return requested


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- parsing and the book's options ---------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_load_mnist_reads_gzipped_and_raw_files(tmp_path, monkeypatch, gz):
    arrays = write_mnist(tmp_path, monkeypatch, gz=gz)
    (x, t), (xt, tt) = load_mnist(data_dir=tmp_path)
    assert x.dtype == np.float32 and x.shape == (6, 784)
    assert xt.dtype == np.float32 and xt.shape == (4, 784)
    np.testing.assert_array_equal(x, arrays[TRAIN_IMG].reshape(6, 784).astype(np.float32) / 255)
    assert t.dtype == np.int64 and t.shape == (6,)
    np.testing.assert_array_equal(t, arrays[TRAIN_LBL])
    np.testing.assert_array_equal(tt, arrays[TEST_LBL])


def test_load_mnist_without_normalize_gives_uint8_pixels(tmp_path, monkeypatch):
    arrays = write_mnist(tmp_path, monkeypatch)
    (x, _), _ = load_mnist(normalize=False, data_dir=tmp_path)
    assert x.dtype == np.uint8 and x.flags.writeable
    np.testing.assert_array_equal(x, arrays[TRAIN_IMG].reshape(6, 784))


def test_load_mnist_without_flatten_gives_nchw_images(tmp_path, monkeypatch):
    arrays = write_mnist(tmp_path, monkeypatch)
    (x, _), (xt, _) = load_mnist(flatten=False, data_dir=tmp_path)
    assert x.shape == (6, 1, 28, 28) and xt.shape == (4, 1, 28, 28)
    np.testing.assert_array_equal(x[:, 0] * 255, arrays[TRAIN_IMG].astype(np.float32))


def test_load_mnist_one_hot_labels_are_float32_rows(tmp_path, monkeypatch):
    arrays = write_mnist(tmp_path, monkeypatch)
    (_, t), _ = load_mnist(one_hot_label=True, data_dir=tmp_path)
    assert t.dtype == np.float32 and t.shape == (6, 10)
    np.testing.assert_array_equal(t.sum(axis=1), 1.0)
    np.testing.assert_array_equal(t.argmax(axis=1), arrays[TRAIN_LBL])


def test_decompressed_file_is_preferred_when_both_forms_exist(tmp_path, monkeypatch):
    write_mnist(tmp_path, monkeypatch, gz=True)
    other = fake_mnist(seed=1)
    for name in NAMES:
        content = idx_bytes(other[name])
        trust(monkeypatch, name, content)
        write_file(tmp_path, name, content, gz=False)
    (_, t), _ = load_mnist(data_dir=tmp_path)
    np.testing.assert_array_equal(t, other[TRAIN_LBL])


def test_read_idx_returns_the_stored_array(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = write_file(tmp_path, "x-idx3-ubyte", idx_bytes(a), gz=True)
    b = read_idx(path)
    assert b.dtype == np.uint8 and b.flags.writeable
    np.testing.assert_array_equal(b, a)


def test_read_idx_reads_big_endian_types(tmp_path):
    a = np.array([1.5, -2.0, 3.25], dtype=">f4")
    content = (0x0D01).to_bytes(4, "big") + (3).to_bytes(4, "big") + a.tobytes()
    b = read_idx(write_file(tmp_path, "f", content, gz=False))
    assert b.dtype == np.float32 and b.dtype.isnative
    np.testing.assert_array_equal(b, [1.5, -2.0, 3.25])


# -- bad files ------------------------------------------------------------------------------
def test_bad_magic_number_is_refused_naming_the_file(tmp_path, monkeypatch):
    labels = idx_bytes(fake_mnist()[TRAIN_LBL], magic=2051)  # an images magic on labels
    write_mnist(tmp_path, monkeypatch, train_labels_idx1_ubyte=labels)
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte\.gz.*magic number 2051"):
        load_mnist(data_dir=tmp_path)


def test_non_idx_magic_is_refused_by_read_idx(tmp_path):
    path = write_file(tmp_path, "junk", b"PK\x03\x04" + bytes(20), gz=False)
    with pytest.raises(DatasetError, match=r"junk.*not an IDX file"):
        read_idx(path)


def test_truncated_file_is_refused_naming_the_file(tmp_path, monkeypatch):
    images = idx_bytes(fake_mnist()[TRAIN_IMG])[:-100]
    write_mnist(tmp_path, monkeypatch, gz=False, train_images_idx3_ubyte=images)
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte: truncated"):
        load_mnist(data_dir=tmp_path)


def test_truncated_header_is_refused(tmp_path):
    path = write_file(tmp_path, "short", idx_bytes(np.zeros((2, 3), np.uint8))[:9], gz=False)
    with pytest.raises(DatasetError, match=r"short: truncated IDX header"):
        read_idx(path)


def test_trailing_bytes_are_refused(tmp_path):
    path = write_file(tmp_path, "long", idx_bytes(np.zeros(5, np.uint8)) + b"\0", gz=False)
    with pytest.raises(DatasetError, match=r"long: 1 bytes too long"):
        read_idx(path)


def test_header_count_disagreeing_with_the_data_is_refused(tmp_path, monkeypatch):
    labels = fake_mnist()[TRAIN_LBL]
    content = (2049).to_bytes(4, "big") + (7).to_bytes(4, "big") + labels.tobytes()  # 7 != 6
    write_mnist(tmp_path, monkeypatch, train_labels_idx1_ubyte=content)
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte\.gz: truncated.*7 items"):
        load_mnist(data_dir=tmp_path)


def test_image_and_label_counts_must_agree(tmp_path, monkeypatch):
    labels = idx_bytes(fake_mnist()[TRAIN_LBL][:5])
    write_mnist(tmp_path, monkeypatch, train_labels_idx1_ubyte=labels)
    with pytest.raises(DatasetError, match=r"train set has 6 images but 5 labels"):
        load_mnist(data_dir=tmp_path)


def test_images_must_be_28_by_28(tmp_path, monkeypatch):
    images = idx_bytes(np.zeros((6, 27, 28), np.uint8))
    write_mnist(tmp_path, monkeypatch, train_images_idx3_ubyte=images)
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz: images are \(27, 28\)"):
        load_mnist(data_dir=tmp_path)


def test_labels_out_of_range_are_refused(tmp_path, monkeypatch):
    labels = idx_bytes(np.array([0, 1, 2, 3, 4, 10], np.uint8))
    write_mnist(tmp_path, monkeypatch, train_labels_idx1_ubyte=labels)
    with pytest.raises(DatasetError, match=r"label 10 is out of range"):
        load_mnist(data_dir=tmp_path)


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_checksum_mismatch_is_refused_naming_the_file(tmp_path, monkeypatch, gz):
    write_mnist(tmp_path, monkeypatch, gz=gz)
    monkeypatch.setitem(datasets.MNIST_SHA256, TEST_IMG, "0" * 64)
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte.*checksum mismatch") as err:
        load_mnist(data_dir=tmp_path)
    assert "0" * 64 in str(err.value)


def test_the_real_hashes_refuse_a_tiny_impostor(tmp_path):
    # No hash is injected: a valid IDX file that is not MNIST fails the known-good checksum.
    for name, content in fake_mnist().items():
        write_file(tmp_path, name, idx_bytes(content), gz=True)
    with pytest.raises(DatasetError, match="checksum mismatch"):
        load_mnist(data_dir=tmp_path)


def test_corrupt_gzip_is_refused_naming_the_file(tmp_path, monkeypatch):
    write_mnist(tmp_path, monkeypatch)
    path = tmp_path / f"{TEST_LBL}.gz"
    path.write_bytes(path.read_bytes()[:-12])  # cut the gzip trailer
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\.gz: not a valid gzip"):
        load_mnist(data_dir=tmp_path)


# -- where the files are looked for ---------------------------------------------------------
def test_default_dir_is_xpnn_data_mnist(monkeypatch, tmp_path):
    monkeypatch.setenv("XPNN_DATA", f"  {tmp_path}  ")
    assert default_data_dir() == tmp_path / "mnist"


def test_default_dir_without_xpnn_data_is_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XPNN_DATA", " ")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / ".cache" / "xpnn" / "mnist"


def test_load_mnist_uses_xpnn_data(monkeypatch, tmp_path):
    arrays = write_mnist(tmp_path / "mnist", monkeypatch)
    monkeypatch.setenv("XPNN_DATA", str(tmp_path))
    (_, t), _ = load_mnist()
    np.testing.assert_array_equal(t, arrays[TRAIN_LBL])


# -- missing files and downloads ------------------------------------------------------------
def test_missing_files_offline_say_what_where_and_how(tmp_path, monkeypatch):
    write_mnist(tmp_path, monkeypatch)
    (tmp_path / f"{TEST_IMG}.gz").unlink()
    (tmp_path / f"{TEST_LBL}.gz").unlink()
    tried = offline(monkeypatch)
    with pytest.raises(DatasetNotFoundError) as err:
        load_mnist(data_dir=tmp_path)
    message = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert str(tmp_path) in message
    assert TEST_IMG in message and TEST_LBL in message and TRAIN_IMG not in message
    assert "XPNN_DATA" in message and "data_dir" in message
    assert "name resolution" in message
    assert tried == [f"{m}{TEST_IMG}.gz" for m in MNIST_MIRRORS]
    assert not any(n.endswith(".part") for n in listing(tmp_path))


def test_download_false_never_downloads(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="downloading was disabled"):
        load_mnist(data_dir=tmp_path, download=False)  # the autouse fixture forbids urlopen


def test_missing_files_are_downloaded_verified_and_renamed_into_place(tmp_path, monkeypatch):
    arrays = fake_mnist()
    files = {}
    for name in NAMES:
        content = idx_bytes(arrays[name])
        trust(monkeypatch, name, content)
        files[f"{name}.gz"] = gzip.compress(content)
    requested = serve(monkeypatch, files, fail_first=True)
    folder = tmp_path / "new" / "mnist"
    (_, t), _ = load_mnist(data_dir=folder)
    np.testing.assert_array_equal(t, arrays[TRAIN_LBL])
    assert listing(folder) == sorted(files)
    assert requested[:2] == [f"{m}{TRAIN_IMG}.gz" for m in MNIST_MIRRORS[:2]]
    assert len(requested) == 8  # each file: the first mirror 404s, the second serves it
    # A second load finds the files and downloads nothing.
    monkeypatch.setattr(datasets, "urlopen", None)
    load_mnist(data_dir=folder)


def test_a_corrupt_download_is_deleted_and_the_next_mirror_tried(tmp_path, monkeypatch):
    arrays = fake_mnist()
    good = {n: idx_bytes(arrays[n]) for n in NAMES}
    for name, content in good.items():
        trust(monkeypatch, name, content)
    calls: list[str] = []

    def flaky(url, timeout=None):
        calls.append(url)
        content = good[url.rsplit("/", 1)[1][:-3]]
        if url.startswith(MNIST_MIRRORS[0]):
            return FakeResponse(gzip.compress(content)[:-50])  # truncated in transit
        if url.startswith(MNIST_MIRRORS[1]):
            return FakeResponse(gzip.compress(content[:-1] + bytes([content[-1] ^ 1])))  # wrong
        return FakeResponse(gzip.compress(content))

    monkeypatch.setattr(datasets, "urlopen", flaky)
    load_mnist(data_dir=tmp_path)
    assert len(calls) == 12
    assert listing(tmp_path) == sorted(f"{n}.gz" for n in NAMES)


@pytest.mark.parametrize("fault", ["truncated", "wrong-content", "dropped-connection"])
def test_a_bad_download_is_never_left_behind(tmp_path, monkeypatch, fault):
    arrays = fake_mnist()
    content = idx_bytes(arrays[TRAIN_IMG])
    trust(monkeypatch, TRAIN_IMG, content)

    class Dropped(FakeResponse):
        def read(self, *args):
            if self.tell() > 0:
                raise ConnectionResetError("connection reset by peer")
            return super().read(10)

    def bad(url, timeout=None):
        blob = gzip.compress(content)
        if fault == "truncated":
            return FakeResponse(blob[: len(blob) // 2])
        if fault == "wrong-content":
            return FakeResponse(gzip.compress(content[::-1]))
        return Dropped(blob)

    monkeypatch.setattr(datasets, "urlopen", bad)
    with pytest.raises(DatasetNotFoundError, match=TRAIN_IMG) as err:
        load_mnist(data_dir=tmp_path)
    assert listing(tmp_path) == []
    expected = {"truncated": "gzip", "wrong-content": "checksum", "dropped-connection": "reset"}
    assert expected[fault] in str(err.value)


def test_an_unwritable_target_says_so(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DatasetNotFoundError, match=r"cannot download MNIST into .*file"):
        load_mnist(data_dir=blocker / "mnist")


# -- shuffling and splitting ----------------------------------------------------------------
def test_shuffle_dataset_keeps_pairs_together_and_is_seeded():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    t = np.arange(10)
    xs, ts = shuffle_dataset(x, t, seed=3)
    np.testing.assert_array_equal(xs[:, 0], 2 * ts)
    assert sorted(ts.tolist()) == list(range(10)) and not np.array_equal(ts, t)
    _, ts2 = shuffle_dataset(x, t, seed=3)
    np.testing.assert_array_equal(ts, ts2)
    assert xs.dtype == np.float32 and xs.shape == x.shape


def test_shuffle_dataset_accepts_nchw_images():
    x = np.arange(6 * 4, dtype=np.uint8).reshape(6, 1, 2, 2)
    xs, ts = shuffle_dataset(x, np.arange(6), seed=0)
    np.testing.assert_array_equal(xs[:, 0, 0, 0], 4 * ts)


def test_shuffle_dataset_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="different numbers of samples: 3 and 4"):
        shuffle_dataset(np.zeros((3, 2)), np.zeros(4))


def test_train_val_split_is_the_books_split():
    x = np.arange(50, dtype=np.float32).reshape(25, 2)
    t = np.arange(25)
    (x_tr, t_tr), (x_val, t_val) = train_val_split(x, t, val_ratio=0.2, seed=1)
    assert len(t_val) == int(25 * 0.2) == 5 and len(t_tr) == 20
    assert sorted(np.concatenate([t_tr, t_val]).tolist()) == list(range(25))
    np.testing.assert_array_equal(x_tr[:, 0], 2 * t_tr)
    np.testing.assert_array_equal(x_val[:, 0], 2 * t_val)
    # Same as the book: shuffle_dataset with the same seed, then the first part validates.
    _, ts = shuffle_dataset(x, t, seed=1)
    np.testing.assert_array_equal(t_val, ts[:5])
    np.testing.assert_array_equal(t_tr, ts[5:])


def test_train_val_split_is_reproducible_and_seed_dependent():
    x, t = np.zeros((100, 1)), np.arange(100)
    a = train_val_split(x, t, seed=7)[1][1]
    assert np.array_equal(a, train_val_split(x, t, seed=7)[1][1])
    assert not np.array_equal(a, train_val_split(x, t, seed=8)[1][1])


def test_train_val_split_without_shuffle_keeps_order():
    (_, t_tr), (_, t_val) = train_val_split(np.zeros((10, 1)), np.arange(10), 0.3, shuffle=False)
    assert t_val.tolist() == [0, 1, 2] and t_tr.tolist() == list(range(3, 10))


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.1, 1.5, math.nan, math.inf])
def test_train_val_split_refuses_ratios_outside_zero_one(ratio):
    with pytest.raises(ValueError, match="val_ratio must be in"):
        train_val_split(np.zeros((10, 1)), np.arange(10), ratio)


@pytest.mark.parametrize("ratio", [True, "0.2", None])
def test_train_val_split_refuses_non_numbers(ratio):
    with pytest.raises(TypeError, match="val_ratio must be a number"):
        train_val_split(np.zeros((10, 1)), np.arange(10), ratio)


def test_train_val_split_refuses_an_empty_side():
    with pytest.raises(ValueError, match="leaves 0 for validation"):
        train_val_split(np.zeros((4, 1)), np.arange(4), 0.2)


# -- the real MNIST -------------------------------------------------------------------------
def _real_mnist_dir() -> Path:
    folder = default_data_dir()
    if not os.environ.get("XPNN_DATA", "").strip() and not all(
        (folder / n).is_file() or (folder / f"{n}.gz").is_file() for n in NAMES
    ):
        pytest.skip(
            f"real MNIST not found in {folder} and XPNN_DATA is unset; set XPNN_DATA to a "
            "folder whose mnist/ subfolder holds the four files to run these tests"
        )
    return folder


@pytest.fixture(scope="module")
def real_mnist():
    """The default load of the real data (download=False: tests never touch the network)."""
    return load_mnist(data_dir=_real_mnist_dir(), download=False)


@pytest.fixture(scope="module")
def real_mnist_raw():
    return load_mnist(
        normalize=False,
        flatten=False,
        one_hot_label=True,
        data_dir=_real_mnist_dir(),
        download=False,
    )


def test_real_mnist_shapes_and_dtypes(real_mnist):
    (x, t), (xt, tt) = real_mnist
    assert x.shape == (60000, 784) and x.dtype == np.float32
    assert xt.shape == (10000, 784) and xt.dtype == np.float32
    assert t.shape == (60000,) and t.dtype == np.int64
    assert tt.shape == (10000,) and tt.dtype == np.int64
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0


def test_real_mnist_labels_are_the_known_ones(real_mnist):
    (_, t), (_, tt) = real_mnist
    assert t[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert tt[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(t, minlength=10).tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]
    assert int(t.min()) == 0 and int(t.max()) == 9 and int(tt.max()) == 9


def test_real_mnist_raw_nchw_one_hot_variant(real_mnist, real_mnist_raw):
    (x, t), (xt, tt) = real_mnist_raw
    assert x.shape == (60000, 1, 28, 28) and x.dtype == np.uint8
    assert xt.shape == (10000, 1, 28, 28)
    assert t.shape == (60000, 10) and t.dtype == np.float32 and tt.shape == (10000, 10)
    (xn, tn), _ = real_mnist
    np.testing.assert_array_equal(t.argmax(axis=1), tn)
    np.testing.assert_array_equal(x[:100].reshape(100, 784) / np.float32(255), xn[:100])


def test_real_mnist_labels_corrupted_by_one_byte_are_refused(tmp_path):
    folder = _real_mnist_dir()
    for name in NAMES:
        src = folder / f"{name}.gz" if (folder / f"{name}.gz").is_file() else folder / name
        if name != TEST_LBL:
            (tmp_path / src.name).symlink_to(src.resolve())
            continue
        content = datasets._read_content(src)
        content = content[:-1] + bytes([(content[-1] + 1) % 10])  # still a valid label
        (tmp_path / name).write_bytes(content)
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte: checksum mismatch"):
        load_mnist(data_dir=tmp_path, download=False)


# -- bounded reads: no file is read further than expected (issue 20) ------------------------
class Counting:
    """A stream that counts the (decompressed) bytes read from it."""

    def __init__(self, stream, counts: list[int]) -> None:
        self.stream, self.counts = stream, counts

    def read(self, n: int) -> bytes:
        data = self.stream.read(n)
        self.counts[-1] += len(data)
        return data

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stream.close()


@pytest.fixture
def bytes_read(monkeypatch) -> list[int]:
    """For each file opened, how many bytes of its content were read."""
    counts: list[int] = []
    real = datasets._open_content

    def counting(path, gz):
        counts.append(0)
        return Counting(real(path, gz), counts)

    monkeypatch.setattr(datasets, "_open_content", counting)
    return counts


def test_a_header_declaring_more_than_the_known_size_is_refused_before_its_data(
    tmp_path, monkeypatch, bytes_read
):
    labels = (2049).to_bytes(4, "big") + (60001).to_bytes(4, "big") + bytes(60001)
    write_mnist(tmp_path, monkeypatch, train_labels_idx1_ubyte=labels)  # even if trusted
    message = r"train-labels-idx1-ubyte\.gz: refused at its IDX header.*60001 items"
    with pytest.raises(DatasetError, match=message + r".*60008 bytes of MNIST's"):
        load_mnist(data_dir=tmp_path)
    assert bytes_read[-1] == 8  # the magic number and the count, nothing more


def test_reading_stops_one_byte_past_the_known_size(tmp_path, monkeypatch, bytes_read):
    labels = (2049).to_bytes(4, "big") + (60000).to_bytes(4, "big") + bytes(10**6)
    write_mnist(tmp_path, monkeypatch, train_labels_idx1_ubyte=labels)
    with pytest.raises(DatasetError, match=r"checksum mismatch.*longer than the 60008 bytes"):
        load_mnist(data_dir=tmp_path)
    assert bytes_read[-1] == 60009


def test_the_known_sizes_are_the_real_files(real_mnist):
    folder = _real_mnist_dir()
    for name in NAMES:
        path = folder / f"{name}.gz" if (folder / f"{name}.gz").is_file() else folder / name
        assert len(datasets._read_content(path)) == datasets.MNIST_SIZES[name], name


def test_a_download_is_cut_at_the_longest_gzip_of_its_file(tmp_path, monkeypatch):
    served: list[int] = []

    class Endless:
        def read(self, n: int) -> bytes:
            served.append(n)
            return bytes(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            pass

    monkeypatch.setattr(datasets, "urlopen", lambda url, timeout=None: Endless())
    with pytest.raises(DatasetNotFoundError, match=r"longer than \d+ bytes, more than any gzip"):
        load_mnist(data_dir=tmp_path)
    assert sum(served) == 3 * (datasets._download_limit(TRAIN_IMG) + 1)  # three mirrors
    assert listing(tmp_path) == []


def test_read_idx_refuses_a_header_declaring_more_than_max_bytes_before_its_data(
    tmp_path, bytes_read
):
    path = write_file(tmp_path, "big", idx_bytes(np.zeros(1000, np.uint8)), gz=True)
    with pytest.raises(DatasetError, match=r"big\.gz: .*1000 items.*more than max_bytes=100"):
        read_idx(path, max_bytes=100)
    assert bytes_read == [8]


def test_read_idx_allows_a_file_as_large_as_itself_whatever_max_bytes(tmp_path):
    a = np.arange(1000, dtype=np.uint8)
    path = write_file(tmp_path, "raw", idx_bytes(a), gz=False)  # the data is on disk anyway
    np.testing.assert_array_equal(read_idx(path, max_bytes=0), a)


def test_read_idx_refuses_a_header_declaring_more_than_the_file_holds(tmp_path, bytes_read):
    content = (2049).to_bytes(4, "big") + (10**6).to_bytes(4, "big") + bytes(10)
    path = write_file(tmp_path, "short", content, gz=False)
    with pytest.raises(DatasetError, match=r"short: .*more than the 18 bytes the file holds"):
        read_idx(path)
    assert bytes_read == [8]


def test_read_idx_stops_a_mib_past_what_its_header_declares(tmp_path, bytes_read):
    content = idx_bytes(np.zeros(5, np.uint8)) + bytes(3 << 20)
    path = write_file(tmp_path, "long", content, gz=True)
    with pytest.raises(DatasetError, match=r"long\.gz: at least 1048578 bytes too long"):
        read_idx(path)
    assert bytes_read == [8 + 5 + 1 + (1 << 20) + 1]  # what it declares, one byte, one MiB


def test_read_idx_holds_one_copy_of_the_content(tmp_path):
    a = np.random.default_rng(0).integers(0, 256, (8 << 20,), np.uint8)
    path = write_file(tmp_path, "eight", idx_bytes(a), gz=True)
    tracemalloc.start()
    try:
        b = read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(a, b)
    assert peak < 1.2 * a.nbytes + (2 << 20), peak  # the content, and one chunk in flight


@pytest.mark.parametrize("bad", [-1, 2.0, None])
def test_read_idx_max_bytes_must_be_a_non_negative_int(tmp_path, bad):
    path = write_file(tmp_path, "x", idx_bytes(np.zeros(3, np.uint8)), gz=False)
    with pytest.raises(ValueError, match="max_bytes must be a non-negative int"):
        read_idx(path, max_bytes=bad)
