"""Parameters that are numbers, as in the book's ``optimizer_compare_naive.py``::

    params = {'x': -7.0, 'y': 2.0}
    grads['x'], grads['y'] = x / 10.0, 2.0 * y
    optimizer.update(params, grads)      # rebinds params['x'] and params['y']

Each update follows the rule on 0-d float64 arrays and rebinds the entry to a Python float.
"""

from __future__ import annotations

import numpy as np
import pytest

from xpnn.book.common.optimizer import OPTIMIZERS  # the book's number parameters


def df(x: float, y: float) -> tuple[float, float]:
    return x / 10.0, 2.0 * y


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_number_parameters_follow_the_rule_of_0d_float64_arrays_bit_for_bit(name):
    numbers = {"x": -7.0, "y": 2.0}
    arrays = {"x": np.asarray(-7.0), "y": np.asarray(2.0)}
    opt_numbers, opt_arrays = OPTIMIZERS[name](lr=0.1), OPTIMIZERS[name](lr=0.1)
    for _ in range(30):
        gx, gy = df(numbers["x"], numbers["y"])
        opt_numbers.update(numbers, {"x": gx, "y": gy})
        gx, gy = df(float(arrays["x"]), float(arrays["y"]))
        opt_arrays.update(arrays, {"x": np.asarray(gx), "y": np.asarray(gy)})
        assert numbers == {"x": float(arrays["x"]), "y": float(arrays["y"])}
    assert abs(numbers["x"]) + abs(numbers["y"]) < 9.0  # it moved from (-7, 2) to the minimum


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_number_parameters_are_rebound_to_python_floats_and_keep_0d_state(name):
    params = {"x": np.float32(-7.0), "y": 2}  # a NumPy scalar and an int count as numbers
    opt = OPTIMIZERS[name](lr=0.1)
    opt.update(params, {"x": -0.7, "y": np.float64(4.0)})
    assert type(params["x"]) is float and type(params["y"]) is float
    for arrays in opt.state_dict()["state"].values():
        assert {k: (a.shape, a.dtype) for k, a in arrays.items()} == {
            "x": ((), np.float64),
            "y": ((), np.float64),
        }


def test_numbers_and_arrays_in_one_dict_are_each_updated():
    w = np.ones(3)
    params = {"x": 1.0, "w": w}
    OPTIMIZERS["sgd"](lr=0.5).update(params, {"x": 1.0, "w": np.ones(3)})
    assert params["x"] == 0.5 and params["w"] is w and w.tolist() == [0.5, 0.5, 0.5]


@pytest.mark.parametrize("value", ["-7", True, None, [1.0]], ids=["str", "bool", "None", "list"])
def test_a_parameter_that_is_neither_a_number_nor_an_array_is_refused(value):
    params = {"x": value, "y": 2.0}
    with pytest.raises(TypeError, match=r"params\['x'\] is a"):
        OPTIMIZERS["adam"]().update(params, {"x": 1.0, "y": 1.0})
    assert params == {"x": value, "y": 2.0}  # nothing changed, not even y


def test_a_number_gradient_for_an_array_parameter_is_still_refused():
    params = {"w": np.ones(3)}
    with pytest.raises(TypeError, match=r"params\['w'\] is a ndarray but grads\['w'\] is a float"):
        OPTIMIZERS["sgd"]().update(params, {"w": 1.0})
