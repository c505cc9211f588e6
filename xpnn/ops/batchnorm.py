"""Batch normalisation (Ioffe & Szegedy, 2015), forward and backward::

    training:   μ, σ² = mean and (biased) variance of the batch
                running_mean ← momentum·running_mean + (1 - momentum)·μ   (same for σ²)
    inference:  μ, σ² = running_mean, running_var
    x̂ = (x - μ) / √(σ² + eps)          out = γ·x̂ + β

    dβ = Σ dout       dγ = Σ dout·x̂       dx = γ/√(σ² + eps) · (dout - (dβ + x̂·dγ)/m)

(dx in training mode, m the number of values averaged; at inference μ and σ² are constants
and dx = γ/√(σ² + eps) · dout.) Input (N, D), statistics per feature; or (N, C, H, W),
statistics per channel over N, H and W. γ, β and the running statistics have shape (D,) or
(C,).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .._array_api import namespace_of

__all__ = ["batchnorm_backward", "batchnorm_forward", "feature_layout"]

SumInto = Callable[[Any, Any, Any], None]


def _as_is(v: Any) -> Any:
    return v


def feature_layout(x: Any) -> tuple[tuple[int, ...], Callable[[Any], Any]]:
    """(the axes reduced over, a function shaping a per-feature vector to broadcast against
    x: the vector itself for 2-D input, a (C, 1, 1) view of it for 4-D)."""
    if x.ndim == 2:
        return (0,), _as_is
    if x.ndim == 4:
        xp, shape = namespace_of(x), (x.shape[1], 1, 1)
        return (0, 2, 3), lambda v: xp.reshape(v, shape)
    raise ValueError(
        f"BatchNormalization takes 2-D (N, D) or 4-D (N, C, H, W) input, got shape {tuple(x.shape)}"
    )


def batchnorm_forward(
    x: Any,
    gamma: Any,
    beta: Any,
    running_mean: Any,
    running_var: Any,
    momentum: float,
    eps: float,
    train: bool,
) -> tuple[Any, Any, Any]:
    """``(out, xn, std)``: the output, x̂ and √(σ² + eps) (per feature). In training mode the
    running statistics are updated in place."""
    xp = namespace_of(x)
    axes, per_feature = feature_layout(x)
    if train:
        mu = xp.mean(x, axis=axes)
        xc = x - per_feature(mu)
        var = xp.mean(xc * xc, axis=axes)
        keep = 1.0 - momentum
        running_mean *= momentum
        running_mean += mu * keep
        running_var *= momentum
        running_var += var * keep
    else:
        xc = x - per_feature(running_mean)
        var = running_var
    std = xp.sqrt(var + eps)
    xn = xc  # a fresh array: normalised in place
    xn /= per_feature(std)
    out = xn * per_feature(gamma)
    out += per_feature(beta)
    return out, xn, std


def _sum(x: Any, axes: tuple[int, ...], into: Any, sum_into: SumInto | None) -> Any:
    if into is None or sum_into is None:
        total = namespace_of(x).sum(x, axis=axes)
        if into is None:
            return total
        into[...] = total
        return into
    sum_into(x, axes, into)
    return into


def batchnorm_backward(
    dout: Any,
    xn: Any,
    std: Any,
    gamma: Any,
    train: bool,
    dgamma: Any = None,
    dbeta: Any = None,
    sum_into: SumInto | None = None,
) -> tuple[Any, Any, Any]:
    """``(dx, dgamma, dbeta)``. ``dgamma``/``dbeta``, when given, are written in place (with
    ``sum_into(x, axes, out)``, a backend's one-pass sum, when given) and returned."""
    axes, per_feature = feature_layout(dout)
    dbeta = _sum(dout, axes, dbeta, sum_into)
    dgamma = _sum(dout * xn, axes, dgamma, sum_into)
    scale = per_feature(gamma / std)
    if not train:  # μ and σ² are constants at inference
        return dout * scale, dgamma, dbeta
    m = math.prod(dout.shape) // dout.shape[1]
    dx = xn * per_feature(dgamma)
    dx += per_feature(dbeta)
    dx *= -1.0 / m
    dx += dout
    dx *= scale
    return dx, dgamma, dbeta
