"""The Trainer as a loop with callbacks: the hooks and their order, the built-in callbacks,
the progress output on a terminal and off it, and the declared network protocols."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from guarantees_support import Terminal, blobs, child_env, make_trainer

import xpnn
from xpnn import MultiLayerNet, SimpleConvNet, Trainer, layers, load_checkpoint
from xpnn.book.common.multi_layer_net_extend import MultiLayerNetExtend
from xpnn.callbacks import (
    Callback,
    DivergenceGuard,
    Evaluation,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    batched_accuracy,
)
from xpnn.progress import ProgressLogger, draws_bars
from xpnn.trainable import BookStyleNetwork, TrainableNetwork

STEPS = 7  # make_trainer: 200 samples in batches of 32


class Recorder(Callback):
    """Every hook call, with its arguments and what the trainer says at that moment."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_train_begin(self, trainer):
        self.calls.append(("train_begin", trainer.current_iter))

    def on_epoch_begin(self, trainer, epoch):
        self.calls.append(("epoch_begin", epoch, trainer.epoch_step))

    def on_step_begin(self, trainer, step):
        self.calls.append(("step_begin", step, trainer.current_iter))

    def on_losses_read(self, trainer, first_step, values):
        self.calls.append(("losses_read", first_step, len(values)))

    def on_step_end(self, trainer, step):
        self.calls.append(("step_end", step, trainer.current_iter))

    def on_epoch_end(self, trainer, epoch):
        calls = ("epoch_end", epoch, trainer.current_epoch, len(trainer.test_acc_list))
        self.calls.append(calls)

    def on_train_end(self, trainer):
        self.calls.append(("train_end", trainer.current_epoch))


# -- the hooks ----------------------------------------------------------------------------------
def test_hooks_are_called_in_order_with_the_trainer_up_to_date():
    rec = Recorder()
    make_trainer(epochs=2, callbacks=[rec]).train()
    expected = [("train_begin", 0)]
    for epoch in range(2):
        expected.append(("epoch_begin", epoch, 0))
        for step in range(epoch * STEPS, (epoch + 1) * STEPS):
            expected += [("step_begin", step, step), ("losses_read", step, 1)]
            expected.append(("step_end", step, step + 1))
        expected.append(("epoch_end", epoch, epoch + 1, epoch + 1))  # evaluated already
    expected.append(("train_end", 2))
    assert rec.calls == expected


def test_on_a_device_losses_are_read_in_one_go_at_the_epochs_end():
    rec = Recorder()
    make_trainer(xpnn.get_backend("array_api_strict", "device1"), epochs=1, callbacks=[rec]).train()
    assert [c for c in rec.calls if c[0] == "losses_read"] == [("losses_read", 0, STEPS)]


class _Stop(Exception):
    pass


