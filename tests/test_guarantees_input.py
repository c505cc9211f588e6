"""Guarantee: bad input gets a clear error and changes nothing; good input gets the right answer.

Property tests (hypothesis) throw shapes, dtypes, label values, NaN, infinities, values
beyond float32's range and empty batches at ``MultiLayerNet`` (``predict``, ``loss``,
``gradient``, ``accuracy``), at every optimizer's ``update`` and at the ``Trainer``. Each
call must either give the correct result or raise ``ValueError``/``TypeError`` whose message
names one of the problems in its input; after an error the network's ``state_dict()`` (the
parameters, batch-norm statistics and dropout generator) and the optimizer's
``state_dict()`` are bitwise what they were.

Each kind of fault is its own test case, on every backend, so that none is left to chance;
hypothesis varies the rest (batch size, flat or image-shaped input, dtypes, values, where the
fault sits) over a few examples per case. The oracles collect *every* problem of an input,
and the error raised must name one of them: which is reported first is not promised.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from guarantees_support import assert_bitwise_equal, blobs
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_optimizers import reference_step

import xpnn
from xpnn import MultiLayerNet, Trainer
from xpnn.optimizers import OPTIMIZERS

IN, HIDDEN, OUT = 6, [5], 3
#: A float64 network takes values beyond float32's range (they are valid there); its
#: arithmetic on them may overflow, as IEEE arithmetic does, and NumPy says so.
OVERFLOW_OK = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
PROPERTY = settings(  # per (fault, backend) case: about 350 cases, 2,100 examples in all
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

Problem = tuple[type[Exception], str]  # (error type, regex its message must match)


# -- strategies: batches of images and labels, each with at most one fault ----------------
#: What can be wrong with a batch of images (the network's dtype decides whether values
#: beyond float32's range are a fault: they are for a float32 network).
X_FAULTS = [
    "integer images", "bool images", "complex images", "one unbatched sample", "a scalar",
    "wrong feature count", "no features", "NaN", "infinity", "beyond float32", "empty batch",
]  # fmt: skip
#: What can be wrong with labels.
T_FAULTS = [
    "index below 0", "index above output_size - 1", "one label too many", "one label too few",
    "float indices", "bool indices", "a scalar label", "3-d labels", "one-hot too wide",
    "NaN in one-hot", "infinity in one-hot", "negative in one-hot", "above 1 in one-hot",
]  # fmt: skip
FAULTS = [("x", "none")] + [("x", f) for f in X_FAULTS] + [("t", f) for f in T_FAULTS]
FINITE = st.floats(-10, 10, width=32)


@st.composite
def images(draw: Callable, fault: str = "none") -> np.ndarray:
    """A host batch of images of any floating dtype, flat or image-shaped, spoilt by
    ``fault``."""
    n = 0 if fault == "empty batch" else draw(st.integers(1, 4))
    shape = draw(st.sampled_from([(n, IN), (n, 2, 3)]))
    shape = {"one unbatched sample": (IN,), "a scalar": (), "wrong feature count": (n, IN + 1),
             "no features": (n, 0)}.get(fault, shape)  # fmt: skip
    values = draw(hnp.arrays(np.float64, shape, elements=FINITE))
    dtype = draw(st.sampled_from(["float16", "float32", "float64"]))
    if fault in ("NaN", "infinity", "beyond float32"):
        spoilt = {"NaN": [math.nan], "infinity": [math.inf, -math.inf],
                  "beyond float32": [1e39, -3e300]}[fault]  # fmt: skip
        values.flat[draw(st.integers(0, values.size - 1))] = draw(st.sampled_from(spoilt))
        dtype = "float64" if fault == "beyond float32" else dtype
    dtype = {"integer images": draw(st.sampled_from(["int64", "uint8"])),
             "bool images": "bool", "complex images": "complex64"}.get(fault, dtype)  # fmt: skip
    with np.errstate(all="ignore"):
        return values.astype(dtype)


@st.composite
def labels(draw: Callable, n: int, fault: str = "none") -> np.ndarray:
    """Host labels for ``n`` samples: class indices of any integer dtype, or one-hot or
    soft (label-smoothed) rows of any real dtype; spoilt by ``fault``."""
    if fault == "a scalar label":
        return np.asarray(draw(st.integers(0, OUT - 1)))
    if fault == "3-d labels":
        return np.zeros((n, OUT, 1), dtype=np.float32)
    length = {"one label too many": n + 1, "one label too few": n - 1}.get(fault, n)
    if "index" in fault or "label too" in fault or (fault == "none" and draw(st.booleans())):
        dtype = draw(st.sampled_from(["int8", "uint8", "int32", "int64", "uint64"]))
        values = draw(hnp.arrays(np.int64, length, elements=st.integers(0, OUT - 1)))
        if fault.startswith("index") and length:
            wrong = -1 if fault == "index below 0" else OUT
            dtype = "int64" if wrong < 0 else dtype
            values[draw(st.integers(0, length - 1))] = wrong
        dtype = {"float indices": "float32", "bool indices": "bool"}.get(fault, dtype)
        return values.astype(dtype)
    width = OUT + 1 if fault == "one-hot too wide" else OUT
    rows = np.eye(width)[draw(hnp.arrays(np.int64, n, elements=st.integers(0, width - 1)))]
    soft = draw(st.booleans())
    if soft:
        rows = 0.8 * rows + 0.2 / width
    if fault.endswith("in one-hot"):
        spoilt = {"NaN in one-hot": math.nan, "infinity in one-hot": math.inf,
                  "negative in one-hot": -1.0, "above 1 in one-hot": 2.5}[fault]  # fmt: skip
        rows.flat[draw(st.integers(0, rows.size - 1))] = spoilt
        soft = True  # the spoilt value needs a float dtype
    kinds = ["float32", "float64"] if soft else ["float32", "float64", "int64", "bool"]
    return rows.astype(draw(st.sampled_from(kinds)))


def batch(draw: Callable, side: str, fault: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels for them, the one named by ``side`` spoilt by ``fault``."""
    x = draw(images(fault if side == "x" else "none"))
    t = draw(labels(x.shape[0] if x.ndim else 0, fault if side == "t" else "none"))
    return x, t


