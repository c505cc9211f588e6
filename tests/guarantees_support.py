"""Helpers shared by the ``test_guarantees_*`` suites, test_training.py, and the child
processes they start.

Nothing here is a test. The child processes import this module by putting ``tests/`` on
``sys.path``, so a run in a subprocess is built exactly as the run it is compared with.
"""

from __future__ import annotations

import importlib.util
import io
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from xpnn import MultiLayerNet, Trainer

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

#: Every CPU backend the determinism and zero-gradient guarantees are claimed for.
CPU_BACKENDS = ["numpy", "array_api_strict"] + (
    ["torch"] if importlib.util.find_spec("torch") is not None else []
)


class Terminal(io.StringIO):
    """A stream that says it is a terminal: the Trainer draws its progress bar there (on a
    stream that is not, such as a log file, it prints only a line per epoch)."""

    def isatty(self) -> bool:
        return True


def blobs(n: int = 240, d: int = 12, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Separable Gaussian blobs: float32 features ``(n, d)``, int64 labels ``(n,)``."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, (k, d))
    t = rng.integers(0, k, n)
    x = (centres[t] + rng.normal(0.0, 1.0, (n, d))).astype(np.float32)
    return x, t.astype(np.int64)


def make_net(backend: Any = "numpy", dtype: str = "float32", **kw: Any) -> MultiLayerNet:
    """A 12-16-16-3 network with every stateful feature on: batch norm (running
    statistics), dropout (a generator) and weight decay."""
    opts = {
        "use_batchnorm": True,
        "use_dropout": True,
        "dropout_ratio": 0.2,
        "weight_decay_lambda": 1e-3,
        "seed": 1,
    }
    opts.update(kw)
    return MultiLayerNet(12, [16, 16], 3, backend=backend, dtype=dtype, **opts)


def make_trainer(
    backend: Any = "numpy", epochs: int = 3, dtype: str = "float32", **kw: Any
) -> Trainer:
    """A quiet, seeded Trainer on :func:`blobs` (200 training samples, 7 steps an epoch)
    with Adam; ``net=`` passes keywords to :func:`make_net`, the rest go to the Trainer."""
    x, t = blobs()
    net = make_net(backend, dtype, **kw.pop("net", {}))
    opts = {
        "epochs": epochs,
        "mini_batch_size": 32,
        "optimizer": "Adam",
        "optimizer_param": {"lr": 0.01},
        "verbose": False,
        "seed": 2,
    }
    opts.update(kw)
    return Trainer(net, x[:200], t[:200], x[200:], t[200:], **opts)


def run_state(trainer: Trainer) -> dict[str, Any]:
    """What must be reproduced exactly: the network (params, batch-norm statistics, dropout
    generator), the optimizer (hyperparameters, steps, moments) and the history (wall-clock
    epoch times excepted)."""
    history = trainer.history
    del history["epoch_time"]
    return {
        "network": trainer.network.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "history": history,
        "epoch": trainer.current_epoch,
        "iter": trainer.current_iter,
    }


def assert_bitwise_equal(a: Any, b: Any, path: str = "") -> None:
    """Equal trees: same types, same keys in the same order, arrays of the same dtype,
    shape and bytes, floats equal bit for bit (NaN equals NaN)."""
    if isinstance(a, np.ndarray | np.generic) or isinstance(b, np.ndarray | np.generic):
        a, b = np.asarray(a), np.asarray(b)
        assert (a.dtype, a.shape) == (b.dtype, b.shape), (path, a.dtype, a.shape, b.dtype, b.shape)
        assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes(), path
        return
    assert type(a) is type(b), (path, type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b), (path, list(a), list(b))
        for k in a:
            assert_bitwise_equal(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_bitwise_equal(x, y, f"{path}/{i}")
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        ), (path, a, b)
    else:
        assert a == b, (path, a, b)


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python: this one, with ``tests/`` importable and the
    default backend pinned to NumPy (the tests name their backends explicitly)."""
    env = {k: v for k, v in os.environ.items() if k != "XPNN_BACKEND"}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(TESTS), str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    env.update(extra)
    return env


def run_python(code: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter; fail with its stderr if it fails."""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=child_env(**env),
        timeout=timeout,
        cwd=ROOT,
    )
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stderr}"
    return proc


__all__ = [
    "CPU_BACKENDS",
    "ROOT",
    "TESTS",
    "Terminal",
    "assert_bitwise_equal",
    "blobs",
    "child_env",
    "make_net",
    "make_trainer",
    "run_python",
    "run_state",
]
