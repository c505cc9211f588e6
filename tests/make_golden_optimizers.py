"""Regenerate tests/data/golden_optimizers.npz: trajectories of ``torch.optim`` optimizers.

Run with torch installed (``python tests/make_golden_optimizers.py``); the test that reads
the file (``tests/test_optimizers.py``) needs no torch.

Two float64 parameters (``W`` 4x3, ``b`` 3) start from seeded random values and are updated
for ``STEPS`` steps with stored random gradients (a tenth of their entries exactly zero). For
each case, torch's trajectory is recorded at the steps in ``SNAPSHOTS``. A case names the
torch optimizer and its keywords, the xpnn optimizer and its keywords (the same numbers, in
the book's names), and optionally a learning rate to switch to at a given step.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

STEPS = 120
SNAPSHOTS = (1, 2, 3, 5, 10, 20, 40, 60, 61, 80, 100, 120)
SHAPES = {"W": (4, 3), "b": (3,)}
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "golden_optimizers.npz")

CASES: dict[str, dict] = {
    "sgd": {"torch": ("SGD", {"lr": 0.1}), "xpnn": ("sgd", {"lr": 0.1})},
    "momentum": {
        "torch": ("SGD", {"lr": 0.05, "momentum": 0.9}),
        "xpnn": ("momentum", {"lr": 0.05, "momentum": 0.9}),
    },
    "nesterov": {
        "torch": ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
        "xpnn": ("nesterov", {"lr": 0.05, "momentum": 0.9}),
    },
    "adagrad": {
        "torch": ("Adagrad", {"lr": 0.5, "eps": 1e-7}),
        "xpnn": ("adagrad", {"lr": 0.5, "eps": 1e-7}),
        "lr_at": [60, 0.2],
    },
    "rmsprop": {
        "torch": ("RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-7}),
        "xpnn": ("rmsprop", {"lr": 0.01, "decay_rate": 0.9, "eps": 1e-7}),
        "lr_at": [60, 0.003],
    },
    "adam": {
        "torch": ("Adam", {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8}),
        "xpnn": ("adam", {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}),
        "lr_at": [60, 0.003],
    },
    # A large eps, so that where it is added (to √v̂ as torch does, or to √v) shows.
    "adam_large_eps": {
        "torch": ("Adam", {"lr": 0.05, "betas": (0.8, 0.99), "eps": 0.1}),
        "xpnn": ("adam", {"lr": 0.05, "beta1": 0.8, "beta2": 0.99, "eps": 0.1}),
    },
    "adamw": {
        "torch": ("AdamW", {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.5}),
        "xpnn": (
            "adamw",
            {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.5},
        ),
    },
}


def make_inputs(seed: int = 20240601) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Initial parameters and the (STEPS, *shape) gradients, float64."""
    rng = np.random.default_rng(seed)
    p0 = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    grads = {}
    for k, s in SHAPES.items():
        g = rng.standard_normal((STEPS, *s)) + 0.5  # a drift, so momentum builds up
        g[rng.random(g.shape) < 0.1] = 0.0
        grads[k] = g
    return p0, grads


def torch_trajectory(case: dict, p0, grads) -> dict[str, np.ndarray]:
    import torch

    params = {k: torch.tensor(v, dtype=torch.float64) for k, v in p0.items()}
    name, kwargs = case["torch"]
    opt = getattr(torch.optim, name)(list(params.values()), **kwargs)
    lr_at = case.get("lr_at")
    snaps: dict[str, list[np.ndarray]] = {k: [] for k in params}
    for t in range(1, STEPS + 1):
        if lr_at is not None and t == lr_at[0] + 1:
            for group in opt.param_groups:
                group["lr"] = lr_at[1]
        for k, p in params.items():
            p.grad = torch.tensor(grads[k][t - 1], dtype=torch.float64)
        opt.step()
        if t in SNAPSHOTS:
            for k, p in params.items():
                snaps[k].append(p.detach().numpy().copy())
    return {k: np.stack(v) for k, v in snaps.items()}


def main() -> int:
    import torch

    p0, grads = make_inputs()
    data: dict[str, np.ndarray] = {
        "meta": np.asarray(
            json.dumps(
                {
                    "torch": torch.__version__,
                    "steps": STEPS,
                    "snapshots": list(SNAPSHOTS),
                    "cases": CASES,
                }
            )
        ),
    }
    for k in SHAPES:
        data[f"p0/{k}"] = p0[k]
        data[f"grads/{k}"] = grads[k]
    for name, case in CASES.items():
        for k, traj in torch_trajectory(case, p0, grads).items():
            data[f"{name}/{k}"] = traj
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    np.savez_compressed(OUT, **data)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes, torch {torch.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
