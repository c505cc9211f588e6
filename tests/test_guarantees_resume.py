"""Guarantee: a run killed at any moment loses at most ``checkpoint_steps`` steps, and
resumed it ends bitwise like a run that never stopped; Ctrl-C saves the step it stops at.

- With ``checkpoint_steps=N`` a checkpoint is written every N steps (and at epoch ends);
  resuming from one saved in the middle of an epoch continues its permutation, its dropout
  stream and its losses: parameters, batch-norm statistics, dropout generator, optimizer
  moments and steps, losses and accuracies end bitwise equal, on every backend.
- A training process SIGKILLed at random moments, several times in a row (in a step, in the
  middle of writing a checkpoint, anywhere), resumes each time from its latest checkpoint,
  which is at most N steps behind the last step it reported, and ends bitwise like an
  uninterrupted run: on NumPy, on the GPU stand-in and on torch.
- On the GPU stand-in, step checkpoints read the device only when one is written.
- The first SIGINT stops training at the next step boundary (never between a gradient and
  its update), saves a checkpoint there and raises ``KeyboardInterrupt``; the run resumes
  bitwise. A second SIGINT raises at once.
"""

from __future__ import annotations

import importlib.util
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from guarantees_support import assert_bitwise_equal, blobs, child_env, make_trainer, run_state
from standin import count_host_reads

import xpnn
from xpnn import MultiLayerNet, Trainer, load_checkpoint
from xpnn.callbacks import Callback

needs_signals = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


@pytest.fixture(autouse=True)
def sigint_as_in_a_terminal():
    """Ctrl-C raises KeyboardInterrupt here even where the suite was started with SIGINT
    ignored (a job started in the background by a shell inherits that), which xpnn, keeping
    a program's own SIGINT handling, would leave as it is."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


STEPS = 7  # make_trainer: 200 samples in batches of 32


class Crash(Exception):
    """Stands for a crash: raised by :class:`CrashAt`."""


class CrashAt(Callback):
    """Raise :class:`Crash` before global step ``step`` runs (after the previous step's
    checkpoint, if one was due)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_begin(self, trainer, step: int) -> None:
        if step == self.step:
            raise Crash


# -- step checkpoints, in one process ---------------------------------------------------------
def test_step_checkpoints_are_written_every_n_steps_and_at_epoch_ends(tmp_path):
    trainer = make_trainer(epochs=2, checkpoint_dir=tmp_path, checkpoint_steps=3)
    saved = []
    save = trainer.save_checkpoint
    trainer.save_checkpoint = lambda path: (
        saved.append((trainer.current_epoch, trainer.current_iter, trainer.epoch_step)),
        save(path),
    )
    trainer.train()
    assert saved == [(0, 3, 3), (0, 6, 6), (1, 7, 0), (1, 9, 2), (1, 12, 5), (2, 14, 0)]


def test_a_step_checkpoint_due_at_an_epochs_last_step_is_written_after_its_evaluation(tmp_path):
    trainer = make_trainer(epochs=2, checkpoint_dir=tmp_path, checkpoint_every=5,
                           checkpoint_steps=STEPS, callbacks=[CrashAt(STEPS + 1)])  # fmt: skip
    with pytest.raises(Crash):
        trainer.train()
    tree = load_checkpoint(tmp_path / "checkpoint.npz")
    assert (tree["trainer"]["epoch"], tree["trainer"]["epoch_step"]) == (1, 0)
    assert len(tree["history"]["test_acc"]) == 1


def test_checkpoint_steps_needs_a_checkpoint_dir():
    with pytest.raises(ValueError, match="checkpoint_steps needs checkpoint_dir"):
        make_trainer(checkpoint_steps=5)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_checkpoint_steps_must_be_a_positive_integer(tmp_path, bad):
    with pytest.raises(ValueError, match="checkpoint_steps must be a positive integer"):
        make_trainer(checkpoint_dir=tmp_path, checkpoint_steps=bad)


def test_resuming_in_the_middle_of_an_epoch_ends_bitwise_like_an_uninterrupted_run(
    backend, tmp_path
):
    whole = make_trainer(backend, epochs=3)
    whole.train()
    crashed = make_trainer(backend, epochs=3, checkpoint_dir=tmp_path, checkpoint_steps=3,
                           callbacks=[CrashAt(11)])  # fmt: skip
    with pytest.raises(Crash):
        crashed.train()
    resumed = make_trainer(backend, epochs=3, resume=tmp_path)  # the folder: its checkpoint
    assert (resumed.current_epoch, resumed.current_iter, resumed.epoch_step) == (1, 9, 2)
    assert len(resumed.train_loss_list) == STEPS  # the epoch in progress's two are pending
    resumed.train()
    assert_bitwise_equal(run_state(resumed), run_state(whole))


