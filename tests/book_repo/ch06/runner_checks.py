# coding: utf-8
# How `python -m xpnn.book` runs a script: as __main__, with its arguments, its folder first
# on sys.path, its absolute __file__; and how the book's imports are served.
import sys, os

sys.path.append(os.pardir)
import importlib

assert __name__ == "__main__"
assert sys.argv[0] == "runner_checks.py" and sys.argv[1:] == ["one", "--two"], sys.argv
here = os.path.dirname(os.path.abspath(__file__))
assert os.path.isabs(__file__) and os.path.basename(__file__) == "runner_checks.py"
assert sys.path[0] == here, (sys.path[0], here)
assert sys.modules["__main__"].__file__ == __file__

import common.layers
import dataset.mnist
from common.layers import *
from common.multi_layer_net import *

assert common.layers.__name__ == "xpnn.book.common.layers"
assert "xpnn" in common.__file__ and "xpnn" in dataset.mnist.__file__
import xpnn.book.common.layers as real

assert common.layers is real and Relu is real.Relu

# names the book's star imports leak
assert np.__name__ == "numpy" and OrderedDict.__name__ == "OrderedDict"
for name in (
    "sigmoid",
    "softmax",
    "cross_entropy_error",
    "Affine",
    "Relu",
    "SoftmaxWithLoss",
    "Dropout",
    "BatchNormalization",
    "Convolution",
    "Pooling",
    "im2col",
    "col2im",
    "numerical_gradient",
    "MultiLayerNet",
    "sys",
    "os",
):
    assert name in globals(), name

reloaded = importlib.reload(common.layers)
assert reloaded is common.layers and reloaded.__name__ == "xpnn.book.common.layers"
assert reloaded.Affine is Affine  # xpnn.layers.Affine, re-exported
from common.layers import *  # again, after the reload

del sys.modules["common.util"]  # a served name dropped from sys.modules is served again
import common.util

assert common.util.__name__ == "xpnn.book.common.util"

try:
    import common.not_a_module
except ModuleNotFoundError as e:
    assert "xpnn.book" in str(e), e
    print("refused: " + str(e))
else:
    raise AssertionError("common.not_a_module was imported")

layer = Relu()
out = layer.forward(np.array([[-1.0, 2.0]]))
assert out.tolist() == [[0.0, 2.0]]
print("runner ok")
