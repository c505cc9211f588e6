"""Guarantee: a crash never loses a run, and a damaged checkpoint is refused by name.

- A training process SIGKILLed while it writes a checkpoint (in the middle of writing the
  temporary file, or with it complete but not yet renamed into place) leaves the previous
  checkpoint loadable, and resuming from it ends bitwise where an uninterrupted run ends.
- Any truncation or corruption of a checkpoint file either changes nothing that is read (the
  same tree loads) or fails with ``CheckpointError`` naming the file.
- A checkpoint whose contents are wrong (tampered with, or from something else) is refused
  with an error naming the file, and the trainer, its network and its optimizer are left
  exactly as they were.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from guarantees_support import assert_bitwise_equal, child_env, make_trainer, run_state
from hypothesis import given, settings
from hypothesis import strategies as st

from xpnn import Trainer, load_checkpoint, save_checkpoint
from xpnn.checkpoint import CheckpointError

needs_sigkill = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")

EPOCHS = 3

#: The child trains for EPOCHS epochs, checkpointing after each, and stalls inside the save
#: after epoch 2 (``window``): it creates the file ``signal`` and sleeps until killed. With
#: ``steps`` it checkpoints every 3 steps instead (and at the end), and stalls inside the save
#: after step 9 (the third step of epoch 2: the previous checkpoint is mid-epoch 1, at step 6).
CHILD = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    from guarantees_support import make_trainer

    checkpoint_dir, window, signal_file = sys.argv[1:4]
    armed = False
    writes = 0

    def stall():
        open(signal_file, "w").close()
        time.sleep(600)

    real_write, real_replace = np.lib.format.write_array, os.replace

    def write_array(*args, **kwargs):
        global writes
        real_write(*args, **kwargs)
        if armed and window == "mid-write":
            writes += 1
            if writes == 3:  # the manifest and two arrays are in the temporary file
                stall()

    def replace(*args, **kwargs):
        if armed and window == "before-rename":
            stall()
        return real_replace(*args, **kwargs)

    np.lib.format.write_array, os.replace = write_array, replace
    by_steps = sys.argv[5] == "steps"
    extra = {"checkpoint_steps": 3, "checkpoint_every": 100} if by_steps else {}
    trainer = make_trainer(epochs=int(sys.argv[4]), checkpoint_dir=checkpoint_dir, **extra)
    save = trainer.save_checkpoint

    def save_and_maybe_stall(path):
        global armed
        armed = trainer.current_iter == 9 if by_steps else trainer.current_epoch == 2
        save(path)

    trainer.save_checkpoint = save_and_maybe_stall
    trainer.train()
    print("finished: never killed")
    """
)


def kill_while_checkpointing(folder: Path, window: str, every: str = "epochs") -> int:
    """Run the child until it stalls in ``window`` of the checkpoint after epoch 2 (or step
    9, ``every='steps'``), SIGKILL it, and return its exit status."""
    signal_file = folder / "stalled"
    args = [str(folder / "run"), window, str(signal_file), str(EPOCHS), every]
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, *args],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not signal_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                out, err = proc.communicate(timeout=10)
                pytest.fail(f"the child never reached the {window} window:\n{out}\n{err}")
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.fixture(scope="module", params=["mid-write", "before-rename"])
def killed_run(request, tmp_path_factory) -> Path:
    """The checkpoint folder of a run SIGKILLed while writing its epoch-2 checkpoint."""
    folder = tmp_path_factory.mktemp(f"killed-{request.param}")
    status = kill_while_checkpointing(folder, request.param)
    assert status == -signal.SIGKILL
    return folder / "run"


@pytest.fixture(scope="module")
def uninterrupted_run() -> dict:
    trainer = make_trainer(epochs=EPOCHS)
    trainer.train()
    return run_state(trainer)


@needs_sigkill
def test_sigkill_while_writing_a_checkpoint_leaves_the_previous_one_loadable(killed_run):
    tree = load_checkpoint(killed_run / "checkpoint.npz")
    assert tree["trainer"]["epoch"] == 1
    leftovers = [n for n in os.listdir(killed_run) if n != "checkpoint.npz"]
    # The kill hit the write: the epoch-2 checkpoint exists only as its temporary file.
    assert len(leftovers) == 1
    assert leftovers[0].startswith(".checkpoint.npz.") and leftovers[0].endswith(".tmp")