def image_problems(x: np.ndarray, net: MultiLayerNet, *, empty_ok: bool) -> list[Problem]:
    """Every reason the network must refuse ``x``."""
    if x.dtype.kind in "iub":
        return [(TypeError, r"x has dtype \w+; .*normalise images to float")]
    if x.dtype.kind == "c":
        return [(TypeError, r"x has dtype complex64; the network takes real floating input")]
    if x.ndim < 2:
        return [(ValueError, r"x must be a batch of shape \(N, 6\)")]
    problems: list[Problem] = []
    if math.prod(x.shape[1:]) != IN:
        problems.append((ValueError, r"x has \d+ values per sample .* expects input_size=6"))
    if x.shape[0] == 0 and not empty_ok:
        problems.append((ValueError, r"x is an empty batch"))
    if np.isnan(x).any():
        problems.append((ValueError, r"x contains NaN"))
    elif np.isinf(x).any():
        problems.append((ValueError, r"x contains infinity"))
    elif x.size and np.abs(x).max() > np.finfo(net.dtype_name).max:
        problems.append((ValueError, rf"x has values beyond the range of {net.dtype_name}"))
    return problems


def label_problems(t: np.ndarray, n: int) -> list[Problem]:
    """Every reason the network must refuse ``t`` as labels for ``n`` samples."""
    if t.ndim not in (1, 2):
        return [(ValueError, r"t has shape .*; labels are integers \(N,\) or one-hot")]
    if t.ndim == 1:
        if t.dtype.kind not in "iu":
            return [(TypeError, r"t has dtype \w+; labels are integer class indices")]
        if len(t) != n:
            return [(ValueError, rf"t has {len(t)} labels for {n} samples")]
        if n and (t.astype(np.float64).min() < 0 or t.max() >= OUT):
            return [(ValueError, r"t has labels in \[.*\], outside \[0, 2\]")]
        return []
    if t.shape != (n, OUT):
        return [
            (ValueError, rf"t has shape .*; one-hot labels for this batch have shape \({n}, 3\)")
        ]
    if not np.isfinite(t).all():
        return [(ValueError, r"t contains (NaN|infinity)")]
    if t.size and (t.min() < 0 or t.max() > 1):
        return [(ValueError, r"t has values outside \[0, 1\]")]
    return []


# -- helpers --------------------------------------------------------------------------------
def stateful_net(backend: xpnn.Backend, dtype: str) -> MultiLayerNet:
    """Batch norm, dropout and weight decay: every kind of state an error could disturb."""
    return MultiLayerNet(
        IN, HIDDEN, OUT, backend=backend, dtype=dtype, seed=3, use_batchnorm=True,
        use_dropout=True, dropout_ratio=0.3, weight_decay_lambda=0.01,
    )  # fmt: skip


