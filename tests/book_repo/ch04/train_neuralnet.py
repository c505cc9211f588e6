# coding: utf-8
# Mini-batch training of the chapter 4 network (4.5), on a slice of MNIST, with a gradient
# check of its backpropagation on the way.
import sys, os

sys.path.append(os.pardir)
import numpy as np
from dataset.mnist import load_mnist
from two_layer_net import TwoLayerNet

np.random.seed(0)
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)
x_train, t_train = x_train[:1000], t_train[:1000]
x_test, t_test = x_test[:500], t_test[:500]

network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10, weight_init_std=0.1)

small = TwoLayerNet(input_size=784, hidden_size=3, output_size=10)
numerical = small.numerical_gradient(x_train[:2], t_train[:2])
backprop = small.gradient(x_train[:2], t_train[:2])
for key in numerical:
    diff = np.average(np.abs(numerical[key] - backprop[key]))
    print(key + ":" + str(diff))
    assert diff < 1e-6, key  # log(y + 1e-7) in the loss: about 1e-7 / y

train_size, batch_size, learning_rate = x_train.shape[0], 100, 0.5
iter_per_epoch = max(train_size / batch_size, 1)
train_acc_list = []
for i in range(100):
    batch_mask = np.random.choice(train_size, batch_size)
    grad = network.gradient(x_train[batch_mask], t_train[batch_mask])
    for key in ("W1", "b1", "W2", "b2"):
        network.params[key] -= learning_rate * grad[key]
    if i % iter_per_epoch == 0:
        train_acc = network.accuracy(x_train, t_train)
        test_acc = network.accuracy(x_test, t_test)
        train_acc_list.append(train_acc)
        print("train acc, test acc | " + str(train_acc) + ", " + str(test_acc))
assert train_acc_list[-1] > 0.6, train_acc_list
