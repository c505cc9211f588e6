"""The reference the benchmarks hold xpnn to: the same network, written by hand in NumPy.

What a competent NumPy programmer writes for one training step of a ReLU MLP with optional
batch normalisation and inverted dropout, softmax cross-entropy, and SGD or Adam — no
framework, no checks, no abstraction: float32 arrays, products with ``@``, updates in place,
the obvious temporaries and no others. The arithmetic is xpnn's (the same formulas, the same
Adam), so a timing difference is overhead, not a different algorithm.

::

    net = NumpyMLP((784, 100, 100, 10), optimizer="Adam", lr=1e-3, batchnorm=True, seed=0)
    loss = net.step(x_batch, t_one_hot)   # one forward, backward and update
"""

from __future__ import annotations

import itertools
import math

import numpy as np

__all__ = ["NumpyMLP"]


class NumpyMLP:
    """A ReLU MLP of layer ``sizes`` trained by hand (see the module docstring)."""

    def __init__(
        self,
        sizes: tuple[int, ...],
        *,
        optimizer: str = "SGD",
        lr: float = 0.01,
        batchnorm: bool = False,
        dropout: float = 0.0,
        seed: int = 0,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.W = [
            (rng.standard_normal((n_in, n_out), dtype=np.float32) * math.sqrt(2.0 / n_in))
            for n_in, n_out in itertools.pairwise(sizes)
        ]
        self.b = [np.zeros(n, np.float32) for n in sizes[1:]]
        hidden = sizes[1:-1]
        self.batchnorm, self.dropout = batchnorm, dropout
        self.gamma = [np.ones(n, np.float32) for n in hidden] if batchnorm else []
        self.beta = [np.zeros(n, np.float32) for n in hidden] if batchnorm else []
        self.mean = [np.zeros(n, np.float32) for n in hidden] if batchnorm else []
        self.var = [np.ones(n, np.float32) for n in hidden] if batchnorm else []
        self.params = [*self.W, *self.b, *self.gamma, *self.beta]
        self.optimizer, self.lr, self.t = optimizer, lr, 0
        if optimizer == "Adam":
            self.m = [np.zeros_like(p) for p in self.params]
            self.v = [np.zeros_like(p) for p in self.params]
        elif optimizer != "SGD":
            raise ValueError(f"optimizer must be 'SGD' or 'Adam', not {optimizer!r}")

    def step(self, x: np.ndarray, t: np.ndarray) -> float:
        """One step on a batch: ``x`` (N, D) float32, ``t`` (N, K) one-hot float32."""
        n, layers = x.shape[0], len(self.W)
        keep = 1.0 - self.dropout
        # -- forward --------------------------------------------------------------------
        inputs, relu_out, bn_cache, masks = [], [], [], []
        h = x
        for i in range(layers - 1):
            inputs.append(h)
            a = h @ self.W[i]
            a += self.b[i]
            if self.batchnorm:
                mu = a.mean(axis=0)
                xc = a - mu
                var = (xc * xc).mean(axis=0)
                self.mean[i] *= 0.9
                self.mean[i] += 0.1 * mu
                self.var[i] *= 0.9
                self.var[i] += 0.1 * var
                std = np.sqrt(var + 1e-6)
                xc /= std
                bn_cache.append((xc, std))
                a = xc * self.gamma[i]
                a += self.beta[i]
            h = np.maximum(a, 0.0)
            relu_out.append(h)
            if self.dropout:
                mask = (self.rng.random(h.shape, dtype=np.float32) >= self.dropout).astype(
                    np.float32
                )
                mask *= 1.0 / keep
                masks.append(mask)
                h = h * mask
        inputs.append(h)
        scores = h @ self.W[-1]
        scores += self.b[-1]
        z = scores - scores.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        y = e / s
        z -= np.log(s)
        loss = -float(np.sum(t * z)) / n
        # -- backward -------------------------------------------------------------------
        grads_W, grads_b = [None] * layers, [None] * layers
        grads_gamma, grads_beta = [None] * (layers - 1), [None] * (layers - 1)
        d = (y - t) / n
        for i in range(layers - 1, -1, -1):
            grads_W[i] = inputs[i].T @ d
            grads_b[i] = d.sum(axis=0)
            if i == 0:
                break
            d = d @ self.W[i].T
            if self.dropout:
                d *= masks[i - 1]
            d *= relu_out[i - 1] > 0.0
            if self.batchnorm:
                xn, std = bn_cache[i - 1]
                grads_beta[i - 1] = d.sum(axis=0)
                grads_gamma[i - 1] = (d * xn).sum(axis=0)
                dx = xn * grads_gamma[i - 1]
                dx += grads_beta[i - 1]
                dx *= -1.0 / n
                dx += d
                dx *= self.gamma[i - 1] / std
                d = dx
        grads = [*grads_W, *grads_b]
        if self.batchnorm:
            grads += [*grads_gamma, *grads_beta]
        # -- update ---------------------------------------------------------------------
        if self.optimizer == "SGD":
            for p, g in zip(self.params, grads, strict=True):
                p -= self.lr * g
        else:
            self.t += 1
            root = math.sqrt(1.0 - 0.999**self.t)
            lr_t = self.lr * root / (1.0 - 0.9**self.t)
            eps_t = 1e-8 * root
            for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
                m *= 0.9
                m += 0.1 * g
                v *= 0.999
                v += 0.001 * (g * g)
                p -= lr_t * m / (np.sqrt(v) + eps_t)
        return loss
