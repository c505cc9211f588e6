# coding: utf-8
# A one-layer network's weight gradient by central differences (chapter 4.4.2).
import sys, os

sys.path.append(os.pardir)
import numpy as np
from common.functions import softmax, cross_entropy_error
from common.gradient import numerical_gradient


class simpleNet:
    def __init__(self):
        self.W = np.random.randn(2, 3)

    def predict(self, x):
        return np.dot(x, self.W)

    def loss(self, x, t):
        return cross_entropy_error(softmax(self.predict(x)), t)


np.random.seed(0)
x = np.array([0.6, 0.9])
t = np.array([0, 0, 1])
net = simpleNet()
W_before = net.W.copy()

f = lambda w: net.loss(x, t)
dW = numerical_gradient(f, net.W)
print(dW)

# The gradient of softmax + cross-entropy; the book's loss takes log(y + 1e-7), which moves
# the numerical gradient by about 1e-7 / y.
expected = np.outer(x, softmax(net.predict(x)) - t)
print("max difference:", np.abs(dW - expected).max())
assert np.abs(dW - expected).max() < 1e-4
assert np.array_equal(net.W, W_before)  # restored bit for bit
