# coding: utf-8
# Overfitting 300 samples, with weight decay λ = 0.1 (figures 6-20, 6-21), by hand.
# Optional argument: a PNG path.
import os
import sys

sys.path.append(os.pardir)
import numpy as np
import matplotlib.pyplot as plt
from dataset.mnist import load_mnist
from common.multi_layer_net import MultiLayerNet
from common.optimizer import SGD

np.random.seed(0)
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)
x_train = x_train[:300]
t_train = t_train[:300]
x_test = x_test[:1000]
t_test = t_test[:1000]

weight_decay_lambda = 0.1
network = MultiLayerNet(
    input_size=784,
    hidden_size_list=[100, 100, 100],
    output_size=10,
    weight_decay_lambda=weight_decay_lambda,
)
optimizer = SGD(lr=0.05)

max_epochs = 11
train_size = x_train.shape[0]
batch_size = 100
train_acc_list = []
test_acc_list = []
iter_per_epoch = max(train_size / batch_size, 1)
epoch_cnt = 0
loss_before = network.loss(x_train, t_train)
for i in range(1000000000):
    batch_mask = np.random.choice(train_size, batch_size)
    grads = network.gradient(x_train[batch_mask], t_train[batch_mask])
    optimizer.update(network.params, grads)
    if i % iter_per_epoch == 0:
        train_acc = network.accuracy(x_train, t_train)
        test_acc = network.accuracy(x_test, t_test)
        train_acc_list.append(train_acc)
        test_acc_list.append(test_acc)
        print(
            "epoch:"
            + str(epoch_cnt)
            + ", train acc:"
            + str(train_acc)
            + ", test acc:"
            + str(test_acc)
        )
        epoch_cnt += 1
        if epoch_cnt >= max_epochs:
            break

loss_after = network.loss(x_train, t_train)
print("loss (with weight decay): " + str(loss_before) + " -> " + str(loss_after))
assert type(loss_after) is float and loss_after < loss_before
assert train_acc_list[-1] > train_acc_list[0]

x = np.arange(max_epochs)
plt.plot(x, train_acc_list, marker="o", label="train", markevery=10)
plt.plot(x, test_acc_list, marker="s", label="test", markevery=10)
plt.xlabel("epochs")
plt.ylabel("accuracy")
plt.ylim(0, 1.0)
plt.legend(loc="lower right")
if len(sys.argv) > 1:
    plt.savefig(sys.argv[1])
plt.show()