def test_a_mid_epoch_checkpoint_holds_the_losses_of_the_epoch_in_progress(tmp_path):
    trainer = make_trainer(epochs=2, checkpoint_dir=tmp_path, checkpoint_steps=10,
                           callbacks=[CrashAt(10)])  # fmt: skip
    with pytest.raises(Crash):
        trainer.train()
    tree = load_checkpoint(tmp_path / "checkpoint.npz")
    assert tree["trainer"]["iter"] == 10 and tree["trainer"]["epoch_step"] == 3
    assert tree["history"]["train_loss"] == trainer.train_loss_list + trainer.epoch_losses.values


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mini_batch_size": 40}, "batches of 32; this trainer has 200 in batches of 40"),
        ({"epochs": 1}, "within epoch 2; this trainer's epochs have 7 steps and end at epoch 1"),
    ],
)
def test_a_mid_epoch_checkpoint_refuses_a_trainer_whose_batches_differ(tmp_path, change, message):
    trainer = make_trainer(epochs=2, checkpoint_dir=tmp_path, checkpoint_steps=3,
                           callbacks=[CrashAt(11)])  # fmt: skip
    with pytest.raises(Crash):
        trainer.train()
    with pytest.raises(ValueError, match=message):
        make_trainer(**{"epochs": 2, **change}, resume=tmp_path / "checkpoint.npz")


def test_a_checkpoint_without_the_step_fields_loads_as_saved_at_an_epochs_end(tmp_path):
    """Checkpoints written before ``epoch_step`` existed: the same tree without the four
    trainer entries added with it."""
    source = make_trainer(epochs=3, checkpoint_dir=tmp_path)
    source.epochs = 1
    source.train()
    tree = load_checkpoint(tmp_path / "checkpoint.npz")
    for key in ("epoch_step", "epoch_seconds", "train_size", "batch_size"):
        del tree["trainer"][key]
    xpnn.save_checkpoint(tmp_path / "old.npz", tree)
    resumed = make_trainer(epochs=3, resume=tmp_path / "old.npz")
    assert (resumed.current_epoch, resumed.current_iter, resumed.epoch_step) == (1, STEPS, 0)
    resumed.train()
    whole = make_trainer(epochs=3)
    whole.train()
    assert_bitwise_equal(run_state(resumed), run_state(whole))


# -- the GPU stand-in: reads only when a checkpoint is written --------------------------------
def _reads(monkeypatch, tmp_path, steps: int | None) -> int:
    x, t = blobs(440)
    net = MultiLayerNet(12, [16, 16], 3, use_batchnorm=True, use_dropout=True, seed=0,
                        backend=xpnn.get_backend("array_api_strict", "device1"))  # fmt: skip
    trainer = Trainer(net, x[:400], t[:400], x[400:], t[400:], epochs=1, mini_batch_size=10,
                      optimizer="Adam", seed=0, verbose=False, checkpoint_dir=tmp_path / str(steps),
                      checkpoint_steps=steps)  # fmt: skip
    with count_host_reads(monkeypatch) as reads:
        trainer.train()
    return len(reads)


def test_step_checkpoints_on_the_standin_read_the_device_only_when_written(monkeypatch, tmp_path):
    never = _reads(monkeypatch, tmp_path, None)  # 40 steps; the run's end saves in each run
    assert _reads(monkeypatch, tmp_path, 1000) == never  # due at no step: nothing more
    every_10 = _reads(monkeypatch, tmp_path, 10) - never  # 3 step checkpoints
    every_5 = _reads(monkeypatch, tmp_path, 5) - never  # 7
    assert every_10 > 0 and every_10 % 3 == 0
    assert every_5 == every_10 // 3 * 7  # the same reads per checkpoint, none per step


# -- Ctrl-C ----------------------------------------------------------------------------------
class SigintDuringStep:
    """Wraps ``network.loss_and_gradient``: at step ``at`` (and ``times`` in a row), send this
    process SIGINT between the forward-backward pass and the update."""

    def __init__(self, trainer: Trainer, at: int, times: int = 1) -> None:
        self.forward, self.at, self.times, self.calls = (
            trainer.network.loss_and_gradient,
            at,
            times,
            0,
        )
        trainer.network.loss_and_gradient = self

    def __call__(self, x, t, **kw):
        out = self.forward(x, t, **kw)
        if self.calls == self.at:
            for _ in range(self.times):
                signal.raise_signal(signal.SIGINT)
        self.calls += 1
        return out


@needs_signals
def test_ctrl_c_in_a_step_finishes_it_saves_a_checkpoint_there_and_stops(tmp_path):
    trainer = make_trainer(epochs=3, checkpoint_dir=tmp_path, checkpoint_every=100)
    SigintDuringStep(trainer, at=9)
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    assert (trainer.current_iter, trainer.epoch_step) == (10, 3)  # step 9 done, update and all
    assert trainer.optimizer.state_dict()["step"]["W1"] == 10
    tree = load_checkpoint(tmp_path / "checkpoint.npz")
    assert (tree["trainer"]["iter"], tree["trainer"]["epoch_step"]) == (10, 3)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@needs_signals
