"""The GPU stand-in: every branch xpnn has for a device backend, run without a GPU.

array_api_strict on ``device1`` reports itself as device memory (``is_cpu`` is false), so
the Trainer keeps losses on the device and reads them only at bounded points, and xpnn
checks no values of device arrays. These tests drive those branches: verbose training over
epochs longer than the progress refresh, divergence naming the first bad step, checkpoints
and a bitwise-exact resume, host reads bounded per epoch (never one per step), and, with
array_api_strict made to allocate like CuPy (on the current device, whatever ``device=``
says), a whole training run on a second device.
"""

from __future__ import annotations

import io
import math
import sys

import numpy as np
import pytest
from guarantees_support import Terminal, assert_bitwise_equal, blobs, make_trainer, run_state
from standin import count_host_reads, cupy_like_devices

import xpnn
from xpnn import DivergenceError, MultiLayerNet, Trainer, get_backend

STANDIN = ("array_api_strict", "device1")


@pytest.fixture
def standin() -> xpnn.Backend:
    return get_backend(*STANDIN)


def test_the_standin_is_a_device_backend_and_the_default_strict_device_is_not(standin):
    assert standin.is_cpu is False
    assert get_backend("array_api_strict").is_cpu is True


def test_verbose_training_refreshing_every_step_reads_losses_and_records_them_all(standin):
    """The main job's crash: a refresh after the first one used to stack floats with device
    arrays. A refresh interval of 0 refreshes at every step (an epoch longer than 0.5 s)."""
    out = io.StringIO()
    trainer = make_trainer(standin, epochs=2, verbose=True, refresh_interval=0.0, file=out)
    history = trainer.train()
    assert len(history["train_loss"]) == 2 * trainer.iter_per_epoch
    assert all(isinstance(v, float) and math.isfinite(v) for v in history["train_loss"])
    assert "epoch   2/2" in out.getvalue()


