"""The book's networks and Trainer as ``common`` serves them: thin subclasses of xpnn's, with
a float loss, a float64 numerical gradient, ``save_params``/``load_params`` and the book's
printed lines."""

from __future__ import annotations

import re

import numpy as np
import pytest
from guarantees_support import assert_bitwise_equal, blobs

import xpnn
from xpnn.book.common import layers, optimizer
from xpnn.book.common.multi_layer_net import MultiLayerNet
from xpnn.book.common.multi_layer_net_extend import MultiLayerNetExtend
from xpnn.book.common.trainer import Trainer


def extended(backend, **kw):
    opts = {"weight_decay_lambda": 0.1, "use_batchnorm": True, "seed": 0}
    opts.update(kw)
    return MultiLayerNetExtend(12, [8, 8], 3, backend=backend, **opts)


# -- what common.layers and common.optimizer are -------------------------------------------
def own_attributes(cls):
    return {k for k in vars(cls) if not k.startswith("__")}


def test_layers_and_optimizers_are_xpnns_own():
    assert layers.Affine is xpnn.Affine and layers.Relu is xpnn.Relu
    # xpnn's layer plus the book's quirk (integer labels as a column), and nothing else
    assert issubclass(layers.SoftmaxWithLoss, xpnn.SoftmaxWithLoss)
    assert own_attributes(layers.SoftmaxWithLoss) == {"forward"}
    assert layers.BatchNormalization is xpnn.BatchNormalization
    assert issubclass(layers.Dropout, xpnn.Dropout)
    names = ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam")
    # xpnn's optimizers plus the book's quirk (parameters that are numbers), nothing else
    for n in names:
        book = getattr(optimizer, n)
        assert book.__mro__[1:3] == (optimizer.NumberParams, getattr(xpnn, n))
        assert own_attributes(book) == set()
    assert sorted(optimizer.__all__) == sorted([*names, "np"]) and optimizer.np is np


def test_the_books_dropout_masks_repeat_under_np_random_seed():
    x = np.ones((4, 50), dtype=np.float32)
    masks = []
    for _ in range(2):
        np.random.seed(7)  # noqa: NPY002 (the book's global generator is what is tested)
        masks.append(layers.Dropout(0.5).forward(x, train_flg=True))
    assert np.array_equal(*masks) and 0 < (masks[0] == 0).mean() < 1


# -- the networks --------------------------------------------------------------------------
def test_the_books_constructor_keywords_build_xpnns_network():
    net = MultiLayerNetExtend(input_size=12, hidden_size_list=[8], output_size=3,
                              activation="sigmoid", weight_init_std=0.01, weight_decay_lambda=0.1,
                              use_dropout=True, dropout_ration=0.2, use_batchnorm=True)  # fmt: skip
    assert isinstance(net, xpnn.MultiLayerNet)
    assert (net.activation, net.dropout_ratio, net.use_batchnorm) == ("sigmoid", 0.2, True)
    assert list(net.layers) == ["Affine1", "BatchNorm1", "Activation_function1", "Dropout1",
                                "Affine2"]  # fmt: skip
    plain = MultiLayerNet(12, [8, 8], 3, "relu", "he", 0.5)
    assert (plain.weight_decay_lambda, plain.use_batchnorm, plain.use_dropout) == (0.5, 0, 0)
    assert net.dtype_name == plain.dtype_name == "float32"


def test_np_random_seed_makes_the_initial_weights_repeat():
    nets = []
    for _ in range(2):
        np.random.seed(11)  # noqa: NPY002 (the book's global generator is what is tested)
        nets.append(MultiLayerNet(12, [8], 3))
    assert_bitwise_equal(nets[0].state_dict(), nets[1].state_dict())


def test_loss_is_a_python_float_on_every_backend(backend):
    x, t = blobs(20)
    net = extended(backend)
    loss = net.loss(x, t)
    assert type(loss) is float and loss > 0
    assert loss == float(xpnn.MultiLayerNet.loss(net, x, t))


def test_gradient_predict_accuracy_and_params_are_xpnns(backend, assert_on_device):
    x, t = blobs(20)
    net = extended(backend)
    grads = net.gradient(x, t)
    assert list(grads) == list(net.params)
    for g in grads.values():
        assert_on_device(g)
    assert_on_device(net.predict(x))
    assert type(net.accuracy(x, t)) is float


