# coding: utf-8
# Training with and without Batch Normalization from two weight scales (figures 6-18,
# 6-19), by hand with SGD, on a slice of MNIST. Optional argument: a PNG path.
import sys, os

sys.path.append(os.pardir)
import numpy as np
import matplotlib.pyplot as plt
from dataset.mnist import load_mnist
from common.multi_layer_net_extend import MultiLayerNetExtend
from common.optimizer import SGD, Adam

np.random.seed(0)
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)
x_train = x_train[:500]
t_train = t_train[:500]

max_epochs = 7
train_size = x_train.shape[0]
batch_size = 100
learning_rate = 0.05  # the book's 0.01 needs more than these 30 steps


def __train(weight_init_std):
    bn_network = MultiLayerNetExtend(
        input_size=784,
        hidden_size_list=[50, 50, 50],
        output_size=10,
        weight_init_std=weight_init_std,
        use_batchnorm=True,
    )
    network = MultiLayerNetExtend(
        input_size=784,
        hidden_size_list=[50, 50, 50],
        output_size=10,
        weight_init_std=weight_init_std,
    )
    optimizer = SGD(lr=learning_rate)
    train_acc_list = []
    bn_train_acc_list = []
    iter_per_epoch = max(train_size / batch_size, 1)
    epoch_cnt = 0
    for i in range(1000000000):
        batch_mask = np.random.choice(train_size, batch_size)
        x_batch = x_train[batch_mask]
        t_batch = t_train[batch_mask]
        for _network in (bn_network, network):
            grads = _network.gradient(x_batch, t_batch)
            optimizer.update(_network.params, grads)
        if i % iter_per_epoch == 0:
            train_acc = network.accuracy(x_train, t_train)
            bn_train_acc = bn_network.accuracy(x_train, t_train)
            train_acc_list.append(train_acc)
            bn_train_acc_list.append(bn_train_acc)
            print("epoch:" + str(epoch_cnt) + " | " + str(train_acc) + " - " + str(bn_train_acc))
            epoch_cnt += 1
            if epoch_cnt >= max_epochs:
                break
    return train_acc_list, bn_train_acc_list


weight_scale_list = [1.0, 0.01]
x = np.arange(max_epochs)
final = {}
for i, w in enumerate(weight_scale_list):
    print("============== " + str(i + 1) + "/" + str(len(weight_scale_list)) + " ==============")
    train_acc_list, bn_train_acc_list = __train(w)
    final[w] = (train_acc_list[-1], bn_train_acc_list[-1])
    plt.subplot(1, 2, i + 1)
    plt.title("W:" + str(w))
    plt.plot(x, bn_train_acc_list, label="Batch Normalization", markevery=2)
    plt.plot(x, train_acc_list, linestyle="--", label="Normal(without BatchNorm)", markevery=2)
    plt.ylim(0, 1.0)
    plt.legend(loc="lower right")

# from a small scale, the plain network has not started to learn; batch norm has
assert final[0.01][1] > final[0.01][0] + 0.2, final
if len(sys.argv) > 1:
    plt.savefig(sys.argv[1])
plt.show()
