# coding: utf-8
# The convolutional network of chapter 7 written the book's way: NumPy arrays in a params
# dict, an OrderedDict of common's layers (Convolution, Relu, Pooling, Affine), a
# SoftmaxWithLoss last layer, and numerical gradients from common.gradient.
import sys, os

sys.path.append(os.pardir)
import numpy as np
from collections import OrderedDict
from common.layers import *
from common.gradient import numerical_gradient


class SimpleConvNet:
    """conv - relu - pool - affine - relu - affine - softmax"""

    def __init__(
        self,
        input_dim=(1, 28, 28),
        conv_param={"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},
        hidden_size=100,
        output_size=10,
        weight_init_std=0.01,
    ):
        channels, size = input_dim[0], input_dim[1]
        fn, fs = conv_param["filter_num"], conv_param["filter_size"]
        pad, stride = conv_param["pad"], conv_param["stride"]
        conv_size = (size + 2 * pad - fs) // stride + 1
        pooled = fn * (conv_size // 2) * (conv_size // 2)

        self.params = {}
        self.params["W1"] = weight_init_std * np.random.randn(fn, channels, fs, fs)
        self.params["b1"] = np.zeros(fn)
        self.params["W2"] = weight_init_std * np.random.randn(pooled, hidden_size)
        self.params["b2"] = np.zeros(hidden_size)
        self.params["W3"] = weight_init_std * np.random.randn(hidden_size, output_size)
        self.params["b3"] = np.zeros(output_size)

        self.layers = OrderedDict()
        self.layers["Conv1"] = Convolution(self.params["W1"], self.params["b1"], stride, pad)
        self.layers["Relu1"] = Relu()
        self.layers["Pool1"] = Pooling(pool_h=2, pool_w=2, stride=2)
        self.layers["Affine1"] = Affine(self.params["W2"], self.params["b2"])
        self.layers["Relu2"] = Relu()
        self.layers["Affine2"] = Affine(self.params["W3"], self.params["b3"])
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        return self.last_layer.forward(self.predict(x), t)

    def accuracy(self, x, t, batch_size=100):
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        correct = 0
        for i in range(0, x.shape[0], batch_size):
            y = np.argmax(self.predict(x[i : i + batch_size]), axis=1)
            correct += np.sum(y == t[i : i + batch_size])
        return correct / x.shape[0]

    def numerical_gradient(self, x, t):
        loss_w = lambda w: self.loss(x, t)
        return {key: numerical_gradient(loss_w, self.params[key]) for key in self.params}

    def gradient(self, x, t):
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        grads = {}
        for i, name in enumerate(("Conv1", "Affine1", "Affine2"), start=1):
            grads["W" + str(i)] = self.layers[name].dW
            grads["b" + str(i)] = self.layers[name].db
        return grads
