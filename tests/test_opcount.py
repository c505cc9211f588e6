"""The launch counter of benchmarks/opcount.py and its model of CuPy, on small shapes.

Not the issue's targets (they depend on the CuPy kernels; ``opcount.py --backend cupy-model``
prints them): the rules by which it counts. A view is an operation but no launch, a copy is
one, an allocation none; a seam operation the modelled backend replaces counts the launches
it declares, its portable reference running uncounted; a host read is a read.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys

import numpy as np
import pytest
from guarantees_support import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import opcount
from _counting import Counter, CountingBackend, Model, declared_kernels

from xpnn.backends import SEAM, Backend, get_backend
from xpnn.backends.cupy import CupyBackend
from xpnn.ops import activation


class ThreeLaunchRelu(Backend):
    """A device backend that replaces one seam operation, declaring three launches."""

    LAUNCHES = {"act_forward": 3}  # noqa: RUF012

    def act_forward(self, x, act):  # never runs: the model runs the reference
        raise AssertionError("the model must not run the replacement")


class Undeclared(Backend):
    LAUNCHES = {"act_forward": 1}  # noqa: RUF012

    def act_forward(self, x, act):
        raise AssertionError

    def bias_act(self, z, b, act):
        raise AssertionError


FAKE = Model("fake", ThreeLaunchRelu, lambda kind, args, kwargs: 5)


@pytest.fixture
def counted():
    """(backend, counter): the CuPy model, counting."""
    counter = Counter()
    backend = opcount.counting_backend(opcount.CUPY_MODEL_NAME, counter)
    counter.active = True
    return backend, counter


def counts(counter: Counter) -> tuple[int, int, int]:
    """(operations, launches, reads) so far; then starts again."""
    out = counter.total(), counter.launch_total(), counter.read_total()
    counter.reset()
    return out


def device_array(backend, shape=(4, 6)):
    with backend.paused():
        return backend.asarray(np.arange(np.prod(shape), dtype=np.float32).reshape(shape))


def test_a_basic_slice_is_an_operation_but_no_launch(counted):
    backend, counter = counted
    x = device_array(backend)
    y = x[1:3, ::2]
    assert counts(counter) == (1, 0, 0)
    assert np.array_equal(backend.to_numpy(y), np.arange(24.0).reshape(4, 6)[1:3, ::2])


def test_reshapes_and_permutations_that_do_not_copy_launch_nothing(counted):
    backend, counter = counted
    xp, x = backend.xp, device_array(backend)
    xp.reshape(x, (6, 4))
    xp.permute_dims(x, (1, 0))
    x.T  # noqa: B018  (metadata: not even an operation)
    assert counts(counter) == (2, 0, 0)


def test_a_reshape_that_must_copy_is_one_launch(counted):
    backend, counter = counted
    x = device_array(backend)
    backend.xp.reshape(x.T, (24,))
    assert counts(counter) == (1, 1, 0)


def test_a_gather_and_an_elementwise_operation_are_one_launch_each(counted):
    backend, counter = counted
    xp, x = backend.xp, device_array(backend)
    with backend.paused():
        idx = backend.asarray(np.array([2, 0]))
    xp.take(x, idx, axis=0)
    x * 2.0
    assert counts(counter) == (2, 2, 0)


def test_in_place_operators_and_setitem_launch_one_each(counted):
    backend, counter = counted
    x = device_array(backend)
    x += 1.0
    x[0, :] = 0.0
    x[1:3] *= 2.0  # Python: a view (no launch), the product in place, the write back
    assert counts(counter) == (5, 4, 0)


def test_an_allocation_launches_nothing_and_zeros_launches_one(counted):
    backend, counter = counted
    xp = backend.xp
    xp.empty((3, 3), dtype=xp.float32)
    xp.zeros((3, 3), dtype=xp.float32)
    assert counts(counter) == (2, 1, 0)


def test_host_data_to_the_device_is_one_launch_and_an_array_already_there_none(counted):
    backend, counter = counted
    x = backend.asarray(np.ones(3, dtype=np.float32))
    assert counts(counter) == (1, 1, 0)
    backend.asarray(x)
    backend.xp.asarray(x)
    assert counts(counter) == (2, 0, 0)


def test_a_host_read_is_a_read_and_no_launch(counted):
    backend, counter = counted
    x = device_array(backend)
    value = float(x[1, 2])
    host = backend.to_numpy(x)
    assert (value, host.shape) == (8.0, (4, 6))
    assert counts(counter) == (1, 0, 2)  # the 0-d view is an operation; two reads


def test_the_model_is_device_memory():
    model = opcount.counting_backend(opcount.CUPY_MODEL_NAME, Counter())
    assert model.is_cpu is False
    assert CountingBackend(get_backend("numpy"), Counter()).is_cpu is True


def test_a_replaced_seam_operation_counts_its_declared_launches_and_runs_the_reference():
    counter = Counter()
    backend = CountingBackend(get_backend("numpy"), counter, FAKE)
    x = device_array(backend, (3, 5)) - 7.0
    counter.active = True
    out = backend.act_forward(x, "relu")
    assert counter.by_name() == {"act_forward": 1}
    assert counter.by_name(launches=True) == {"act_forward": 3}
    assert counts(counter) == (1, 3, 0)  # the reference's own operations: uncounted
    reference = activation.act_forward(np.arange(15.0, dtype=np.float32).reshape(3, 5) - 7, "relu")
    assert np.array_equal(backend.to_numpy(out), reference)


def test_a_seam_operation_the_model_does_not_replace_counts_the_references_operations():
    counter = Counter()
    backend = CountingBackend(get_backend("numpy"), counter, FAKE)
    x = device_array(backend, (3, 5))
    counter.active = True
    backend.act_backward(x, x, "relu")
    assert "act_backward" not in counter.by_name()
    assert counter.launch_total() >= 2  # the portable reference's own launches


def test_a_replaced_operation_without_declared_launches_is_refused_by_name():
    with pytest.raises(ValueError, match=r"Undeclared replaces the seam operation 'bias_act'.*"
                       r"add 'bias_act': <launches per call> to Undeclared\.LAUNCHES"):  # fmt: skip
        declared_kernels(Undeclared)


def test_the_cupy_model_counts_exactly_the_operations_cupys_backend_replaces():
    replaced = {m for m in SEAM if getattr(CupyBackend, m) is not getattr(Backend, m)}
    declared = declared_kernels(CupyBackend)
    assert set(declared) == replaced
    assert declared["optimizer_step"] == CupyBackend.LAUNCHES["optimizer_step"]


def test_a_draw_counts_the_launches_the_model_gives_it(counted):
    backend, counter = counted
    rng = backend.rng(0)
    rng.random((4,))
    rng.normal((4,), std=0.01)
    rng.normal((4,))
    assert counter.by_name(launches=True) == {"rng.random": 2, "rng.normal": 3}
    assert counts(counter) == (3, 5, 0)


# -- a whole training step ---------------------------------------------------------------------
TINY = opcount.Case("tiny", "Adam", 1e-3, hidden=(8, 8), batch=10)


def test_a_trainer_step_on_the_cupy_model_reads_nothing_and_updates_in_declared_launches():
    c = opcount.count_step(TINY, opcount.CUPY_MODEL_NAME)
    assert c["reads"] == 0
    assert c["phases"]["update"] == {
        "launches": CupyBackend.LAUNCHES["optimizer_step"],
        "ops": 1,
        "reads": 0,
    }
    assert c["phases"]["batch"]["launches"] == 2  # the next batch's two gathers
    assert c["launches"] == sum(p["launches"] for p in c["phases"].values())


def test_on_numpy_the_step_reads_its_loss_and_runs_the_portable_update():
    c = opcount.count_step(TINY, "numpy")
    assert c["reads"] == 1  # host memory: the loss is read and checked each step
    assert c["phases"]["update"]["launches"] > CupyBackend.LAUNCHES["optimizer_step"]


def test_in_a_convnet_step_views_launch_nothing_and_seam_operations_their_declared_kernels():
    c = opcount.count_step(opcount.ConvCase("tiny conv", "simple", batch=4), "cupy-model")
    # permutations and transposes are views of the memory they see: operations, no launches
    assert c["by_name"]["permute_dims"] >= 2 and "permute_dims" not in c["launches_by_name"]
    assert "matrix_transpose" not in c["launches_by_name"]
    for op in ("conv_patches", "maxpool_forward", "maxpool_backward", "softmax_xent"):
        assert c["launches_by_name"][op] == c["by_name"][op] * CupyBackend.LAUNCHES[op]
    assert c["ops"] > c["launches"] > 0


def test_json_mode_prints_one_object_keyed_by_case():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        opcount.main(["--backend", "cupy-model", "--json", "--cases", "W-Adam"])
    data = json.loads(out.getvalue())
    assert list(data) == ["W-Adam"]
    entry = data["W-Adam"]
    assert set(entry) == {"launches", "reads", "ops", "phases", "target"}
    assert entry["target"] == 40 and entry["reads"] == 0
    assert set(entry["phases"]) == {"batch", "forward_backward", "update"}


def test_an_unknown_case_is_refused_with_the_names():
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()) as err:
        opcount.main(["--json", "--cases", "W-Adamm"])
    assert "unknown ['W-Adamm']" in err.getvalue() and "W-Adam-BN" in err.getvalue()


@pytest.mark.parametrize("name", ["W-Adam", "W-Adam-BN", "SimpleConvNet-Adam", "DeepConvNet-Adam"])
def test_the_issues_cases_meet_their_launch_targets_and_read_nothing(name):
    """A training step on a GPU costs its launches (issue 17's targets per step)."""
    case = opcount.CASES_BY_NAME[name]
    c = opcount.count_step(case, opcount.CUPY_MODEL_NAME)
    assert c["reads"] == 0
    assert c["launches"] <= opcount.TARGETS[name], c["launches_by_name"]
