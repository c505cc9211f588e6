# coding: utf-8
# The activation and loss functions of chapters 3 and 4, on NumPy arrays and on lists.
import sys, os

sys.path.append(os.pardir)
import numpy as np
from common.functions import *

x = np.array([-1.0, 1.0, 2.0])
print("step_function:", step_function(x))
print("sigmoid:", sigmoid(x))
print("relu:", relu(x))
print("softmax:", softmax([0.3, 2.9, 4.0]))

assert step_function(x).dtype == np.int64 and list(step_function(x)) == [0, 1, 1]
assert np.allclose(sigmoid(x), [0.26894142, 0.73105858, 0.88079708])
assert list(relu(np.arange(-2, 3))) == [0, 0, 0, 1, 2]
assert list(relu_grad(np.array([-1.0, 0.0, 2.0]))) == [0.0, 1.0, 1.0]
assert np.allclose(sigmoid_grad(0.0), 0.25)
assert np.allclose(softmax(np.array([1010.0, 1000.0, 990.0])).sum(), 1.0)  # no overflow

t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
sse = sum_squared_error(np.array(y), np.array(t))
cee = cross_entropy_error(np.array(y), np.array(t))
print("sum_squared_error:", sse)
print("cross_entropy_error:", cee)
assert abs(sse - 0.0975) < 1e-12 and abs(cee - 0.510825457099338) < 1e-12

batch = np.array([y, y[::-1]])
labels = np.array([2, 7])
one_hot = np.eye(10)[labels]
assert np.isclose(cross_entropy_error(batch, labels), cross_entropy_error(batch, one_hot))
assert np.isclose(softmax_loss(np.log(batch + 1e-12), labels), cross_entropy_error(batch, labels))
assert identity_function(x) is x
print("functions ok")