def refused(call: Callable[[], Any], problems: list[Problem]) -> None:
    """``call()`` raises an error of one of ``problems``' types whose message matches it."""
    with pytest.raises((ValueError, TypeError)) as err:
        call()
    message = str(err.value)
    named = [kind for kind, pattern in problems if isinstance(err.value, kind)
             and re.search(pattern, message)]  # fmt: skip
    assert named, f"{type(err.value).__name__}: {message!r} names none of {problems}"


def canonical_labels(t: np.ndarray, dtype: str) -> np.ndarray:
    """The form the network computes with: int64 indices or one-hot rows of its dtype."""
    return t.astype(np.int64) if t.ndim == 1 else t.astype(dtype)


def reference_scores(state: dict[str, np.ndarray], x: np.ndarray, eps: float) -> np.ndarray:
    """Inference-mode scores of :func:`stateful_net` in float64, from its state dict."""
    h = x.reshape(len(x), IN).astype(np.float64)
    layers = len(HIDDEN) + 1
    for i in range(1, layers + 1):
        h = h @ state[f"W{i}"].astype(np.float64) + state[f"b{i}"]
        if i < layers:
            mean, var = state[f"running_mean{i}"], state[f"running_var{i}"]
            h = (h - mean) / np.sqrt(var.astype(np.float64) + eps)
            h = np.maximum(h * state[f"gamma{i}"] + state[f"beta{i}"], 0.0)
    return h


def reference_loss(net: MultiLayerNet, x: np.ndarray, t: np.ndarray) -> float:
    """Mean softmax cross-entropy in inference mode plus ½λΣ‖W‖², in float64."""
    state = net.state_dict()
    s = reference_scores(state, x, net.layers["BatchNorm1"].eps)
    z = s - s.max(axis=1, keepdims=True)
    log_y = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    onehot = np.eye(OUT)[t] if t.ndim == 1 else t.astype(np.float64)
    decay = sum(float((state[f"W{i}"].astype(np.float64) ** 2).sum()) for i in (1, 2))
    return float(-(onehot * log_y).sum() / len(x)) + 0.5 * net.weight_decay_lambda * decay


# -- MultiLayerNet --------------------------------------------------------------------------
@OVERFLOW_OK
@PROPERTY
@pytest.mark.parametrize("fault", ["none", *X_FAULTS])
@given(data=st.data())
def test_predict_gives_the_scores_or_a_named_error_and_changes_nothing(
    data, fault, backend, case, to_np
):
    net = stateful_net(backend, case.dtype)
    x = data.draw(images(fault))
    before = net.state_dict()
    problems = image_problems(x, net, empty_ok=True)
    if problems:
        refused(lambda: net.predict(x), problems)
    else:
        scores = to_np(net.predict(x))
        expected = reference_scores(before, x.astype(case.dtype), net.layers["BatchNorm1"].eps)
        assert scores.shape == (x.shape[0], OUT)
        np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4)
    assert_bitwise_equal(net.state_dict(), before)


@OVERFLOW_OK
@PROPERTY
@pytest.mark.parametrize(("side", "fault"), FAULTS)
@given(data=st.data())
def test_loss_gives_the_cross_entropy_or_a_named_error_and_changes_nothing(
    data, side, fault, backend, case
):
    net = stateful_net(backend, case.dtype)
    x, t = batch(data.draw, side, fault)
    before = net.state_dict()
    problems = image_problems(x, net, empty_ok=False) + label_problems(t, len(x) if x.ndim else 0)
    if problems:
        refused(lambda: net.loss(x, t), problems)
    else:
        loss = float(net.loss(x, t))
        expected = reference_loss(net, x.astype(case.dtype), t)
        assert loss == pytest.approx(expected, rel=1e-4, abs=1e-4)
    assert_bitwise_equal(net.state_dict(), before)


@OVERFLOW_OK
@PROPERTY
@pytest.mark.parametrize(("side", "fault"), FAULTS)
@given(data=st.data())
def test_gradient_equals_that_of_the_canonical_input_or_a_named_error_changes_nothing(
    data, side, fault, backend, case, to_np
):
    net, twin = stateful_net(backend, case.dtype), stateful_net(backend, case.dtype)
    x, t = batch(data.draw, side, fault)
    before = net.state_dict()
    problems = image_problems(x, net, empty_ok=False) + label_problems(t, len(x) if x.ndim else 0)
    if problems:
        refused(lambda: net.gradient(x, t), problems)
        assert_bitwise_equal(net.state_dict(), before)
        return
    grads = net.gradient(x, t)
    same = twin.gradient(x.astype(case.dtype), canonical_labels(t, case.dtype))
    assert list(grads) == list(net.params)
    for key, g in grads.items():
        assert tuple(g.shape) == tuple(net.params[key].shape), key
        assert_bitwise_equal(to_np(g), to_np(same[key]), key)
        if np.abs(x).max() <= 10:  # moderate input: no overflow anywhere
            assert np.isfinite(to_np(g)).all(), key


