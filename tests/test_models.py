"""A network back from its file alone: ``get_config``, the ``"architecture"`` entry that
``save_params`` and the Trainer write, ``network_from_config`` and ``load_network``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from guarantees_support import assert_bitwise_equal, blobs, make_net, make_trainer

import xpnn
from xpnn.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from xpnn.models import load_network, network_from_config

SMALL_CONV = {"filter_num": 4, "filter_size": 3, "pad": 1, "stride": 1}


def small_networks() -> dict[str, xpnn.Network]:
    """One of each class, none with its defaults, small enough to build in milliseconds."""
    return {
        "mlp": xpnn.MultiLayerNet(
            12,
            [8, 6],
            3,
            activation="tanh",
            weight_init_std=0.05,
            weight_decay_lambda=0.01,
            use_dropout=True,
            dropout_ratio=0.3,
            use_batchnorm=True,
            dtype="float64",
            seed=0,
        ),
        "simple": xpnn.SimpleConvNet(
            (1, 8, 8), SMALL_CONV, hidden_size=7, output_size=3, weight_init_std="he", seed=0
        ),
        "deep": xpnn.DeepConvNet(
            (1, 12, 12),
            *[SMALL_CONV] * 6,
            hidden_size=5,
            output_size=3,
            weight_decay_lambda=0.001,
            seed=0,
        ),
    }


@pytest.mark.parametrize("kind", ["mlp", "simple", "deep"])
def test_get_config_is_json_and_rebuilds_the_same_architecture(kind):
    net = small_networks()[kind]
    config = json.loads(json.dumps(net.get_config()))
    again = type(net)(**config, seed=1)
    assert repr(again) == repr(net)
    assert {k: tuple(v.shape) for k, v in again.params.items()} == {
        k: tuple(v.shape) for k, v in net.params.items()
    }
    assert again.get_config() == config


def test_get_config_holds_the_constructor_arguments_of_a_multilayernet():
    config = small_networks()["mlp"].get_config()
    assert config == {
        "input_size": 12,
        "hidden_size_list": [8, 6],
        "output_size": 3,
        "activation": "tanh",
        "weight_init_std": 0.05,
        "weight_decay_lambda": 0.01,
        "use_dropout": True,
        "dropout_ratio": 0.3,
        "use_batchnorm": True,
        "dtype": "float64",
    }


def test_a_numpy_scalar_weight_scale_is_recorded_as_a_float():
    net = xpnn.MultiLayerNet(4, [3], 2, weight_init_std=np.float32(0.5), seed=0)
    assert type(net.get_config()["weight_init_std"]) is float


def test_save_params_records_the_architecture_as_json(tmp_path):
    net = small_networks()["simple"]
    net.save_params(tmp_path / "model.npz")
    arch = json.loads(load_checkpoint(tmp_path / "model.npz")["architecture"])
    assert arch == {"class": "SimpleConvNet", "config": net.get_config()}


def test_a_trainer_checkpoint_records_the_architecture(tmp_path):
    trainer = make_trainer(epochs=1, checkpoint_dir=tmp_path)
    trainer.train()
    arch = json.loads(load_checkpoint(tmp_path / "checkpoint.npz")["architecture"])
    assert arch == {"class": "MultiLayerNet", "config": trainer.network.get_config()}


def test_the_books_network_is_recorded_as_xpnns_class():
    from xpnn.architecture import architecture_json
    from xpnn.book.common.multi_layer_net import MultiLayerNet as BookNet

    arch = json.loads(architecture_json(BookNet(784, [10], 10)))
    assert arch["class"] == "MultiLayerNet"


@pytest.mark.parametrize("kind", ["mlp", "simple", "deep"])
def test_load_network_gives_the_saved_network_back_from_the_file_alone(tmp_path, kind):
    net = small_networks()[kind]
    net.save_params(tmp_path / "model.npz")
    loaded = load_network(tmp_path / "model.npz")
    assert type(loaded) is type(net) and repr(loaded) == repr(net)
    assert_bitwise_equal(loaded.state_dict(), net.state_dict())


def test_load_network_reads_a_trainer_checkpoint_with_its_batchnorm_statistics(tmp_path):
    trainer = make_trainer(epochs=1, checkpoint_dir=tmp_path)  # batchnorm on
    trainer.train()
    loaded = load_network(tmp_path / "checkpoint.npz")
    x, _ = blobs(30)
    assert np.array_equal(
        xpnn.backend.to_numpy(loaded.predict(x)), xpnn.backend.to_numpy(trainer.network.predict(x))
    )


def test_load_network_builds_on_the_backend_and_dtype_asked_for(tmp_path, backend, dtype):
    net = make_net(seed=3, use_dropout=False)
    net.save_params(tmp_path / "model.npz")
    loaded = load_network(tmp_path / "model.npz", backend=backend, dtype=dtype)
    assert loaded.backend.name == backend.name and loaded.dtype == dtype
    x, t = blobs(40)
    assert loaded.accuracy(x, t) == net.accuracy(x, t)


def test_a_file_without_an_architecture_says_how_to_load_it_by_hand(tmp_path):
    net = make_net(use_dropout=False)
    save_checkpoint(tmp_path / "old.npz", {"network": net.state_dict()})  # an older file
    with pytest.raises(CheckpointError, match=r"records no architecture.*net\.load_params\("):
        load_network(tmp_path / "old.npz")
    other = make_net(seed=9, use_dropout=False)
    other.load_params(tmp_path / "old.npz")  # which still loads, as it always did
    assert_bitwise_equal(other.state_dict(), net.state_dict())


def test_an_unknown_class_is_refused_and_nothing_is_imported(tmp_path):
    arch = json.dumps({"class": "os.system", "config": {}})
    save_checkpoint(tmp_path / "evil.npz", {"network": {}, "architecture": arch})
    with pytest.raises(CheckpointError, match=r"unknown network class 'os\.system'; known: "):
        load_network(tmp_path / "evil.npz")


def test_an_architecture_that_is_not_json_is_refused_naming_the_file(tmp_path):
    save_checkpoint(tmp_path / "bad.npz", {"network": {}, "architecture": "{not json"})
    with pytest.raises(CheckpointError, match=r"bad\.npz: its 'architecture' entry is not"):
        load_network(tmp_path / "bad.npz")


def test_weights_that_do_not_fit_the_recorded_architecture_are_refused(tmp_path):
    net = make_net(use_dropout=False)
    arch = json.dumps(
        {"class": "MultiLayerNet", "config": {**net.get_config(), "hidden_size_list": [5]}}
    )
    save_checkpoint(tmp_path / "m.npz", {"network": net.state_dict(), "architecture": arch})
    with pytest.raises(CheckpointError, match=r"m\.npz: state_dict does not fit this network"):
        load_network(tmp_path / "m.npz")


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no network file at"):
        load_network(tmp_path / "nope.npz")


def test_network_from_config_refuses_arguments_the_constructor_does_not_take():
    with pytest.raises(TypeError, match="unexpected keyword argument 'layers'"):
        network_from_config({"layers": 3}, "MultiLayerNet")
