"""Optimizers: the update rules of chapter 6.1, written once against the Array API.

Every optimizer has the book's interface::

    optimizer = Adam(lr=0.001)
    grads = network.gradient(x_batch, t_batch)
    optimizer.update(network.params, grads)   # params updated in place

``params`` and ``grads`` are dicts of arrays with the same keys (any backend: NumPy, CuPy,
torch, array_api_strict). Each gradient must have its parameter's shape, dtype and device.
A parameter with no entry in ``grads`` is left untouched. Everything is validated before
anything is changed, so an error leaves the parameters and the optimizer's state as they were.

State (velocities, moments, step counts) is created on the first update of each parameter,
on its device and in its dtype. Hyperparameters are Python floats: nothing per step creates
float64 arrays or reads from the device. ``optimizer.lr`` (and every other hyperparameter)
may be changed between steps; an invalid value raises at once.

:meth:`Optimizer.state_dict` returns the hyperparameters, the per-parameter step counts and
state arrays as host NumPy arrays; :meth:`Optimizer.load_state_dict` restores them on any
backend: the arrays are moved to each parameter's device and dtype at its next update, so a
state can be loaded before the first step, and a run saved on one backend resumes on another
(bit-identically when the dtype is the same).

Passes over memory per update and parameter (one pass reads or writes one parameter-sized
array; the standard has no fused multiply-add and no ``out=``, so each operator is a pass):
SGD 5, Momentum 10, Nesterov 15, AdaGrad 17, RMSprop 21, Adam 28, AdamW 30.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from array_api_compat import array_namespace, is_numpy_array
from array_api_compat import device as device_of

from .backends import backend_of, get_backend
from .flat import FlatDict, FlatLayout

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "AdaGrad",
    "Adam",
    "AdamW",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "RMSprop",
    "get_optimizer",
]


# -- hyperparameters ---------------------------------------------------------------------
def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool | str | bytes):
        raise TypeError(f"{name} must be a real number, not {type(value).__name__}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, not {type(value).__name__}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return out


def _positive(name: str, value: Any) -> float:
    out = _as_float(name, value)
    if out <= 0.0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return out


def _non_negative(name: str, value: Any) -> float:
    out = _as_float(name, value)
    if out < 0.0:
        raise ValueError(f"{name} must be non-negative, got {value!r}")
    return out


def _unit_interval(name: str, value: Any) -> float:
    out = _as_float(name, value)
    if not 0.0 <= out < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return out


class _Hyperparameter:
    """A float attribute checked when set (``optimizer.lr = 0`` raises ``ValueError``)."""

    def __init__(self, check: Callable[[str, Any], float]) -> None:
        self.check = check

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.attr = "_" + name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return self if obj is None else getattr(obj, self.attr)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj, self.attr, self.check(self.name, value))


# -- arrays --------------------------------------------------------------------------------
_NAMESPACES: dict[type, Any] = {}


def _namespace(key: str, p: Any, g: Any) -> Any:
    """The Array API namespace of ``p`` and ``g`` (cached per array type: the per-key check
    runs every step)."""
    if type(p) is not type(g):
        raise TypeError(
            f"params[{key!r}] is a {type(p).__name__} but grads[{key!r}] is a "
            f"{type(g).__name__}; both must be arrays of the same library"
        )
    xp = _NAMESPACES.get(type(p))
    if xp is None:
        try:
            xp = array_namespace(p)
        except TypeError:
            raise TypeError(
                f"params[{key!r}] is a {type(p).__name__}, not an array of a supported library"
            ) from None
        _NAMESPACES[type(p)] = xp
    return xp


#: NumPy parameters of more than twice this many elements are updated in blocks of this size
#: (flat views), so that the temporaries of an update stay in the CPU cache instead of
#: streaming through main memory once per operator, and are small enough for the allocator to
#: reuse (a large temporary can cost page faults on every update). Measured on a 2-core EPYC
#: (512 KB L2), one Adam update, float32, µs: a network's flat buffer of 130 K parameters
#: 723 unblocked, 695 in blocks of 65,536, 283 in blocks of 32,768, 334 of 16,384; four
#: (2000, 1000) tensors 28.4 / 26.8 / 30.4 ms at 65,536 / 32,768 / 16,384.
#: The results are the same bits, since every operation is elementwise. NumPy only: it runs
#: one thread per operation and its slices are always views. Torch spreads a large operation
#: over its threads (blocks would serialise them), a GPU would pay a kernel launch per block,
#: and array_api_strict does not promise that slices are views.
NUMPY_BLOCK = 32768


def _numpy_blocks(xp: Any, p: Any, g: Any, state: dict[str, Any], above: float = 2) -> Any:
    """Blocks ``(p, g, state)`` of flat views of a NumPy parameter of more than ``above``
    blocks, or ``None`` (smaller, or not viewable as flat without a copy)."""
    block = NUMPY_BLOCK
    n = math.prod(p.shape)
    if n <= above * block:
        return None
    try:
        flat_p = xp.reshape(p, (-1,), copy=False)
        flat_state = {k: xp.reshape(a, (-1,), copy=False) for k, a in state.items()}
    except (ValueError, AttributeError):  # not contiguous: a flat view would need a copy
        # (NumPy 2.1+ raises ValueError; array_api_compat on older NumPy, AttributeError)
        return None
    flat_g = xp.reshape(g, (-1,))  # only read: a copy is fine
    return (
        (
            flat_p[i : i + block],
            flat_g[i : i + block],
            {k: a[i : i + block] for k, a in flat_state.items()},
        )
        for i in range(0, n, block)
    )


def _eps(xp: Any, dtype: Any, eps: float) -> float:
    """``eps`` for an array of ``dtype``, raised to its smallest normal number if smaller.

    A smaller ε rounds to 0 in ``dtype`` (float32 below ~1e-45; Adam's ε·√(1 − β₂ᵗ) can
    underflow even in Python) or is flushed to 0 by hardware that drops subnormals; then
    √h + ε is 0 wherever the gradient has always been 0 and the step is 0/0 = NaN instead
    of 0. Any ε at or above that number is used unchanged, bit for bit.
    """
    tiny = float(xp.finfo(dtype).smallest_normal)
    return eps if eps >= tiny else tiny


def _is_number(value: Any) -> bool:
    """A Python or NumPy real number, not a bool: a parameter the book keeps as a scalar."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _to_host(array: Any) -> Any:
    """A host NumPy copy of ``array`` (an array of any supported backend)."""
    return backend_of(array).to_numpy(array)