def test_after_ctrl_c_both_train_again_and_the_checkpoint_end_bitwise_like_no_interrupt(tmp_path):
    whole = make_trainer(epochs=3)
    whole.train()
    trainer = make_trainer(epochs=3, checkpoint_dir=tmp_path)
    SigintDuringStep(trainer, at=12)
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    resumed = make_trainer(epochs=3, resume=tmp_path)
    trainer.train()  # the same trainer, continuing where it stopped
    resumed.train()
    assert_bitwise_equal(run_state(trainer), run_state(whole))
    assert_bitwise_equal(run_state(resumed), run_state(whole))


@needs_signals
def test_a_second_ctrl_c_interrupts_at_once_without_a_checkpoint(tmp_path):
    trainer = make_trainer(epochs=3, checkpoint_dir=tmp_path, checkpoint_every=100)
    SigintDuringStep(trainer, at=9, times=2)
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    assert trainer.current_iter == 9  # raised inside step 9, before its update
    assert not (tmp_path / "checkpoint.npz").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@needs_signals
def test_ctrl_c_without_a_checkpoint_dir_stops_at_a_step_boundary_and_train_continues():
    whole = make_trainer(epochs=2)
    whole.train()
    trainer = make_trainer(epochs=2)
    SigintDuringStep(trainer, at=4)
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    assert trainer.current_iter == 5
    trainer.train()
    assert_bitwise_equal(run_state(trainer), run_state(whole))


# -- processes killed at random moments ------------------------------------------------------
#: A training process: checkpoints every N steps (and epoch), resumes from the folder when it
#: holds one, prints each step's number once it is done, saves its final state to OUT.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    import xpnn
    from guarantees_support import make_trainer, run_state
    from xpnn.callbacks import LambdaCallback

    name, device, folder, out, epochs, steps = sys.argv[1:7]
    backend = xpnn.get_backend(name, None if device == "-" else device)
    report = LambdaCallback(on_step_end=lambda trainer, step: print(step + 1, flush=True))
    resume = os.path.exists(os.path.join(folder, "checkpoint.npz"))
    trainer = make_trainer(backend, epochs=int(epochs), checkpoint_dir=folder,
                           checkpoint_steps=int(steps) if steps != "-" else None,
                           checkpoint_every=int(os.environ.get("EVERY", "1")),
                           resume=True if resume else None, callbacks=[report])
    try:
        trainer.train()
    except KeyboardInterrupt:
        print("interrupted", trainer.current_iter, flush=True)
        sys.exit(130)
    xpnn.save_checkpoint(out, run_state(trainer))
    print("done", flush=True)
    """
)

KILL_EPOCHS, KILL_STEPS = 12, 2  # 84 steps, a checkpoint every 2: often killed mid-write
KILLS = {"numpy": 5, "strict-device1": 4, "torch": 3}
BACKENDS = {"numpy": ("numpy", "-"), "strict-device1": ("array_api_strict", "device1"),
            "torch": ("torch", "-")}  # fmt: skip


def start_child(folder: Path, case: str, epochs: int, steps: int | None, **env: str):
    name, device = BACKENDS[case]
    every = "-" if steps is None else str(steps)
    command = [sys.executable, "-c", CHILD, name, device, str(folder / "run"),
               str(folder / "final.npz"), str(epochs), every]  # fmt: skip
    return subprocess.Popen(command, env=child_env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def wait_for_step(proc: subprocess.Popen, step: int) -> int | None:
    """Read the child's reports until it has done ``step`` steps; the last step reported,
    or None if it ended first."""
    for line in proc.stdout:
        if line.strip().isdigit() and int(line) >= step:
            return int(line)
    return None


def finish(proc: subprocess.Popen) -> tuple[list[str], str]:
    out, err = proc.communicate(timeout=120)
    return out.split(), err


def last_checkpoint_step(folder: Path) -> int:
    path = folder / "run" / "checkpoint.npz"
    return load_checkpoint(path)["trainer"]["iter"] if path.exists() else 0


def temporary_files(folder: Path) -> set[str]:
    run = folder / "run"
    return {n for n in os.listdir(run) if n.endswith(".tmp")} if run.exists() else set()


@needs_signals
@pytest.mark.parametrize("case", list(KILLS))
def test_a_run_sigkilled_at_random_moments_resumes_and_ends_bitwise(case, tmp_path):
    if case == "torch" and importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    total = KILL_EPOCHS * STEPS
    targets = sorted(rng.sample(range(1, total - 24), KILLS[case]))
    notes = [f"seed {seed}"]
    for target in targets:
        proc = start_child(tmp_path, case, KILL_EPOCHS, KILL_STEPS)
        before = temporary_files(tmp_path)
        reached = wait_for_step(proc, target)
        if reached is None:  # the run got past its end before the kill: no later kill can land
            notes.append(f"missed at {target}")
            proc.wait(timeout=60)
            break
        os.kill(proc.pid, signal.SIGKILL)
        reports, err = finish(proc)
        assert proc.returncode == -signal.SIGKILL, (notes, err)
        done = max([reached] + [int(r) for r in reports if r.isdigit()])
        saved = last_checkpoint_step(tmp_path)
        assert done - saved <= KILL_STEPS, (notes, done, saved)
        mid_write = temporary_files(tmp_path) - before
        notes.append(
            f"killed after step {done}, resumable at {saved}" + " mid-write" * bool(mid_write)
        )
    assert any("killed" in n for n in notes), notes
    proc = start_child(tmp_path, case, KILL_EPOCHS, KILL_STEPS)
    reports, err = finish(proc)
    assert proc.returncode == 0 and reports[-1] == "done", (notes, err)
    whole = make_trainer(xpnn.get_backend(*(None if d == "-" else d for d in BACKENDS[case])),
                         epochs=KILL_EPOCHS)  # fmt: skip
    whole.train()
    assert_bitwise_equal(load_checkpoint(tmp_path / "final.npz"), run_state(whole))


@needs_signals
def test_sigint_to_a_training_process_saves_the_step_it_stops_at_and_resumes_bitwise(tmp_path):
    proc = start_child(tmp_path, "numpy", KILL_EPOCHS, None, EVERY="1000")
    assert wait_for_step(proc, 10) is not None
    proc.send_signal(signal.SIGINT)
    reports, err = finish(proc)
    assert proc.returncode == 130, err
    stopped = int(reports[reports.index("interrupted") + 1])
    tree = load_checkpoint(tmp_path / "run" / "checkpoint.npz")  # written by the interrupt only
    assert tree["trainer"]["iter"] == stopped >= 10
    resumed = make_trainer(epochs=KILL_EPOCHS, resume=tmp_path / "run")
    resumed.train()
    whole = make_trainer(epochs=KILL_EPOCHS)
    whole.train()
    assert_bitwise_equal(run_state(resumed), run_state(whole))


# -- the example scripts ---------------------------------------------------------------------
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "mnist.py"
SMALL_RUN = ["--epochs", "20", "--limit", "500", "--batch-size", "50", "--hidden", "16"]


def last_epoch(stdout: str) -> str:
    """The last epoch's line without its wall-clock seconds and images per second."""
    line = [x for x in stdout.splitlines() if x.startswith("epoch")][-1]
    return re.sub(r"\s+[\d.]+ s\s+[\d,]+ img/s$", "", line)


