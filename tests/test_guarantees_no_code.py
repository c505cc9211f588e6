"""Guarantee: no code is run from data, and no unverified data is used.

- A checkpoint holding a pickled object (its manifest, or one entry of an otherwise real
  checkpoint) is refused when the Trainer resumes from it, naming the file; nothing is
  unpickled (the object's code would create a marker file) and the network is untouched.
- A MNIST file whose content does not have its known SHA-256 is refused naming it, and its
  bytes never reach the IDX parser: every byte string parsed has a trusted checksum.
- The book's ``mnist.pkl`` cache, a pickle, is never opened.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from guarantees_support import assert_bitwise_equal, make_trainer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_datasets import NAMES, fake_mnist, idx_bytes

from xpnn import Trainer, datasets, load_mnist
from xpnn.checkpoint import CheckpointError


class Exploit:
    """Unpickling this creates the file ``marker``: proof that code from the data ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def pickled(marker: Path) -> np.ndarray:
    return np.array([Exploit(str(marker))], dtype=object)


def resume_is_refused_naming(path: Path, trainer: Trainer) -> None:
    """Resuming ``trainer``'s network and optimizer from ``path`` raises CheckpointError
    naming the file and about pickle, and leaves both as they were."""
    network, optimizer = trainer.network, trainer.optimizer
    before = (network.state_dict(), optimizer.state_dict())
    x, t = trainer.x_train, trainer.t_train
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + r".*pickled"):
        Trainer(network, x, t, x, t, epochs=3, optimizer=optimizer, resume=path)
    assert_bitwise_equal((network.state_dict(), optimizer.state_dict()), before)


def test_resuming_from_a_pickled_npz_is_refused_and_runs_no_code(tmp_path):
    marker, path = tmp_path / "pwned", tmp_path / "checkpoint.npz"
    np.savez(path, __xpnn_checkpoint__=pickled(marker))
    resume_is_refused_naming(path, make_trainer())
    assert not marker.exists()


def test_resuming_from_a_checkpoint_with_one_pickled_entry_is_refused_and_runs_no_code(
    tmp_path,
):
    marker = tmp_path / "pwned"
    trainer = make_trainer(epochs=1, checkpoint_dir=tmp_path)
    trainer.train()
    path = tmp_path / "checkpoint.npz"
    with zipfile.ZipFile(path) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    assert "network/W1.npy" in entries
    with zipfile.ZipFile(path, "w") as zf:
        for name, blob in entries.items():
            if name == "network/W1.npy":
                with zf.open(name, "w") as f:
                    np.lib.format.write_array(f, pickled(marker), allow_pickle=True)
            else:
                zf.writestr(name, blob)
    resume_is_refused_naming(path, make_trainer())
    assert not marker.exists()


# -- datasets -------------------------------------------------------------------------------
@pytest.fixture
def trusted_mnist(tmp_path, monkeypatch) -> tuple[Path, dict[str, bytes], list[str]]:
    """Four tiny MNIST files (gzipped) whose checksums are trusted, a spy recording the
    SHA-256 of every byte string the IDX parser is given, and no network."""
    contents = {name: idx_bytes(array) for name, array in fake_mnist().items()}
    for name, content in contents.items():
        monkeypatch.setitem(datasets.MNIST_SHA256, name, hashlib.sha256(content).hexdigest())
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(content, mtime=0))
    parsed: list[str] = []
    parse = datasets._parse_idx

    def spy(content: bytes, source):
        parsed.append(hashlib.sha256(content).hexdigest())
        return parse(content, source)

    def no_download(url, *args, **kwargs):
        raise AssertionError(f"tried to download {url}")

    monkeypatch.setattr(datasets, "_parse_idx", spy)
    monkeypatch.setattr(datasets, "urlopen", no_download)
    return tmp_path, contents, parsed


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(NAMES),
    gz=st.booleans(),
    at=st.integers(0, 10**6),
    xor=st.integers(1, 255),
)
def test_a_dataset_file_that_fails_its_checksum_is_refused_and_never_parsed(
    trusted_mnist, name, gz, at, xor
):
    folder, contents, parsed = trusted_mnist
    parsed.clear()
    trusted = set(datasets.MNIST_SHA256.values())
    raw = bytearray(contents[name])
    raw[at % len(raw)] ^= xor  # one byte of the content changed
    bad = folder / (f"{name}.gz" if gz else name)
    for stale in (folder / name, folder / f"{name}.gz"):
        stale.unlink(missing_ok=True)
    bad.write_bytes(gzip.compress(bytes(raw), mtime=0) if gz else bytes(raw))
    try:
        with pytest.raises(datasets.DatasetError, match=re.escape(str(bad)) + ".*checksum"):
            load_mnist(data_dir=folder, normalize=False)
        assert all(digest in trusted for digest in parsed)
        assert hashlib.sha256(bytes(raw)).hexdigest() not in parsed
    finally:
        bad.unlink()
        (folder / f"{name}.gz").write_bytes(gzip.compress(contents[name], mtime=0))


def test_the_trusted_files_load(trusted_mnist):
    # The control for the test above: unchanged, the same files load and are parsed.
    folder, contents, parsed = trusted_mnist
    (x, t), _ = load_mnist(data_dir=folder, normalize=False)
    np.testing.assert_array_equal(x.reshape(-1, 28, 28), fake_mnist()[NAMES[0]])
    np.testing.assert_array_equal(t, fake_mnist()[NAMES[1]])
    assert sorted(parsed) == sorted(hashlib.sha256(c).hexdigest() for c in contents.values())


def test_the_books_pickle_cache_is_never_opened(trusted_mnist):
    folder, _, _ = trusted_mnist
    marker = folder / "pwned"
    with open(folder / "mnist.pkl", "wb") as f:  # what the book's loader would unpickle
        pickle.dump(Exploit(str(marker)), f)
    (x, t), (xt, tt) = load_mnist(data_dir=folder)
    assert len(x) == len(t) and len(xt) == len(tt)
    assert not marker.exists()
