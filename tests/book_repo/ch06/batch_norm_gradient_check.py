# coding: utf-8
# Backpropagation against central differences for a network with Batch Normalization,
# weight decay and Dropout (6.3). The network is float32; its numerical_gradient computes in
# float64, so the differences are as small as in the book's float64 code. On several
# samples: with one, BatchNorm's output is exactly beta and the check says nothing.
import sys, os

sys.path.append(os.pardir)
import numpy as np
from common.multi_layer_net_extend import MultiLayerNetExtend

np.random.seed(3)
x_batch = np.random.rand(4, 20).astype(np.float32)
t_batch = np.eye(5, dtype=np.float32)[[0, 3, 1, 4]]

for use_dropout in (False, True):
    network = MultiLayerNetExtend(
        input_size=20,
        hidden_size_list=[8, 8],
        output_size=5,
        weight_decay_lambda=0.1,
        use_batchnorm=True,
        use_dropout=use_dropout,
        dropout_ration=0.2,
    )
    grad_backprop = network.gradient(x_batch, t_batch)
    grad_numerical = network.numerical_gradient(x_batch, t_batch)
    print("--- dropout" if use_dropout else "--- batch norm and weight decay")
    for key in grad_numerical.keys():
        diff = np.average(np.abs(grad_backprop[key] - grad_numerical[key]))
        print(key + ":" + str(diff))
        assert diff < 1e-6, (key, diff)
