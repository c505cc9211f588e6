# coding: utf-8
# Overfitting 300 samples, with Dropout 0.2, trained by the Trainer (figures 6-22, 6-23).
# Optional argument: a PNG path.
import os
import sys

sys.path.append(os.pardir)
import numpy as np
import matplotlib.pyplot as plt
from dataset.mnist import load_mnist
from common.multi_layer_net_extend import MultiLayerNetExtend
from common.trainer import Trainer

np.random.seed(0)
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)
x_train = x_train[:300]
t_train = t_train[:300]
x_test = x_test[:1000]
t_test = t_test[:1000]

use_dropout = True
dropout_ratio = 0.2
network = MultiLayerNetExtend(
    input_size=784,
    hidden_size_list=[100, 100, 100],
    output_size=10,
    use_dropout=use_dropout,
    dropout_ration=dropout_ratio,
)
trainer = Trainer(
    network,
    x_train,
    t_train,
    x_test,
    t_test,
    epochs=5,
    mini_batch_size=100,
    optimizer="sgd",
    optimizer_param={"lr": 0.1},
    verbose=True,
)
trainer.train()
train_acc_list, test_acc_list = trainer.train_acc_list, trainer.test_acc_list

assert len(train_acc_list) == len(test_acc_list) == 5
assert len(trainer.train_loss_list) == 15 and all(type(v) is float for v in trainer.train_loss_list)
assert train_acc_list[-1] > train_acc_list[0], train_acc_list

x = np.arange(len(train_acc_list))
plt.plot(x, train_acc_list, marker="o", label="train", markevery=10)
plt.plot(x, test_acc_list, marker="s", label="test", markevery=10)
plt.xlabel("epochs")
plt.ylabel("accuracy")
plt.ylim(0, 1.0)
plt.legend(loc="lower right")
if len(sys.argv) > 1:
    plt.savefig(sys.argv[1])
plt.show()