@pytest.mark.parametrize("dropout", [False, True], ids=["batchnorm", "batchnorm+dropout"])
def test_numerical_gradient_of_a_float32_net_matches_backprop_to_float64_precision(
    dropout, backend, assert_on_device
):
    """Central differences in float64 on a float64 twin: the book's gradient check prints
    ~1e-8 differences on a float32 network too (float32 differences would be ~1e-3)."""
    x, t = blobs(6)
    net = extended(backend, use_dropout=dropout, dropout_ration=0.3)
    analytic = net.gradient(x, t)  # numerical_gradient reuses this pass's dropout masks
    before = net.state_dict()
    numerical = net.numerical_gradient(x, t)
    assert list(numerical) == list(net.params)
    for key, g in numerical.items():
        assert_on_device(g)
        assert g.dtype == net.dtype
        diff = np.abs(backend.to_numpy(analytic[key]) - backend.to_numpy(g))
        assert diff.mean() < 1e-6, (key, diff.mean())
    assert_bitwise_equal(net.state_dict(), before)


def test_numerical_gradient_takes_device_arrays_of_the_networks_float32(backend):
    x, t = blobs(6)
    net = extended(backend)
    xd, td = backend.asarray(x, dtype=net.dtype), backend.asarray(t)
    diff = net.gradient(xd, td)["W1"] - net.numerical_gradient(xd, td)["W1"]
    assert float(backend.xp.max(backend.xp.abs(diff))) < 1e-5


def test_save_params_and_load_params_round_trip(tmp_path, backend):
    x, t = blobs(20)
    net = extended(backend)
    xpnn.Adam(lr=0.1).update(net.params, net.gradient(x, t))
    net.save_params(str(tmp_path / "params.pkl"))
    other = extended(backend, seed=9)
    other.load_params(str(tmp_path / "params.pkl"))
    assert other.loss(x, t) == net.loss(x, t)


# -- the Trainer ---------------------------------------------------------------------------
def test_the_trainer_prints_the_books_epoch_lines_and_final_accuracy(capsys):
    x, t = blobs(200)
    net = MultiLayerNet(12, [16], 3, seed=0)
    trainer = Trainer(net, x[:150], t[:150], x[150:], t[150:], epochs=3, mini_batch_size=50,
                      optimizer="Adam", verbose=True, seed=0)  # fmt: skip
    trainer.train()
    lines = capsys.readouterr().out.splitlines()
    epoch = re.compile(r"=== epoch:(\d), train acc:([0-9.]+), test acc:([0-9.]+) ===")
    assert [epoch.fullmatch(line).group(1) for line in lines[:3]] == ["1", "2", "3"]
    assert lines[3:] == ["=============== Final Test Accuracy ===============",
                         f"test acc:{trainer.test_acc_list[-1]}"]  # fmt: skip
    assert [float(epoch.fullmatch(line).group(3)) for line in lines[:3]] == trainer.test_acc_list
    assert len(trainer.train_loss_list) == 9 and trainer.epochs == 3


def test_the_trainer_is_silent_when_not_verbose_and_defaults_to_the_books_lr(capsys):
    x, t = blobs(60)
    trainer = Trainer(MultiLayerNet(12, [8], 3), x, t, x, t, epochs=1, optimizer="adam",
                      verbose=False)  # fmt: skip
    trainer.train()
    assert capsys.readouterr().out == ""
    assert isinstance(trainer.optimizer, xpnn.Adam) and trainer.optimizer.lr == 0.01


def test_the_trainer_runs_like_xpnns_trainer_epoch_by_epoch(backend):
    x, t = blobs(120)
    runs = []
    for cls in (Trainer, xpnn.Trainer):
        net = xpnn.MultiLayerNet(12, [8], 3, backend=backend, seed=0)
        trainer = cls(net, x, t, x, t, epochs=3, mini_batch_size=40, optimizer="sgd",
                      optimizer_param={"lr": 0.1}, verbose=False, seed=5)  # fmt: skip
        trainer.train()
        runs.append((net.state_dict(), trainer.history["train_loss"], trainer.test_acc_list))
    assert_bitwise_equal(runs[0], runs[1])


def test_the_trainer_drives_a_network_written_in_the_books_style():
    class BookStyleNet:  # params, gradient, loss, accuracy: nothing of xpnn's
        def __init__(self):
            self.params = {"W": np.zeros((12, 3)), "b": np.zeros(3)}
            self.layers = [layers.Affine(self.params["W"], self.params["b"])]
            self.last = layers.SoftmaxWithLoss()

        def loss(self, x, t):
            return self.last.forward(self.layers[0].forward(x), t)

        def gradient(self, x, t):
            self.loss(x, t)
            self.layers[0].backward(self.last.backward(1))
            return {"W": self.layers[0].dW, "b": self.layers[0].db}

        def accuracy(self, x, t):
            return np.mean(np.argmax(self.layers[0].forward(x), axis=1) == t)

    x, t = blobs(120)
    net = BookStyleNet()
    W = net.params["W"]
    trainer = Trainer(net, x, t, x, t, epochs=2, mini_batch_size=30, verbose=False)
    trainer.train()
    assert net.params["W"] is W and np.abs(W).sum() > 0
    assert trainer.test_acc_list[-1] > 0.9 and len(trainer.train_loss_list) == 8