class _StopAt(Callback):
    """Raise :class:`_Stop` before global step ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_begin(self, trainer, step):
        if step == self.step:
            raise _Stop


def test_resumed_in_the_middle_of_an_epoch_the_hooks_start_at_its_next_step(tmp_path):
    stopped = make_trainer(epochs=2, checkpoint_dir=tmp_path, checkpoint_steps=3,
                           callbacks=[_StopAt(9)])  # fmt: skip
    with pytest.raises(_Stop):
        stopped.train()  # the last checkpoint: after step 8, two steps into epoch 2
    rec = Recorder()
    make_trainer(epochs=2, resume=tmp_path, callbacks=[rec]).train()
    assert rec.calls[:3] == [("train_begin", 9), ("epoch_begin", 1, 2), ("step_begin", 9, 9)]


def test_user_callbacks_run_after_evaluation_and_before_the_checkpoint(tmp_path):
    class HalveLr(Callback):
        def on_epoch_end(self, trainer, epoch):
            assert len(trainer.test_acc_list) == epoch + 1
            trainer.optimizer.lr /= 2

    trainer = make_trainer(epochs=2, checkpoint_dir=tmp_path, callbacks=[HalveLr()])
    trainer.train()
    kinds = [type(cb) for cb in trainer.callbacks]
    assert kinds == [DivergenceGuard, Evaluation, HalveLr, ModelCheckpoint]
    saved = load_checkpoint(tmp_path / "checkpoint.npz")["optimizer"]["hyperparameters"]["lr"]
    assert saved == 0.01 / 4


def test_every_keyword_builds_its_callback_in_order(tmp_path):
    trainer = make_trainer(lr_schedule=lambda e: 0.01, on_epoch_end=lambda tr: None,
                           verbose=True, checkpoint_dir=tmp_path)  # fmt: skip
    kinds = [type(cb) for cb in trainer.callbacks]
    assert kinds == [LearningRateScheduler, DivergenceGuard, Evaluation, LambdaCallback,
                     ProgressLogger, ModelCheckpoint]  # fmt: skip


def test_a_callback_that_is_not_a_callback_is_refused_by_name():
    with pytest.raises(
        TypeError, match=r"callbacks must be xpnn.callbacks.Callback instances, got function"
    ):
        make_trainer(callbacks=[lambda trainer: None]).train()


def test_lambda_callback_refuses_an_unknown_hook():
    with pytest.raises(TypeError, match="no hook 'on_batch_end'"):
        LambdaCallback(on_batch_end=lambda trainer, step: None)


def test_a_callback_may_stop_training_by_raising_and_the_trainer_stays_usable():
    trainer = make_trainer(epochs=2, callbacks=[_StopAt(3)])
    with pytest.raises(_Stop):
        trainer.train()
    assert trainer.current_iter == 3


# -- evaluation ---------------------------------------------------------------------------------
def test_batched_accuracy_is_the_count_right_over_the_count_whatever_the_batch_size():
    x, t = blobs(240)
    net = MultiLayerNet(12, [8], 3, seed=0)
    whole = net.accuracy(x, t)
    assert whole * 240 == round(whole * 240)
    for batch in (1, 7, 100, 240, 1000):
        assert batched_accuracy(net, x, t, batch) == whole
    assert batched_accuracy(net, x, t, 7, limit=50) == net.accuracy(x[:50], t[:50])


# -- progress -----------------------------------------------------------------------------------
def test_verbose_training_off_a_terminal_prints_a_line_per_epoch_and_no_bar(capsys):
    make_trainer(epochs=3, verbose=True, refresh_interval=0.0).train()
    out, err = capsys.readouterr()
    assert err == ""  # no bar: standard error is not a terminal here
    lines = out.splitlines()
    assert lines[0].startswith("training on numpy (cpu), 200 samples, 3 epochs x 7 steps")
    assert [line.split()[1] for line in lines[1:4]] == ["1/3", "2/3", "3/3"]
    assert lines[4].startswith("final test accuracy") and len(lines) == 5


def test_verbose_training_on_a_terminal_draws_a_bar_on_standard_error(capsys, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    make_trainer(epochs=2, verbose=True, refresh_interval=0.0).train()
    bar = terminal.getvalue()
    assert "epoch 1/2" in bar and "epoch 2/2" in bar and "/7 [" in bar  # tqdm's bars
    assert len(capsys.readouterr().out.splitlines()) == 4  # the lines are the same


REDIRECTED = textwrap.dedent(
    """
    from guarantees_support import make_trainer
    make_trainer(epochs=20, verbose=True, refresh_interval=0.0).train()
    """
)


def test_a_redirected_20_epoch_run_writes_its_22_lines_and_nothing_else(tmp_path):
    log = tmp_path / "log.txt"
    with open(log, "w") as f:
        subprocess.run([sys.executable, "-c", REDIRECTED], stdout=f, stderr=subprocess.STDOUT,
                       env=child_env(), check=True, timeout=120)  # fmt: skip
    text = log.read_text()
    assert "\r" not in text and len(text.splitlines()) == 22, text[:2000]
    assert len(text.encode()) < 22 * 100


PIPED = textwrap.dedent(
    """
    import sys
    from guarantees_support import make_trainer
    make_trainer(epochs=2, verbose=True, refresh_interval=0.0).train()
    sys.stdin.readline()  # hold on until the parent has read the lines
    """
)


def test_each_line_reaches_a_pipe_as_it_is_printed_not_when_the_run_ends():
    env = {k: v for k, v in child_env().items() if k != "PYTHONUNBUFFERED"}  # a buffered pipe
    proc = subprocess.Popen([sys.executable, "-c", PIPED], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
    stuck = threading.Timer(60, proc.kill)  # buffered, the lines would come only at exit
    stuck.start()
    try:
        lines = [proc.stdout.readline() for _ in range(4)]
        assert lines[1].startswith("epoch   1/2") and lines[3].startswith("final test"), lines
    finally:
        stuck.cancel()
        proc.communicate("\n", timeout=120)


def test_draws_bars_on_a_terminal_only():
    assert draws_bars(Terminal())
    with open(__file__) as f:
        assert not draws_bars(f)
    assert not draws_bars(f)  # closed: isatty() raises


def test_the_progress_bar_may_be_turned_off_on_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal())
    trainer = make_trainer(epochs=1, verbose=False, callbacks=[ProgressLogger(bar=False)])
    trainer.train()
    assert sys.stderr.getvalue() == ""


# -- the protocols ------------------------------------------------------------------------------
def test_xpnns_networks_are_trainable_networks():
    for net in (MultiLayerNet(4, [3], 2), SimpleConvNet(input_dim=(1, 8, 8)),
                MultiLayerNetExtend(4, [3], 2)):  # fmt: skip
        assert isinstance(net, TrainableNetwork) and isinstance(net, BookStyleNetwork)


class BookStyleNet:
    """The book's way: params, gradient, loss, accuracy and nothing of xpnn's."""

    def __init__(self):
        self.params = {"W": np.zeros((12, 3)), "b": np.zeros(3)}
        self.layer = layers.Affine(self.params["W"], self.params["b"])
        self.last = layers.SoftmaxWithLoss()

    def loss(self, x, t):
        return self.last.forward(self.layer.forward(x), t)

    def gradient(self, x, t):
        self.loss(x, t)
        self.layer.backward(self.last.backward(1))
        return {"W": self.layer.dW, "b": self.layer.db}

    def accuracy(self, x, t):
        return np.mean(np.argmax(self.layer.forward(x), axis=1) == t)


def test_a_book_style_network_is_trained_as_it_is():
    net = BookStyleNet()
    assert isinstance(net, BookStyleNetwork) and not isinstance(net, TrainableNetwork)
    x, t = blobs(120)
    trainer = Trainer(net, x, t, x, t, epochs=2, mini_batch_size=30, optimizer="sgd",
                      optimizer_param={"lr": 0.1}, verbose=False)  # fmt: skip
    trainer.train()
    assert trainer.network is net and not trainer.trainable
    assert trainer.test_acc_list[-1] > 0.9


def test_a_network_lacking_the_books_methods_is_refused_naming_them():
    class Half:
        def __init__(self):
            self.params = {}

        def loss(self, x, t):
            return 0.0

    x, t = blobs(40)
    with pytest.raises(TypeError, match="this Half lacks gradient, accuracy"):
        Trainer(Half(), x, t, x, t)


def test_checkpoints_of_a_book_style_network_are_refused(tmp_path):
    x, t = blobs(40)
    with pytest.raises(TypeError, match="checkpoint_dir needs a network with state_dict"):
        Trainer(BookStyleNet(), x, t, x, t, checkpoint_dir=tmp_path)
