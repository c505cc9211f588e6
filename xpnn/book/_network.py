"""What the book's networks add to :class:`xpnn.MultiLayerNet` for the book's scripts.

- ``loss`` is a Python float, so a list of losses prints, plots and smooths on any backend
  (a 0-d torch or CuPy array prints as ``tensor(2.30)`` or needs ``.get()``).
- ``numerical_gradient(x, t)`` computes in float64 whatever the network's dtype, on a
  float64 copy of the network on the same backend, so that a gradient check prints
  differences of 1e-7 to 1e-10 as the book's float64 code does (central differences in
  float32 are off by about 1e-3).
- ``save_params`` / ``load_params`` (every xpnn network's) write and read an xpnn checkpoint
  (:mod:`xpnn.params_io`).
- ``seed=None`` draws the seed from NumPy's global generator, as the book draws its initial
  weights from it: ``np.random.seed(0)`` at the top of a script makes a run repeatable.

``gradient``, ``accuracy``, ``predict``, ``params`` and the dtype (float32 by default) and
backend (``XPNN_BACKEND``) are xpnn's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_numpy_array

from xpnn.gradcheck import numerical_gradient as _central_differences
from xpnn.layers import Dropout, held_dropout_masks
from xpnn.mlp import MultiLayerNet

__all__ = ["BookNetwork", "seed_from_numpy"]


def seed_from_numpy(seed: Any) -> Any:
    """``seed``, or when it is ``None`` a seed drawn from NumPy's global generator."""
    # The book's global generator, on purpose: np.random.seed(...) makes a script repeatable.
    return int(np.random.randint(0, 2**31 - 1)) if seed is None else seed  # noqa: NPY002


class BookNetwork(MultiLayerNet):
    """:class:`xpnn.MultiLayerNet` with the book's float loss, a float64 numerical
    gradient (see the module docstring); ``save_params``/``load_params`` are every
    network's."""

    def loss(self, x: Any, t: Any, train_flg: bool = False) -> float:
        """Mean cross-entropy of the batch plus ½λΣ‖W‖², as a Python float (on a GPU,
        reading it waits for the device)."""
        return float(super().loss(x, t, train_flg))

    def numerical_gradient(self, x: Any, t: Any, h: float = 1e-4) -> dict[str, Any]:
        """Gradients of the training-mode loss by central differences (step ``h``), computed
        in float64 on a copy of the network; returned keyed like ``params``, in the
        network's dtype and on its device. The network itself is not changed.

        Dropout uses the masks of this network's last training pass when it was on a batch
        of ``x``'s size (so ``gradient(x, t)`` then ``numerical_gradient(x, t)`` compare the
        same function), else the masks of one fresh draw, held fixed.
        """
        twin = MultiLayerNet(
            self.input_size,
            self.hidden_size_list,
            self.output_size,
            activation=self.activation,
            weight_init_std=self.weight_init_std,
            weight_decay_lambda=self.weight_decay_lambda,
            use_dropout=self.use_dropout,
            dropout_ratio=self.dropout_ratio,
            use_batchnorm=self.use_batchnorm,
            dtype="float64",
            backend=self.backend,
            seed=0,
        )
        twin.load_state_dict(self.state_dict())
        if not is_numpy_array(x):
            xp = array_namespace(x)
            if xp.isdtype(x.dtype, "real floating"):
                x = xp.astype(x, twin.dtype)
        x = twin.check_input(x)
        t = twin.check_labels(t, int(x.shape[0]))
        mine = [layer for layer in self.layers.values() if isinstance(layer, Dropout)]
        theirs = [layer for layer in twin.layers.values() if isinstance(layer, Dropout)]
        with held_dropout_masks(theirs, lambda: twin.predict(x, train_flg=True),
                                self._last_masks(mine, int(x.shape[0]))):  # fmt: skip
            grads = _central_differences(
                lambda _: twin.loss(x, t, train_flg=True), twin.params, h=h, order=2
            )
        xp = self.backend.xp
        return {key: xp.astype(g, self.dtype) for key, g in grads.items()}

    @staticmethod
    def _last_masks(dropouts: list[Dropout], n: int) -> dict[int, Any]:
        """The keep-mask each dropout layer holds (``fixed_mask``) or last drew for a batch
        of ``n``, by position; a layer with neither is left out (its twin draws)."""
        masks: dict[int, Any] = {}
        for i, layer in enumerate(dropouts):
            keep = layer.fixed_mask
            if keep is None and layer.mask is not None and layer.mask.shape[0] == n:
                keep = layer.mask != 0.0
            if keep is not None:
                masks[i] = keep
        return masks
