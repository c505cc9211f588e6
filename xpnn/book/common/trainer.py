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
``accuracy(x, t)``). ``verbose=True`` prints the book's lines::

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

from xpnn.backends import backend_of, get_backend
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


class BookStyleNetwork:
    """Lets xpnn's Trainer drive a network written in the book's style: one with
    ``params`` (a dict of arrays its layers compute with), ``gradient(x, t)``,
    ``loss(x, t)`` and ``accuracy(x, t)``. Other attributes are the network's own."""

    def __init__(self, network: Any) -> None:
        self.network = network
        self.params = network.params
        first = next(iter(self.params.values()), None)
        self.backend = get_backend("numpy") if first is None else backend_of(first)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.network, name)

    def check_input(self, x: Any, name: str = "x") -> Any:
        if self.backend.needs_transfer(x):
            x = self.backend.asarray(x)
        if x.ndim < 1:
            raise ValueError(f"{name} must have a sample axis, got shape {tuple(x.shape)}")
        return x

    def check_labels(self, t: Any, n: int, name: str = "t") -> Any:
        t = self.check_input(t, name)
        if int(t.shape[0]) != n:
            raise ValueError(f"{name} has {int(t.shape[0])} labels for {n} samples")
        return t

    def loss_and_gradient(self, x: Any, t: Any, *, checked: bool = False) -> tuple[Any, Any]:
        loss = self.network.loss(x, t)
        return loss, self.network.gradient(x, t)

    def accuracy(self, x: Any, t: Any) -> float:
        return float(self.network.accuracy(x, t))


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
        if not hasattr(network, "loss_and_gradient"):
            network = BookStyleNetwork(network)
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
            verbose=False,
            seed=seed_from_numpy(seed),
            eval_batch_size=eval_batch_size,
            on_epoch_end=self._print_epoch,
        )
        self.book_verbose = bool(verbose)

    def _print_epoch(self, trainer: _Trainer) -> None:
        if self.book_verbose:
            print(
                f"=== epoch:{self.current_epoch}, train acc:{self.train_acc_list[-1]}, "
                f"test acc:{self.test_acc_list[-1]} ===",
                flush=True,
            )

    def train(self) -> dict[str, list[float]]:
        """Train the remaining epochs, printing the book's line after each (when verbose)
        and the final test accuracy on the whole test set; return the history."""
        super().train()
        if self.book_verbose:
            print("=============== Final Test Accuracy ===============")
            print(f"test acc:{self._test_accuracy()}", flush=True)
        return self.history

    def _test_accuracy(self) -> float:
        n, step = int(self.x_test.shape[0]), self.eval_batch_size
        correct = 0.0
        for i in range(0, n, step):
            j = min(i + step, n)
            correct += self.network.accuracy(self.x_test[i:j, ...], self.t_test[i:j, ...]) * (j - i)
        return correct / n