@needs_sigkill
def test_resuming_after_sigkill_ends_bitwise_like_an_uninterrupted_run(
    killed_run, uninterrupted_run
):
    resumed = make_trainer(epochs=EPOCHS, resume=killed_run / "checkpoint.npz")
    assert resumed.current_epoch == 1
    resumed.train()
    assert_bitwise_equal(run_state(resumed), uninterrupted_run)


@pytest.fixture(scope="module", params=["mid-write", "before-rename"])
def killed_mid_epoch(request, tmp_path_factory) -> Path:
    """The checkpoint folder of a run SIGKILLed while writing its step-9 checkpoint."""
    folder = tmp_path_factory.mktemp(f"killed-steps-{request.param}")
    assert kill_while_checkpointing(folder, request.param, "steps") == -signal.SIGKILL
    return folder / "run"


@needs_sigkill
def test_sigkill_while_writing_a_step_checkpoint_leaves_the_previous_one_loadable(
    killed_mid_epoch,
):
    tree = load_checkpoint(killed_mid_epoch / "checkpoint.npz")
    assert (tree["trainer"]["iter"], tree["trainer"]["epoch_step"]) == (6, 6)
    leftovers = [n for n in os.listdir(killed_mid_epoch) if n != "checkpoint.npz"]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")


@needs_sigkill
def test_resuming_mid_epoch_after_sigkill_ends_bitwise_like_an_uninterrupted_run(
    killed_mid_epoch, uninterrupted_run
):
    resumed = make_trainer(epochs=EPOCHS, resume=killed_mid_epoch / "checkpoint.npz")
    assert (resumed.current_epoch, resumed.current_iter) == (0, 6)
    resumed.train()
    assert_bitwise_equal(run_state(resumed), uninterrupted_run)


# -- damaged files ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory) -> tuple[dict, bytes, Path]:
    """A small checkpoint (the tree, the file's bytes) and a folder to damage copies in."""
    folder = tmp_path_factory.mktemp("damaged")
    tree = {
        "params": {"W": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(3)},
        "epoch": 2,
        "history": {"train_loss": [0.5, 0.25]},
        "name": "Adam",
    }
    save_checkpoint(folder / "good.npz", tree)
    return tree, (folder / "good.npz").read_bytes(), folder


def loads_identically_or_is_refused_by_name(path: Path, content: bytes, tree: dict) -> None:
    """Write ``content`` to ``path`` (a new file: rewriting one in place is slow on some
    file systems) and check that it loads as ``tree`` or is refused naming ``path``."""
    path.write_bytes(content)
    try:
        back = load_checkpoint(path)
    except CheckpointError as exc:
        assert str(path) in str(exc), str(exc)
    else:
        assert_bitwise_equal(back, tree)
    finally:
        path.unlink()


def test_every_truncation_of_a_checkpoint_is_refused_naming_the_file(small_checkpoint):
    _, data, folder = small_checkpoint
    for size in range(len(data)):
        path = folder / f"truncated-{size}.npz"
        path.write_bytes(data[:size])
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(path)
        assert str(path) in str(err.value), (size, str(err.value))


@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_every_single_byte_corruption_loads_identically_or_is_refused_naming_the_file(
    small_checkpoint, mask
):
    tree, data, folder = small_checkpoint
    for at in range(len(data)):
        damaged = bytearray(data)
        damaged[at] ^= mask
        loads_identically_or_is_refused_by_name(folder / f"flip-{mask}-{at}.npz", damaged, tree)


