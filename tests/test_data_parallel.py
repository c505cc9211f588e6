"""Data-parallel training steps (:mod:`xpnn.data_parallel`): a batch cut into parts gives the
whole batch's loss and gradients up to rounding, the very dropout masks of a one-part step,
the same bits again for the same seed and parts, and one part wherever the layers, the
backend or the batch do not allow parts; errors from any part leave the network and the
BLAS as they were; the setting's checks."""

from __future__ import annotations

import numpy as np
import pytest
from guarantees_support import assert_bitwise_equal, run_state
from threadpoolctl import threadpool_info

import xpnn
from xpnn import data_parallel
from xpnn.backends import threads
from xpnn.backends.blas_threads import blas_threads
from xpnn.callbacks import Callback
from xpnn.layers import Relu


@pytest.fixture(autouse=True)
def one_part_after():
    before = xpnn.get_data_parallel()
    yield
    xpnn.set_data_parallel(before)


def _batch(n: int, shape: tuple[int, ...], classes: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape)), rng.integers(0, classes, n)


def _step(net, x, t, parts: int):
    xpnn.set_data_parallel(parts)
    loss, grads = net.loss_and_gradient(x, t)
    return float(loss), {k: np.array(v, copy=True) for k, v in grads.items()}


def _close(a: dict, b: dict, rtol: float) -> None:
    assert a.keys() == b.keys()
    for key in a:
        scale = float(np.abs(a[key]).max()) or 1.0
        np.testing.assert_allclose(b[key], a[key], rtol=0, atol=rtol * scale, err_msg=key)


