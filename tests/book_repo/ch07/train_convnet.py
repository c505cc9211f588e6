# coding: utf-8
# Training the chapter 7 network with common's Trainer and Adam (7.5), on a slice of MNIST
# kept as images (flatten=False), as the book's train_convnet.py does on all of it.
import sys, os

sys.path.append(os.pardir)
import numpy as np
from dataset.mnist import load_mnist
from simple_convnet import SimpleConvNet
from common.trainer import Trainer

np.random.seed(0)
(x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)
x_train, t_train = x_train[:1000], t_train[:1000]
x_test, t_test = x_test[:200], t_test[:200]

network = SimpleConvNet(
    input_dim=(1, 28, 28),
    conv_param={"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},
    hidden_size=100,
    output_size=10,
    weight_init_std=0.01,
)
trainer = Trainer(
    network,
    x_train,
    t_train,
    x_test,
    t_test,
    epochs=3,
    mini_batch_size=50,
    optimizer="Adam",
    optimizer_param={"lr": 0.001},
    evaluate_sample_num_per_epoch=200,
)
trainer.train()
assert x_train.shape[1:] == (1, 28, 28)
assert len(trainer.test_acc_list) == 3 and trainer.test_acc_list[-1] > 0.5, trainer.test_acc_list
