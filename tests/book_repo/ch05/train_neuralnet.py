# coding: utf-8
# Training the chapter 5 network by backpropagation, by hand, on a slice of MNIST.
import sys, os

sys.path.append(os.pardir)
import numpy as np
from dataset.mnist import load_mnist
from two_layer_net import TwoLayerNet

np.random.seed(0)
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)
x_train, t_train = x_train[:1000], t_train[:1000]
x_test, t_test = x_test[:500], t_test[:500]

network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
train_size, batch_size, learning_rate = x_train.shape[0], 100, 0.2
iter_per_epoch = max(train_size / batch_size, 1)
for i in range(100):
    batch_mask = np.random.choice(train_size, batch_size)
    grad = network.gradient(x_train[batch_mask], t_train[batch_mask])
    for key in ("W1", "b1", "W2", "b2"):
        network.params[key] -= learning_rate * grad[key]
    if i % iter_per_epoch == 0:
        train_acc = network.accuracy(x_train, t_train)
        test_acc = network.accuracy(x_test, t_test)
        print(train_acc, test_acc)
assert train_acc > 0.8 and test_acc > 0.75, (train_acc, test_acc)
