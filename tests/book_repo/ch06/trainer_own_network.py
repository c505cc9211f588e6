# coding: utf-8
# The Trainer driving a network written in the book's style (as chapters 7 and 8 do), not
# one of common's: the chapter 5 two-layer network, on a slice of MNIST.
import sys, os

sys.path.append(os.pardir)
sys.path.append(os.path.join(os.pardir, "ch05"))
import numpy as np
from dataset.mnist import load_mnist
from common.trainer import Trainer
from two_layer_net import TwoLayerNet

np.random.seed(0)
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)
x_train, t_train = x_train[:1000], t_train[:1000]
x_test, t_test = x_test[:500], t_test[:500]

network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
W1 = network.params["W1"]
trainer = Trainer(
    network,
    x_train,
    t_train,
    x_test,
    t_test,
    epochs=3,
    mini_batch_size=100,
    optimizer="Adam",
    optimizer_param={"lr": 0.01},
    verbose=True,
)
trainer.train()
assert network.params["W1"] is W1  # trained in place
assert len(trainer.test_acc_list) == 3 and trainer.test_acc_list[-1] > 0.7, trainer.test_acc_list