def test_verbose_and_quiet_training_record_the_same_losses_on_the_standin(standin):
    quiet = make_trainer(standin, epochs=2).train()["train_loss"]
    loud = make_trainer(standin, epochs=2, verbose=True, refresh_interval=0.0, file=io.StringIO())
    assert loud.train()["train_loss"] == quiet


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("verbose", [False, True])
def test_divergence_on_the_standin_names_the_first_bad_step_and_stops_within_its_epoch(
    standin, verbose, monkeypatch
):
    monkeypatch.setattr(sys, "stderr", Terminal())  # verbose: the bar reads at each refresh
    trainer = make_trainer(
        standin, epochs=4, optimizer="SGD", optimizer_param={"lr": 0.01},
        lr_schedule=lambda step: 0.01 if step < 10 else 1e300, schedule_by="step",
        net={"use_batchnorm": False, "use_dropout": False, "weight_decay_lambda": 0.0},
        verbose=verbose, refresh_interval=0.0, file=io.StringIO(),
    )  # fmt: skip
    seen: list[float] = []
    forward = trainer.network.loss_and_gradient

    def spy(x, t, **kw):
        loss, grads = forward(x, t, **kw)
        seen.append(float(get_backend(*STANDIN).to_numpy(loss)))
        return loss, grads

    trainer.network.loss_and_gradient = spy
    with pytest.raises(DivergenceError, match=r"at step (\d+) ") as err:
        trainer.train()
    first_bad = next(i for i, v in enumerate(seen) if not math.isfinite(v))
    assert f"at step {first_bad} " in str(err.value)
    end_of_its_epoch = (first_bad // trainer.iter_per_epoch + 1) * trainer.iter_per_epoch
    assert len(seen) <= end_of_its_epoch


def test_a_resumed_run_on_the_standin_ends_bitwise_like_an_uninterrupted_one(standin, tmp_path):
    whole = make_trainer(standin, epochs=3)
    whole.train()
    first = make_trainer(standin, epochs=2, checkpoint_dir=tmp_path)
    first.train()
    resumed = make_trainer(standin, epochs=3, checkpoint_dir=tmp_path, resume=True)
    assert resumed.current_epoch == 2
    resumed.train()
    assert_bitwise_equal(run_state(resumed), run_state(whole))


def test_the_dropout_stream_restarts_from_the_seed_and_the_epoch(standin):
    trainer = make_trainer(standin, epochs=2)
    trainer.train()
    assert trainer.network.dropout_rng.key == (1,)
    state = trainer.network.dropout_rng.get_state()
    assert list(state["key"]) == [1]


# -- host reads --------------------------------------------------------------------------------
def _reads_of_one_epoch(monkeypatch, n: int, **kw) -> int:
    x, t = blobs(n + 40)
    net = MultiLayerNet(12, [16, 16], 3, use_batchnorm=True, use_dropout=True, seed=0,
                        backend=get_backend(*STANDIN))  # fmt: skip
    trainer = Trainer(net, x[:n], t[:n], x[n:], t[n:], epochs=1, mini_batch_size=10,
                      optimizer="Adam", seed=0, **kw)  # fmt: skip
    with count_host_reads(monkeypatch) as reads:
        trainer.train()
    return len(reads)


def test_an_epoch_reads_the_device_a_bounded_number_of_times_whatever_its_steps(monkeypatch):
    short = _reads_of_one_epoch(monkeypatch, 50, verbose=False)  # 5 steps
    long = _reads_of_one_epoch(monkeypatch, 400, verbose=False)  # 40 steps
    assert short == long
    # the losses once, then one accuracy read per evaluation batch of each split
    assert long <= 3


def test_a_verbose_epoch_reads_the_device_once_per_progress_refresh(monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal())  # the bar is drawn on a terminal
    quiet = _reads_of_one_epoch(monkeypatch, 400, verbose=False)
    every_step = _reads_of_one_epoch(
        monkeypatch, 400, verbose=True, refresh_interval=0.0, file=io.StringIO()
    )
    never = _reads_of_one_epoch(
        monkeypatch, 400, verbose=True, refresh_interval=1e9, file=io.StringIO()
    )
    assert every_step == quiet + 40 - 1  # each of the 40 steps refreshes (the last read is shared)
    assert never == quiet  # the refresh at the epoch's last step is the end-of-epoch read


def test_a_training_step_reads_nothing_from_the_device(monkeypatch, standin):
    net = MultiLayerNet(12, [16], 3, use_batchnorm=True, use_dropout=True, seed=0,
                        backend=standin)  # fmt: skip
    opt = xpnn.Adam()
    x, t = blobs(20)
    with standin.activate():
        xd, td = standin.asarray(x), standin.asarray(t)
    with count_host_reads(monkeypatch) as reads:
        for _ in range(3):
            _, grads = net.loss_and_gradient(xd, td, checked=True)
            opt.update(net.params, grads)
        net.loss_and_gradient(xd, td)  # checked: the device arrays' values are not read
    assert reads.calls == []


# -- a second device, allocated like CuPy --------------------------------------------------------
def test_training_on_a_second_device_keeps_every_array_there(monkeypatch, standin):
    """CuPy allocates on the current device whatever ``device=`` says: xpnn must make the
    network's device current around construction, passes, updates and training."""
    x, t = blobs()
    monkeypatch.setattr(sys, "stderr", Terminal())  # with the progress bar's reads
    with cupy_like_devices(monkeypatch):
        net = MultiLayerNet(12, [16, 16], 3, use_batchnorm=True, use_dropout=True,
                            weight_decay_lambda=1e-3, seed=0, backend=standin)  # fmt: skip
        trainer = Trainer(net, x[:200], t[:200], x[200:], t[200:], epochs=2,
                          mini_batch_size=32, optimizer="Adam", verbose=True,
                          refresh_interval=0.0, file=io.StringIO(), seed=0)  # fmt: skip
        trainer.train()
        opt = xpnn.Momentum()
        opt.update(net.params, net.gradient(x[:8], t[:8]))
        net.predict(x[:8])
        net.loss(x[:8], t[:8])
        net.accuracy(x, t)
        net.numerical_gradient(x[:2], t[:2])
        net.load_state_dict(net.state_dict())
    arrays = {**net.params, **net._store.buffers()}
    arrays.update({f"{slot}[{k}]": a for k, s in opt.state.arrays.items() for slot, a in s.items()})
    arrays.update(
        {f"Adam {k}": a for k, s in trainer.optimizer.state.arrays.items() for a in s.values()}
    )
    misplaced = {k: str(a.device) for k, a in arrays.items() if a.device != standin.device}
    assert misplaced == {}


def test_without_entering_the_device_cupy_like_allocation_lands_on_the_wrong_one(
    monkeypatch, standin
):
    """The simulation bites: an array made without ``activate()`` is not on the device."""
    with cupy_like_devices(monkeypatch):
        outside = standin.xp.zeros(3, device=standin.device)
        with standin.activate():
            inside = standin.xp.zeros(3, device=standin.device)
            with pytest.raises(RuntimeError, match="current device"):
                with get_backend("array_api_strict", "device2").activate():
                    inside + 1.0
    assert outside.device != standin.device
    assert inside.device == standin.device


def test_numpy_host_input_is_still_value_checked_on_the_standin(standin):
    net = MultiLayerNet(4, [3], 2, backend=standin, seed=0)
    bad = np.zeros((2, 4), dtype=np.float32)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="contains NaN"):
        net.predict(bad)
