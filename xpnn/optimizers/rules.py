"""The update rules of chapter 6.1 (and AdamW), each as data: its state slots, its scalars at a
step, and its elementwise formula.

Passes over memory per update and parameter of the portable formula (one pass reads or writes
one parameter-sized array; the standard has no fused multiply-add and no ``out=``, so each
operator is a pass): SGD 5, Momentum 10, Nesterov 15, AdaGrad 17, RMSprop 21, Adam 28, AdamW
30. A backend with fused kernels (CuPy) runs each rule as one pass.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, ClassVar

from .._validate import non_negative_real, positive_real, unit_interval
from .base import Hyperparameter, Optimizer

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "AdaGrad",
    "Adam",
    "AdamW",
    "Momentum",
    "Nesterov",
    "RMSprop",
    "get_optimizer",
]


def _eps(xp: Any, dtype: Any, eps: float) -> float:
    """``eps`` for an array of ``dtype``, raised to its smallest normal number if smaller.

    A smaller ε rounds to 0 in ``dtype`` (float32 below ~1e-45; Adam's ε·√(1 − β₂ᵗ) can
    underflow even in Python) or is flushed to 0 by hardware that drops subnormals; then
    √h + ε is 0 wherever the gradient has always been 0 and the step is 0/0 = NaN instead
    of 0. Any ε at or above that number is used unchanged, bit for bit.
    """
    tiny = float(xp.finfo(dtype).smallest_normal)
    return eps if eps >= tiny else tiny


class SGD(Optimizer):
    """Stochastic gradient descent: W ← W − η·∂L/∂W.

    Same trajectory as ``torch.optim.SGD(lr=η)``.
    """

    rule = "sgd"

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def scalars(self, step, xp, dtype):
        return {"lr": self.lr}

    def apply(self, xp, p, g, state, scalars):
        p -= scalars["lr"] * g


class Momentum(Optimizer):
    """Momentum SGD, in the book's form: v ← αv − η·∂L/∂W;  W ← W + v  (v starts at 0).

    ``torch.optim.SGD(lr=η, momentum=α)`` keeps b = −v/η instead (b ← αb + g; W ← W − ηb):
    the same trajectory while η is constant. When η changes, the book's velocity keeps the
    old learning rate in it and torch's does not.
    """

    slots = ("v",)
    hyperparameters: ClassVar[tuple[str, ...]] = ("lr", "momentum")
    rule = "momentum"
    momentum = Hyperparameter(unit_interval)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = momentum

    def scalars(self, step, xp, dtype):
        return {"lr": self.lr, "momentum": self.momentum}

    def apply(self, xp, p, g, state, scalars):
        v = state["v"]
        v *= scalars["momentum"]
        v -= scalars["lr"] * g
        p += v


class Nesterov(Momentum):
    """Nesterov's accelerated gradient in Bengio et al.'s form (arXiv:1212.0901, eq. 7):

        W ← W + α²v − (1 + α)η·∂L/∂W;   v ← αv − η·∂L/∂W

    computed as v ← αv − ηg; W ← W + αv − ηg. The same trajectory as
    ``torch.optim.SGD(lr=η, momentum=α, nesterov=True)`` while η is constant. (The book's
    listing updates v first and then adds α² times the *new* v, which is neither this form
    nor torch's.) Same hyperparameters and state as :class:`Momentum`.
    """

    rule = "nesterov"

    def apply(self, xp, p, g, state, scalars):
        v, momentum = state["v"], scalars["momentum"]
        step_g = scalars["lr"] * g
        v *= momentum
        v -= step_g
        p -= step_g
        p += momentum * v


class AdaGrad(Optimizer):
    """AdaGrad: h ← h + g⊙g;  W ← W − η·g / (√h + ε), where h persists across calls.

    Same trajectory as ``torch.optim.Adagrad(lr=η, eps=ε)`` (``lr_decay=0``,
    ``initial_accumulator_value=0``). The first step is about η·sign(g).
    """

    slots = ("h",)
    hyperparameters: ClassVar[tuple[str, ...]] = ("lr", "eps")
    rule = "adagrad"
    eps = Hyperparameter(positive_real)

    def __init__(self, lr: float = 0.01, eps: float = 1e-7) -> None:
        super().__init__(lr)
        self.eps = eps

    def scalars(self, step, xp, dtype):
        return {"lr": self.lr, "eps": _eps(xp, dtype, self.eps)}

    def apply(self, xp, p, g, state, scalars):
        h = state["h"]
        h += g * g
        d = xp.sqrt(h)
        d += scalars["eps"]
        d = g / d
        d *= scalars["lr"]
        p -= d


class RMSprop(Optimizer):
    """RMSprop: h ← ρh + (1 − ρ)·g⊙g;  W ← W − η·g / (√h + ε)  (ρ = ``decay_rate``).

    Same trajectory as ``torch.optim.RMSprop(lr=η, alpha=ρ, eps=ε)``. With h starting at 0
    the first step is η/√(1 − ρ)·sign(g): 10η for ρ = 0.99.
    """

    slots = ("h",)
    hyperparameters: ClassVar[tuple[str, ...]] = ("lr", "decay_rate", "eps")
    rule = "rmsprop"
    decay_rate = Hyperparameter(unit_interval)
    eps = Hyperparameter(positive_real)

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99, eps: float = 1e-7) -> None:
        super().__init__(lr)
        self.decay_rate = decay_rate
        self.eps = eps

    def scalars(self, step, xp, dtype):
        rho = self.decay_rate
        return {"lr": self.lr, "rho": rho, "omrho": 1.0 - rho, "eps": _eps(xp, dtype, self.eps)}

    def apply(self, xp, p, g, state, scalars):
        h = state["h"]
        h *= scalars["rho"]
        g2 = g * g
        g2 *= scalars["omrho"]
        h += g2
        d = xp.sqrt(h)
        d += scalars["eps"]
        d = g / d
        d *= scalars["lr"]
        p -= d


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

    slots = ("m", "v")
    hyperparameters: ClassVar[tuple[str, ...]] = ("lr", "beta1", "beta2", "eps")
    rule = "adam"
    beta1 = Hyperparameter(unit_interval)
    beta2 = Hyperparameter(unit_interval)
    eps = Hyperparameter(positive_real)

    def __init__(
        self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        super().__init__(lr)
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps

    def scalars(self, step, xp, dtype):
        b1, b2 = self.beta1, self.beta2
        root = math.sqrt(1.0 - b2**step)
        return {
            "b1": b1,
            "b2": b2,
            "omb1": 1.0 - b1,
            "omb2": 1.0 - b2,
            "lr_t": self.lr * root / (1.0 - b1**step),
            "eps_t": _eps(xp, dtype, self.eps * root),
            "decay": 1.0,
        }

    def apply(self, xp, p, g, state, scalars):
        m, v = state["m"], state["v"]
        m *= scalars["b1"]
        m += g * scalars["omb1"]
        v *= scalars["b2"]
        g2 = g * g
        g2 *= scalars["omb2"]
        v += g2
        d = xp.sqrt(v)
        d += scalars["eps_t"]
        d = m / d
        d *= scalars["lr_t"]
        p -= d


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``:

        W ← (1 − η·λ)W, then the :class:`Adam` step  (λ = ``weight_decay``)

    The decay is not part of the gradient, so it is not scaled by √v̂.
    """

    hyperparameters: ClassVar[tuple[str, ...]] = ("lr", "beta1", "beta2", "eps", "weight_decay")
    weight_decay = Hyperparameter(non_negative_real)

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

    def scalars(self, step, xp, dtype):
        scalars = super().scalars(step, xp, dtype)
        if self.weight_decay:
            scalars["decay"] = 1.0 - self.lr * self.weight_decay
        return scalars

    def apply(self, xp, p, g, state, scalars):
        if scalars["decay"] != 1.0:
            p *= scalars["decay"]
        super().apply(xp, p, g, state, scalars)


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
