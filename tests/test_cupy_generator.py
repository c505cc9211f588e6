"""CuPy's generator without a GPU: ``CupyGenerator`` over a stand-in for ``cupy.random``.

cuRAND's state cannot be read back, so the generator records its seed and the draws since
its stream started, and a restore replays them. These tests run that logic over a fake
``RandomState`` (NumPy underneath, same interface as CuPy's) to show that a restore is exact
with interleaved draws of different shapes, that the Trainer's per-epoch re-seed leaves
nothing to replay, and that a damaged log is refused.
"""

from __future__ import annotations

import contextlib
import json
from types import SimpleNamespace

import numpy as np
import pytest

from xpnn.backends.cupy import CupyGenerator


class FakeRandomState:
    """``cupy.random.RandomState``'s methods used by xpnn, drawn with NumPy."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def standard_normal(self, shape, dtype):
        return self._rng.standard_normal(shape).astype(dtype)

    def random_sample(self, shape, dtype):
        return self._rng.random(shape).astype(dtype)

    def permutation(self, n):
        return self._rng.permutation(n)


@pytest.fixture
def fake_backend():
    lib = SimpleNamespace(random=SimpleNamespace(RandomState=FakeRandomState), int64=np.int64)
    return SimpleNamespace(name="cupy", _lib=lib, device=contextlib.nullcontext())


def draws(g: CupyGenerator, n: int) -> list[np.ndarray]:
    """Two dropout layers of different widths, drawing in turn, and a shuffle."""
    out = []
    for _ in range(n):
        out += [g.random((4, 3)), g.random((4, 5))]
    out.append(g.permutation(7))
    return out


def test_a_restored_generator_continues_exactly_after_interleaved_draws(fake_backend):
    g = CupyGenerator(fake_backend, 5)
    draws(g, 3)
    state = g.get_state()
    expected = draws(g, 2)
    other = CupyGenerator(fake_backend, 99)
    other.set_state(state)
    for a, b in zip(draws(other, 2), expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_after_a_reseed_the_state_holds_no_draws_to_replay(fake_backend):
    g = CupyGenerator(fake_backend, 5)
    draws(g, 600)  # an epoch of two dropout layers: 1,201 log entries
    assert len(json.loads(str(g.get_state()["state"]))) == 1201
    g.reseed(1)  # what the Trainer does at each epoch's start
    state = g.get_state()
    assert json.loads(str(state["state"])) == []
    expected = draws(g, 2)
    other = CupyGenerator(fake_backend, 5)
    other.set_state(state)
    for a, b in zip(draws(other, 2), expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_seed_sequence_given_as_a_list_of_ints_is_restored(fake_backend):
    g = CupyGenerator(fake_backend, np.random.SeedSequence([1, 2]))
    state = g.get_state()
    other = CupyGenerator(fake_backend, 0)
    other.set_state(state)
    assert other.seed_sequence.entropy == [1, 2]
    fresh = CupyGenerator(fake_backend, g.seed_sequence)
    np.testing.assert_array_equal(other.random(4), fresh.random(4))


@pytest.mark.parametrize(
    "log",
    [
        [["binomial", [3], "float32", 1]],  # an unknown kind is not replayed as a permutation
        [["normal", [3], "float32", 0]],
        [["normal", [-1], "float32", 1]],
        [["permutation", [3, 2], "int64", 1]],
        [["uniform", [3], "int8", 1]],
        {"not": "a list"},
    ],
)
def test_a_damaged_draw_log_is_refused_and_changes_nothing(fake_backend, log):
    g = CupyGenerator(fake_backend, 5)
    g.random(3)
    state = g.get_state()
    state["state"] = np.asarray(json.dumps(log))
    before = json.loads(str(g.get_state()["state"]))
    with pytest.raises(ValueError, match="damaged CupyGenerator draw log"):
        g.set_state(state)
    assert json.loads(str(g.get_state()["state"])) == before
