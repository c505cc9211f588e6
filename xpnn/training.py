"""Trainer: the book's training loop, with the data on the device, real epochs and callbacks.

Compatible with the book's ``common/trainer.py``::

    trainer = Trainer(network, x_train, t_train, x_test, t_test, epochs=20,
                      mini_batch_size=100, optimizer='SGD', optimizer_param={'lr': 0.01},
                      evaluate_sample_num_per_epoch=None, verbose=True)
    trainer.train()
    trainer.train_loss_list, trainer.train_acc_list, trainer.test_acc_list

The Trainer is the loop: epochs of steps over a seeded permutation. Everything else it does
(evaluation, progress output, the learning-rate schedule, the divergence guard,
checkpoints) is a callback (:mod:`xpnn.callbacks`), built from its keywords; more can be
passed as ``callbacks=[...]``. What it needs of a network is declared in
:mod:`xpnn.trainable`: a network written the book's way trains as it is.

Differences from the book, each deliberate:

- The training data is moved to the network's device once (integer labels also as one-hot
  rows, so that no step builds them). Each epoch walks a seeded permutation of it in
  mini-batches (real epochs: every sample once per epoch; the book samples every batch with
  replacement). A final partial batch is kept.
- The loss recorded for a step is the loss of the forward pass that produced the gradient
  (before the update), as PyTorch reports it; the book runs one more forward pass after the
  update for it, which costs a third of the step.
- On a GPU, losses stay on the device during an epoch and are read at the end of it, at
  the progress bar's bounded refresh rate, or when a checkpoint is written; there is no
  host synchronisation per step.
- A non-finite loss stops training with :class:`DivergenceError` naming the step. On the CPU
  it is checked every step, before its update; on a GPU whenever losses are read (the step
  it names is still the first non-finite one).
- Checkpoints (``checkpoint_dir``) can be written every ``checkpoint_steps`` steps as well
  as every ``checkpoint_every`` epochs, and on Ctrl-C: a run killed at any moment resumes
  (``resume=True``) from the latest and ends bitwise as if it had never stopped.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from ._validate import positive_int
from .callbacks import (
    Callback,
    CallbackList,
    DivergenceError,
    DivergenceGuard,
    Evaluation,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
)
from .checkpoint import save_checkpoint
from .interrupts import DeferredInterrupt
from .optimizers import Optimizer, get_optimizer
from .progress import ProgressLogger
from .random import spawn_seeds
from .trainable import is_trainable, network_backend
from .training_data import device_split, epoch_batches, step_targets
from .training_state import read_trainer_checkpoint, resume_path, trainer_state

__all__ = ["DivergenceError", "EpochLosses", "Trainer"]


def _optimizer(optimizer: str | Optimizer, optimizer_param: dict[str, Any] | None) -> Any:
    if isinstance(optimizer, str):
        return get_optimizer(optimizer, **(optimizer_param or {}))
    if optimizer_param:
        raise ValueError("optimizer_param is only used with an optimizer name")
    return optimizer  # an Optimizer, or anything with its update() and state


class EpochLosses:
    """One epoch's losses: read at once on the CPU; on a device, kept there until
    :meth:`read`, which moves all pending ones to the host in one transfer. Each value read
    goes to the ``on_losses_read`` hooks (``hooks(trainer, first_step, values)``: the
    divergence guard) before it is kept."""

    def __init__(self, trainer: Any, first_step: int, values: Iterable[float] = ()) -> None:
        self._trainer, self._backend = trainer, trainer.backend
        self._on_cpu, self.first_step = trainer.backend.is_cpu, first_step
        self._hooks = trainer._calls.hooks("on_losses_read")  # kept up to date in place
        self.values: list[float] = list(values)  # read and checked
        self._pending: list[Any] = []  # 0-d device arrays, not read yet

    def __len__(self) -> int:
        return len(self.values) + len(self._pending)

    def add(self, loss: Any) -> None:
        if self._on_cpu:
            value = float(loss)
            for hook in self._hooks:
                hook(self._trainer, self.first_step + len(self.values), (value,))
            self.values.append(value)
        else:
            self._pending.append(loss)

    def read(self) -> float:
        """Read the pending losses (one transfer); return the latest (NaN if none yet)."""
        if self._pending:
            host = self._backend.to_numpy(self._backend.xp.stack(self._pending))
            values = [float(v) for v in host]
            for hook in self._hooks:
                hook(self._trainer, self.first_step + len(self.values), values)
            self.values.extend(values)
            self._pending.clear()
        return self.values[-1] if self.values else math.nan


class Trainer:
    """Train ``network`` with ``optimizer`` on ``(x_train, t_train)``, evaluating each epoch.

    Ctrl-C stops :meth:`train` at the next step boundary, saving a checkpoint there when
    ``checkpoint_dir`` is set, and raises ``KeyboardInterrupt``; ``train()`` continues.

    Parameters
    ----------
    network:
        A :class:`~xpnn.trainable.TrainableNetwork` (any of xpnn's networks) or a
        :class:`~xpnn.trainable.BookStyleNetwork` (``params``, ``gradient``, ``loss``,
        ``accuracy``: trained as it is, without checkpoints).
    x_train, t_train, x_test, t_test:
        Host NumPy arrays or arrays of the network's backend: images ``(N, ...)`` float,
        labels ``(N,)`` integers or ``(N, K)`` one-hot. Moved to the network's device once.
    epochs, mini_batch_size:
        Positive integers.
    optimizer, optimizer_param:
        An :class:`~xpnn.optimizers.Optimizer`, or a name (``'SGD'``, ``'Adam'``, ...,
        case-insensitive) built with ``optimizer_param``.
    evaluate_sample_num_per_epoch:
        Evaluate accuracies on the first this-many samples of each set (all when ``None``).
    verbose:
        Progress (:class:`~xpnn.progress.ProgressLogger`: a line per epoch, and a bar on a
        terminal) when true; silent when false.
    seed:
        Seeds the shuffling (independently of the network's own seed).
    lr_schedule, schedule_by:
        ``lr_schedule(i) -> lr``, called with the epoch index (``schedule_by='epoch'``,
        before each epoch) or the global step index (``'step'``, before each step).
    checkpoint_dir, checkpoint_every, checkpoint_steps:
        Save the state to ``checkpoint_dir/checkpoint.npz`` (atomically: a crash leaves the
        previous one intact) after every ``checkpoint_every``-th epoch and the last, after
        every ``checkpoint_steps``-th step if given, and on Ctrl-C
        (:class:`~xpnn.callbacks.ModelCheckpoint`).
    resume:
        A checkpoint file or a folder holding ``checkpoint.npz`` (``True``: the one in
        ``checkpoint_dir``) to continue from, in the middle of an epoch if it was saved there.
    eval_batch_size:
        Batch size for evaluation passes (bounds memory; does not change results).
    refresh_interval:
        Seconds between progress-bar refreshes (each reads the pending losses from a GPU).
    on_epoch_end:
        ``on_epoch_end(trainer)``, called after each epoch's evaluation (the history and
        ``current_epoch`` are up to date) and before its checkpoint.
    file:
        Where the progress lines go (default ``sys.stdout``; the bar goes to stderr).
    callbacks:
        More :class:`~xpnn.callbacks.Callback` objects, called after ``on_epoch_end`` and
        before progress and checkpoints (the order is in :mod:`xpnn.callbacks`).
    """

    current_epoch: int  #: epochs done
    current_iter: int  #: steps done, over all epochs
    epoch_step: int  #: steps done in the epoch in progress (0 between epochs)
    train_loss_list: list[float]  #: the loss of every step of the epochs done
    train_acc_list: list[float]  #: per epoch done
    test_acc_list: list[float]  #: per epoch done
    epoch_time_list: list[float]  #: seconds per epoch done (its steps and evaluation)
    epoch_losses: EpochLosses  #: the losses of the epoch in progress (or the last one)
    _elapsed: float  # seconds of the epoch in progress before the clock last started
    _clock: float | None  # when the clock last started, if it runs

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
        lr_schedule: Callable[[int], float] | None = None,
        schedule_by: str = "epoch",
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int = 1,
        checkpoint_steps: int | None = None,
        resume: str | os.PathLike | bool | None = None,
        eval_batch_size: int = 10_000,
        refresh_interval: float = 0.5,
        on_epoch_end: Callable[[Trainer], None] | None = None,
        file: Any = None,
        callbacks: Iterable[Callback] = (),
    ) -> None:
        self.network: Any = network
        self.trainable = is_trainable(network)  # else book-style (raises if neither)
        self.backend = network_backend(network)
        self.epochs = positive_int("epochs", epochs)
        self.batch_size = positive_int("mini_batch_size", mini_batch_size)
        self.eval_batch_size = positive_int("eval_batch_size", eval_batch_size)
        if evaluate_sample_num_per_epoch is not None:
            positive_int("evaluate_sample_num_per_epoch", evaluate_sample_num_per_epoch)
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch
        self.verbose = bool(verbose)
        self.file = sys.stdout if file is None else file
        self.checkpoint_dir = None if checkpoint_dir is None else os.fspath(checkpoint_dir)
        self.callbacks: list[Callback] = keyword_callbacks(
            self, lr_schedule=lr_schedule, schedule_by=schedule_by, on_epoch_end=on_epoch_end,
            callbacks=callbacks, refresh_interval=refresh_interval,
            checkpoint_every=checkpoint_every, checkpoint_steps=checkpoint_steps,
        )  # fmt: skip
        self.optimizer = _optimizer(optimizer, optimizer_param)
        with self.backend.activate():
            data = (network, self.trainable, self.backend)
            self.x_train, self.t_train = device_split(*data, "train", x_train, t_train)
            self.x_test, self.t_test = device_split(*data, "test", x_test, t_test)
            self._t_steps = step_targets(*data, self.t_train)
        self.train_size = int(self.x_train.shape[0])
        self.iter_per_epoch = math.ceil(self.train_size / self.batch_size)
        self.max_iter = self.epochs * self.iter_per_epoch
        self._seed = spawn_seeds(seed, 1)[0]
        self._calls = CallbackList()
        self._start(0, 0, 0, ([], [], [], []), [], 0.0)
        if resume:
            self.load_checkpoint(resume_path(resume, self.checkpoint_dir))

    def _epoch_batches(self, epoch: int) -> list[Any]:
        """Index arrays of the epoch's mini-batches (:func:`.training_data.epoch_batches`)."""
        return epoch_batches(self.backend, self._seed, epoch, self.train_size, self.batch_size)

    # -- training ------------------------------------------------------------------------
    def train(self) -> dict[str, list[float]]:
        """Run the remaining epochs (from the middle of one, when resumed or interrupted
        there); return the history (also kept on the trainer)."""
        self._calls.update(self.callbacks)  # as the list is now
        with self.backend.activate(), DeferredInterrupt() as interrupt:  # CuPy: the device
            self._calls.call("on_train_begin", self)
            while self.current_epoch < self.epochs:
                self._run_epoch(interrupt)
            self._calls.call("on_train_end", self)
        return self.history

    def _run_epoch(self, interrupt: DeferredInterrupt) -> None:
        epoch, calls = self.current_epoch, self._calls
        self._clock = time.perf_counter()
        batches = self._epoch_batches(epoch)
        if self.epoch_step == 0:
            if self.trainable:
                self.network.reseed_dropout(epoch)  # masks from (seed, epoch): no replay
            self.epoch_losses = EpochLosses(self, self.current_iter)
            self._elapsed = 0.0
        calls.call("on_epoch_begin", self, epoch)
        begin, end = calls.hooks("on_step_begin"), calls.hooks("on_step_end")
        for idx in batches[self.epoch_step :]:
            step = self.current_iter
            for hook in begin:
                hook(self, step)
            self._step(idx)
            self.current_iter, self.epoch_step = step + 1, self.epoch_step + 1
            for hook in end:
                hook(self, step)
            if interrupt.requested and self.epoch_step < len(batches):
                self._interrupted(interrupt)
        self.epoch_losses.read()
        self.train_loss_list.extend(self.epoch_losses.values)
        self.current_epoch, self.epoch_step = epoch + 1, 0
        calls.call("on_epoch_end", self, epoch)
        if interrupt.requested:
            self._interrupted(interrupt)

    def _step(self, idx: Any) -> None:
        """One step on the training samples at ``idx`` (indices on the device): gather the
        batch, forward and backward, record the loss (on the CPU, a non-finite one stops
        here, before the update), update. The data was checked once, in ``__init__``."""
        xp, net = self.backend.xp, self.network
        x_batch = xp.take(self.x_train, idx, axis=0)
        t_batch = xp.take(self._t_steps, idx, axis=0)
        if self.trainable:
            loss, grads = net.loss_and_gradient(x_batch, t_batch, checked=True)
        else:
            loss, grads = net.loss(x_batch, t_batch), net.gradient(x_batch, t_batch)
        self.epoch_losses.add(loss)  # on a GPU, kept there: no host synchronisation per step
        self.optimizer.update(net.params, grads)

    def _interrupted(self, interrupt: DeferredInterrupt) -> None:
        interrupt.check()  # seen: forget it
        self._elapsed, self._clock = self.epoch_seconds(), None
        self._calls.call("on_interrupt", self)
        raise KeyboardInterrupt

    def epoch_seconds(self) -> float:
        """Seconds spent in the current epoch so far (across a resume)."""
        running = 0.0 if self._clock is None else time.perf_counter() - self._clock
        return self._elapsed + running

    @property
    def history(self) -> dict[str, list[float]]:
        """``train_loss`` (per step of the epochs done), ``train_acc``, ``test_acc`` and
        ``epoch_time`` (per epoch)."""
        return {
            "train_loss": list(self.train_loss_list),
            "train_acc": list(self.train_acc_list),
            "test_acc": list(self.test_acc_list),
            "epoch_time": list(self.epoch_time_list),
        }

    # -- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: network (params, BN statistics, dropout
        generator), optimizer state, epoch, step (and the step within the epoch) and history
        (with the losses of the epoch in progress), as host arrays. In the middle of an
        epoch on a GPU this reads its pending losses."""
        if self.epoch_step:
            self.epoch_losses.read()
        return trainer_state(self)

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Write :meth:`state_dict` to ``path`` atomically (see :mod:`xpnn.checkpoint`)."""
        save_checkpoint(path, self.state_dict())

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Restore a checkpoint written by :meth:`save_checkpoint` (any backend), at an
        epoch's end or in the middle of one.

        Everything is read and checked before anything is changed: a checkpoint that cannot
        be used (damaged, from another optimizer or network shape, past ``epochs``, saved in
        the middle of an epoch of other batches) raises ``ValueError`` naming the file and
        leaves this trainer, its network and its optimizer as they were.
        """
        source = os.fspath(path)
        saved = read_trainer_checkpoint(source, self)
        previous = self.optimizer.state_dict()
        try:  # each load is checked before it changes anything; undo the first if the second fails
            self.optimizer.load_state_dict(saved.optimizer)
            self.network.load_state_dict(saved.network)
        except BaseException as exc:
            self.optimizer.load_state_dict(previous)
            if isinstance(exc, TypeError | ValueError):
                raise ValueError(f"{source}: {exc}") from None
            raise
        self._seed = saved.seed
        self._start(saved.epoch, saved.step, saved.epoch_step, saved.lists, saved.partial,
                    saved.epoch_seconds)  # fmt: skip

    def _start(self, epoch: int, step: int, epoch_step: int, lists: tuple[list[float], ...],
               partial: list[float], seconds: float) -> None:  # fmt: skip
        """Set the position (epoch, global step, step within the epoch), the history and
        the epoch in progress's losses and seconds."""
        self.current_epoch, self.current_iter, self.epoch_step = epoch, step, epoch_step
        self.train_loss_list, self.train_acc_list, self.test_acc_list, self.epoch_time_list = lists
        self._calls.update(self.callbacks)
        self.epoch_losses = EpochLosses(self, step - epoch_step, partial)
        self._elapsed, self._clock = seconds, None