def test_parts_are_near_equal_and_none_is_smaller_than_the_minimum():
    assert data_parallel.parts_of(100, 2) == [(0, 50), (50, 100)]
    assert data_parallel.parts_of(100, 3) == [(0, 33), (33, 66), (66, 100)]
    assert data_parallel.parts_of(100, 8) == [(i * 100 // 6, (i + 1) * 100 // 6) for i in range(6)]
    assert data_parallel.parts_of(31, 2) == [(0, 31)]  # 15.5 samples a part: one part
    assert data_parallel.parts_of(0, 4) == [(0, 0)]


def test_inference_parts_hold_whole_steps_or_else_fit_in_one():
    replicas, net = data_parallel.Replicas(), NETWORKS["simple"][0]()
    xpnn.set_data_parallel(2)
    assert replicas.eval_parts(net, 10_000, 200) == [(0, 5000), (5000, 10_000)]
    assert replicas.eval_parts(net, 1000, 300) == [(0, 600), (600, 1000)]  # 4 steps, 2 each
    assert replicas.eval_parts(net, 30, 200) == [(0, 30)]  # 15 samples a part: one part
    xpnn.set_data_parallel(4)
    assert replicas.eval_parts(net, 250, 200) == [(0, 62), (62, 125), (125, 187), (187, 250)]
    xpnn.set_data_parallel(1)
    assert replicas.eval_parts(net, 10_000, 200) == [(0, 10_000)]


@pytest.mark.parametrize("batch_size", [None, 40, 1000])
def test_accuracy_in_parts_counts_what_one_part_counts(batch_size):
    make, shape = NETWORKS["deep"]
    x, t = _batch(200, shape, seed=7)
    net = make()
    xpnn.set_data_parallel(1)
    for i in range(3):  # a few steps, so the scores are not all alike
        xpnn.Adam(lr=0.05).update(net.params, net.gradient(x[i * 50 : i * 50 + 50], t[:50]))
    one = net.accuracy(x, t, batch_size)
    xpnn.set_data_parallel(3)
    assert net.accuracy(x, t, batch_size) == one
    assert len(net._replicas._replicas) == 2  # it ran in three parts
    assert net.accuracy(x, np.eye(10)[t], batch_size) == one  # one-hot labels too


NETWORKS = {
    "deep": (lambda: xpnn.DeepConvNet((1, 12, 12), hidden_size=20, dtype="float64", seed=3),
             (1, 12, 12)),
    "simple": (lambda: xpnn.SimpleConvNet((1, 10, 10), {"filter_num": 4, "filter_size": 3},
                                          hidden_size=12, dtype="float64", seed=3), (1, 10, 10)),
    "deep-decay": (lambda: xpnn.DeepConvNet((1, 12, 12), hidden_size=20, dtype="float64",
                                            weight_decay_lambda=0.1, seed=4), (1, 12, 12)),
}  # fmt: skip


@pytest.mark.parametrize("name", NETWORKS)
@pytest.mark.parametrize("parts", [2, 3])
def test_parts_give_the_whole_batchs_loss_and_gradients(name, parts):
    make, shape = NETWORKS[name]
    x, t = _batch(64, shape)
    one, many = make(), make()
    loss1, g1 = _step(one, x, t, 1)
    loss2, g2 = _step(many, x, t, parts)
    assert len(many._replicas._replicas) == parts - 1  # the step ran in parts
    assert loss2 == pytest.approx(loss1, rel=1e-13)
    _close(g1, g2, 1e-12)  # dropout included: the masks are the one-part step's
    # the dropout streams advanced alike: the next masks are the same too
    assert np.array_equal(one.dropout_rng.random((8,)), many.dropout_rng.random((8,)))


def test_training_in_parts_follows_training_in_one_and_repeats_to_the_bit():
    make, shape = NETWORKS["deep"]
    x, t = _batch(96, shape, seed=1)
    runs = []
    for parts in (1, 2, 2):
        net, opt = make(), xpnn.Adam(lr=0.01)
        for i in range(3):
            xpnn.set_data_parallel(parts)
            opt.update(net.params, net.gradient(x[i * 32 : i * 32 + 32], t[i * 32 : i * 32 + 32]))
        runs.append({k: np.array(v) for k, v in net.params.items()})
    _close(runs[0], runs[1], 1e-10)  # the parameters the optimizer updated reached the copies
    for key in runs[1]:
        assert np.array_equal(runs[1][key], runs[2][key]), key


class _CrashAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_begin(self, trainer, step: int) -> None:
        if step == self.step:
            raise KeyError("crash")


def _deep_trainer(**kw):
    x, t = _batch(160, (1, 12, 12), seed=5)
    return xpnn.Trainer(NETWORKS["deep"][0](), x[:128], t[:128], x[128:], t[128:], epochs=2,
                        mini_batch_size=32, optimizer="Adam", optimizer_param={"lr": 0.01},
                        verbose=False, seed=2, **kw)  # fmt: skip


def test_a_run_in_parts_resumed_from_a_step_checkpoint_ends_bitwise_like_one_never_stopped(
    tmp_path,
):
    xpnn.set_data_parallel(2)
    whole = _deep_trainer()
    whole.train()
    assert len(whole.network._replicas._replicas) == 1  # its steps ran in two parts
    crashed = _deep_trainer(checkpoint_dir=tmp_path, checkpoint_steps=3, callbacks=[_CrashAt(6)])
    with pytest.raises(KeyError, match="crash"):
        crashed.train()
    resumed = _deep_trainer(resume=tmp_path)
    resumed.train()
    assert_bitwise_equal(run_state(resumed), run_state(whole))


def test_float32_parts_agree_with_one_part_to_float32_rounding():
    x, t = _batch(100, (1, 28, 28))
    one, many = (xpnn.DeepConvNet(seed=0) for _ in range(2))
    loss1, g1 = _step(one, x.astype(np.float32), t, 1)
    loss2, g2 = _step(many, x.astype(np.float32), t, 2)
    assert loss2 == pytest.approx(loss1, rel=1e-5)
    _close(g1, g2, 1e-4)


def _bitwise_one_part(make, shape, prepare=lambda net: None, n=64):
    x, t = _batch(n, shape)
    one, many = make(), make()
    prepare(one), prepare(many)
    loss1, g1 = _step(one, x, t, 1)
    loss2, g2 = _step(many, x, t, 2)
    assert loss1 == loss2
    for key in g1:
        assert np.array_equal(g1[key], g2[key]), key
    return many


def test_networks_without_convolutions_run_in_one_part():
    net = _bitwise_one_part(
        lambda: xpnn.MultiLayerNet(20, [16], 10, use_dropout=True, dtype="float64", seed=2),
        (20,),
    )
    assert not net._replicas.applies(net)


def test_batchnorm_networks_run_in_one_part():
    def batchnorm_net():
        net = NETWORKS["simple"][0]()
        gamma, beta = np.ones(4), np.zeros(4)
        net.layers["Norm"] = xpnn.layers.BatchNormalization(gamma, beta)
        net.layers["Norm"].backend = net.backend
        net.layers = {k: net.layers[k] for k in ["Conv1", "Norm", *list(net.layers)[1:-1]]}
        return net

    net = _bitwise_one_part(batchnorm_net, (1, 10, 10))
    assert not net._replicas.applies(net)


def test_a_batch_too_small_to_cut_runs_in_one_part():
    _bitwise_one_part(NETWORKS["deep"][0], (1, 12, 12), n=31)


def test_held_dropout_masks_run_in_one_part():
    def hold(net):
        for d, units in zip(net._dropouts, (20, 10), strict=True):
            d.fixed_mask = np.ones((64, units), dtype=bool)

    _bitwise_one_part(NETWORKS["deep"][0], (1, 12, 12), hold)


def _changed_after_a_step_in_parts(name, change):
    """Two networks, one after a step in parts; ``change`` made to both; then their next
    steps (one part, two) agree."""
    make, shape = NETWORKS[name]
    x, t = _batch(64, shape)
    one, many = make(), make()
    _step(many, x, t, 2)
    for net in (one, many):
        change(net)
    _close(_step(one, x, t, 1)[1], _step(many, x, t, 2)[1], 1e-12)
    return many


def test_a_layer_swapped_in_is_copied_again():
    def swap(net):
        net.layers["Relu2"] = Relu()  # the book's scripts swap layers in
        net.layers["Relu2"].backend = net.backend

    many = _changed_after_a_step_in_parts("simple", swap)
    replica_layers = many._replicas._replicas[0].layers.values()
    assert not any(layer is many.layers["Relu2"] for layer in replica_layers)


def test_a_layer_with_parameters_of_its_own_runs_in_one_part():
    make, shape = NETWORKS["simple"]

    def own_weights(net):
        affine = net.layers["Affine2"]
        affine.W = np.array(affine.W, copy=True)  # no longer the network's parameter

    _bitwise_one_part(make, shape, own_weights)


def test_settings_changed_on_a_layer_reach_the_copies():
    def no_dropout(net):
        for d in net._dropouts:
            d.dropout_ratio = 0.0

    _changed_after_a_step_in_parts("deep", no_dropout)


class _Fails(Relu):
    per_sample = True

    def backward(self, dout):
        raise RuntimeError("this layer fails")


def test_an_error_in_a_part_is_raised_and_leaves_generators_and_blas_as_they_were():
    make, shape = NETWORKS["deep"]
    x, t = _batch(64, shape)
    net = make()
    net.layers["Relu7"] = _Fails()
    net.layers["Relu7"].backend = net.backend
    blas_before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    xpnn.set_data_parallel(2)
    with pytest.raises(RuntimeError, match="this layer fails"):
        net.loss_and_gradient(x, t)
    assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == blas_before
    assert all(d.generator is net.dropout_rng for d in net._dropouts)
    for replica in net._replicas._replicas:
        assert all(
            d.generator is net.dropout_rng
            for d in replica.layers.values()
            if isinstance(d, xpnn.layers.Dropout)
        )


def test_blas_threads_are_limited_inside_and_restored_after():
    counts = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    with blas_threads(1):
        inside = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    assert inside == [1] * len(counts)
    assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == counts


def test_kernels_of_a_part_stay_on_its_thread():
    before = xpnn.get_num_threads()
    xpnn.set_num_threads(4)
    try:
        assert threads.splits(1 << 26)
        with threads.on_this_thread_only():
            assert not threads.splits(1 << 26)
            assert threads.parts(100, 1 << 26) == [(0, 100)]
        assert threads.splits(1 << 26)
    finally:
        xpnn.set_num_threads(before)


def test_run_all_returns_results_in_order_and_raises_the_first_error():
    assert threads.run_all([lambda i=i: i * i for i in range(4)]) == [0, 1, 4, 9]

    def fail():
        raise ValueError("part failed")

    with pytest.raises(ValueError, match="part failed"):
        threads.run_all([lambda: 1, fail])


def test_other_backends_run_in_one_part():
    strict = pytest.importorskip("array_api_strict")
    net = xpnn.SimpleConvNet((1, 10, 10), {"filter_num": 4, "filter_size": 3}, hidden_size=12,
                             backend="array_api_strict", seed=0)  # fmt: skip
    assert not net._replicas.applies(net)
    x, t = _batch(64, (1, 10, 10))
    xpnn.set_data_parallel(2)
    net.gradient(strict.asarray(x.astype(np.float32)), strict.asarray(t))
    assert net._replicas._replicas == []


@pytest.mark.parametrize("bad", [0, -2, 1.5, "two", "", True])
def test_the_setting_names_what_it_takes(bad):
    with pytest.raises(ValueError, match=r"whole number of parts >= 1 or 'auto'"):
        xpnn.set_data_parallel(bad)


def test_auto_takes_one_part_a_cpu_and_the_environment_is_checked():
    xpnn.set_data_parallel(np.int64(3))
    assert xpnn.get_data_parallel() == 3
    xpnn.set_data_parallel(" 2 ")
    assert xpnn.get_data_parallel() == 2
    xpnn.set_data_parallel("auto")
    assert xpnn.get_data_parallel() == threads.available_cpus()
    with pytest.raises(ValueError, match="XPNN_DATA_PARALLEL must be a whole number"):
        data_parallel._parse("zero", "XPNN_DATA_PARALLEL")