@OVERFLOW_OK
@PROPERTY
@pytest.mark.parametrize(("side", "fault"), FAULTS)
@given(data=st.data())
def test_accuracy_is_the_fraction_predicted_right_or_a_named_error_changes_nothing(
    data, side, fault, backend, case, to_np
):
    net = stateful_net(backend, case.dtype)
    x, t = batch(data.draw, side, fault)
    before = net.state_dict()
    problems = image_problems(x, net, empty_ok=False) + label_problems(t, len(x) if x.ndim else 0)
    if problems:
        refused(lambda: net.accuracy(x, t), problems)
    else:
        accuracy = net.accuracy(x, t)
        predicted = to_np(net.predict(x)).argmax(axis=1)
        truth = t if t.ndim == 1 else t.astype(np.float64).argmax(axis=1)
        assert isinstance(accuracy, float)
        assert accuracy == float(np.mean(predicted == truth))
    assert_bitwise_equal(net.state_dict(), before)


# -- optimizers -----------------------------------------------------------------------------
FAULTS = ["none", "subset", "extra key", "wrong shape", "wrong dtype", "not an array"]


@st.composite
def update_problems(draw: Callable) -> dict[str, Any]:
    """An optimizer, parameters of any shape (0-d and empty included), a first valid
    gradient and a second one that may carry NaN, infinity or one fault at a random key."""
    name = draw(st.sampled_from(sorted(OPTIMIZERS)))
    keys = draw(st.lists(st.sampled_from(["W1", "b1", "W2", "gamma"]), min_size=1,
                         max_size=3, unique=True))  # fmt: skip
    shapes = {k: draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
              for k in keys}  # fmt: skip
    finite = st.floats(-10, 10, allow_nan=False)
    values = st.one_of(finite, st.sampled_from([math.nan, math.inf, -math.inf]))
    arrays = {k: draw(hnp.arrays(np.float64, s, elements=finite)) for k, s in shapes.items()}
    grads = [
        {k: draw(hnp.arrays(np.float64, s, elements=gen)) for k, s in shapes.items()}
        for gen in (finite, draw(st.sampled_from([finite, values])))
    ]
    return {
        "name": name,
        "lr": draw(st.floats(1e-4, 1.0)),
        "params": arrays,
        "grads": grads,
        "fault": draw(st.sampled_from(FAULTS)),
        "fault_at": draw(st.integers(0, len(keys) - 1)),
    }


def apply_fault(problem: dict, grads: dict, backend: xpnn.Backend, dtype: Any) -> list[Problem]:
    """Spoil ``grads`` in place as ``problem`` says; return what the error must name."""
    fault, keys = problem["fault"], list(grads)
    key = keys[problem["fault_at"]]
    if fault == "subset":
        del grads[key]
        return []
    if fault == "extra key":
        grads["nope"] = grads[key]
        return [(ValueError, r"grads\['nope'\] has no parameter")]
    if fault == "wrong shape":
        grads[key] = backend.asarray(np.zeros((*grads[key].shape, 2)), dtype=dtype)
        return [(ValueError, rf"grads\['{key}'\] has shape .* but params\['{key}'\]")]
    if fault == "wrong dtype":
        other = "float32" if backend.dtype("float64") == dtype else "float64"
        grads[key] = backend.asarray(np.zeros(grads[key].shape), dtype=other)
        return [(TypeError, rf"grads\['{key}'\] has dtype .* but params\['{key}'\]")]
    if fault == "not an array":
        grads[key] = [0.0] * math.prod(grads[key].shape)
        return [(TypeError, rf"grads\['{key}'\] is a list")]
    return []


