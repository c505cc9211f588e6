"""``save_params`` / ``load_params``: a network's parameters in an xpnn checkpoint, never a
pickle, whatever the file is called."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
from guarantees_support import assert_bitwise_equal, blobs, make_net, make_trainer

from xpnn import MultiLayerNet
from xpnn._bounded_npz import BoundedNpz
from xpnn.checkpoint import CheckpointError, load_checkpoint
from xpnn.params_io import load_params, save_params


class Exploit:
    """Unpickling this creates the file ``marker``: proof that code from the data ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_file_named_params_pkl_holds_an_xpnn_checkpoint_of_the_state_dict(tmp_path):
    net = make_net()
    path = tmp_path / "params.pkl"
    save_params(net, path)
    assert path.read_bytes()[:4] == b"PK\x03\x04"  # a zip (.npz), not a pickle
    assert_bitwise_equal(load_checkpoint(path)["network"], net.state_dict())


def test_parameters_saved_on_one_backend_load_into_a_network_on_another(tmp_path, backend):
    x, t = blobs(40)
    saved = make_net("numpy", seed=1, use_dropout=False)  # a generator's state stays home
    save_params(saved, tmp_path / "params.pkl")
    loaded = make_net(backend, seed=2, use_dropout=False)
    load_params(loaded, tmp_path / "params.pkl")
    assert_bitwise_equal(loaded.state_dict(), saved.state_dict())
    assert loaded.accuracy(x, t) == saved.accuracy(x, t)


def test_a_trainer_checkpoint_loads_as_parameters(tmp_path):
    trainer = make_trainer(epochs=1, checkpoint_dir=tmp_path)
    trainer.train()
    net = make_net(seed=5)
    load_params(net, tmp_path / "checkpoint.npz")
    assert_bitwise_equal(net.state_dict(), trainer.network.state_dict())


def test_a_pickle_is_refused_naming_the_file_and_how_to_convert_it_and_never_unpickled(
    tmp_path,
):
    marker = tmp_path / "code-ran"
    path = tmp_path / "params.pkl"
    path.write_bytes(pickle.dumps({"W1": Exploit(str(marker))}))
    net = make_net()
    before = net.state_dict()
    message = re.escape(str(path)) + r" is a Python pickle.*never loads pickles.*np\.savez"
    with pytest.raises(CheckpointError, match=message):
        load_params(net, path)
    assert not marker.exists()
    assert_bitwise_equal(net.state_dict(), before)


def test_a_plain_npz_of_parameters_replaces_those_and_keeps_the_rest(tmp_path):
    net = make_net()
    before = net.state_dict()
    W1 = np.full(before["W1"].shape, 0.25, dtype=np.float64)
    np.savez(tmp_path / "params.npz", W1=W1)  # what the conversion of a book pickle writes
    load_params(net, tmp_path / "params.npz")
    after = net.state_dict()
    assert np.array_equal(after["W1"], W1.astype(np.float32))
    assert_bitwise_equal({k: v for k, v in after.items() if k != "W1"},
                         {k: v for k, v in before.items() if k != "W1"})  # fmt: skip


def test_a_plain_npz_with_arrays_the_network_lacks_is_refused_naming_them(tmp_path):
    net = make_net()
    np.savez(tmp_path / "params.npz", W9=np.zeros(3))
    with pytest.raises(CheckpointError, match=r"params\.npz: arrays \['W9'\] are not parameters"):
        load_params(net, tmp_path / "params.npz")


def test_parameters_of_another_shape_are_refused_naming_the_file_and_change_nothing(tmp_path):
    save_params(make_net(), tmp_path / "params.pkl")
    other = make_net(use_batchnorm=False)
    before = other.state_dict()
    with pytest.raises(CheckpointError, match=r"params\.pkl: state_dict does not fit"):
        load_params(other, tmp_path / "params.pkl")
    assert_bitwise_equal(other.state_dict(), before)


def test_a_damaged_file_is_refused_naming_it(tmp_path):
    path = tmp_path / "params.pkl"
    save_params(make_net(), path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=re.escape(str(path))):
        load_params(make_net(), path)


def test_a_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no parameter file at"):
        load_params(make_net(), tmp_path / "params.pkl")


def test_an_object_without_a_state_dict_is_a_type_error(tmp_path):
    with pytest.raises(TypeError, match="has no state_dict"):
        save_params(object(), tmp_path / "params.pkl")


# -- bounded reads (issue 20) ---------------------------------------------------------------
@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The entries whose data is read (a spy on the reader; headers are not counted)."""
    seen: list[str] = []
    real = BoundedNpz.read

    def spy(self, name):
        seen.append(name)
        return real(self, name)

    monkeypatch.setattr(BoundedNpz, "read", spy)
    return seen


def test_of_a_trainer_checkpoint_only_the_network_entry_is_read(tmp_path, reads):
    make_trainer(epochs=1, checkpoint_dir=tmp_path).train()
    load_params(make_net(seed=5), tmp_path / "checkpoint.npz")
    assert reads and all(n == "__xpnn_checkpoint__" or n.startswith("network/") for n in reads)


def test_parameters_of_another_shape_are_refused_before_their_data_is_read(tmp_path, reads):
    save_params(make_net(), tmp_path / "params.pkl")  # 12-16-16-3
    other = MultiLayerNet(12, [16, 8], 3, seed=0)
    message = r"params\.pkl: entry 'network/W2' is a float32 array of shape \(16, 16\), but"
    with pytest.raises(CheckpointError, match=message + r" the receiver expects shape \(16, 8\)"):
        load_params(other, tmp_path / "params.pkl")
    assert reads == ["__xpnn_checkpoint__"]


def test_a_plain_npz_array_of_another_shape_is_refused_before_it_is_read(tmp_path, reads):
    net = make_net()
    np.savez(tmp_path / "params.npz", W1=np.zeros((3, 3)))
    with pytest.raises(
        CheckpointError, match=r"params\.npz: entry 'W1' .*shape \(3, 3\).*\(12, 16\)"
    ):
        load_params(net, tmp_path / "params.npz")
    assert reads == []
