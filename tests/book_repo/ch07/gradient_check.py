# coding: utf-8
# Backpropagation through Convolution and Pooling against central differences (7.5), on one
# 10x10 image with its label as a column, T of shape (1, 1), as the book's check passes it;
# prints the mean absolute difference per parameter. weight_init_std 0.1, not the book's
# 0.01: at 0.01 the convolution's outputs are ~0.02, and a few of them lie within the step
# h = 1e-4 of ReLU's kink, where central differences are off by ~1e-6.
import sys, os

sys.path.append(os.pardir)
import numpy as np
from simple_convnet import SimpleConvNet

np.random.seed(0)
network = SimpleConvNet(
    input_dim=(1, 10, 10),
    conv_param={"filter_num": 10, "filter_size": 3, "pad": 0, "stride": 1},
    hidden_size=10,
    output_size=10,
    weight_init_std=0.1,
)

X = np.random.rand(100).reshape((1, 1, 10, 10))
T = np.array([1]).reshape((1, 1))

grad_num = network.numerical_gradient(X, T)
grad = network.gradient(X, T)

for key, val in grad_num.items():
    diff = np.abs(grad_num[key] - grad[key]).mean()
    print(key + ":" + str(diff))
    assert grad[key].shape == network.params[key].shape, key
    assert diff < 1e-9, (key, diff)
assert np.abs(grad["W3"]).max() > 1e-6  # not a vacuous check
