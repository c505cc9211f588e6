"""The Trainer: the book's interface, real epochs on the device, divergence, checkpoints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from guarantees_support import blobs, make_net, make_trainer

import xpnn
from xpnn import DivergenceError, MultiLayerNet, Trainer, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]


# -- the book's interface ------------------------------------------------------------------


def test_history_lists_have_the_books_lengths():
    tr = make_trainer(epochs=3)
    tr.train()
    assert tr.iter_per_epoch == 7  # ceil(200 / 32): the last partial batch is kept
    assert len(tr.train_loss_list) == 3 * 7
    assert len(tr.train_acc_list) == len(tr.test_acc_list) == 3
    assert all(isinstance(v, float) for v in tr.train_loss_list)


def test_training_learns_separable_blobs(backend):
    tr = make_trainer(backend=backend, epochs=8)
    tr.train()
    assert tr.train_loss_list[-1] < tr.train_loss_list[0]
    assert tr.test_acc_list[-1] > 0.9


def test_each_epoch_visits_every_sample_once(backend, to_np):
    tr = make_trainer(backend=backend)
    for epoch in range(2):
        seen = np.concatenate([to_np(idx) for idx in tr._epoch_batches(epoch)])
        np.testing.assert_array_equal(np.sort(seen), np.arange(200))


def test_epochs_are_shuffled_differently():
    tr = make_trainer()
    a = np.concatenate(tr._epoch_batches(0))
    b = np.concatenate(tr._epoch_batches(1))
    assert not np.array_equal(a, b)


def test_same_seeds_give_the_same_run():
    a, b = make_trainer(), make_trainer()
    a.train()
    b.train()
    assert a.train_loss_list == b.train_loss_list
    assert a.test_acc_list == b.test_acc_list


def test_optimizer_may_be_an_instance():
    opt = xpnn.Momentum(lr=0.05)
    tr = make_trainer(optimizer=opt, optimizer_param=None)
    tr.train()
    assert tr.optimizer is opt


def test_evaluate_sample_num_limits_evaluation():
    tr = make_trainer(evaluate_sample_num_per_epoch=10, epochs=1)
    tr.train()
    assert tr.test_acc_list[0] * 10 == pytest.approx(round(tr.test_acc_list[0] * 10))


def test_lr_schedule_by_epoch_sets_the_learning_rate():
    seen = []

    def schedule(epoch: int) -> float:
        seen.append(epoch)
        return 0.01 * 0.5**epoch

    tr = make_trainer(epochs=3, lr_schedule=schedule)
    tr.train()
    assert seen == [0, 1, 2]
    assert tr.optimizer.lr == pytest.approx(0.0025)


def test_lr_schedule_by_step_is_called_every_step():
    steps = []
    tr = make_trainer(epochs=2, lr_schedule=lambda s: steps.append(s) or 0.01, schedule_by="step")
    tr.train()
    assert steps == list(range(14))


# -- output ----------------------------------------------------------------------------------


def test_quiet_training_prints_nothing(capsys):
    make_trainer(epochs=2).train()
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_verbose_training_prints_one_summary_per_epoch(capsys):
    make_trainer(epochs=2, verbose=True).train()
    out = capsys.readouterr().out
    summaries = [line for line in out.splitlines() if line.startswith("epoch")]
    assert len(summaries) == 2
    assert "test acc" in summaries[0] and "img/s" in summaries[0]
    assert "final test accuracy" in out


# -- divergence ------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_absurd_learning_rate_raises_divergence_error_naming_the_step(backend):
    tr = make_trainer(
        backend=backend,
        optimizer="SGD",
        optimizer_param={"lr": 1e12},
        net={"use_batchnorm": False, "use_dropout": False, "weight_decay_lambda": 0},
    )
    with pytest.raises(DivergenceError, match=r"at step \d+ .*smaller learning rate"):
        tr.train()


def test_divergence_error_is_a_floating_point_error():
    assert issubclass(DivergenceError, FloatingPointError)


# -- bad arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"mini_batch_size": -5}, "mini_batch_size must be a positive integer"),
        ({"epochs": 2.5}, "epochs must be a positive integer"),
        ({"schedule_by": "batch"}, "schedule_by must be 'epoch' or 'step'"),
        ({"evaluate_sample_num_per_epoch": 0}, "evaluate_sample_num_per_epoch"),
    ],
)
def test_bad_trainer_arguments_are_rejected(kw, message):
    with pytest.raises(ValueError, match=message):
        make_trainer(**kw)


def test_unknown_optimizer_name_is_rejected():
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_trainer(optimizer="lbfgs")


def test_optimizer_param_with_an_instance_is_rejected():
    with pytest.raises(ValueError, match="optimizer_param is only used with an optimizer name"):
        make_trainer(optimizer=xpnn.SGD(), optimizer_param={"lr": 0.1})


def test_labels_of_the_wrong_length_are_rejected():
    x, t = blobs()
    net = MultiLayerNet(12, [8], 3, seed=0)
    with pytest.raises(ValueError, match="t_train has 199 labels for 200 samples"):
        Trainer(net, x[:200], t[:199], x[200:], t[200:], verbose=False)


def test_integer_images_are_rejected_with_a_hint():
    x, t = blobs()
    net = MultiLayerNet(12, [8], 3, seed=0)
    with pytest.raises(TypeError, match=r"x_train has dtype uint8.*255"):
        Trainer(net, x.astype(np.uint8), t, x, t, verbose=False)


def test_empty_training_set_is_rejected():
    x, t = blobs()
    net = MultiLayerNet(12, [8], 3, seed=0)
    with pytest.raises(ValueError, match="x_train is empty"):
        Trainer(net, x[:0], t[:0], x, t, verbose=False)


# -- checkpoints -----------------------------------------------------------------------------


@pytest.mark.parametrize("backend_name", ["numpy", "array_api_strict"])
def test_resume_after_epoch_k_is_bitwise_identical_to_an_uninterrupted_run(tmp_path, backend_name):
    full = make_trainer(backend=backend_name, epochs=4)
    full.train()

    first = make_trainer(backend=backend_name, epochs=4, checkpoint_dir=tmp_path)
    first.epochs = 2  # stop after epoch 2, as a crash or a time limit would
    first.train()
    resumed = make_trainer(backend=backend_name, epochs=4, resume=tmp_path / "checkpoint.npz")
    assert resumed.current_epoch == 2
    resumed.train()

    assert resumed.train_loss_list == full.train_loss_list
    assert resumed.train_acc_list == full.train_acc_list
    assert resumed.test_acc_list == full.test_acc_list
    a, b = full.network.state_dict(), resumed.network.state_dict()
    for key in a:
        if key != "dropout_rng":
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_checkpoint_is_written_every_k_epochs_and_at_the_end(tmp_path):
    tr = make_trainer(epochs=3, checkpoint_dir=tmp_path, checkpoint_every=2)
    epochs = []
    save = tr.save_checkpoint
    tr.save_checkpoint = lambda path: (epochs.append(tr.current_epoch), save(path))
    tr.train()
    assert epochs == [2, 3]
    assert load_checkpoint(tmp_path / "checkpoint.npz")["trainer"]["epoch"] == 3


def test_checkpoint_from_numpy_resumes_on_every_backend(tmp_path, backend, to_np):
    src = make_trainer(epochs=2, dtype="float64", checkpoint_dir=tmp_path)
    src.train()
    kw = {"backend": backend, "epochs": 3, "dtype": "float64"}
    if backend.name in ("numpy", "array_api_strict"):  # the same host generator: restored
        dst = make_trainer(**kw, resume=tmp_path / "checkpoint.npz")
    else:  # another generator kind cannot take the dropout stream, and says so
        with pytest.warns(RuntimeWarning, match="dropout generator state not restored"):
            dst = make_trainer(**kw, resume=tmp_path / "checkpoint.npz")
    assert dst.current_epoch == 2
    for key, value in src.network.params.items():
        np.testing.assert_array_equal(to_np(dst.network.params[key]), value, err_msg=key)
    dst.train()
    assert len(dst.test_acc_list) == 3


def test_resume_with_another_optimizer_is_refused(tmp_path):
    make_trainer(epochs=1, checkpoint_dir=tmp_path).train()
    with pytest.raises(ValueError, match=r"saved with optimizer Adam.*uses SGD"):
        make_trainer(optimizer="SGD", resume=tmp_path / "checkpoint.npz")


def test_resume_into_a_network_of_another_shape_names_the_parameter(tmp_path):
    make_trainer(epochs=1, checkpoint_dir=tmp_path).train()
    x, t = blobs()
    net = MultiLayerNet(12, [16, 32], 3, seed=1, use_batchnorm=True, use_dropout=True)
    with pytest.raises(ValueError, match="W2"):
        Trainer(net, x, t, x, t, optimizer="Adam", resume=tmp_path / "checkpoint.npz")


def test_resume_true_needs_a_checkpoint_dir():
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        make_trainer(resume=True)


# -- real MNIST --------------------------------------------------------------------------------


def test_short_training_on_real_mnist_clears_90_percent(mnist):
    (x, t), (xt, tt) = mnist
    net = MultiLayerNet(784, [100, 100], 10, seed=0)
    tr = Trainer(net, x[:10000], t[:10000], xt[:2000], tt[:2000], epochs=2,
                 optimizer="Adam", optimizer_param={"lr": 1e-3}, verbose=False, seed=0)  # fmt: skip
    tr.train()
    assert tr.test_acc_list[-1] > 0.90


def test_mnist_example_runs_end_to_end_and_plots(tmp_path, mnist):
    png = tmp_path / "curves.png"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "mnist.py"), "--epochs", "1",
         "--limit", "5000", "--quiet", "--plot", str(png)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stdout
    assert png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_on_epoch_end_is_called_after_each_epoch_with_the_history_up_to_date():
    seen = []
    trainer = make_trainer(epochs=3, on_epoch_end=lambda tr: seen.append(
        (tr.current_epoch, len(tr.test_acc_list), len(tr.train_loss_list))))  # fmt: skip
    trainer.train()
    steps = trainer.iter_per_epoch
    assert seen == [(1, 1, steps), (2, 2, 2 * steps), (3, 3, 3 * steps)]


def test_on_epoch_end_must_be_callable():
    with pytest.raises(TypeError, match="on_epoch_end must be a callable"):
        make_trainer(on_epoch_end="print")


def test_integer_labels_train_exactly_as_their_one_hot_rows(backend):
    """The Trainer turns integer labels into one-hot rows once; nothing else changes."""
    x, t = blobs()
    one_hot = np.eye(3, dtype=np.float32)[t]
    runs = []
    for labels in (t, one_hot):
        net = make_net(backend)
        trainer = Trainer(net, x[:200], labels[:200], x[200:], labels[200:], epochs=2,
                          mini_batch_size=32, optimizer="Adam", verbose=False, seed=2)  # fmt: skip
        runs.append((trainer.train()["train_loss"], net.state_dict()))
    assert runs[0][0] == runs[1][0]
    for key, value in runs[0][1].items():
        if key != "dropout_rng":
            np.testing.assert_array_equal(value, runs[1][1][key])