@needs_signals
def test_ctrl_c_in_the_mnist_example_prints_the_command_that_resumes_it(tmp_path, mnist):
    folder = str(tmp_path / "ckpt")
    run = [*SMALL_RUN, "--checkpoint-dir", folder, "--checkpoint-steps", "3"]
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), *run], cwd=tmp_path, env=child_env(), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal
    )  # fmt: skip
    for line in proc.stdout:
        if line.startswith("epoch   2/20"):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and len(err.strip().splitlines()) == 1, err
    pattern = (
        r"mnist\.py: interrupted after \d+ steps \(epoch \d+, step \d+\); "
        rf"checkpoint in {re.escape(folder)}; resume with: (.*)"
    )
    command = shlex.split(re.fullmatch(pattern, err.strip()).group(1))
    assert command[-2:] == ["--resume", folder]
    resumed = subprocess.run(command, cwd=tmp_path, env=child_env(), capture_output=True,
                             text=True, timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    whole = subprocess.run([sys.executable, str(EXAMPLE), *SMALL_RUN], cwd=tmp_path,
                           env=child_env(), capture_output=True, text=True)  # fmt: skip
    assert last_epoch(resumed.stdout) == last_epoch(whole.stdout)
    assert "after 20 epochs" in resumed.stdout


def _cli_checkpoints():
    spec = importlib.util.spec_from_file_location(
        "cli_checkpoints", EXAMPLE.parent / "cli_checkpoints.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "argv",
    [["--epochs", "3"], ["--epochs", "3", "--resume", "old"], ["--resume=old", "--epochs", "3"]],
)
def test_the_resume_command_is_the_same_command_resuming_from_the_folder(argv, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["examples/mnist.py", *argv])
    command = shlex.split(_cli_checkpoints().resume_command("my run"))
    assert command[1:] == ["examples/mnist.py", "--epochs", "3", "--resume", "my run"]
    assert os.path.realpath(shutil.which(command[0]) or command[0]) == os.path.realpath(
        sys.executable
    )