class Optimizer:
    """Base class: validation, lazily created state, ``state_dict``; subclasses implement
    :meth:`_update_param` for one parameter.

    Subclasses set ``slots`` (the names of their per-parameter state arrays) and
    ``hyperparameters`` (the names saved in the state dict and shown by ``repr``).
    """

    slots: tuple[str, ...] = ()
    #: NumPy arrays of more than this many NUMPY_BLOCKs are updated block by block, in
    #: cache-sized views. Measured on a 2-core Xeon, µs per update of a 130 K-parameter flat
    #: buffer / ms for four (2000, 1000) tensors, whole vs blocked: SGD 35 vs 42 / 7.4 vs
    #: 9.0 (never blocked), Momentum 83 vs 122 / 18.0 vs 14.2 and Nesterov 166 vs 178 /
    #: 43.4 vs 18.2 (blocked above 32 blocks), Adam 383 vs 324 / 89.2 vs 33.6 (blocked above
    #: two, the default): the more temporaries a rule makes, the sooner blocks pay.
    block_above: float = 2
    hyperparameters: tuple[str, ...] = ("lr",)

    lr = _Hyperparameter(_positive)

    def __init__(self, lr: float) -> None:
        self.lr = lr
        self._step: dict[str, int] = {}
        self._state: dict[str, dict[str, Any]] = {}  # key -> slot -> array on the device
        self._pending: dict[str, dict[str, Any]] = {}  # key -> slot -> host array (loaded)
        # the flat path: (layout, slot -> flat state buffer, the step count of every key)
        self._flat: tuple[FlatLayout, dict[str, Any], int] | None = None

    def __repr__(self) -> str:
        args = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.hyperparameters)
        return f"{type(self).__name__}({args})"

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

        A parameter that is a number with a number as its gradient (the book's
        ``params = {'x': -7.0}``) is updated by the same rule on 0-d float64 arrays and
        rebound to a Python float: ``params[key]`` is replaced, not changed in place.
        """
        if (
            type(params) is FlatDict
            and type(grads) is FlatDict
            and params.layout is grads.layout
            and params._intact
            and grads._intact
            and self._update_flat(params, grads)
        ):
            return
        numbers_ = [k for k, g in grads.items() if _is_number(g) and _is_number(params.get(k))]
        if numbers_:
            self._update_numbers(params, grads, numbers_)
            return
        work = [self._check(params, key, g) for key, g in grads.items()]
        if not work:
            return
        with backend_of(work[0][2]).activate():  # CuPy computes on the current device
            self._apply(work)

    # -- the flat path ---------------------------------------------------------------------
    def _update_flat(self, params: FlatDict, grads: FlatDict) -> bool:
        """One update of the whole flat buffer; False (nothing done) where the keys' step
        counts differ, so the per-tensor path applies each its own bias correction."""
        layout = params.layout
        if self._flat is None or self._flat[0] is not layout:
            self._flat = self._flat_state(layout)
            if self._flat is None:
                return False
        _, state, step = self._flat
        step += 1
        self._flat = (layout, state, step)
        for key in layout.keys:
            self._step[key] = step
        backend = layout.backend
        p, g = params.flat, grads.flat
        with backend.activate():
            if not backend.fused_update(self, p, g, state, step):
                self._run_rule(backend.xp, p, g, state, step)
        return True

    def _flat_state(self, layout: FlatLayout) -> tuple[FlatLayout, dict[str, Any], int] | None:
        """The state of every key of ``layout`` moved into one flat buffer per slot (the
        per-key state becomes views of it), or None where their step counts differ."""
        steps = {self._step.get(key, 0) for key in layout.keys}
        if len(steps) != 1:
            return None
        for key in layout.keys:  # a loaded state must fit before anything moves
            existing = self._state.get(key) or self._pending.get(key) or {}
            for slot, array in existing.items():
                if tuple(array.shape) != layout.shapes[key]:
                    raise ValueError(
                        f"{type(self).__name__} state {slot}[{key!r}] has shape "
                        f"{tuple(array.shape)} but params[{key!r}] has shape "
                        f"{layout.shapes[key]}"
                    )
        backend = layout.backend
        buffers = {slot: layout.zeros() for slot in self.slots}
        with backend.activate():
            for key in layout.keys:
                saved = self._state.get(key)
                pending = self._pending.pop(key, None)
                for slot, buffer in buffers.items():
                    if saved is not None:
                        buffer[key][...] = saved[slot]
                    elif pending is not None:
                        buffer[key][...] = backend.asarray(pending[slot], dtype=layout.dtype)
                self._state[key] = {slot: buffer[key] for slot, buffer in buffers.items()}
        return layout, {slot: buffer.flat for slot, buffer in buffers.items()}, steps.pop()

    def fused_args(self, step: int, xp: Any, dtype: Any) -> tuple[str, dict[str, float]]:
        """The rule's name and its scalars at ``step`` for parameters of ``dtype``, for a
        backend's fused kernel (one launch per update; ``backends/cupy.py``): the formula
        of :meth:`_update_param`, with the same Python-float scalars."""
        raise NotImplementedError

    # -- the per-tensor path ---------------------------------------------------------------
    def _apply(self, work: list[tuple[str, Any, Any, Any]]) -> None:
        if self._flat is not None and any(key in self._flat[0].offsets for key, *_ in work):
            self._flat = None  # keys stepped one by one: the flat state is rebuilt if used
        for key, xp, p, _ in work:
            if key not in self._state:
                self._state[key] = self._new_state(key, xp, p)
        for key, xp, p, g in work:
            step = self._step[key] = self._step.get(key, 0) + 1
            state = self._state[key]
            self._run_rule(xp, p, g, state, step)

    def _update_numbers(
        self, params: MutableMapping[str, Any], grads: Mapping[str, Any], keys: list[str]
    ) -> None:
        """Update the number-valued ``params[key]`` for ``key`` in ``keys`` as 0-d float64
        arrays (their state stays 0-d arrays) and rebind them to Python floats; the other
        entries are updated as arrays, as usual. Everything is checked first."""
        host = get_backend("numpy")
        work_params, work_grads = dict(params), dict(grads)
        for key in keys:
            work_params[key] = host.asarray(float(params[key]), dtype="float64")
            work_grads[key] = host.asarray(float(grads[key]), dtype="float64")
        self.update(work_params, work_grads)
        for key in keys:
            params[key] = float(work_params[key])

    def _run_rule(self, xp: Any, p: Any, g: Any, state: dict[str, Any], step: int) -> None:
        """:meth:`_update_param`, over cache-sized blocks of a large NumPy array."""
        blocks = _numpy_blocks(xp, p, g, state, self.block_above) if is_numpy_array(p) else None
        if blocks is None:
            self._update_param(xp, p, g, state, step)
        else:
            for block_p, block_g, block_state in blocks:
                self._update_param(xp, block_p, block_g, block_state, step)

    def _update_param(self, xp: Any, p: Any, g: Any, state: dict[str, Any], step: int) -> None:
        """Update one parameter ``p`` in place from its gradient ``g`` (``step`` counts from
        1 for each parameter)."""
        raise NotImplementedError

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
        state = self._state.get(key)
        saved = state if state is not None else self._pending.get(key, {})
        for slot, array in saved.items():
            if tuple(array.shape) != tuple(p.shape):
                raise ValueError(
                    f"{type(self).__name__} state {slot}[{key!r}] has shape "
                    f"{tuple(array.shape)} but params[{key!r}] has shape {tuple(p.shape)}"
                )
            if state is not None and array.dtype != p.dtype:
                raise TypeError(
                    f"{type(self).__name__} state {slot}[{key!r}] has dtype {array.dtype} but "
                    f"params[{key!r}] has dtype {p.dtype}"
                )
        return key, xp, p, g

    def _new_state(self, key: str, xp: Any, p: Any) -> dict[str, Any]:
        """Zeros like ``p`` for each slot, or the loaded host state moved to ``p``'s device
        and dtype."""
        pending = self._pending.pop(key, None)
        if pending is None:
            return {slot: xp.zeros_like(p) for slot in self.slots}
        backend = backend_of(p)
        return {
            slot: backend.asarray(pending[slot], dtype=p.dtype, copy=True) for slot in self.slots
        }

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly, as host data::

            {"name": "Adam",
             "hyperparameters": {"lr": 0.001, "beta1": 0.9, ...},   # Python floats
             "step": {"W1": 12, ...},                               # updates per parameter
             "state": {"m": {"W1": ndarray, ...}, "v": {...}}}      # NumPy copies

        Loadable by :meth:`load_state_dict` on any backend.
        """
        state: dict[str, dict[str, Any]] = {slot: {} for slot in self.slots}
        for source in (self._pending, self._state):
            for key, arrays in source.items():
                for slot, array in arrays.items():
                    state[slot][key] = _to_host(array)
        return {
            "name": type(self).__name__,
            "hyperparameters": {n: getattr(self, n) for n in self.hyperparameters},
            "step": dict(self._step),
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

        steps: dict[str, int] = {}
        for key, value in dict(state_dict.get("step") or {}).items():
            try:
                count = int(value)
            except (TypeError, ValueError):
                count = 0
            if count != value or count < 1:
                raise ValueError(f"step[{key!r}] must be a positive integer, got {value!r}")
            steps[str(key)] = count

        saved = dict(state_dict.get("state") or {})
        bad = set(saved) - set(self.slots)
        if bad:
            raise ValueError(f"{cls} has no state {sorted(bad)}; it has {list(self.slots)}")
        pending: dict[str, dict[str, Any]] = {key: {} for key in steps}
        for slot in self.slots:
            arrays = dict(saved.get(slot) or {})
            if set(arrays) != set(steps):
                raise ValueError(
                    f"state {slot!r} has keys {sorted(arrays)} but step has {sorted(steps)}"
                )
            for key, array in arrays.items():
                try:
                    host = _to_host(array)
                except TypeError:
                    raise TypeError(
                        f"state {slot}[{key!r}] must be an array, not {type(array).__name__}"
                    ) from None
                if host.dtype.kind != "f":
                    raise TypeError(f"state {slot}[{key!r}] must be floating, not {host.dtype}")
                for other, seen in pending[key].items():
                    if seen.shape != host.shape:
                        raise ValueError(
                            f"state {slot}[{key!r}] has shape {host.shape} but "
                            f"{other}[{key!r}] has shape {seen.shape}"
                        )
                pending[key][slot] = host

        for n, v in new_hyper.items():
            setattr(self, n, v)
        self._step = steps
        self._state = {}
        self._pending = pending if self.slots else {}
        self._flat = None


class SGD(Optimizer):
    """Stochastic gradient descent: W ← W − η·∂L/∂W.

    Same trajectory as ``torch.optim.SGD(lr=η)``.
    """

    block_above = math.inf

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def _update_param(self, xp, p, g, state, step):
        p -= self.lr * g

    def fused_args(self, step, xp, dtype):
        return "sgd", {"lr": self.lr}


class Momentum(Optimizer):
    """Momentum SGD, in the book's form: v ← αv − η·∂L/∂W;  W ← W + v  (v starts at 0).

    ``torch.optim.SGD(lr=η, momentum=α)`` keeps b = −v/η instead (b ← αb + g; W ← W − ηb):
    the same trajectory while η is constant. When η changes, the book's velocity keeps the
    old learning rate in it and torch's does not.
    """

    slots: tuple[str, ...] = ("v",)
    hyperparameters: tuple[str, ...] = ("lr", "momentum")
    momentum = _Hyperparameter(_unit_interval)

    block_above = 32

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = momentum

    def _update_param(self, xp, p, g, state, step):
        v = state["v"]
        v *= self.momentum
        v -= self.lr * g
        p += v

    def fused_args(self, step, xp, dtype):
        return "momentum", {"lr": self.lr, "momentum": self.momentum}


class Nesterov(Momentum):
    """Nesterov's accelerated gradient in Bengio et al.'s form (arXiv:1212.0901, eq. 7):

        W ← W + α²v − (1 + α)η·∂L/∂W;   v ← αv − η·∂L/∂W

    computed as v ← αv − ηg; W ← W + αv − ηg. The same trajectory as
    ``torch.optim.SGD(lr=η, momentum=α, nesterov=True)`` while η is constant. (The book's
    listing updates v first and then adds α² times the *new* v, which is neither this form
    nor torch's.) Same hyperparameters and state as :class:`Momentum`.
    """

    def _update_param(self, xp, p, g, state, step):
        v = state["v"]
        step_g = self.lr * g
        v *= self.momentum
        v -= step_g
        p -= step_g
        p += self.momentum * v

    def fused_args(self, step, xp, dtype):
        return "nesterov", {"lr": self.lr, "momentum": self.momentum}


class AdaGrad(Optimizer):
    """AdaGrad: h ← h + g⊙g;  W ← W − η·g / (√h + ε), where h persists across calls.

    Same trajectory as ``torch.optim.Adagrad(lr=η, eps=ε)`` (``lr_decay=0``,
    ``initial_accumulator_value=0``). The first step is about η·sign(g).
    """

    slots: tuple[str, ...] = ("h",)
    hyperparameters: tuple[str, ...] = ("lr", "eps")
    eps = _Hyperparameter(_positive)

    def __init__(self, lr: float = 0.01, eps: float = 1e-7) -> None:
        super().__init__(lr)
        self.eps = eps

    def _update_param(self, xp, p, g, state, step):
        h = state["h"]
        h += g * g
        d = xp.sqrt(h)
        d += _eps(xp, p.dtype, self.eps)
        d = g / d
        d *= self.lr
        p -= d

    def fused_args(self, step, xp, dtype):
        return "adagrad", {"lr": self.lr, "eps": _eps(xp, dtype, self.eps)}


class RMSprop(Optimizer):
    """RMSprop: h ← ρh + (1 − ρ)·g⊙g;  W ← W − η·g / (√h + ε)  (ρ = ``decay_rate``).

    Same trajectory as ``torch.optim.RMSprop(lr=η, alpha=ρ, eps=ε)``. With h starting at 0
    the first step is η/√(1 − ρ)·sign(g): 10η for ρ = 0.99.
    """

    slots: tuple[str, ...] = ("h",)
    hyperparameters: tuple[str, ...] = ("lr", "decay_rate", "eps")
    decay_rate = _Hyperparameter(_unit_interval)
    eps = _Hyperparameter(_positive)

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99, eps: float = 1e-7) -> None:
        super().__init__(lr)
        self.decay_rate = decay_rate
        self.eps = eps

    def _update_param(self, xp, p, g, state, step):
        h = state["h"]
        h *= self.decay_rate
        g2 = g * g
        g2 *= 1.0 - self.decay_rate
        h += g2
        d = xp.sqrt(h)
        d += _eps(xp, p.dtype, self.eps)
        d = g / d
        d *= self.lr
        p -= d

    def fused_args(self, step, xp, dtype):
        rho = self.decay_rate
        return "rmsprop", {"lr": self.lr, "rho": rho, "eps": _eps(xp, dtype, self.eps)}