@settings(PROPERTY, max_examples=50)
@given(problem=update_problems())
def test_every_optimizer_update_follows_its_rule_or_refuses_and_changes_nothing(
    problem, backend, dtype, to_np
):
    """Valid updates match the float64 reference entry by entry (a NaN or infinite gradient
    entry makes exactly the entries the rule sends it to non-finite: no others); a fault
    anywhere in ``grads`` raises naming the key, with no parameter and no state touched."""
    opt = OPTIMIZERS[problem["name"]](lr=problem["lr"])
    hp = opt.state_dict()["hyperparameters"]
    np_dtype = to_np(backend.asarray(np.zeros(1), dtype=dtype)).dtype
    host = {k: v.astype(np_dtype) for k, v in problem["params"].items()}
    params = {k: backend.asarray(v, dtype=dtype, copy=True) for k, v in host.items()}
    ref = {k: v.astype(np.float64) for k, v in host.items()}
    slots = {k: {s: np.zeros_like(v) for s in ("v", "h", "m")} for k, v in ref.items()}
    steps = dict.fromkeys(ref, 0)
    for i, raw in enumerate(problem["grads"]):
        grads = {k: backend.asarray(g, dtype=dtype, copy=True) for k, g in raw.items()}
        faults = apply_fault(problem, grads, backend, dtype) if i == 1 else []
        before = ({k: to_np(p).copy() for k, p in params.items()}, opt.state_dict())
        if faults:
            refused(lambda: opt.update(params, grads), faults)  # noqa: B023
            assert_bitwise_equal(({k: to_np(p) for k, p in params.items()},
                                  opt.state_dict()), before)  # fmt: skip
            return
        with np.errstate(all="ignore"):
            opt.update(params, grads)
            for k, g in grads.items():
                steps[k] += 1
                g64 = to_np(g).astype(np.float64)
                ref[k] = reference_step(problem["name"], hp, ref[k], g64, slots[k], steps[k])
    tol = 1e-5 if np_dtype == np.float32 else 1e-12  # as tests/test_optimizers.py measured
    for k, p in params.items():
        actual, expected = to_np(p).astype(np.float64), ref[k]
        assert actual.shape == host[k].shape, k
        assert np.array_equal(np.isfinite(actual), np.isfinite(expected)), k
        ok = np.isfinite(expected)
        np.testing.assert_allclose(actual[ok], expected[ok], rtol=tol, atol=tol, err_msg=k)


@pytest.mark.parametrize("shape", [(), (0,), (2, 3)], ids=["0-d", "empty", "2-d"])
def test_a_float64_state_resumes_on_float32_parameters_of_any_shape(shape, backend, to_np):
    """A state saved from float64 host parameters moves to float32 parameters on any backend
    (torch's asarray cannot copy-and-cast a 0-d array; the backend works around it)."""
    rng = np.random.default_rng(0)
    p64 = {"w": rng.standard_normal(shape)}
    saved = xpnn.Adam(lr=0.1)
    saved.update(p64, {"w": rng.standard_normal(shape)})
    resumed = xpnn.Adam()
    resumed.load_state_dict(saved.state_dict())
    g = rng.standard_normal(shape)
    p32 = {"w": backend.asarray(p64["w"], dtype="float32", copy=True)}
    resumed.update(p32, {"w": backend.asarray(g, dtype="float32", copy=True)})
    saved.update(p64, {"w": g})
    np.testing.assert_allclose(to_np(p32["w"]), p64["w"], rtol=1e-5, atol=1e-6)


# -- the Trainer ----------------------------------------------------------------------------
def _data_variants() -> dict[str, tuple[Callable[[np.ndarray, np.ndarray], Any], str | None]]:
    """Ways to spoil a split (x, t), each with the argument its error must name (``{}`` is
    the split's name) or ``None`` for a variant that is fine."""

    def nan(x, t):
        x = x.copy()
        x[3, 2] = np.nan
        return x, t

    def out_of_range(x, t):
        t = t.copy()
        t[0] = 7
        return x, t

    return {
        "ok": (lambda x, t: (x, t), None),
        "float64": (lambda x, t: (x.astype(np.float64), t), None),
        "one-hot": (lambda x, t: (x, np.eye(3, dtype=np.float32)[t]), None),
        "NaN": (nan, "x_{}"),
        "uint8": (lambda x, t: ((x * 10).astype(np.uint8), t), "x_{}"),
        "features": (lambda x, t: (x[:, :-1], t), "x_{}"),
        "empty": (lambda x, t: (x[:0], t[:0]), "x_{}"),
        "short labels": (lambda x, t: (x, t[:-1]), "t_{}"),
        "labels out of range": (out_of_range, "t_{}"),
        "float labels": (lambda x, t: (x, t.astype(np.float32)), "t_{}"),
    }


