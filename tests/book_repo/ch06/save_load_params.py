# coding: utf-8
# save_params / load_params: a network saved to "params.pkl" (an xpnn .npz, whatever the
# name) loads into a new network and predicts the same; a real pickle is refused.
# Arguments: a folder to write the files in.
import sys, os

sys.path.append(os.pardir)
import pickle
import numpy as np
from common.multi_layer_net_extend import MultiLayerNetExtend
from common.optimizer import Adam

folder = sys.argv[1]
np.random.seed(0)
x = np.random.rand(40, 20).astype(np.float32)
t = np.random.randint(0, 5, size=40)

network = MultiLayerNetExtend(
    input_size=20, hidden_size_list=[16, 16], output_size=5, use_batchnorm=True
)
optimizer = Adam(lr=0.01)
for i in range(20):
    optimizer.update(network.params, network.gradient(x, t))

path = os.path.join(folder, "params.pkl")
network.save_params(path)
with open(path, "rb") as f:
    assert f.read(2) == b"PK"  # a zip (.npz), not a pickle
print("saved " + os.path.basename(path))

other = MultiLayerNetExtend(
    input_size=20, hidden_size_list=[16, 16], output_size=5, use_batchnorm=True
)
assert other.loss(x, t) != network.loss(x, t)
other.load_params(path)
assert other.loss(x, t) == network.loss(x, t)
assert other.accuracy(x, t) == network.accuracy(x, t)
print("loaded: loss " + str(other.loss(x, t)) + ", accuracy " + str(other.accuracy(x, t)))

book_file = os.path.join(folder, "book_params.pkl")
with open(book_file, "wb") as f:
    pickle.dump({"W1": np.zeros((20, 16))}, f)
try:
    other.load_params(book_file)
except ValueError as e:
    print("refused: " + str(e))
else:
    raise AssertionError("a pickle file was loaded")
assert other.loss(x, t) == network.loss(x, t)  # unchanged
