"""Trainer: the book's training loop, with the data on the device, real epochs and checkpoints.

Compatible with the book's ``common/trainer.py``::

    trainer = Trainer(network, x_train, t_train, x_test, t_test, epochs=20,
                      mini_batch_size=100, optimizer='SGD', optimizer_param={'lr': 0.01},
                      evaluate_sample_num_per_epoch=None, verbose=True)
    trainer.train()
    trainer.train_loss_list, trainer.train_acc_list, trainer.test_acc_list

Differences from the book, each deliberate:

- The training data is moved to the network's device once (integer labels also as one-hot
  rows, so that no step builds them). Each epoch walks a seeded permutation of it in
  mini-batches (real epochs: every sample once per epoch; the book samples every batch with
  replacement). A final partial batch is kept.
- The loss recorded for a step is the loss of the forward pass that produced the gradient
  (before the update), as PyTorch reports it; the book runs one more forward pass after the
  update for it, which costs a third of the step.
- On a GPU, losses stay on the device during an epoch and are read at the end of it, or at
  the progress bar's bounded refresh rate; there is no host synchronisation per step.
- A non-finite loss stops training with :class:`DivergenceError` naming the step. On the CPU
  it is checked every step; on a GPU whenever losses are read (the step it names is still the
  first non-finite one).
- ``verbose=True`` shows a progress bar (tqdm) and one summary line per epoch;
  ``verbose=False`` prints nothing.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .architecture import architecture_json
from .checkpoint import load_checkpoint, save_checkpoint
from .optimizers import Optimizer, get_optimizer
from .random import spawn_seeds

__all__ = ["DivergenceError", "Trainer"]


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss (the learning rate is usually too large)."""


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class _EpochLosses:
    """One epoch's losses: read at once on the CPU; on a device, kept there until
    :meth:`read`, which moves all pending ones to the host in one transfer.

    Every value read is checked: the first non-finite one raises :class:`DivergenceError`
    naming its global step."""

    def __init__(self, trainer: Trainer, first_step: int) -> None:
        self._trainer = trainer
        self._backend = trainer.backend
        self._on_cpu = trainer.backend.is_cpu
        self._first = first_step
        self.values: list[float] = []  # read and checked
        self._pending: list[Any] = []  # 0-d device arrays, not read yet

    def __len__(self) -> int:
        return len(self.values) + len(self._pending)

    def add(self, loss: Any) -> None:
        if self._on_cpu:
            value = float(loss)
            if not math.isfinite(value):
                self._trainer._diverged(self._first + len(self.values), value)
            self.values.append(value)
        else:
            self._pending.append(loss)

    def read(self) -> float:
        """Read the pending losses (one transfer); return the latest (NaN if none yet)."""
        if self._pending:
            stacked = self._backend.xp.stack(self._pending)
            host = self._backend.to_numpy(stacked)
            bad = np.flatnonzero(~np.isfinite(host))
            if bad.size:
                step = self._first + len(self.values) + int(bad[0])
                self._trainer._diverged(step, float(host[bad[0]]))
            self.values.extend(float(v) for v in host)
            self._pending.clear()
        return self.values[-1] if self.values else math.nan


