"""``common.trainer``: the book's ``Trainer``, served by :class:`xpnn.training.Trainer`.

::

    trainer = Trainer(network, x_train, t_train, x_test, t_test, epochs=20,
                      mini_batch_size=100, optimizer='SGD', optimizer_param={'lr': 0.01},
                      evaluate_sample_num_per_epoch=None, verbose=True)
    trainer.train()
    trainer.train_loss_list, trainer.train_acc_list, trainer.test_acc_list

``network`` is an xpnn network (``common.multi_layer_net``'s and
``common.multi_layer_net_extend``'s) or one written in the book's style, as the chapter 7
and 8 scripts define them (``params``, ``gradient(x, t)``, ``loss(x, t)``,
``accuracy(x, t)``: an :class:`xpnn.trainable.BookStyleNetwork`, trained as it is).
``verbose=True`` prints the book's lines (the :class:`BookEpochLines` callback)::

    === epoch:1, train acc:0.123, test acc:0.118 ===
    ...
    =============== Final Test Accuracy ===============
    test acc:0.8765

and not the book's ``train loss:...`` line per step (thousands of lines; the losses are all
in ``train_loss_list``). Where xpnn's Trainer differs from the book's, on purpose:

- each epoch walks a seeded permutation of the training set (every sample once: real
  epochs); the book draws every batch with replacement;
- accuracies are evaluated at the end of each epoch (the book's first evaluation follows the
  first step); there are as many as epochs either way;
- the loss recorded for a step is that of the batch before the update (the book's is taken
  after the update, at the cost of another forward pass);
- the data is moved to the network's device once, and a non-finite loss stops training
  with :class:`xpnn.DivergenceError`.

``seed=None`` draws the shuffling seed from NumPy's global generator, so ``np.random.seed``
makes a run repeatable. ``from common.trainer import *`` also gives ``sys``, ``os``, ``np``
and the optimizers, as the book's star import does.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from xpnn.callbacks import Callback, batched_accuracy
from xpnn.optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, Optimizer, RMSprop
from xpnn.training import Trainer as _Trainer

from .._network import seed_from_numpy

__all__ = [
    "SGD",
    "AdaGrad",
    "Adam",
    "Momentum",
    "Nesterov",
    "RMSprop",
    "Trainer",
    "np",
    "os",
    "sys",
]


class BookEpochLines(Callback):
    """The book's output: ``=== epoch:N, train acc:..., test acc:... ===`` after each epoch,
    and the accuracy on the whole test set after the last."""

    def on_epoch_end(self, trainer: Any, epoch: int) -> None:
        print(
            f"=== epoch:{trainer.current_epoch}, train acc:{trainer.train_acc_list[-1]}, "
            f"test acc:{trainer.test_acc_list[-1]} ===",
            flush=True,
        )

    def on_train_end(self, trainer: Any) -> None:
        accuracy = batched_accuracy(
            trainer.network, trainer.x_test, trainer.t_test, trainer.eval_batch_size
        )
        print("=============== Final Test Accuracy ===============")
        print(f"test acc:{accuracy}", flush=True)


class Trainer(_Trainer):
    """The book's ``Trainer`` (see the module docstring); ``optimizer_param`` defaults to
    the book's ``{'lr': 0.01}``. Keyword-only extras: ``seed`` (shuffling; ``None``: drawn
    from ``np.random``) and ``eval_batch_size``."""

    def __init__(
        self,
        network: Any,
        x_train: Any,
        t_train: Any,
        x_test: Any,
        t_test: Any,
        epochs: int = 20,
        mini_batch_size: int = 100,
        optimizer: str | Optimizer = "SGD",
        optimizer_param: dict[str, Any] | None = None,
        evaluate_sample_num_per_epoch: int | None = None,
        verbose: bool = True,
        *,
        seed: int | None = None,
        eval_batch_size: int = 10_000,
    ) -> None:
        if optimizer_param is None and isinstance(optimizer, str):
            optimizer_param = {"lr": 0.01}
        super().__init__(
            network,
            x_train,
            t_train,
            x_test,
            t_test,
            epochs=epochs,
            mini_batch_size=mini_batch_size,
            optimizer=optimizer,
            optimizer_param=optimizer_param,
            evaluate_sample_num_per_epoch=evaluate_sample_num_per_epoch,
            verbose=False,  # xpnn's progress output; the book's lines are BookEpochLines
            seed=seed_from_numpy(seed),
            eval_batch_size=eval_batch_size,
            callbacks=[BookEpochLines()] if verbose else [],
        )
        self.book_verbose = bool(verbose)
