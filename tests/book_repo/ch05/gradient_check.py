# coding: utf-8
# Backpropagation against central differences (5.7.3), printing the mean difference per
# parameter, on a few random samples (float64 NumPy, as the book's network is).
import sys, os

sys.path.append(os.pardir)
import numpy as np
from two_layer_net import TwoLayerNet

np.random.seed(1)
x_batch = np.random.rand(3, 30)
t_batch = np.eye(10)[[3, 1, 4]]
network = TwoLayerNet(input_size=30, hidden_size=20, output_size=10, weight_init_std=0.5)

grad_numerical = network.numerical_gradient(x_batch, t_batch)
grad_backprop = network.gradient(x_batch, t_batch)

for key in grad_numerical.keys():
    diff = np.average(np.abs(grad_backprop[key] - grad_numerical[key]))
    print(key + ":" + str(diff))
    assert diff < 1e-8, (key, diff)
