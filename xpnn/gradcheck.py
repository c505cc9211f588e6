"""Gradient checking: numerical gradients by central differences, and a checker.

::

    report = check_gradients(lambda p: net.loss(x, t, train_flg=True), net.params,
                             net.gradient(x, t))
    report.worst            # the largest relative error over all parameters
    report["W1"]            # the largest relative error of one parameter
    print(report)           # a table

Works on every backend: each element is perturbed in place through portable integer
indexing (``p[i, j] = value``), the function is evaluated and read back as a Python float.
That is one host read per evaluation — a testing tool, not a training one. Use float64
parameters: in float32 the differences lose about half of the ~7 significant digits.

**Numerical gradient.** By default the fourth-order central difference::

    ∂f/∂p ≈ (8·(f(p + h) - f(p - h)) - (f(p + 2h) - f(p - 2h))) / (12h),   h = 1e-4

Its truncation error is O(h⁴) and its round-off about 1.5·ε·|f|/h ≈ 1e-12 in float64, so
gradients are matched to ~1e-7 relative where the second-order formula
(``order=2``: (f(p + h) - f(p - h)) / 2h) reaches only ~1e-5 at its best step. A step far
smaller than the distance to a ReLU kink keeps both honest; a larger ``h`` crosses kinks.

**Relative error** of one element, analytic ``a`` against numerical ``n``::

    |a - n| / max(|a|, |n|, floor)          floor = 1e-4 by default

Below ``floor`` the error is in effect absolute (tolerance × floor): an element whose true
gradient is exactly zero (a bias followed by batch normalisation, a dead ReLU) is computed
as round-off, ~1e-17 analytically and ~1e-12 numerically, and their ratio means nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from array_api_compat import array_namespace

from .backends import backend_of
from .layers import Dropout, held_dropout_masks

__all__ = [
    "GradCheckReport",
    "check_gradients",
    "check_layer",
    "numerical_gradient",
    "relative_error",
]

ScalarFn = Callable[[Mapping[str, Any]], Any]

# Seeds check_layer's default ``dout``; unlike 0, unlikely to be the seed of the test input
# (a ``dout`` proportional to the input makes BatchNorm's input gradient exactly zero).
_DOUT_SEED = 20_240_601


def numerical_gradient(
    f: ScalarFn,
    params: Mapping[str, Any],
    *,
    h: float = 1e-4,
    order: int = 4,
    keys: Iterable[str] | None = None,
) -> dict[str, Any]:
    """∂f/∂p for each parameter, by central differences (see the module docstring)::

        order=4:  (8·(f(p_i + h) - f(p_i - h)) - (f(p_i + 2h) - f(p_i - 2h))) / 12h
        order=2:  (f(p_i + h) - f(p_i - h)) / (p_i⁺ - p_i⁻)

    where p_i⁺ and p_i⁻ are the values actually stored (a float32 parameter rounds p ± h).

    ``f(params)`` returns a scalar (a Python float or a 0-d array of any backend);
    ``params`` maps names to arrays, which are perturbed in place one element at a time and
    restored bit for bit afterwards. Returns arrays shaped, typed and placed like the
    parameters (``keys`` restricts the check to some parameters).
    """
    h = float(h)
    if order not in (2, 4):
        raise ValueError(f"order must be 2 or 4, got {order!r}")
    grads: dict[str, Any] = {}
    for key in params if keys is None else keys:
        p = params[key]
        backend = backend_of(p)
        host = backend.to_numpy(p)
        grad = host.astype("float64")  # a host copy to fill in
        for idx in itertools.product(*(range(n) for n in p.shape)):
            original = float(host[idx])

            def at(step: float, p=p, idx=idx, original=original) -> tuple[float, float]:
                p[idx] = original + step
                return float(p[idx]), float(f(params))

            if order == 2:
                (x1, f1), (x0, f0) = at(h), at(-h)
                grad[idx] = (f1 - f0) / (x1 - x0)
            else:
                (_, f2), (_, f1), (_, f0), (_, fm) = at(2 * h), at(h), at(-h), at(-2 * h)
                grad[idx] = (8.0 * (f1 - f0) - (f2 - fm)) / (12.0 * h)
            p[idx] = original
        grads[key] = backend.asarray(grad, dtype=p.dtype)
    return grads


def relative_error(analytic: Any, numerical: Any, floor: float = 1e-4) -> tuple[float, tuple]:
    """The largest elementwise ``|a - n| / max(|a|, |n|, floor)`` and where it occurs."""
    a = backend_of(analytic).to_numpy(analytic).astype("float64")
    n = backend_of(numerical).to_numpy(numerical).astype("float64")
    if a.shape != n.shape:
        raise ValueError(f"analytic gradient has shape {a.shape}, numerical {n.shape}")
    if a.size == 0:
        return 0.0, ()
    scale = abs(a)
    scale = scale.clip(min=abs(n)).clip(min=float(floor))
    err = abs(a - n) / scale
    flat = int(err.argmax())
    idx = tuple(int(i) for i in _unravel(flat, a.shape))
    return float(err[idx]), idx


def _unravel(flat: int, shape: tuple[int, ...]) -> list[int]:
    out = []
    for n in reversed(shape):
        out.append(flat % n)
        flat //= n
    return out[::-1]


@dataclass
class GradCheckReport(Mapping[str, float]):
    """Worst relative error per parameter (a read-only mapping name → error).

    ``worst`` is the largest over all parameters; ``where[name]`` the index of the worst
    element; ``analytic`` and ``numerical`` keep the compared gradients.
    """

    errors: dict[str, float]
    where: dict[str, tuple] = field(default_factory=dict)
    analytic: dict[str, Any] = field(default_factory=dict, repr=False)
    numerical: dict[str, Any] = field(default_factory=dict, repr=False)

    def __getitem__(self, key: str) -> float:
        return self.errors[key]

    def __iter__(self):
        return iter(self.errors)

    def __len__(self) -> int:
        return len(self.errors)

    @property
    def worst(self) -> float:
        return max(self.errors.values(), default=0.0)

    def __str__(self) -> str:
        width = max((len(k) for k in self.errors), default=5)
        lines = [f"{'param':<{width}}  worst rel. error  at"]
        for key, err in self.errors.items():
            lines.append(f"{key:<{width}}  {err:16.2e}  {self.where.get(key, ())}")
        return "\n".join(lines)


def check_gradients(
    f: ScalarFn,
    params: Mapping[str, Any],
    analytic_grads: Mapping[str, Any],
    *,
    h: float = 1e-4,
    order: int = 4,
    floor: float = 1e-4,
    keys: Iterable[str] | None = None,
) -> GradCheckReport:
    """Compare ``analytic_grads`` with :func:`numerical_gradient` of ``f`` at ``params``.

    Checks every key of ``analytic_grads`` (or ``keys``); each must name a parameter.
    Returns a :class:`GradCheckReport` of the worst relative error per parameter.
    """
    keys = list(analytic_grads if keys is None else keys)
    missing = [k for k in keys if k not in params]
    if missing:
        raise KeyError(f"gradients given for {missing}, which are not in params")
    numerical = numerical_gradient(f, params, h=h, order=order, keys=keys)
    errors, where = {}, {}
    for key in keys:
        errors[key], where[key] = relative_error(analytic_grads[key], numerical[key], floor)
    return GradCheckReport(errors, where, {k: analytic_grads[k] for k in keys}, numerical)


def check_layer(
    layer: Any,
    x: Any,
    *,
    t: Any = None,
    dout: Any = None,
    train_flg: bool = True,
    h: float = 1e-4,
    order: int = 4,
    floor: float = 1e-4,
) -> GradCheckReport:
    """Check a layer's ``backward`` against numerical gradients of its ``forward``.

    The checked scalar is ``Σ forward(x) · dout`` (``dout`` fixed; by default drawn from a
    seeded N(0, 1), the same on every call), or for a loss layer (``t`` given)
    ``forward(x, t)`` itself. The report has ``'x'`` (the input gradient) and each of
    ``layer.params``. A Dropout layer in training mode is checked with the mask of one draw
    held fixed.
    """
    xp = array_namespace(x)
    x = xp.asarray(x, copy=True)  # perturbed in place: leave the caller's array alone
    if t is None:
        out = layer.forward(x, train_flg=train_flg)
        if dout is None:
            rng = backend_of(x).rng(_DOUT_SEED)
            dout = rng.normal(tuple(out.shape), dtype=out.dtype)

        def f(p: Mapping[str, Any]) -> Any:
            return xp.sum(layer.forward(p["x"], train_flg=train_flg) * dout)

        dx = layer.backward(dout)
    else:

        def f(p: Mapping[str, Any]) -> Any:
            return layer.forward(p["x"], t)

        f({"x": x})
        dx = layer.backward(1.0)
    params = {"x": x, **layer.params}
    grads = {"x": dx, **layer.grads}
    dropouts = [layer] if isinstance(layer, Dropout) else []
    with held_dropout_masks(dropouts):  # the mask of the pass above, held
        return check_gradients(f, params, grads, h=h, order=order, floor=floor)
