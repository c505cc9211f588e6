# coding: utf-8
# The gradient of f(x0, x1) = x0² + x1² at a grid of points, one point per row (4.4).
import sys, os

sys.path.append(os.pardir)
import numpy as np
from common.gradient import numerical_gradient, numerical_gradient_2d


def function_2(x):
    return np.sum(x**2)


points = np.array([[3.0, 4.0], [0.0, 2.0], [3.0, 0.0], [-1.5, 0.5]])
grad = numerical_gradient_2d(function_2, points)
print(grad)
assert grad.shape == points.shape and np.allclose(grad, 2 * points)
assert np.allclose(numerical_gradient(function_2, np.array([3.0, 4.0])), [6.0, 8.0])
