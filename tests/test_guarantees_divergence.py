"""Guarantee: a diverging run says so at once, and no optimizer divides by zero.

- A learning rate that blows the loss up stops training with ``DivergenceError`` naming the
  step of the first non-finite loss. On the CPU that step's update is never applied and no
  further step runs. Where losses stay on a GPU they are read at the end of each epoch (or
  at the progress bar's refresh): the error still names the first non-finite step, and
  training stops by the end of that epoch.
- AdaGrad, RMSprop, Adam and AdamW given all-zero gradients take a zero step: the
  parameters stay finite and unchanged, with no floating-point warning or error, whatever
  ``eps`` (even one below the dtype's smallest normal number, which would round to 0).
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from guarantees_support import CPU_BACKENDS, make_trainer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xpnn import AdaGrad, Adam, AdamW, DivergenceError, RMSprop, Trainer
from xpnn.backends import Backend

PLAIN = {"use_batchnorm": False, "use_dropout": False, "weight_decay_lambda": 0.0}


def exploding_trainer(backend: str = "numpy") -> tuple[Trainer, list[float], list[int]]:
    """SGD at lr 0.01 for the first ten steps (more than an epoch), then at the absurd
    1e300. Returns the trainer, the loss of every forward pass and one entry per update
    applied, recorded by spies."""
    trainer = make_trainer(
        backend, epochs=4, optimizer="SGD", optimizer_param={"lr": 0.01},
        lr_schedule=lambda step: 0.01 if step < 10 else 1e300, schedule_by="step", net=PLAIN,
    )  # fmt: skip
    losses: list[float] = []
    updates: list[int] = []
    forward, update = trainer.network.loss_and_gradient, trainer.optimizer.update

    def spy_forward(x, t, **kw):
        loss, grads = forward(x, t, **kw)
        losses.append(float(loss))
        return loss, grads

    def spy_update(params, grads):
        updates.append(1)
        update(params, grads)

    trainer.network.loss_and_gradient = spy_forward
    trainer.optimizer.update = spy_update
    return trainer, losses, updates


def named_step(error: DivergenceError) -> int:
    return int(re.search(r"at step (\d+) ", str(error)).group(1))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_divergence_stops_at_the_first_non_finite_loss_before_its_update(backend):
    trainer, losses, updates = exploding_trainer(backend)
    with pytest.raises(DivergenceError) as err:
        trainer.train()
    first_bad = next(i for i, v in enumerate(losses) if not math.isfinite(v))
    assert first_bad >= trainer.iter_per_epoch  # past the first epoch: steps count across them
    assert named_step(err.value) == first_bad
    assert len(losses) == first_bad + 1  # no forward pass after it
    assert len(updates) == first_bad  # and its update was never applied
    assert all(math.isfinite(v) for v in trainer.train_loss_list)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_on_a_gpu_divergence_names_the_first_non_finite_step_and_stops_within_its_epoch(
    monkeypatch,
):
    # A GPU backend keeps losses on the device and reads them once an epoch (no host sync
    # per step): simulated here by a backend that does not compute on the CPU.
    monkeypatch.setattr(Backend, "is_cpu", property(lambda self: False))
    trainer, losses, _ = exploding_trainer()
    with pytest.raises(DivergenceError) as err:
        trainer.train()
    first_bad = next(i for i, v in enumerate(losses) if not math.isfinite(v))
    assert named_step(err.value) == first_bad
    end_of_its_epoch = (first_bad // trainer.iter_per_epoch + 1) * trainer.iter_per_epoch
    assert first_bad < len(losses) <= end_of_its_epoch


# -- zero gradients ---------------------------------------------------------------------------
ADAPTIVE = {"AdaGrad": AdaGrad, "RMSprop": RMSprop, "Adam": Adam, "AdamW": AdamW}


def zero_step_case(backend, dtype, opt) -> tuple[dict, dict]:
    """Parameters (random, finite) and all-zero gradients on ``backend``."""
    rng = np.random.default_rng(0)
    shapes = {"W": (4, 3), "b": (3,), "s": ()}
    params = {k: backend.asarray(rng.standard_normal(s), dtype=dtype) for k, s in shapes.items()}
    grads = {k: backend.xp.zeros_like(p) for k, p in params.items()}
    return params, grads


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("name", list(ADAPTIVE))
def test_adaptive_optimizers_take_a_zero_step_on_all_zero_gradients(name, backend, dtype, to_np):
    opt = ADAPTIVE[name](weight_decay=0.0) if name == "AdamW" else ADAPTIVE[name]()
    params, grads = zero_step_case(backend, dtype, opt)
    before = {k: to_np(p).copy() for k, p in params.items()}
    with np.errstate(all="raise"):
        for _ in range(3):
            opt.update(params, grads)
    for k, p in params.items():
        assert to_np(p).tobytes() == before[k].tobytes(), k


@pytest.mark.filterwarnings("error")
def test_adamw_on_all_zero_gradients_only_decays_the_weights(backend, dtype, to_np):
    opt = AdamW(lr=0.01, weight_decay=0.1)
    params, grads = zero_step_case(backend, dtype, opt)
    before = {k: to_np(p).astype(np.float64) for k, p in params.items()}
    with np.errstate(all="raise"):
        for _ in range(3):
            opt.update(params, grads)
    for k, p in params.items():
        np.testing.assert_allclose(to_np(p), before[k] * (1 - 0.01 * 0.1) ** 3, rtol=1e-6)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(list(ADAPTIVE)),
    eps=st.one_of(
        st.floats(5e-324, 1.0, exclude_min=False),
        st.sampled_from([5e-324, 1e-46, 1e-40, 1e-39, 1e-30]),
    ),
    beta=st.floats(0.0, 0.999999),
    lr=st.floats(1e-6, 10.0),
    steps=st.integers(1, 4),
)
def test_no_eps_makes_a_zero_gradient_divide_by_zero(name, eps, beta, lr, steps, backend, dtype,
                                                     to_np):  # fmt: skip
    kwargs = {"lr": lr, "eps": eps}
    if name == "RMSprop":
        kwargs["decay_rate"] = beta
    elif name in ("Adam", "AdamW"):
        kwargs["beta2"] = beta
    if name == "AdamW":
        kwargs["weight_decay"] = 0.0
    opt = ADAPTIVE[name](**kwargs)
    params, grads = zero_step_case(backend, dtype, opt)
    before = {k: to_np(p).copy() for k, p in params.items()}
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        for _ in range(steps):
            opt.update(params, grads)
    for k, p in params.items():
        assert to_np(p).tobytes() == before[k].tobytes(), k
