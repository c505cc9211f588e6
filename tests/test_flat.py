"""Flat buffers: a network's parameters and gradients are views of one buffer each, and an
optimizer given them updates the whole buffer at once — with the same results, bit for bit,
as the per-tensor path that any other dict of arrays takes."""

from __future__ import annotations

import numpy as np
import pytest
from guarantees_support import blobs

import xpnn
from xpnn.flat import FlatDict

RULES = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "AdamW"]


def twin_nets(backend, dtype, **kw):
    opts = {"use_batchnorm": True, "use_dropout": True, "dropout_ratio": 0.2,
            "weight_decay_lambda": 1e-3, "seed": 3, **kw}  # fmt: skip
    return [xpnn.MultiLayerNet(12, [16, 16], 3, backend=backend, dtype=dtype, **opts)
            for _ in range(2)]  # fmt: skip


def state(net, opt):
    return {k: v for k, v in net.state_dict().items() if k != "dropout_rng"}, opt.state_dict()


@pytest.mark.parametrize("rule", RULES)
def test_flat_and_per_tensor_updates_give_bitwise_equal_parameters_after_100_steps(
    backend, dtype, rule
):
    x, t = blobs(300)
    flat_net, tensor_net = twin_nets(backend, dtype)
    flat_opt, tensor_opt = xpnn.get_optimizer(rule), xpnn.get_optimizer(rule)
    for step in range(100):
        i = (step * 20) % 280
        batch = (x[i : i + 20], t[i : i + 20])
        grads = flat_net.gradient(*batch)
        assert type(flat_net.params) is FlatDict and type(grads) is FlatDict
        flat_opt.update(flat_net.params, grads)  # the flat path
        grads = tensor_net.gradient(*batch)
        tensor_opt.update(dict(tensor_net.params), dict(grads))  # the per-tensor path
    assert flat_opt.state.flat is not None and tensor_opt.state.flat is None
    (p1, s1), (p2, s2) = state(flat_net, flat_opt), state(tensor_net, tensor_opt)
    for key in p1:
        np.testing.assert_array_equal(p1[key], p2[key], err_msg=key)
    assert s1["step"] == s2["step"]
    for slot in s1["state"]:
        for key in s1["state"][slot]:
            np.testing.assert_array_equal(s1["state"][slot][key], s2["state"][slot][key])


def test_parameters_are_views_of_one_buffer_that_the_layers_compute_with(backend, to_np):
    net = xpnn.MultiLayerNet(4, [3], 2, backend=backend, seed=0)
    assert sum(int(np.prod(p.shape)) for p in net.params.values()) == net.params.flat.shape[0]
    with backend.activate():
        net.params.flat[...] = 0.5
    assert (to_np(net.layers["Affine1"].W) == 0.5).all()
    assert (to_np(net.params["b2"]) == 0.5).all()


def test_gradients_are_views_overwritten_by_the_next_backward_pass(backend, to_np):
    net = xpnn.MultiLayerNet(4, [3], 2, backend=backend, seed=0)
    x, t = np.eye(4, dtype=np.float32), np.array([0, 1, 0, 1])
    first = net.gradient(x[:2], t[:2])
    kept = {k: to_np(v) for k, v in first.items()}
    second = net.gradient(x[2:], t[2:])
    np.testing.assert_array_equal(to_np(first["W1"]), to_np(second["W1"]))  # the same views
    assert not np.array_equal(kept["W1"], to_np(second["W1"]))


def test_a_rebound_entry_takes_the_per_tensor_path_with_the_same_result(backend, dtype):
    x, t = blobs(40)
    a, b = twin_nets(backend, dtype)
    opt_a, opt_b = xpnn.Adam(), xpnn.Adam()
    for _ in range(3):
        opt_a.update(a.params, a.gradient(x, t))
        grads = b.gradient(x, t)
        grads["W1"] = grads["W1"]  # same array: still the buffer's view
        assert grads.intact
        grads["b1"] = b.layers["Affine1"].db + 0.0  # a new array: no longer intact
        assert not grads.intact
        opt_b.update(b.params, grads)
    for key, value in state(a, opt_a)[0].items():
        np.testing.assert_array_equal(value, state(b, opt_b)[0][key])


def test_a_state_dict_saved_from_the_flat_path_resumes_bitwise(backend, dtype):
    x, t = blobs(60)
    whole, resumed = twin_nets(backend, dtype, use_dropout=False)
    batches = [(x[i : i + 10], t[i : i + 10]) for i in range(0, 60, 10)]
    opt = xpnn.Adam()
    for batch in batches:
        opt.update(whole.params, whole.gradient(*batch))
    first = xpnn.Adam()
    for batch in batches[:3]:
        first.update(resumed.params, resumed.gradient(*batch))
    saved_net, saved_opt = resumed.state_dict(), first.state_dict()
    assert sorted(saved_opt["state"]["m"]) == sorted(resumed.params)  # per key, as before
    again = xpnn.Adam()
    again.load_state_dict(saved_opt)
    resumed.load_state_dict(saved_net)
    for batch in batches[3:]:
        again.update(resumed.params, resumed.gradient(*batch))
    for key, value in state(whole, opt)[0].items():
        np.testing.assert_array_equal(value, state(resumed, again)[0][key])


def test_steps_taken_one_key_at_a_time_are_continued_per_tensor(backend, dtype, to_np):
    """Adam's bias correction counts steps per parameter: once they differ, the flat path
    steps aside and each key keeps its own count."""
    x, t = blobs(20)
    net = xpnn.MultiLayerNet(12, [4], 3, backend=backend, dtype=dtype, seed=0)
    opt = xpnn.Adam()
    grads = net.gradient(x, t)
    opt.update({"W1": net.params["W1"]}, {"W1": grads["W1"]})  # one key, per tensor
    opt.update(net.params, net.gradient(x, t))
    assert opt.state_dict()["step"] == {"W1": 2, "b1": 1, "W2": 1, "b2": 1}
