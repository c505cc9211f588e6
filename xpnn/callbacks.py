"""Callbacks: what the Trainer does besides stepping, each in its own small class.

The :class:`~xpnn.training.Trainer` runs the loop (epochs of steps over a seeded
permutation) and calls each callback's hooks at fixed points, in the order of its
``callbacks`` list (Keras's ``Callback`` is the anchor)::

    on_train_begin(trainer)
      on_epoch_begin(trainer, epoch)                 epoch: 0-based
        on_step_begin(trainer, step)                 step: the global 0-based step index
        on_losses_read(trainer, first_step, values)  losses read to the host (see below)
        on_step_end(trainer, step)                   trainer.current_iter == step + 1
      on_epoch_end(trainer, epoch)                   trainer.current_epoch == epoch + 1
    on_train_end(trainer)
    on_interrupt(trainer)                            Ctrl-C, at a step boundary

The losses of steps are read to the host on the CPU as each step computes them (before its
update), and on a GPU only when something asks (``trainer.epoch_losses.read()``: the
progress bar at its refresh rate, a checkpoint, the epoch's end), so that no step waits for
the device; ``on_losses_read`` sees each value once, in order, before it enters the history.

The Trainer builds these from its keywords, in this order, then appends the user's
``callbacks=[...]`` before the last two:

==========================  ==============================================================
:class:`LearningRateScheduler`  ``lr_schedule=``, ``schedule_by=``
:class:`DivergenceGuard`        always: a non-finite loss raises :class:`DivergenceError`
:class:`Evaluation`             always: accuracies and time at each epoch's end
:class:`LambdaCallback`         ``on_epoch_end=``
(``callbacks=[...]``)           yours: they see the epoch evaluated, and are checkpointed
:class:`~xpnn.progress.ProgressLogger`  ``verbose=True``
:class:`ModelCheckpoint`        ``checkpoint_dir=``, ``checkpoint_every=``, ``checkpoint_steps=``
==========================  ==============================================================

Nothing here prints (:mod:`xpnn.progress` does). A hook reads what it needs from the
trainer's public attributes (``current_epoch``, ``current_iter``, ``epoch_step``,
``iter_per_epoch``, ``optimizer``, ``network``, the history lists, ...).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .training_state import CHECKPOINT_FILE

__all__ = [
    "HOOKS",
    "Callback",
    "CallbackList",
    "DivergenceError",
    "DivergenceGuard",
    "Evaluation",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "batched_accuracy",
]

#: The hooks, in the order a run first calls them.
HOOKS = (
    "on_train_begin",
    "on_epoch_begin",
    "on_step_begin",
    "on_losses_read",
    "on_step_end",
    "on_epoch_end",
    "on_train_end",
    "on_interrupt",
)


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss (the learning rate is usually too large)."""


class Callback:
    """The base of callbacks: every hook does nothing; override those you need. ``trainer``
    is the :class:`~xpnn.training.Trainer` calling."""

    def on_train_begin(self, trainer: Any) -> None:
        """Before the first step of :meth:`~xpnn.training.Trainer.train`."""

    def on_epoch_begin(self, trainer: Any, epoch: int) -> None:
        """Before the epoch's first step (or its next one, resuming in its middle)."""

    def on_step_begin(self, trainer: Any, step: int) -> None:
        """Before global step ``step`` (0-based) gathers its batch."""

    def on_losses_read(self, trainer: Any, first_step: int, values: Sequence[float]) -> None:
        """``values``: the losses of steps ``first_step, first_step + 1, ...``, as just read
        to the host. On the CPU one at a time, before that step's update."""

    def on_step_end(self, trainer: Any, step: int) -> None:
        """After step ``step``'s update (``trainer.current_iter == step + 1``)."""

    def on_epoch_end(self, trainer: Any, epoch: int) -> None:
        """After the epoch's last step, its losses in ``train_loss_list``
        (``trainer.current_epoch == epoch + 1``)."""

    def on_train_end(self, trainer: Any) -> None:
        """After the last epoch."""

    def on_interrupt(self, trainer: Any) -> None:
        """Ctrl-C stopped training at a step boundary (the state is consistent);
        ``KeyboardInterrupt`` propagates after the hooks."""


class CallbackList:
    """Calls one hook on each callback, in order, skipping those that do not override it
    (so a step costs only the hooks that do something)."""

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        self._by_hook: dict[str, list[Callable[..., Any]]] = {hook: [] for hook in HOOKS}
        self.update(callbacks)

    def update(self, callbacks: Iterable[Callback]) -> None:
        """Dispatch to ``callbacks`` from now on (the lists :meth:`hooks` returned are
        updated in place)."""
        callbacks = list(callbacks)
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"callbacks must be xpnn.callbacks.Callback instances, got "
                    f"{type(cb).__name__}; subclass Callback and override its hooks"
                )
        for hook, methods in self._by_hook.items():
            methods[:] = [getattr(cb, hook) for cb in callbacks if _overrides(cb, hook)]

    def call(self, hook: str, trainer: Any, *args: Any) -> None:
        for method in self._by_hook[hook]:
            method(trainer, *args)

    def hooks(self, hook: str) -> list[Callable[..., Any]]:
        """The callbacks' methods that do something at ``hook``, in order: a list that a
        loop may keep and call itself (saving a lookup per step)."""
        return self._by_hook[hook]


def _overrides(cb: Callback, hook: str) -> bool:
    method = getattr(cb, hook)
    return getattr(method, "__func__", method) is not getattr(Callback, hook)


