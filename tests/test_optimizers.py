"""The optimizers: each update rule, their state, their errors, their names."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

import xpnn
from xpnn.optimizers import (
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    AdamW,
    Momentum,
    Nesterov,
    Optimizer,
    RMSprop,
    get_optimizer,
)

SHAPES = {"W1": (6, 5), "b1": (5,), "W2": (5, 3)}
STEPS = 120
LR_CHANGE = (60, 0.3)  # from this step on, lr is multiplied by this factor

# Non-default hyperparameters, so that each one shows in the trajectory.
HYPER = {
    "sgd": {"lr": 0.1},
    "momentum": {"lr": 0.05, "momentum": 0.8},
    "nesterov": {"lr": 0.05, "momentum": 0.8},
    "adagrad": {"lr": 0.5, "eps": 1e-3},
    "rmsprop": {"lr": 0.01, "decay_rate": 0.9, "eps": 1e-3},
    "adam": {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-3},
    "adamw": {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-3, "weight_decay": 0.5},
}
NAMES = list(HYPER)


# -- an independent float64 reference: the formulas as printed -------------------------------
def reference_step(name: str, hp: dict, p: np.ndarray, g: np.ndarray, s: dict, t: int):
    """One step of rule ``name`` in float64; ``s`` holds the state (zeros before step 1)."""
    lr = hp["lr"]
    if name == "sgd":
        return p - lr * g
    if name == "momentum":
        s["v"] = hp["momentum"] * s["v"] - lr * g
        return p + s["v"]
    if name == "nesterov":  # Bengio et al. (2012), eq. 7: the old velocity
        mu = hp["momentum"]
        p = p + mu * mu * s["v"] - (1 + mu) * lr * g
        s["v"] = mu * s["v"] - lr * g
        return p
    if name == "adagrad":
        s["h"] = s["h"] + g * g
        return p - lr * g / (np.sqrt(s["h"]) + hp["eps"])
    if name == "rmsprop":
        rho = hp["decay_rate"]
        s["h"] = rho * s["h"] + (1 - rho) * g * g
        return p - lr * g / (np.sqrt(s["h"]) + hp["eps"])
    if name in ("adam", "adamw"):
        b1, b2 = hp["beta1"], hp["beta2"]
        if name == "adamw":
            p = p - lr * hp["weight_decay"] * p
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g * g
        m_hat = s["m"] / (1 - b1**t)
        v_hat = s["v"] / (1 - b2**t)
        return p - lr * m_hat / (np.sqrt(v_hat) + hp["eps"])
    raise AssertionError(name)


def random_problem(seed: int, dtype: str):
    """Initial params and STEPS gradients (host, rounded to ``dtype``, held as float64)."""
    rng = np.random.default_rng(seed)
    p0 = {k: rng.standard_normal(s).astype(dtype).astype(np.float64) for k, s in SHAPES.items()}
    grads = [
        {
            k: (rng.standard_normal(s) + 0.3).astype(dtype).astype(np.float64)
            for k, s in SHAPES.items()
        }
        for _ in range(STEPS)
    ]
    return p0, grads


def on(backend, arrays: dict, dtype) -> dict:
    """Copies of host ``arrays`` on ``backend`` (never views: updates must not write back)."""
    return {k: backend.asarray(v, dtype=dtype, copy=True) for k, v in arrays.items()}


def tolerance(backend, dtype) -> dict:
    """Measured: float64 agrees to ~2e-15, float32 to ~8e-7 (relative to 1 + |w|)."""
    if backend.dtype(dtype) == backend.xp.float64:
        return {"rtol": 1e-12, "atol": 1e-12}
    return {"rtol": 1e-5, "atol": 1e-5}


def run(opt: Optimizer, params: dict, grads: list, backend, dtype) -> None:
    for g in grads:
        opt.update(params, on(backend, g, dtype))


def dtype_name(backend, dtype) -> str:
    return "float64" if backend.dtype(dtype) == backend.xp.float64 else "float32"


# -- every rule against the reference, on every backend --------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_rule_matches_float64_reference_for_120_steps(name, backend, dtype, to_np):
    hp = HYPER[name]
    p0, grads = random_problem(1, dtype_name(backend, dtype))
    params = on(backend, p0, dtype)
    opt = get_optimizer(name, **hp)

    ref = {k: v.copy() for k, v in p0.items()}
    ref_state = {k: {s: np.zeros_like(v) for s in ("v", "h", "m")} for k, v in p0.items()}
    ref_hp = dict(hp)
    for t, g in enumerate(grads, start=1):
        if t == LR_CHANGE[0]:
            opt.lr = hp["lr"] * LR_CHANGE[1]
            ref_hp["lr"] = hp["lr"] * LR_CHANGE[1]
        opt.update(params, on(backend, g, dtype))
        for k in ref:
            ref[k] = reference_step(name, ref_hp, ref[k], g[k], ref_state[k], t)

    for k in ref:
        np.testing.assert_allclose(to_np(params[k]), ref[k], **tolerance(backend, dtype))


# -- golden trajectories from torch.optim ----------------------------------------------------
GOLDEN = os.path.join(os.path.dirname(__file__), "data", "golden_optimizers.npz")
GOLDEN_RTOL = 1e-12  # relative to 1 + |w|, float64; measured agreement is ~1e-15


def golden():
    with np.load(GOLDEN) as data:
        arrays = {k: data[k] for k in data.files}
    return json.loads(str(arrays.pop("meta"))), arrays


GOLDEN_META, GOLDEN_DATA = golden()


def xpnn_trajectory(case: dict, backend, update=None) -> dict[str, list[np.ndarray]]:
    """Our trajectory on the golden inputs, in float64, at the golden snapshots."""
    f64 = backend.dtype("float64")
    keys = [k.split("/")[1] for k in GOLDEN_DATA if k.startswith("p0/")]
    params = on(backend, {k: GOLDEN_DATA[f"p0/{k}"] for k in keys}, f64)
    name, kwargs = case["xpnn"]
    opt = get_optimizer(name, **kwargs)
    lr_at = case.get("lr_at")
    snaps: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for t in range(1, GOLDEN_META["steps"] + 1):
        if lr_at is not None and t == lr_at[0] + 1:
            opt.lr = lr_at[1]
        grads = {k: backend.asarray(GOLDEN_DATA[f"grads/{k}"][t - 1], dtype=f64) for k in keys}
        (update or opt.update)(params, grads)
        if t in GOLDEN_META["snapshots"]:
            for k in keys:
                snaps[k].append(backend.to_numpy(params[k]).copy())
    return snaps


def assert_matches_golden(snaps: dict, case_name: str) -> None:
    for k, traj in snaps.items():
        want = GOLDEN_DATA[f"{case_name}/{k}"]
        err = np.max(np.abs(np.stack(traj) - want) / (1 + np.abs(want)))
        assert err <= GOLDEN_RTOL, f"{case_name} {k}: relative error {err:.3g}"


@pytest.mark.parametrize("case_name", list(GOLDEN_META["cases"]))
def test_trajectory_matches_torch_optim(case_name, backend):
    snaps = xpnn_trajectory(GOLDEN_META["cases"][case_name], backend)
    assert_matches_golden(snaps, case_name)


def test_golden_check_tells_eps_on_sqrt_v_from_eps_on_sqrt_v_hat():
    """The book's listing adds eps to √v, torch (and we) to √v̂: the golden case with a large
    eps tells them apart, so the check above has teeth."""
    case = GOLDEN_META["cases"]["adam_large_eps"]
    hp = case["xpnn"][1]
    b1, b2 = hp["beta1"], hp["beta2"]
    state: dict = {}
    t = {"n": 0}

    def book_adam(params, grads):
        t["n"] += 1
        lr_t = hp["lr"] * math.sqrt(1 - b2 ** t["n"]) / (1 - b1 ** t["n"])
        for k, g in grads.items():
            m, v = state.setdefault(k, (np.zeros_like(g), np.zeros_like(g)))
            m += (1 - b1) * (g - m)
            v += (1 - b2) * (g * g - v)
            params[k] -= lr_t * m / (np.sqrt(v) + hp["eps"])

    snaps = xpnn_trajectory(case, xpnn.get_backend("numpy"), update=book_adam)
    with pytest.raises(AssertionError, match="relative error"):
        assert_matches_golden(snaps, "adam_large_eps")


def test_golden_check_tells_bengio_nesterov_from_the_books_listing():
    """The book's listing updates v first and then adds α²·v_new (α³·v_old in all); Bengio's
    form, like torch, adds α²·v_old. The golden check tells them apart."""
    hp = GOLDEN_META["cases"]["nesterov"]["xpnn"][1]
    mu, lr = hp["momentum"], hp["lr"]
    velocity: dict = {}

    def book_nesterov(params, grads):
        for k, g in grads.items():
            v = velocity.setdefault(k, np.zeros_like(g))
            v *= mu
            v -= lr * g
            params[k] += mu * mu * v
            params[k] -= (1 + mu) * lr * g

    snaps = xpnn_trajectory(
        GOLDEN_META["cases"]["nesterov"], xpnn.get_backend("numpy"), book_nesterov
    )
    with pytest.raises(AssertionError, match="relative error"):
        assert_matches_golden(snaps, "nesterov")


# -- state: persistence, dtype, device, in place ---------------------------------------------
def test_adagrad_accumulator_persists_across_updates(backend, dtype, to_np):
    params = {"w": backend.asarray(np.zeros(3), dtype=dtype)}
    grad = {"w": backend.asarray(np.full(3, 2.0), dtype=dtype)}
    opt = AdaGrad(lr=1.0)
    opt.update(params, grad)  # h = 4: step 2 / 2 = 1
    opt.update(params, grad)  # h = 8: step 2 / √8 ≈ 0.707 (a reset would step 1 again)
    np.testing.assert_allclose(to_np(params["w"]), -(1.0 + 2.0 / math.sqrt(8.0)), rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_update_keeps_param_array_dtype_and_device(name, backend, dtype, assert_on_device):
    params = {"w": backend.asarray(np.ones((2, 3)), dtype=dtype)}
    before = params["w"]
    opt = get_optimizer(name)
    for _ in range(3):
        opt.update(params, {"w": backend.asarray(np.full((2, 3), 0.5), dtype=dtype)})
    assert params["w"] is before
    assert params["w"].dtype == dtype
    assert_on_device(params["w"])


@pytest.mark.parametrize("name", NAMES)
def test_state_lives_on_param_device_in_its_dtype(name, backend, dtype, assert_on_device):
    params = {"w": backend.asarray(np.ones(4), dtype=dtype)}
    opt = get_optimizer(name)
    opt.update(params, {"w": backend.asarray(np.full(4, 0.5), dtype=dtype)})
    for array in opt.state.arrays["w"].values():
        assert array.dtype == dtype
        assert_on_device(array)


def test_param_without_grad_is_untouched(backend, dtype, to_np):
    params = {
        "a": backend.asarray(np.ones(3), dtype=dtype),
        "b": backend.asarray(np.ones(3), dtype=dtype),
    }
    Adam(lr=0.1).update(params, {"a": backend.asarray(np.ones(3), dtype=dtype)})
    np.testing.assert_array_equal(to_np(params["b"]), np.ones(3))
    assert not np.allclose(to_np(params["a"]), 1.0)


def test_lr_change_takes_effect_at_the_next_step(backend, dtype, to_np):
    params = {"w": backend.asarray(np.zeros(2), dtype=dtype)}
    grad = {"w": backend.asarray(np.ones(2), dtype=dtype)}
    opt = SGD(lr=0.5)
    opt.update(params, grad)
    opt.lr = 0.25
    opt.update(params, grad)
    np.testing.assert_allclose(to_np(params["w"]), -0.75)


@pytest.mark.parametrize(
    ("opt", "first_step"),
    [
        (AdaGrad(lr=0.1), 0.1),  # ≈ lr·sign(g)
        (RMSprop(lr=0.1, decay_rate=0.99), 1.0),  # lr/√(1 − ρ)·sign(g): 10·lr
        (Adam(lr=0.1), 0.1),  # bias-corrected: lr·sign(g)
    ],
    ids=["adagrad", "rmsprop", "adam"],
)
def test_first_step_size_is_the_algorithms(opt, first_step):
    params = {"w": np.zeros(3)}
    opt.update(params, {"w": np.array([0.3, -2.0, 50.0])})
    np.testing.assert_allclose(params["w"], -first_step * np.array([1, -1, 1]), rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_numpy_blocked_update_is_bit_identical_to_whole_array_update(name, monkeypatch):
    """Large NumPy parameters are updated block by block (flat views), the blocks in parts
    on the backend's threads; a non-contiguous parameter or gradient falls back or is
    copied. The same bits every way."""
    import xpnn.backends.numpy

    rng = np.random.default_rng(4)
    p0 = {
        "W": rng.standard_normal((40, 7)).astype(np.float32),
        "T": rng.standard_normal((7, 40)).astype(np.float32).T,  # not contiguous
        "b": rng.standard_normal(13).astype(np.float32),  # small: never blocked
    }
    grads = [
        {
            "W": rng.standard_normal((7, 40)).astype(np.float32).T,  # not contiguous
            "T": rng.standard_normal((40, 7)).astype(np.float32),
            "b": rng.standard_normal(13).astype(np.float32),
        }
        for _ in range(5)
    ]
    results = []
    # blocks of 6 on one thread, on three threads (each a part), and one whole block
    before = xpnn.get_num_threads()
    for block, threads in ((6, 1), (6, 3), (10**9, 1)):
        monkeypatch.setattr(xpnn.backends.numpy, "NUMPY_BLOCK", block)
        monkeypatch.setattr(xpnn.backends.threads, "MIN_PART", 1)
        xpnn.set_num_threads(threads)
        params = {k: v.copy() for k, v in p0.items()}
        opt = get_optimizer(name, **HYPER[name])
        try:
            for g in grads:
                opt.update(params, g)
        finally:
            xpnn.set_num_threads(before)
        results.append(params)
    for k in p0:
        np.testing.assert_array_equal(results[0][k], results[2][k])
        np.testing.assert_array_equal(results[1][k], results[2][k])
        assert not np.array_equal(results[0][k], p0[k])


# -- state_dict ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_resumes_bit_identically(name, backend, dtype, to_np):
    p0, grads = random_problem(2, dtype_name(backend, dtype))
    grads = grads[:10]
    params = on(backend, p0, dtype)
    opt = get_optimizer(name, **HYPER[name])
    run(opt, params, grads[:5], backend, dtype)
    saved_state = opt.state_dict()
    saved_params = {k: to_np(v).copy() for k, v in params.items()}
    run(opt, params, grads[5:], backend, dtype)

    resumed = on(backend, saved_params, dtype)
    opt2 = get_optimizer(name, lr=1.0)  # hyperparameters come from the state dict
    opt2.load_state_dict(saved_state)
    run(opt2, resumed, grads[5:], backend, dtype)
    for k in params:
        np.testing.assert_array_equal(to_np(resumed[k]), to_np(params[k]))


def test_state_dict_holds_host_copies(backend, dtype):
    params = {"w": backend.asarray(np.ones(3), dtype=dtype)}
    grad = {"w": backend.asarray(np.ones(3), dtype=dtype)}
    opt = Adam()
    opt.update(params, grad)
    state = opt.state_dict()
    m = state["state"]["m"]["w"].copy()
    opt.update(params, grad)
    assert type(state["state"]["m"]["w"]) is np.ndarray
    np.testing.assert_array_equal(state["state"]["m"]["w"], m)
    assert state["step"] == {"w": 1}
    assert state["hyperparameters"] == {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}


def test_state_saved_on_numpy_resumes_on_strict_device1():
    numpy_be = xpnn.get_backend("numpy")
    strict = xpnn.get_backend("array_api_strict", "device1")
    p0, grads = random_problem(3, "float32")
    grads = grads[:8]
    params = on(numpy_be, p0, "float32")
    opt = Adam(lr=0.01)
    run(opt, params, grads[:4], numpy_be, "float32")
    state = opt.state_dict()
    moved = on(strict, params, "float32")
    run(opt, params, grads[4:], numpy_be, "float32")

    opt2 = Adam()
    opt2.load_state_dict(state)  # before any update: params of any backend are fine
    run(opt2, moved, grads[4:], strict, "float32")
    for k in params:
        assert moved[k].device == strict.device
        assert opt2.state.arrays[k]["m"].device == strict.device
        np.testing.assert_array_equal(strict.to_numpy(moved[k]), params[k])


def test_loaded_state_is_cast_to_param_dtype():
    opt = Momentum()
    opt.update({"w": np.ones(2)}, {"w": np.ones(2)})  # float64 state
    opt2 = Momentum()
    opt2.load_state_dict(opt.state_dict())
    params = {"w": np.ones(2, dtype=np.float32)}
    opt2.update(params, {"w": np.ones(2, dtype=np.float32)})
    assert opt2.state.arrays["w"]["v"].dtype == np.float32
    assert params["w"].dtype == np.float32


def test_state_dict_before_first_update_round_trips():
    opt = Adam()
    opt.update({"w": np.ones(2)}, {"w": np.ones(2)})
    state = opt.state_dict()
    loaded = Adam()
    loaded.load_state_dict(state)
    again = loaded.state_dict()
    assert again["step"] == state["step"]
    np.testing.assert_array_equal(again["state"]["v"]["w"], state["state"]["v"]["w"])


def test_load_state_dict_restores_hyperparameters():
    opt = RMSprop(lr=0.5, decay_rate=0.5, eps=1e-3)
    other = RMSprop()
    other.load_state_dict(opt.state_dict())
    assert (other.lr, other.decay_rate, other.eps) == (0.5, 0.5, 1e-3)


def test_load_state_dict_accepts_0d_arrays_from_a_checkpoint():
    opt = Adam(lr=0.01)
    opt.update({"w": np.ones(2)}, {"w": np.ones(2)})
    state = opt.state_dict()
    state["name"] = np.asarray(state["name"])
    state["hyperparameters"] = {k: np.asarray(v) for k, v in state["hyperparameters"].items()}
    state["step"] = {k: np.asarray(v) for k, v in state["step"].items()}
    other = Adam()
    other.load_state_dict(state)
    assert other.lr == 0.01 and type(other.lr) is float
    assert other.state_dict()["step"] == {"w": 1}


def test_load_state_dict_rejects_another_optimizers_state():
    with pytest.raises(ValueError, match="saved by Adam, not Momentum"):
        Momentum().load_state_dict(Adam().state_dict())


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda s: s["hyperparameters"].update(lr=-1.0),
        lambda s: s["hyperparameters"].update(momentum=0.9),
        lambda s: s["step"].update(w=0),
        lambda s: s["state"]["v"].pop("w"),
        lambda s: s["state"]["v"].update(w=np.ones(5)),
        lambda s: s["state"]["m"].update(w=np.ones(2, dtype=np.int64)),
        lambda s: s["state"].update(h={}),
    ],
    ids=["bad-lr", "unknown-hyper", "zero-step", "missing-slot", "shape", "int", "extra-slot"],
)
def test_bad_state_dict_raises_and_changes_nothing(corrupt):
    opt = Adam(lr=0.01)
    params = {"w": np.ones(2)}
    opt.update(params, {"w": np.ones(2)})
    good = opt.state_dict()
    bad = opt.state_dict()
    corrupt(bad)
    with pytest.raises((ValueError, TypeError)):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after["hyperparameters"] == good["hyperparameters"]
    assert after["step"] == good["step"]
    np.testing.assert_array_equal(after["state"]["m"]["w"], good["state"]["m"]["w"])


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (SGD, {"lr": 0.0}),
        (SGD, {"lr": -0.1}),
        (SGD, {"lr": float("nan")}),
        (SGD, {"lr": float("inf")}),
        (Momentum, {"momentum": 1.0}),
        (Momentum, {"momentum": -0.1}),
        (Nesterov, {"momentum": 1.5}),
        (AdaGrad, {"eps": 0.0}),
        (RMSprop, {"decay_rate": 1.0}),
        (RMSprop, {"eps": -1e-7}),
        (Adam, {"beta1": 1.0}),
        (Adam, {"beta2": -0.5}),
        (Adam, {"eps": 0.0}),
        (AdamW, {"weight_decay": -0.01}),
    ],
)
def test_bad_hyperparameter_raises_value_error_naming_it(cls, kwargs):
    (name,) = kwargs
    with pytest.raises(ValueError, match=name):
        cls(**kwargs)


@pytest.mark.parametrize("value", ["0.1", True, None, [0.1]])
def test_non_numeric_hyperparameter_raises_type_error(value):
    with pytest.raises(TypeError, match="lr"):
        SGD(lr=value)


def test_setting_an_invalid_lr_raises_and_keeps_the_old_one():
    opt = Adam(lr=0.01)
    with pytest.raises(ValueError, match="lr"):
        opt.lr = 0
    assert opt.lr == 0.01


def snapshot(opt: Optimizer, params: dict, to_np) -> tuple:
    return ({k: to_np(v).copy() for k, v in params.items()}, opt.state_dict())


def assert_unchanged(before: tuple, opt: Optimizer, params: dict, to_np) -> None:
    old_params, old_state = before
    for k, v in params.items():
        np.testing.assert_array_equal(to_np(v), old_params[k])
    state = opt.state_dict()
    assert state["step"] == old_state["step"]
    for slot, arrays in old_state["state"].items():
        assert arrays.keys() == state["state"][slot].keys()
        for k, a in arrays.items():
            np.testing.assert_array_equal(state["state"][slot][k], a)


def started(backend, dtype) -> tuple[Adam, dict]:
    """An Adam optimizer one step into a run on two params, ``a`` and ``b``."""
    params = {
        "a": backend.asarray(np.ones(3), dtype=dtype),
        "b": backend.asarray(np.ones((2, 2)), dtype=dtype),
    }
    opt = Adam(lr=0.1)
    opt.update(
        params, {k: backend.asarray(np.ones(v.shape), dtype=dtype) for k, v in params.items()}
    )
    return opt, params


def test_grad_without_param_raises_naming_the_key_and_changes_nothing(backend, dtype, to_np):
    opt, params = started(backend, dtype)
    before = snapshot(opt, params, to_np)
    grads = {
        "a": backend.asarray(np.ones(3), dtype=dtype),
        "c": backend.asarray(np.ones(3), dtype=dtype),
    }
    with pytest.raises(ValueError, match="'c'"):
        opt.update(params, grads)
    assert_unchanged(before, opt, params, to_np)


def test_grad_shape_mismatch_raises_naming_the_key_and_changes_nothing(backend, dtype, to_np):
    opt, params = started(backend, dtype)
    before = snapshot(opt, params, to_np)
    grads = {
        "a": backend.asarray(np.ones(3), dtype=dtype),
        "b": backend.asarray(np.ones(4), dtype=dtype),
    }
    with pytest.raises(ValueError, match=r"grads\['b'\] has shape \(4,\)"):
        opt.update(params, grads)
    assert_unchanged(before, opt, params, to_np)


def test_grad_dtype_mismatch_raises_type_error_and_changes_nothing(backend, dtype, to_np):
    opt, params = started(backend, dtype)
    before = snapshot(opt, params, to_np)
    other = "float32" if dtype_name(backend, dtype) == "float64" else "float64"
    grads = {
        "a": backend.asarray(np.ones(3), dtype=dtype),
        "b": backend.asarray(np.ones((2, 2)), dtype=other),
    }
    with pytest.raises(TypeError, match=r"grads\['b'\] has dtype"):
        opt.update(params, grads)
    assert_unchanged(before, opt, params, to_np)


def test_state_of_another_shape_raises_and_changes_nothing(backend, dtype, to_np):
    opt, params = started(backend, dtype)
    new_params = {"a": params["a"], "b": backend.asarray(np.ones(5), dtype=dtype)}
    before = snapshot(opt, new_params, to_np)
    grads = {k: backend.asarray(np.ones(v.shape), dtype=dtype) for k, v in new_params.items()}
    with pytest.raises(ValueError, match=r"state m\['b'\] has shape \(2, 2\)"):
        opt.update(new_params, grads)
    assert_unchanged(before, opt, new_params, to_np)


def test_loaded_state_of_another_shape_raises_before_any_update():
    opt = Momentum()
    opt.update({"w": np.ones(3)}, {"w": np.ones(3)})
    opt2 = Momentum()
    opt2.load_state_dict(opt.state_dict())
    params = {"w": np.ones(4)}
    with pytest.raises(ValueError, match=r"v\['w'\] has shape \(3,\)"):
        opt2.update(params, {"w": np.ones(4)})
    np.testing.assert_array_equal(params["w"], 1.0)


def test_integer_param_raises_type_error(backend):
    params = {"w": backend.asarray(np.ones(3, dtype=np.int64))}
    with pytest.raises(TypeError, match=r"params\['w'\] must be a floating-point array"):
        SGD().update(params, {"w": backend.asarray(np.ones(3, dtype=np.int64))})


def test_arrays_of_two_libraries_raise_type_error(backend, dtype):
    params = {"w": backend.asarray(np.ones(3), dtype=dtype)}
    if backend.name == "numpy":  # a gradient from another library than the parameter's
        import array_api_strict as xs

        foreign, kind = xs.ones(3, dtype=xs.float32), "Array"
    else:
        foreign, kind = np.ones(3, dtype=np.float32), "ndarray"
    with pytest.raises(TypeError, match=rf"grads\['w'\] is a {kind}"):
        SGD().update(params, {"w": foreign})
    np.testing.assert_array_equal(backend.to_numpy(params["w"]), 1.0)


def test_grad_on_another_device_raises():
    import array_api_strict as xs

    params = {"w": xs.ones(3, device=xs.Device("device1"))}
    with pytest.raises(ValueError, match=r"grads\['w'\] is on device"):
        SGD().update(params, {"w": xs.ones(3)})


# -- names -----------------------------------------------------------------------------------
def test_registry_names_every_optimizer():
    assert OPTIMIZERS == {
        "sgd": SGD,
        "momentum": Momentum,
        "nesterov": Nesterov,
        "adagrad": AdaGrad,
        "rmsprop": RMSprop,
        "adam": Adam,
        "adamw": AdamW,
    }


@pytest.mark.parametrize(
    "name", ["sgd", "SGD", "Momentum", "NESTEROV", "AdaGrad", " rmsprop ", "Adam", "AdamW"]
)
def test_get_optimizer_is_case_insensitive(name):
    opt = get_optimizer(name, lr=0.2)
    assert isinstance(opt, OPTIMIZERS[name.strip().lower()])
    assert opt.lr == 0.2


def test_get_optimizer_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="valid names are: sgd, momentum, nesterov, adagrad"):
        get_optimizer("adadelta")


def test_get_optimizer_unknown_keyword_lists_valid_ones():
    with pytest.raises(TypeError, match=r"Adam takes no \['momentum'\].*'beta1'"):
        get_optimizer("adam", momentum=0.9)


def test_get_optimizer_returns_an_instance_as_is():
    opt = Adam()
    assert get_optimizer(opt) is opt


def test_repr_shows_hyperparameters():
    assert (
        repr(AdamW(lr=0.1)) == "AdamW(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0.01)"
    )


# -- the example -----------------------------------------------------------------------------
def test_optimizer_paths_example_draws_and_reaches_the_minimum(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), "..", "examples", "optimizer_paths.py")
    spec = importlib.util.spec_from_file_location("optimizer_paths", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = tmp_path / "paths.png"
    args = ["--backend", "array_api_strict", "--device", "device1", "--out", str(out)]
    assert example.main(args) == 0
    assert out.stat().st_size > 10_000
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:6]]
    assert [r[0] for r in rows] == ["SGD", "Momentum", "AdaGrad", "Adam"]
    assert all(float(r[-1]) < 1.0 for r in rows)  # each ends within 1 of (0, 0), from 7.3
