"""Print the worst relative error of each layer's backward pass, and of the whole network's
gradient, against numerical gradients in float64, on every backend available here.

Run: ``python tests/gradcheck_table.py``. Not a test (the tests assert the same checks
< 1e-6); this is the table for humans. Relative error per element is
|a - n| / max(|a|, |n|, 1e-4), the worst over all inputs and parameters (see
:mod:`xpnn.gradcheck`).
"""

from __future__ import annotations

import importlib.util
import time

import numpy as np

# the test points of tests/test_convnet.py (tests/ is on the path when this file runs)
from test_convnet import deep_check_point, simple_check_point

import xpnn
from xpnn.conv import Convolution, Pooling
from xpnn.gradcheck import check_gradients, check_layer
from xpnn.layers import (
    Affine,
    BatchNormalization,
    Dropout,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
)
from xpnn.mlp import MultiLayerNet


def backends() -> list[tuple[str, xpnn.Backend]]:
    found = [
        ("numpy", xpnn.get_backend("numpy")),
        ("strict", xpnn.get_backend("array_api_strict")),
        ("strict-device1", xpnn.get_backend("array_api_strict", "device1")),
    ]
    if importlib.util.find_spec("torch") is not None:
        found.append(("torch", xpnn.get_backend("torch")))
    try:
        found.append(("cupy", xpnn.get_backend("cupy")))
    except xpnn.BackendError:
        pass
    return found


def normal(seed: int, *shape: int, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=scale, size=shape)


def away_from_zero(seed: int, *shape: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 1.5, size=shape)


def distinct(seed: int, *shape: int) -> np.ndarray:
    """Values 0.1 apart in random order: max pooling has no tie within reach of the steps."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape) * 0.1 - 0.05 * n


def layer_checks(b: xpnn.Backend) -> dict[str, float]:
    def on(a, dtype="float64"):
        return b.asarray(a, dtype=dtype)

    def bn(n):
        return BatchNormalization(on(1.0 + normal(3, n, scale=0.3)), on(normal(4, n, scale=0.3)))

    dropout = Dropout(0.4)
    dropout.fixed_mask = on(np.random.default_rng(2).random((6, 5)) >= 0.4, "bool")
    labels = on(np.array([0, 2, 1, 2, 0, 1]), "int64")
    conv = Convolution(on(normal(1, 3, 2, 3, 3, scale=0.5)), on(normal(2, 3)), stride=2, pad=1)
    return {
        "Affine": check_layer(Affine(on(normal(1, 5, 4)), on(normal(2, 4))), on(normal(0, 6, 5))),
        "Relu": check_layer(Relu(), on(away_from_zero(0, 6, 5))),
        "Sigmoid": check_layer(Sigmoid(), on(normal(0, 6, 5, scale=2.0))),
        "Tanh": check_layer(Tanh(), on(normal(0, 6, 5))),
        "BatchNorm 2-D": check_layer(bn(4), on(normal(0, 6, 4, scale=2.0))),
        "BatchNorm 4-D": check_layer(bn(3), on(normal(0, 4, 3, 2, 3, scale=2.0))),
        "Dropout": check_layer(dropout, on(normal(0, 6, 5))),
        "SoftmaxWithLoss": check_layer(SoftmaxWithLoss(), on(normal(0, 6, 3, scale=3.0)), t=labels),
        "Convolution 3x3/2 pad 1": check_layer(conv, on(normal(0, 2, 2, 6, 5))),
        "Pooling 3x3/2 pad 1": check_layer(Pooling(3, 3, 2, 1), on(distinct(0, 2, 2, 6, 5))),
    }


def network_check(b: xpnn.Backend, activation: str) -> float:
    """784-style net in miniature: 5-6-5-3, BatchNorm, Dropout (fixed masks), λ = 0.1."""
    net = MultiLayerNet(5, [6, 5], 3, activation=activation, weight_decay_lambda=0.1,
                        use_dropout=True, dropout_ratio=0.3, use_batchnorm=True,
                        dtype="float64", backend=b, seed=0)  # fmt: skip
    rng = np.random.default_rng(26)  # the test point of tests/test_network.py: no ReLU kinks
    state = {k: rng.normal(scale=0.5, size=v.shape) for k, v in net.state_dict().items()
             if k != "dropout_rng"}  # fmt: skip
    for k in state:
        if k.startswith(("gamma", "running_var")):
            state[k] = 1.0 + np.abs(state[k])
    net.load_state_dict(state)
    for i, size in enumerate([6, 5], start=1):
        net.layers[f"Dropout{i}"].fixed_mask = b.asarray(rng.random((8, size)) >= 0.3)
    data = np.random.default_rng(0)
    x = b.asarray(data.normal(size=(8, 5)), dtype="float64")
    t = b.asarray(data.integers(0, 3, size=8))
    report = check_gradients(lambda p: net.loss(x, t, train_flg=True), net.params,
                             net.gradient(x, t))  # fmt: skip
    return report.worst


def convnet_checks(b: xpnn.Backend) -> dict[str, float]:
    """SimpleConvNet (2x6x6, λ = 0.1) and DeepConvNet (1x12x12, 2 filters per convolution,
    fixed dropout masks, λ = 0.1): the whole network's gradient, as tests/test_convnet.py
    checks it (DeepConvNet with steps of ±1e-5: its test point lies ~2e-3 from a kink)."""
    net, x, t = simple_check_point(b)
    simple = check_gradients(lambda p: net.loss(x, t, train_flg=True), net.params,
                             net.gradient(x, t))  # fmt: skip
    deep, x, t = deep_check_point(b)
    deep_report = check_gradients(lambda p: deep.loss(x, t, train_flg=True), deep.params,
                                  deep.gradient(x, t), h=1e-5, order=2)  # fmt: skip
    return {"SimpleConvNet (whole net)": simple.worst, "DeepConvNet (whole net)": deep_report.worst}


def main() -> None:
    cases = backends()
    rows: dict[str, list[float]] = {}
    start = time.perf_counter()
    for _, b in cases:
        for name, report in layer_checks(b).items():
            rows.setdefault(name, []).append(report.worst)
        for activation in ("relu", "sigmoid"):
            rows.setdefault(f"whole net ({activation})", []).append(network_check(b, activation))
        for name, worst in convnet_checks(b).items():
            rows.setdefault(name, []).append(worst)
    seconds = time.perf_counter() - start
    width = max(len(r) for r in rows)
    cols = [max(len(name), 8) for name, _ in cases]
    print("worst relative error vs. numerical gradient, float64 (|a-n| / max(|a|,|n|,1e-4))")
    print(
        f"{'layer':<{width}}  "
        + "  ".join(f"{n:>{c}}" for (n, _), c in zip(cases, cols, strict=True))
    )
    for name, errors in rows.items():
        print(
            f"{name:<{width}}  "
            + "  ".join(f"{e:>{c}.1e}" for e, c in zip(errors, cols, strict=True))
        )
    worst = max(max(e) for e in rows.values())
    print(f"worst overall: {worst:.1e} ({'< 1e-6' if worst < 1e-6 else 'NOT < 1e-6'}); "
          f"{seconds:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