class LambdaCallback(Callback):
    """Hooks given as functions: ``LambdaCallback(on_epoch_end=lambda trainer, epoch: ...)``
    (each takes the hook's arguments; hooks not given do nothing)."""

    def __init__(self, **hooks: Callable[..., Any]) -> None:
        for name, fn in hooks.items():
            if name not in HOOKS:
                raise TypeError(f"LambdaCallback has no hook {name!r}; the hooks are {HOOKS}")
            if not callable(fn):
                raise TypeError(f"LambdaCallback's {name} must be a callable, got {fn!r}")
            setattr(self, name, fn)


class LearningRateScheduler(Callback):
    """Set ``optimizer.lr = schedule(i)`` before each epoch (``by='epoch'``, ``i`` the epoch
    index) or each step (``by='step'``, ``i`` the global step index)."""

    def __init__(self, schedule: Callable[[int], float], by: str = "epoch") -> None:
        if by not in ("epoch", "step"):
            raise ValueError(f"schedule_by must be 'epoch' or 'step', got {by!r}")
        if not callable(schedule):
            raise TypeError("lr_schedule must be a callable: epoch (or step) index -> lr")
        self.schedule, self.by = schedule, by

    def on_epoch_begin(self, trainer: Any, epoch: int) -> None:
        if self.by == "epoch":
            trainer.optimizer.lr = float(self.schedule(epoch))

    def on_step_begin(self, trainer: Any, step: int) -> None:
        if self.by == "step":
            trainer.optimizer.lr = float(self.schedule(step))


class DivergenceGuard(Callback):
    """Keras's ``TerminateOnNaN``, before the update: the first non-finite loss read raises
    :class:`DivergenceError` naming its step. On the CPU that is the step just computed,
    whose update is never applied; on a GPU the step it names is still the first bad one,
    found at the next read (by the end of its epoch)."""

    def on_losses_read(self, trainer: Any, first_step: int, values: Sequence[float]) -> None:
        for i, value in enumerate(values):
            if not math.isfinite(value):
                step = first_step + i
                raise DivergenceError(
                    f"training diverged: the loss is {value} at step {step} "
                    f"(epoch {step // trainer.iter_per_epoch + 1}) with "
                    f"lr={trainer.optimizer.lr:g}; try a smaller learning rate (or batch "
                    "normalisation, or gradient-friendly init)"
                )


def batched_accuracy(
    network: Any, x: Any, t: Any, batch_size: int, limit: int | None = None
) -> float:
    """``network.accuracy`` on the first ``limit`` samples (all when ``None``), taken
    ``batch_size`` at a time (bounding memory): the count right over the count, whatever the
    batch size (each batch's fraction times its size is rounded back to its count)."""
    total = int(x.shape[0]) if limit is None else min(limit, int(x.shape[0]))
    correct = 0
    for i in range(0, total, batch_size):
        j = min(i + batch_size, total)
        correct += round(float(network.accuracy(x[i:j, ...], t[i:j, ...])) * (j - i))
    return correct / total


class Evaluation(Callback):
    """At each epoch's end: the accuracy on the first ``limit`` training and test samples
    (all when ``None``), appended to ``train_acc_list`` and ``test_acc_list``, and the
    epoch's seconds (its steps and this evaluation) to ``epoch_time_list``."""

    def __init__(self, limit: int | None = None, batch_size: int = 10_000) -> None:
        self.limit, self.batch_size = limit, batch_size

    def on_epoch_end(self, trainer: Any, epoch: int) -> None:
        net, n, bs = trainer.network, self.limit, self.batch_size
        trainer.train_acc_list.append(
            batched_accuracy(net, trainer.x_train, trainer.t_train, bs, n)
        )
        trainer.test_acc_list.append(batched_accuracy(net, trainer.x_test, trainer.t_test, bs, n))
        trainer.epoch_time_list.append(trainer.epoch_seconds())


class ModelCheckpoint(Callback):
    """Save the trainer's state to ``directory/checkpoint.npz`` (atomically, replacing the
    previous one): at the end of every ``every_epochs``-th epoch and of the last; after every
    ``every_steps``-th step (global count; at an epoch's last step, at that epoch's end,
    after its evaluation); and on Ctrl-C. So a run killed at any moment loses at most
    ``every_steps`` steps. Between saves nothing is read from the device."""

    def __init__(
        self, directory: str | os.PathLike, every_epochs: int = 1, every_steps: int | None = None
    ) -> None:
        self.directory = os.fspath(directory)
        self.path = os.path.join(self.directory, CHECKPOINT_FILE)
        self.every_epochs, self.every_steps = every_epochs, every_steps
        self._saved: tuple[int, int] | None = None  # (epoch, step) of the last save

    def _save(self, trainer: Any) -> None:
        trainer.save_checkpoint(self.path)
        self._saved = (trainer.current_epoch, trainer.current_iter)

    def _step_due(self, trainer: Any) -> bool:
        return self.every_steps is not None and trainer.current_iter % self.every_steps == 0

    def on_step_end(self, trainer: Any, step: int) -> None:
        if self._step_due(trainer) and trainer.epoch_step < trainer.iter_per_epoch:
            self._save(trainer)

    def on_epoch_end(self, trainer: Any, epoch: int) -> None:
        done = trainer.current_epoch
        if done % self.every_epochs == 0 or done == trainer.epochs or self._step_due(trainer):
            self._save(trainer)

    def on_interrupt(self, trainer: Any) -> None:
        if self._saved != (trainer.current_epoch, trainer.current_iter):
            self._save(trainer)