class Adam(Optimizer):
    """Adam (Kingma & Ba, Algorithm 1), bias-corrected, with t counted per parameter:

        m ← β₁m + (1 − β₁)g;   v ← β₂v + (1 − β₂)g⊙g
        W ← W − η·m̂ / (√v̂ + ε),   m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)

    computed as W ← W − ηₜ·m / (√v + εₜ) with the Python floats
    ηₜ = η·√(1 − β₂ᵗ)/(1 − β₁ᵗ) and εₜ = ε·√(1 − β₂ᵗ): the same numbers, four fewer
    passes. This is ``torch.optim.Adam(lr=η, betas=(β₁, β₂), eps=ε)``'s trajectory. The book's
    listing adds ε to √v instead of √v̂ (the paper's "ε̂" variant), which is this formula with
    a larger ε early on; the two differ only while √v̂ is not much larger than ε.
    """

    slots: tuple[str, ...] = ("m", "v")
    hyperparameters: tuple[str, ...] = ("lr", "beta1", "beta2", "eps")
    beta1 = _Hyperparameter(_unit_interval)
    beta2 = _Hyperparameter(_unit_interval)
    eps = _Hyperparameter(_positive)

    def __init__(
        self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        super().__init__(lr)
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps

    def _update_param(self, xp, p, g, state, step):
        b1, b2 = self.beta1, self.beta2
        m, v = state["m"], state["v"]
        m *= b1
        m += g * (1.0 - b1)
        v *= b2
        g2 = g * g
        g2 *= 1.0 - b2
        v += g2
        root = math.sqrt(1.0 - b2**step)
        d = xp.sqrt(v)
        d += _eps(xp, p.dtype, self.eps * root)
        d = m / d
        d *= self.lr * root / (1.0 - b1**step)
        p -= d

    def fused_args(self, step, xp, dtype):
        b1, b2 = self.beta1, self.beta2
        root = math.sqrt(1.0 - b2**step)
        scalars = {
            "b1": b1,
            "b2": b2,
            "lr_t": self.lr * root / (1.0 - b1**step),
            "eps_t": _eps(xp, dtype, self.eps * root),
            "decay": 1.0,
        }
        return "adam", scalars


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``:

        W ← (1 − η·λ)W, then the :class:`Adam` step  (λ = ``weight_decay``)

    The decay is not part of the gradient, so it is not scaled by √v̂.
    """

    hyperparameters: tuple[str, ...] = ("lr", "beta1", "beta2", "eps", "weight_decay")
    weight_decay = _Hyperparameter(_non_negative)

    def __init__(
        self,
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(lr, beta1, beta2, eps)
        self.weight_decay = weight_decay

    def _update_param(self, xp, p, g, state, step):
        if self.weight_decay:
            p *= 1.0 - self.lr * self.weight_decay
        super()._update_param(xp, p, g, state, step)

    def fused_args(self, step, xp, dtype):
        name, scalars = super().fused_args(step, xp, dtype)
        scalars["decay"] = 1.0 - self.lr * self.weight_decay if self.weight_decay else 1.0
        return name, scalars


#: Optimizer classes by lower-case name, for the Trainer and the command line.
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adagrad": AdaGrad,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
}


def get_optimizer(name: str | Optimizer, **hyperparameters: Any) -> Optimizer:
    """Build the optimizer called ``name`` (case-insensitive: ``'sgd'``, ``'Momentum'``,
    ``'ADAM'``, ...) with ``hyperparameters`` (``lr=0.01``, ...). An :class:`Optimizer`
    instance is returned as is (with no hyperparameters given).

    Raises ``ValueError`` for an unknown name and ``TypeError`` for a keyword the optimizer
    does not take, each listing the valid ones.
    """
    if isinstance(name, Optimizer):
        if hyperparameters:
            raise TypeError("hyperparameters are only used with an optimizer name")
        return name
    if not isinstance(name, str):
        raise TypeError(f"optimizer must be a name or an Optimizer, not {type(name).__name__}")
    cls = OPTIMIZERS.get(name.strip().lower())
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; valid names are: {', '.join(OPTIMIZERS)}")
    valid = list(inspect.signature(cls).parameters)
    unknown = [k for k in hyperparameters if k not in valid]
    if unknown:
        raise TypeError(f"{cls.__name__} takes no {unknown}; its hyperparameters are {valid}")
    return cls(**hyperparameters)