DATA_VARIANTS = _data_variants()

#: For each Trainer argument: values paired with the name an error must use (None: valid).
TRAINER_ARGUMENTS: dict[str, list[tuple[Any, str | None]]] = {
    "epochs": [(1, None), (np.int64(1), None), (0, "epochs"), (-1, "epochs"),
               (1.5, "epochs"), (True, "epochs"), ("1", "epochs")],
    "mini_batch_size": [(32, None), (10_000, None), (0, "mini_batch_size"),
                        (None, "mini_batch_size")],
    "evaluate_sample_num_per_epoch": [(None, None), (5, None),
                                      (0, "evaluate_sample_num_per_epoch")],
    "eval_batch_size": [(10_000, None), (7, None), (0, "eval_batch_size")],
    "checkpoint_every": [(1, None), (0, "checkpoint_every")],
    "schedule_by": [("epoch", None), ("step", None), ("batch", "schedule_by")],
    "lr_schedule": [(None, None), (lambda i: 0.01, None), (0.01, "lr_schedule")],
}  # fmt: skip

#: The optimizer and its parameters, as (optimizer, optimizer_param); "instance" is an Adam
#: that has already taken a step.
OPTIMIZER_CHOICES: list[tuple[tuple[str, Any], str | None]] = [
    (("Adam", {"lr": 0.01}), None),
    (("sgd", None), None),
    (("instance", None), None),
    (("lbfgs", None), "optimizer"),
    (("Adam", {"lr": -1.0}), "lr"),
    (("Adam", {"lr": math.nan}), "lr"),
    (("Adam", {"momentum": 0.9}), "momentum"),
    (("instance", {"lr": 0.1}), "optimizer_param"),
]
SLOTS: dict[str, list[tuple[Any, str | None]]] = {
    **TRAINER_ARGUMENTS,
    "optimizer": OPTIMIZER_CHOICES,
    "train": [(v, p and p.format("train")) for v, (_, p) in DATA_VARIANTS.items()],
    "test": [(v, p and p.format("test")) for v, (_, p) in DATA_VARIANTS.items()],
}


@st.composite
def trainer_setups(draw: Callable) -> dict[str, tuple[Any, str | None]]:
    """A valid choice for every Trainer argument and both data splits; in half the
    examples one of them replaced by a bad choice."""
    setup = {slot: draw(st.sampled_from([c for c in choices if c[1] is None]))
             for slot, choices in SLOTS.items()}  # fmt: skip
    if draw(st.booleans()):
        slot = draw(st.sampled_from(sorted(SLOTS)))
        setup[slot] = draw(st.sampled_from([c for c in SLOTS[slot] if c[1] is not None]))
    return setup


@settings(max_examples=60, deadline=None)
@given(setup=trainer_setups())
def test_trainer_trains_or_refuses_naming_the_argument_and_changes_nothing(setup):
    x, t = blobs(n=120)
    net = MultiLayerNet(12, [8], 3, seed=0, use_batchnorm=True, use_dropout=True)
    opt = xpnn.Adam(lr=0.01)
    opt.update(net.params, net.gradient(x[:8], t[:8]))  # an optimizer with state to keep
    named = [problem for _, problem in setup.values() if problem]
    (name, param), _ = setup.pop("optimizer")
    x_train, t_train = DATA_VARIANTS[setup.pop("train")[0]][0](x[:80], t[:80])
    x_test, t_test = DATA_VARIANTS[setup.pop("test")[0]][0](x[80:], t[80:])
    kwargs = {k: v for k, (v, _) in setup.items()}
    before = (net.state_dict(), opt.state_dict())

    def build() -> Trainer:
        return Trainer(
            net, x_train, t_train, x_test, t_test, optimizer=opt if name == "instance" else name,
            optimizer_param=param, verbose=False, seed=0, **kwargs,
        )  # fmt: skip

    event("refused" if named else "trained")
    if named:
        refused(build, [((ValueError, TypeError), re.escape(problem)) for problem in named])
        assert_bitwise_equal((net.state_dict(), opt.state_dict()), before)
        return
    trainer = build()
    history = trainer.train()
    assert len(history["train_loss"]) == trainer.iter_per_epoch
    assert len(history["train_acc"]) == len(history["test_acc"]) == 1
    assert all(math.isfinite(v) for v in history["train_loss"])
    assert all(0.0 <= v <= 1.0 for v in history["train_acc"] + history["test_acc"])