class Trainer:
    """Train ``network`` with ``optimizer`` on ``(x_train, t_train)``, evaluating each epoch.

    Parameters
    ----------
    network:
        A :class:`~xpnn.network.Network` such as :class:`~xpnn.mlp.MultiLayerNet` (or
        anything with its ``params``, ``loss_and_gradient(x, t, checked=...)``,
        ``accuracy``, ``check_input``, ``check_labels``, ``state_dict``,
        ``load_state_dict`` and ``backend``).
    x_train, t_train, x_test, t_test:
        Host NumPy arrays or arrays of the network's backend: images ``(N, D)`` float, labels
        ``(N,)`` integers or ``(N, K)`` one-hot. Moved to the network's device once.
    epochs, mini_batch_size:
        Positive integers.
    optimizer, optimizer_param:
        An :class:`~xpnn.optimizers.Optimizer`, or a name (``'SGD'``, ``'Adam'``, ...,
        case-insensitive) built with ``optimizer_param``.
    evaluate_sample_num_per_epoch:
        Evaluate accuracies on the first this-many samples of each set (all when ``None``).
    verbose:
        Progress bar and per-epoch summary lines when true; silent when false.
    seed:
        Seeds the shuffling (independently of the network's own seed).
    lr_schedule:
        ``lr_schedule(i) -> lr``, called with the epoch index (``schedule_by='epoch'``,
        before each epoch) or the global step index (``schedule_by='step'``, before each
        step).
    checkpoint_dir, checkpoint_every:
        Save a checkpoint to ``checkpoint_dir/checkpoint.npz`` every ``checkpoint_every``
        epochs (atomically: a crash leaves the previous one intact).
    resume:
        A checkpoint path (or ``True``: the one in ``checkpoint_dir``) to continue from.
    eval_batch_size:
        Batch size for evaluation passes (bounds memory; does not change results).
    refresh_interval:
        Seconds between progress-bar refreshes when verbose (each refresh reads the
        pending losses from a GPU: one transfer, not one per step).
    on_epoch_end:
        ``on_epoch_end(trainer)``, called after each epoch's evaluation (the history and
        ``current_epoch`` are up to date) and before its checkpoint.
    file:
        Where the summary lines go (default ``sys.stdout``; the bar goes to stderr).
    """

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
        resume: str | os.PathLike | bool | None = None,
        eval_batch_size: int = 10_000,
        refresh_interval: float = 0.5,
        on_epoch_end: Callable[[Trainer], None] | None = None,
        file: Any = None,
    ) -> None:
        self.network = network
        self.backend = network.backend
        self.epochs = _positive_int("epochs", epochs)
        self.batch_size = _positive_int("mini_batch_size", mini_batch_size)
        self.eval_batch_size = _positive_int("eval_batch_size", eval_batch_size)
        self.checkpoint_every = _positive_int("checkpoint_every", checkpoint_every)
        if evaluate_sample_num_per_epoch is not None:
            _positive_int("evaluate_sample_num_per_epoch", evaluate_sample_num_per_epoch)
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch
        self.verbose = bool(verbose)
        if isinstance(refresh_interval, bool) or not isinstance(refresh_interval, int | float):
            raise TypeError(f"refresh_interval must be in seconds, got {refresh_interval!r}")
        if not refresh_interval >= 0.0:
            raise ValueError(f"refresh_interval must be ≥ 0 seconds, got {refresh_interval!r}")
        self.refresh_interval = float(refresh_interval)
        self.file = sys.stdout if file is None else file
        if schedule_by not in ("epoch", "step"):
            raise ValueError(f"schedule_by must be 'epoch' or 'step', got {schedule_by!r}")
        if lr_schedule is not None and not callable(lr_schedule):
            raise TypeError("lr_schedule must be a callable: epoch (or step) index -> lr")
        self.lr_schedule, self.schedule_by = lr_schedule, schedule_by
        if on_epoch_end is not None and not callable(on_epoch_end):
            raise TypeError("on_epoch_end must be a callable: on_epoch_end(trainer)")
        self.on_epoch_end = on_epoch_end

        if isinstance(optimizer, str):
            self.optimizer = get_optimizer(optimizer, **(optimizer_param or {}))
        elif optimizer_param:
            raise ValueError("optimizer_param is only used with an optimizer name")
        else:
            self.optimizer = optimizer

        with self.backend.activate():
            self.x_train, self.t_train = self._to_device("train", x_train, t_train)
            self.x_test, self.t_test = self._to_device("test", x_test, t_test)
            self._t_steps = self._one_hot(self.t_train)
        self.train_size = int(self.x_train.shape[0])
        self.iter_per_epoch = math.ceil(self.train_size / self.batch_size)
        self.max_iter = self.epochs * self.iter_per_epoch
        self._seed = spawn_seeds(seed, 1)[0]

        self.checkpoint_dir = None if checkpoint_dir is None else os.fspath(checkpoint_dir)
        self.current_epoch = 0
        self.current_iter = 0
        self.train_loss_list: list[float] = []
        self.train_acc_list: list[float] = []
        self.test_acc_list: list[float] = []
        self.epoch_time_list: list[float] = []
        if resume:
            if resume is True:
                if self.checkpoint_dir is None:
                    raise ValueError("resume=True needs checkpoint_dir")
                resume = os.path.join(self.checkpoint_dir, "checkpoint.npz")
            self.load_checkpoint(resume)

    # -- data ----------------------------------------------------------------------------
    def _to_device(self, split: str, x: Any, t: Any) -> tuple[Any, Any]:
        net = self.network
        x = net.check_input(x, f"x_{split}")
        t = net.check_labels(t, int(x.shape[0]), f"t_{split}")
        if int(x.shape[0]) == 0:
            raise ValueError(f"x_{split} is empty: training and evaluation need samples")
        return x, t

    #: Integer labels are turned into one-hot rows once, on the device, when they take at
    #: most this many elements: each step then gathers its targets instead of building them
    #: (three array operations fewer per step).
    ONE_HOT_LIMIT = 1 << 25

    def _one_hot(self, t: Any) -> Any:
        """The training targets as steps take them: one-hot rows in the network's dtype
        (integer labels converted once, where small enough), else as given."""
        k = getattr(self.network, "output_size", None)  # a book-style network has none
        if k is None or t.ndim != 1 or int(t.shape[0]) * k > self.ONE_HOT_LIMIT:
            return t
        xp = self.backend.xp
        classes = xp.arange(k, dtype=t.dtype, device=self.backend.device)
        return xp.astype(t[:, None] == classes, self.network.dtype)

    def _epoch_batches(self, epoch: int):
        """Index arrays of this epoch's mini-batches (a seeded permutation, on the device).

        Each epoch's permutation comes from its own seed (the trainer seed and the epoch),
        so resuming at any epoch needs no saved generator state.
        """
        ss = np.random.SeedSequence(self._seed.entropy, spawn_key=(*self._seed.spawn_key, epoch))
        perm = self.backend.rng(ss).permutation(self.train_size)
        n, bs = self.train_size, self.batch_size
        return [perm[i : min(i + bs, n)] for i in range(0, n, bs)]

    # -- training ------------------------------------------------------------------------
    def train(self) -> dict[str, list[float]]:
        """Run the remaining epochs; return the history (also kept on the trainer)."""
        with self.backend.activate():  # CuPy allocates and launches on the current device
            return self._train()

    def _train(self) -> dict[str, list[float]]:
        bar = None
        if self.verbose:
            self._print(
                f"training on {self.backend.name} ({self.backend.device}), "
                f"{self.train_size} samples, {self.epochs} epochs x {self.iter_per_epoch} steps"
            )
        reseed = getattr(self.network, "reseed_dropout", None)
        for epoch in range(self.current_epoch, self.epochs):
            if self.lr_schedule is not None and self.schedule_by == "epoch":
                self.optimizer.lr = float(self.lr_schedule(epoch))
            start = time.perf_counter()
            batches = self._epoch_batches(epoch)
            if reseed is not None:
                reseed(epoch)  # dropout masks from (seed, epoch): a resume replays nothing
            if self.verbose:
                bar = self._progress_bar(epoch)
            losses = _EpochLosses(self, len(self.train_loss_list))
            last_refresh = start
            for idx in batches:
                if self.lr_schedule is not None and self.schedule_by == "step":
                    self.optimizer.lr = float(self.lr_schedule(self.current_iter))
                self._step(idx, losses)
                self.current_iter += 1
                if bar is not None:
                    now = time.perf_counter()
                    if now - last_refresh >= self.refresh_interval or len(losses) == len(batches):
                        last = losses.read()  # a device read, at a bounded rate
                        seen = min(len(losses) * self.batch_size, self.train_size)
                        bar.set_postfix(
                            loss=f"{last:.4f}", img_s=f"{seen / (now - start):,.0f}", refresh=False
                        )
                        last_refresh = now
                    bar.update(1)
            losses.read()
            self.train_loss_list.extend(losses.values)
            train_acc, test_acc = self._evaluate()
            self.train_acc_list.append(train_acc)
            self.test_acc_list.append(test_acc)
            seconds = time.perf_counter() - start
            self.epoch_time_list.append(seconds)
            self.current_epoch = epoch + 1
            if self.on_epoch_end is not None:
                self.on_epoch_end(self)
            if bar is not None:
                bar.close()
                mean_loss = sum(losses.values) / len(losses.values)
                self._print(
                    f"epoch {epoch + 1:>3}/{self.epochs}  loss {mean_loss:.4f}  "
                    f"train acc {train_acc:.4f}  test acc {test_acc:.4f}  "
                    f"{seconds:.1f} s  {self.train_size / seconds:,.0f} img/s"
                )
            if self.checkpoint_dir is not None and (
                self.current_epoch % self.checkpoint_every == 0 or self.current_epoch == self.epochs
            ):
                self.save_checkpoint(os.path.join(self.checkpoint_dir, "checkpoint.npz"))
        if self.verbose and self.test_acc_list:
            self._print(f"final test accuracy: {self.test_acc_list[-1]:.4f}")
        return self.history

    def _step(self, idx: Any, losses: _EpochLosses) -> None:
        """One step on the training samples at ``idx`` (indices on the device): gather the
        batch, forward and backward, record the loss (on the CPU, a non-finite one stops
        here, before the update), update. The data was checked once, in ``__init__``."""
        xp = self.backend.xp
        x_batch = xp.take(self.x_train, idx, axis=0)
        t_batch = xp.take(self._t_steps, idx, axis=0)
        loss, grads = self.network.loss_and_gradient(x_batch, t_batch, checked=True)
        losses.add(loss)  # on a GPU, kept there: no host synchronisation per step
        self.optimizer.update(self.network.params, grads)

    def _diverged(self, step: int, value: float) -> None:
        raise DivergenceError(
            f"training diverged: the loss is {value} at step {step} "
            f"(epoch {step // self.iter_per_epoch + 1}) with lr={self.optimizer.lr:g}; "
            "try a smaller learning rate (or batch normalisation, or gradient-friendly init)"
        )

    def _evaluate(self) -> tuple[float, float]:
        n = self.evaluate_sample_num_per_epoch
        return (
            self._accuracy(self.x_train, self.t_train, n),
            self._accuracy(self.x_test, self.t_test, n),
        )

    def _accuracy(self, x: Any, t: Any, limit: int | None) -> float:
        total = int(x.shape[0]) if limit is None else min(limit, int(x.shape[0]))
        correct = 0.0
        for i in range(0, total, self.eval_batch_size):
            j = min(i + self.eval_batch_size, total)
            correct += self.network.accuracy(x[i:j, ...], t[i:j, ...]) * (j - i)
        return correct / total

    @property
    def history(self) -> dict[str, list[float]]:
        """``train_loss`` (per step), ``train_acc``, ``test_acc`` and ``epoch_time``
        (per epoch)."""
        return {
            "train_loss": list(self.train_loss_list),
            "train_acc": list(self.train_acc_list),
            "test_acc": list(self.test_acc_list),
            "epoch_time": list(self.epoch_time_list),
        }

    # -- output --------------------------------------------------------------------------
    def _print(self, line: str) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(line, file=self.file)
        except ImportError:  # pragma: no cover - tqdm is a dependency
            print(line, file=self.file)

    def _progress_bar(self, epoch: int):
        from tqdm import tqdm

        return tqdm(
            total=self.iter_per_epoch,
            desc=f"epoch {epoch + 1}/{self.epochs}",
            unit="step",
            leave=False,
            file=sys.stderr,
            dynamic_ncols=True,
        )

    # -- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: network (params, BN statistics, dropout
        generator), optimizer state, epoch, step and history, as host arrays."""
        return {
            "network": self.network.state_dict(),
            "architecture": architecture_json(self.network),
            "optimizer": self.optimizer.state_dict(),
            "trainer": {
                "epoch": self.current_epoch,
                "iter": self.current_iter,
                "seed_entropy": str(self._seed.entropy),
                "seed_spawn_key": [int(k) for k in self._seed.spawn_key],
                "optimizer_name": type(self.optimizer).__name__,
            },
            "history": {
                "train_loss": list(self.train_loss_list),
                "train_acc": list(self.train_acc_list),
                "test_acc": list(self.test_acc_list),
                "epoch_time": list(self.epoch_time_list),
            },
        }

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Write :meth:`state_dict` to ``path`` atomically (see :mod:`xpnn.checkpoint`)."""
        save_checkpoint(path, self.state_dict())

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Restore a checkpoint written by :meth:`save_checkpoint` (any backend).

        Everything is read and checked before anything is changed: a checkpoint that cannot
        be used (damaged, from another optimizer or network shape, past ``epochs``) raises
        ``ValueError`` naming the file and leaves this trainer, its network and its
        optimizer as they were.
        """
        source = os.fspath(path)
        tree = load_checkpoint(path)
        try:
            trainer, history = tree["trainer"], tree["history"]
            network_state, optimizer_state = tree["network"], tree["optimizer"]
            saved_opt = str(trainer["optimizer_name"])
            epoch, step = int(trainer["epoch"]), int(trainer["iter"])
            seed = np.random.SeedSequence(
                int(trainer["seed_entropy"]),
                spawn_key=tuple(int(k) for k in trainer["seed_spawn_key"]),
            )
            lists = [
                [float(v) for v in history[k]]
                for k in ("train_loss", "train_acc", "test_acc", "epoch_time")
            ]
        except KeyError as exc:
            raise ValueError(f"{source} is not a Trainer checkpoint: no {exc}") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source} is not a valid Trainer checkpoint ({exc})") from None
        if saved_opt != type(self.optimizer).__name__:
            raise ValueError(
                f"{source} was saved with optimizer {saved_opt}, "
                f"but this trainer uses {type(self.optimizer).__name__}"
            )
        if epoch > self.epochs:
            raise ValueError(f"{source} is at epoch {epoch}, past epochs={self.epochs}")
        if epoch < 0 or step < 0:
            raise ValueError(f"{source} has epoch {epoch} and step {step}; both must be ≥ 0")
        previous = self.optimizer.state_dict()
        try:  # each load is checked before it changes anything; undo the first if the second fails
            self.optimizer.load_state_dict(optimizer_state)
            self.network.load_state_dict(network_state)
        except BaseException as exc:
            self.optimizer.load_state_dict(previous)
            if isinstance(exc, TypeError | ValueError):
                raise ValueError(f"{source}: {exc}") from None
            raise
        self.current_epoch, self.current_iter, self._seed = epoch, step, seed
        self.train_loss_list, self.train_acc_list, self.test_acc_list, self.epoch_time_list = lists
