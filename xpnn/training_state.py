"""The Trainer's state as a checkpoint tree (:func:`trainer_state`), and a tree read back and
checked before anything is changed (:func:`read_trainer_checkpoint`).

The tree (format of :mod:`xpnn.checkpoint`)::

    network     the network's state_dict(): parameters, statistics, dropout generator
    architecture  the network's class and constructor arguments (JSON), or None
    optimizer   the optimizer's state_dict(): hyperparameters, step counts, moments
    trainer     epoch, iter (global step), seed_entropy, seed_spawn_key, optimizer_name,
                epoch_step (steps done in the epoch in progress; 0 at an epoch's end),
                epoch_seconds (its time so far), train_size, batch_size
    history     train_loss (every step done, the epoch in progress's included),
                train_acc, test_acc, epoch_time (per epoch done)

Checkpoints written before ``epoch_step`` existed hold none of the last four trainer entries
and load as saved at an epoch's end, which they were.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .architecture import architecture_json
from .checkpoint import load_checkpoint

__all__ = [
    "CHECKPOINT_FILE",
    "SavedRun",
    "read_trainer_checkpoint",
    "resume_path",
    "trainer_state",
]

_LISTS = ("train_loss", "train_acc", "test_acc", "epoch_time")


#: The file a checkpoint folder holds (``ModelCheckpoint`` writes it, ``resume=DIR`` reads it).
CHECKPOINT_FILE = "checkpoint.npz"


def resume_path(resume: str | os.PathLike | bool, checkpoint_dir: str | None) -> str:
    """The checkpoint file ``Trainer(resume=...)`` means: ``resume`` itself, or
    ``resume/checkpoint.npz`` for a folder, or the one in ``checkpoint_dir`` for ``True``."""
    if resume is True:
        if checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir")
        resume = checkpoint_dir
    path = os.fspath(resume)  # type: ignore[arg-type]
    return os.path.join(path, CHECKPOINT_FILE) if os.path.isdir(path) else path


def trainer_state(trainer: Any) -> dict[str, Any]:
    """The checkpoint tree of ``trainer`` (whose pending losses have been read)."""
    if not trainer.trainable:
        raise TypeError(
            f"a {type(trainer.network).__name__} has no state_dict(): only an "
            "xpnn.trainable.TrainableNetwork can be checkpointed"
        )
    partial = list(trainer.epoch_losses.values) if trainer.epoch_step else []
    return {
        "network": trainer.network.state_dict(),
        "architecture": architecture_json(trainer.network),
        "optimizer": trainer.optimizer.state_dict(),
        "trainer": {
            "epoch": trainer.current_epoch,
            "iter": trainer.current_iter,
            "seed_entropy": str(trainer._seed.entropy),
            "seed_spawn_key": [int(k) for k in trainer._seed.spawn_key],
            "optimizer_name": type(trainer.optimizer).__name__,
            "epoch_step": trainer.epoch_step,
            "epoch_seconds": trainer.epoch_seconds() if trainer.epoch_step else 0.0,
            "train_size": trainer.train_size,
            "batch_size": trainer.batch_size,
        },
        "history": {
            "train_loss": list(trainer.train_loss_list) + partial,
            "train_acc": list(trainer.train_acc_list),
            "test_acc": list(trainer.test_acc_list),
            "epoch_time": list(trainer.epoch_time_list),
        },
    }


@dataclass(frozen=True)
class SavedRun:
    """A checked checkpoint: the states to load, the position and the history."""

    network: Mapping[str, Any]
    optimizer: Mapping[str, Any]
    seed: np.random.SeedSequence
    epoch: int
    step: int
    epoch_step: int
    #: train_loss (of the epochs done), train_acc, test_acc, epoch_time
    lists: tuple[list[float], list[float], list[float], list[float]]
    #: the losses of the epoch in progress (``epoch_step`` of them)
    partial: list[float]
    epoch_seconds: float


def _parse(tree: Mapping[str, Any]) -> tuple[SavedRun, str, tuple[Any, Any]]:
    meta, history = tree["trainer"], tree["history"]
    seed = np.random.SeedSequence(
        int(meta["seed_entropy"]), spawn_key=tuple(int(k) for k in meta["seed_spawn_key"])
    )
    lists = [[float(v) for v in history[k]] for k in _LISTS]
    epoch_step = int(meta.get("epoch_step", 0))  # older checkpoints: at an epoch's end
    cut = len(lists[0]) - epoch_step
    run = SavedRun(
        network=tree["network"],
        optimizer=tree["optimizer"],
        seed=seed,
        epoch=int(meta["epoch"]),
        step=int(meta["iter"]),
        epoch_step=epoch_step,
        lists=(lists[0][:cut], lists[1], lists[2], lists[3]),
        partial=lists[0][cut:],
        epoch_seconds=float(meta.get("epoch_seconds", 0.0)),
    )
    return run, str(meta["optimizer_name"]), (meta.get("train_size"), meta.get("batch_size"))


def expected_tree(trainer: Any) -> dict[str, Any]:
    """What a checkpoint of ``trainer`` may hold, for :func:`xpnn.checkpoint.load_checkpoint`
    to check before it reads any data: the network's arrays, and for each of the optimizer's
    state slots an array shaped like each parameter (views of one zero, no memory); the
    rest (names, step counts, history, generator states) is small."""
    # the arrays only: a generator's state (its seed key's length changes) counts as small
    network = {k: a for k, a in trainer.network.state_dict().items() if k != "dropout_rng"}
    params = {k: network[k] for k in trainer.network.params if k in network}
    slots = getattr(trainer.optimizer, "slots", ())
    state = {
        slot: {k: np.broadcast_to(np.zeros((), a.dtype), a.shape) for k, a in params.items()}
        for slot in slots
    }
    optimizer = {"name": None, "hyperparameters": None, "step": None, "state": state}
    return {
        "network": network,
        "optimizer": optimizer,
        "trainer": None,
        "history": None,
        "architecture": None,
    }


def read_trainer_checkpoint(source: str, trainer: Any) -> SavedRun:
    """Read the checkpoint at ``source`` and check that ``trainer`` can continue from it;
    raise ``ValueError`` naming ``source`` if not (``FileNotFoundError`` if it is missing)."""
    tree = load_checkpoint(source, expected=expected_tree(trainer))
    try:
        run, optimizer_name, sizes = _parse(tree)
    except KeyError as exc:
        raise ValueError(f"{source} is not a Trainer checkpoint: no {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{source} is not a valid Trainer checkpoint ({exc})") from None
    if optimizer_name != type(trainer.optimizer).__name__:
        raise ValueError(
            f"{source} was saved with optimizer {optimizer_name}, "
            f"but this trainer uses {type(trainer.optimizer).__name__}"
        )
    if run.epoch > trainer.epochs:
        raise ValueError(f"{source} is at epoch {run.epoch}, past epochs={trainer.epochs}")
    if run.epoch < 0 or run.step < 0:
        raise ValueError(f"{source} has epoch {run.epoch} and step {run.step}; both must be ≥ 0")
    if run.epoch_step:
        _check_mid_epoch(source, run, sizes, trainer)
    return run


def _check_mid_epoch(source: str, run: SavedRun, sizes: tuple[Any, Any], trainer: Any) -> None:
    """A run saved in the middle of an epoch continues its permutation: it needs the same
    number of samples and batch size, and its step within the epoch must fit."""
    if not 0 < run.epoch_step < trainer.iter_per_epoch or run.epoch >= trainer.epochs:
        raise ValueError(
            f"{source} is at step {run.epoch_step} within epoch {run.epoch + 1}; this trainer's "
            f"epochs have {trainer.iter_per_epoch} steps and end at epoch {trainer.epochs}"
        )
    if len(run.partial) != run.epoch_step or run.step < run.epoch_step:
        raise ValueError(
            f"{source} is at step {run.epoch_step} within its epoch but holds "
            f"{len(run.partial)} of its losses and {run.step} steps in all"
        )
    here = (trainer.train_size, trainer.batch_size)
    if sizes != here:
        raise ValueError(
            f"{source} was saved in the middle of an epoch of {sizes[0]} samples in batches "
            f"of {sizes[1]}; this trainer has {here[0]} in batches of {here[1]}: resume with "
            "the same training data and mini_batch_size"
        )