def keyword_callbacks(
    trainer: Trainer,
    *,
    lr_schedule: Callable[[int], float] | None,
    schedule_by: str,
    on_epoch_end: Callable[[Trainer], None] | None,
    callbacks: Iterable[Callback],
    refresh_interval: Any,
    checkpoint_every: Any,
    checkpoint_steps: Any,
) -> list[Callback]:
    """The callbacks a :class:`Trainer`'s keywords ask for, with ``callbacks`` among them,
    in the order of :mod:`xpnn.callbacks`; a bad keyword raises naming it."""
    if schedule_by not in ("epoch", "step"):
        raise ValueError(f"schedule_by must be 'epoch' or 'step', got {schedule_by!r}")
    if isinstance(refresh_interval, bool) or not isinstance(refresh_interval, int | float):
        raise TypeError(f"refresh_interval must be in seconds, got {refresh_interval!r}")
    if not refresh_interval >= 0.0:
        raise ValueError(f"refresh_interval must be ≥ 0 seconds, got {refresh_interval!r}")
    if on_epoch_end is not None and not callable(on_epoch_end):
        raise TypeError("on_epoch_end must be a callable: on_epoch_end(trainer)")
    every = positive_int("checkpoint_every", checkpoint_every)
    steps = None if checkpoint_steps is None else positive_int("checkpoint_steps", checkpoint_steps)
    if steps is not None and trainer.checkpoint_dir is None:
        raise ValueError("checkpoint_steps needs checkpoint_dir: where to save the checkpoints")
    if trainer.checkpoint_dir is not None and not trainer.trainable:
        raise TypeError(
            "checkpoint_dir needs a network with state_dict() and load_state_dict() "
            "(an xpnn.trainable.TrainableNetwork, such as xpnn's networks)"
        )
    out: list[Callback] = []
    if lr_schedule is not None:
        out.append(LearningRateScheduler(lr_schedule, schedule_by))
    out.append(DivergenceGuard())
    out.append(Evaluation(trainer.evaluate_sample_num_per_epoch, trainer.eval_batch_size))
    if on_epoch_end is not None:
        out.append(LambdaCallback(on_epoch_end=lambda trainer, epoch: on_epoch_end(trainer)))
    out += callbacks
    if trainer.verbose:
        out.append(ProgressLogger(trainer.file, float(refresh_interval)))
    if trainer.checkpoint_dir is not None:
        out.append(ModelCheckpoint(trainer.checkpoint_dir, every, steps))
    return out