@pytest.fixture(scope="module")
def trainer_checkpoint(tmp_path_factory) -> tuple[dict, bytes, Path]:
    """A real Trainer checkpoint: its tree, its bytes and a folder for damaged copies."""
    folder = tmp_path_factory.mktemp("trainer-checkpoint")
    trainer = make_trainer(epochs=1, checkpoint_dir=folder)
    trainer.train()
    good = folder / "checkpoint.npz"
    return load_checkpoint(good), good.read_bytes(), folder


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_random_corruption_of_a_trainer_checkpoint_loads_identically_or_is_refused(
    data, trainer_checkpoint
):
    tree, raw, folder = trainer_checkpoint
    damaged = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 8))):
        damaged[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    loads_identically_or_is_refused_by_name(folder / "damaged.npz", damaged, tree)


# -- wrong contents ---------------------------------------------------------------------------
def _set(path: str, value):
    def edit(tree: dict) -> None:
        *parents, leaf = path.split("/")
        node = tree
        for key in parents:
            node = node[key]
        node[leaf] = value

    return edit


def _drop(path: str):
    def edit(tree: dict) -> None:
        *parents, leaf = path.split("/")
        node = tree
        for key in parents:
            node = node[key]
        del node[leaf]

    return edit


def _both(first, second):
    def edit(tree: dict) -> None:
        first(tree)
        second(tree)

    return edit


TAMPERINGS = {
    "no network": _drop("network"),
    "a parameter of another shape": _set("network/W2", np.zeros((16, 4), np.float32)),
    "a parameter of strings": _set("network/W1", np.full((12, 16), "x")),
    "dropout state not a dict": _set("network/dropout_rng", 5),
    "dropout state garbage": _set("network/dropout_rng/state", np.asarray("{not json")),
    "negative learning rate": _set("optimizer/hyperparameters/lr", -1.0),
    "moments of two shapes": _set("optimizer/state/m/W1", np.zeros((2, 2))),
    "a fractional step count": _set("optimizer/step/W1", 2.5),
    "no epoch times": _drop("history/epoch_time"),
    "losses that are strings": _set("history/train_loss", ["a", "b"]),
    "a seed that is no number": _set("trainer/seed_entropy", "xyz"),
    "a negative epoch": _set("trainer/epoch", -3),
    "an epoch past the end": _set("trainer/epoch", 99),
    "a negative step": _set("trainer/iter", -1),
    "another optimizer": _set("trainer/optimizer_name", "SGD"),
    "a step within the epoch past its end": _set("trainer/epoch_step", 99),
    "a step within the epoch that is no number": _set("trainer/epoch_step", "three"),
    "mid-epoch, in batches of another size": _both(
        _set("trainer/epoch_step", 3), _set("trainer/batch_size", 40)
    ),
    "mid-epoch, without that epoch's losses": _both(
        _set("trainer/epoch_step", 3), _set("history/train_loss", [0.5, 0.25])
    ),
}


@pytest.fixture
def tampered(tmp_path, request) -> Path:
    source = make_trainer(epochs=EPOCHS, checkpoint_dir=tmp_path)
    source.epochs = 1
    source.train()
    tree = load_checkpoint(tmp_path / "checkpoint.npz")
    TAMPERINGS[request.param](tree)
    path = tmp_path / "tampered.npz"
    save_checkpoint(path, tree)
    return path


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("tampered", list(TAMPERINGS), indirect=True)
def test_loading_a_tampered_checkpoint_names_the_file_and_changes_nothing(tampered):
    trainer = make_trainer(epochs=EPOCHS)
    trainer.epochs = 2
    trainer.train()  # a trainer in the middle of a run: every kind of state is set
    trainer.epochs = EPOCHS
    before = run_state(trainer)
    with pytest.raises(ValueError, match=re.escape(str(tampered))):
        trainer.load_checkpoint(tampered)
    assert_bitwise_equal(run_state(trainer), before)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("tampered", list(TAMPERINGS), indirect=True)
def test_resuming_from_a_tampered_checkpoint_names_the_file_and_changes_nothing(tampered):
    fresh = make_trainer(epochs=EPOCHS)
    network, optimizer = fresh.network, fresh.optimizer
    before = (network.state_dict(), optimizer.state_dict())
    x, t = fresh.x_train, fresh.t_train
    with pytest.raises(ValueError, match=re.escape(str(tampered))):
        Trainer(network, x, t, x, t, epochs=EPOCHS, optimizer=optimizer, resume=tampered)
    assert_bitwise_equal((network.state_dict(), optimizer.state_dict()), before)


def test_the_untampered_checkpoint_loads_into_the_same_trainer(tmp_path):
    # The control for the two tests above: untouched, the checkpoint they spoil is fine.
    source = make_trainer(epochs=EPOCHS, checkpoint_dir=tmp_path)
    source.epochs = 1
    source.train()
    trainer = make_trainer(epochs=EPOCHS)
    trainer.load_checkpoint(tmp_path / "checkpoint.npz")
    source.epochs = EPOCHS
    assert_bitwise_equal(run_state(trainer), run_state(source))
