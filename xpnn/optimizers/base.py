"""The :class:`Optimizer` base: hyperparameters checked when set, the update's two paths, and
the state.

A rule is data: its state ``slots``, its ``scalars`` at a step (Python floats), and its
elementwise formula ``apply``, which a backend's :meth:`~xpnn.backends.Backend.optimizer_step`
runs as written (the portable reference), in cache-sized blocks (NumPy) or as one fused
kernel (CuPy), with the same numbers. PyTorch's ``_single_tensor_adam`` /
``_multi_tensor_adam`` / ``_fused_adam`` behind one ``adam()`` are the model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, ClassVar

from array_api_compat import device as device_of

from .._array_api import namespace_of
from .._validate import positive_real
from ..backends import backend_of
from ..flat import FlatDict
from .state import OptimizerState

__all__ = ["Hyperparameter", "Optimizer"]


class Hyperparameter:
    """A float attribute checked when set (``optimizer.lr = 0`` raises ``ValueError``) by
    ``check(name, value) -> float`` (a check of :mod:`xpnn._validate`)."""

    def __init__(self, check: Callable[[str, Any], float]) -> None:
        self.check = check

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.attr = "_" + name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return self if obj is None else getattr(obj, self.attr)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj, self.attr, self.check(self.name, value))


def _namespace(key: str, p: Any, g: Any) -> Any:
    """The Array API namespace of ``p`` and ``g``, or a ``TypeError`` naming the key."""
    if type(p) is not type(g):
        raise TypeError(
            f"params[{key!r}] is a {type(p).__name__} but grads[{key!r}] is a "
            f"{type(g).__name__}; both must be arrays of the same library"
        )
    try:
        return namespace_of(p)
    except TypeError:
        raise TypeError(
            f"params[{key!r}] is a {type(p).__name__}, not an array of a supported library"
        ) from None


class Optimizer:
    """Base class: validation, the flat and per-tensor paths, ``state_dict``.

    A subclass sets ``slots`` (the names of its per-parameter state arrays),
    ``hyperparameters`` (the names saved in the state dict and shown by ``repr``) and
    ``rule`` (the name a backend's fused kernel is found by; ``None``: the portable formula
    everywhere), and implements :meth:`scalars` and :meth:`apply`.
    """

    slots: ClassVar[tuple[str, ...]] = ()
    hyperparameters: ClassVar[tuple[str, ...]] = ("lr",)
    rule: ClassVar[str | None] = None

    lr = Hyperparameter(positive_real)

    def __init__(self, lr: float) -> None:
        self.lr = lr
        self.state = OptimizerState(type(self).__name__, self.slots)

    def __repr__(self) -> str:
        args = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.hyperparameters)
        return f"{type(self).__name__}({args})"

    # -- the rule ------------------------------------------------------------------------
    def scalars(self, step: int, xp: Any, dtype: Any) -> dict[str, float]:
        """The rule's scalars at ``step`` (counted from 1 per parameter) for parameters of
        ``dtype``, as Python floats."""
        raise NotImplementedError

    def apply(
        self, xp: Any, p: Any, g: Any, state: Mapping[str, Any], scalars: Mapping[str, float]
    ) -> None:
        """The rule's formula: update ``p`` (in place) and its ``state`` arrays (by slot, in
        place) from the gradient ``g``, with ``scalars`` from :meth:`scalars`. Elementwise,
        so any block of the arrays may be updated on its own."""
        raise NotImplementedError

    # -- the update ------------------------------------------------------------------------
    def update(self, params: MutableMapping[str, Any], grads: Mapping[str, Any]) -> None:
        """Update each ``params[key]`` in place from ``grads[key]``.

        A network's own ``params`` and the ``grads`` its ``gradient`` returned (both
        :class:`~xpnn.flat.FlatDict` views of one flat buffer each, not rebound) take the
        flat path: the rule runs once over the whole buffer, with the same results bit for
        bit. Any other dicts take the per-tensor path.

        Raises ``ValueError`` (a key of ``grads`` missing from ``params``, a shape mismatch)
        or ``TypeError`` (a dtype mismatch, a non-floating or non-array parameter, arrays of
        different libraries) naming the key, before anything is changed.
        """
        if (
            type(params) is FlatDict
            and type(grads) is FlatDict
            and params.layout is grads.layout
            and params.intact
            and grads.intact
            and self._update_flat(params, grads)
        ):
            return
        work = [self._check(params, key, g) for key, g in grads.items()]
        if not work:
            return
        backend = backend_of(work[0][2])
        with backend.activate():  # CuPy computes on the current device
            for key, xp, p, _ in work:
                self.state.ensure(key, xp, p)
            for key, _, p, g in work:
                arrays, step = self.state.advance(key)
                backend_of(p).optimizer_step(self, p, g, arrays, step)

    def _update_flat(self, params: FlatDict, grads: FlatDict) -> bool:
        """One update of the whole flat buffer; False (nothing done) where the keys' step
        counts differ, so the per-tensor path applies each its own bias correction."""
        layout = params.layout
        found = self.state.flat_step(layout)
        if found is None:
            return False
        buffers, step = found
        backend = layout.backend
        with backend.activate():
            backend.optimizer_step(self, params.flat, grads.flat, buffers, step)
        return True

    def _check(self, params: Mapping[str, Any], key: str, g: Any) -> tuple[str, Any, Any, Any]:
        if key not in params:
            raise ValueError(
                f"grads[{key!r}] has no parameter: params has keys {sorted(map(str, params))}"
            )
        p = params[key]
        xp = _namespace(key, p, g)
        if p.shape != g.shape:
            raise ValueError(
                f"grads[{key!r}] has shape {tuple(g.shape)} but params[{key!r}] has shape "
                f"{tuple(p.shape)}"
            )
        if p.dtype != g.dtype:
            raise TypeError(
                f"grads[{key!r}] has dtype {g.dtype} but params[{key!r}] has dtype {p.dtype}"
            )
        if not xp.isdtype(p.dtype, "real floating"):
            raise TypeError(f"params[{key!r}] must be a floating-point array, not {p.dtype}")
        if device_of(p) != device_of(g):
            raise ValueError(
                f"grads[{key!r}] is on device {device_of(g)} but params[{key!r}] is on "
                f"{device_of(p)}"
            )
        self.state.check_fits(key, p)
        return key, xp, p, g

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly, as host data::

            {"name": "Adam",
             "hyperparameters": {"lr": 0.001, "beta1": 0.9, ...},   # Python floats
             "step": {"W1": 12, ...},                               # updates per parameter
             "state": {"m": {"W1": ndarray, ...}, "v": {...}}}      # NumPy copies

        Loadable by :meth:`load_state_dict` on any backend.
        """
        steps, state = self.state.to_dict()
        return {
            "name": type(self).__name__,
            "hyperparameters": {n: getattr(self, n) for n in self.hyperparameters},
            "step": steps,
            "state": state,
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (from this or any other backend).

        The hyperparameters are restored too (set ``lr`` afterwards to override). The arrays
        are kept on the host until each parameter's next update, which moves them to its
        device and casts them to its dtype. Everything is checked before anything is replaced.
        Missing entries (a checkpoint format that drops empty dicts) count as empty.
        """
        cls = type(self).__name__
        name = state_dict.get("name")
        if name is not None and str(name) != cls:
            raise ValueError(f"this state was saved by {name!s}, not {cls}")
        unknown = set(state_dict) - {"name", "hyperparameters", "step", "state"}
        if unknown:
            raise ValueError(f"unknown entries in a {cls} state dict: {sorted(unknown)}")
        hyper = dict(state_dict.get("hyperparameters") or {})
        bad = set(hyper) - set(self.hyperparameters)
        if bad:
            raise ValueError(
                f"{cls} has no hyperparameters {sorted(bad)}; it has {list(self.hyperparameters)}"
            )
        new_hyper = {n: getattr(type(self), n).check(n, v) for n, v in hyper.items()}
        self.state.load(state_dict.get("step") or {}, dict(state_dict.get("state") or {}))
        for n, v in new_hyper.items():
            setattr(self, n, v)
