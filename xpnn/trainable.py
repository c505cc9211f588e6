"""What the Trainer needs of a network: :class:`BookStyleNetwork`, :class:`TrainableNetwork`.

A network written the book's way (chapters 4 to 8: a dict ``params`` of the arrays its layers
compute with, ``gradient(x, t)``, ``loss(x, t)``, ``accuracy(x, t)``) is a
:class:`BookStyleNetwork`, and :class:`~xpnn.training.Trainer` trains it as it is: each step
runs ``loss`` then ``gradient`` (two passes, as the book's loop does), data goes to the
backend of its parameters, and nothing is checkpointed.

xpnn's networks (:class:`~xpnn.network.Network` and its subclasses) are a
:class:`TrainableNetwork`: a book network that also offers one fused forward-backward pass
(``loss_and_gradient``), input checks, its backend and dtype, its state and a reseedable
dropout stream. The Trainer then checks the data once, builds one-hot targets once, takes one
pass per step, re-seeds dropout per epoch and writes checkpoints.

Both are :func:`typing.runtime_checkable` protocols: ``isinstance(net, TrainableNetwork)``
says which a network is (by the presence of the members; nothing needs to inherit).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from .backends import Backend, backend_of, get_backend

__all__ = [
    "BookStyleNetwork",
    "TrainableNetwork",
    "is_trainable",
    "missing_members",
    "network_backend",
]


@runtime_checkable
class BookStyleNetwork(Protocol):
    """A network written the book's way: enough for the Trainer to train and evaluate it."""

    #: The parameters by name: the very arrays the layers compute with (updated in place).
    params: dict[str, Any]

    def gradient(self, x: Any, t: Any) -> dict[str, Any]:
        """Gradients of the training loss on ``(x, t)``, keyed like :attr:`params`."""
        ...

    def loss(self, x: Any, t: Any) -> Any:
        """The training loss on ``(x, t)``: a 0-d array or a Python float."""
        ...

    def accuracy(self, x: Any, t: Any) -> float:
        """The fraction of the ``N`` samples of ``x`` whose prediction is their label."""
        ...


@runtime_checkable
class TrainableNetwork(BookStyleNetwork, Protocol):
    """A :class:`BookStyleNetwork` that offers what makes training fast and resumable (xpnn's
    :class:`~xpnn.network.Network` does)."""

    #: The backend whose arrays ``params`` are, on its device.
    backend: Backend
    #: The number of classes: the width of one-hot targets.
    output_size: int
    #: The floating dtype of the parameters (a dtype of ``backend.xp``).
    dtype: Any

    def loss_and_gradient(
        self, x: Any, t: Any, checked: bool = False
    ) -> tuple[Any, dict[str, Any]]:
        """The loss (a 0-d array, left on the device) and the gradients of one training
        pass; ``checked=True``: ``x`` and ``t`` have passed :meth:`check_input` and
        :meth:`check_labels` already."""
        ...

    def check_input(self, x: Any, name: str = "x") -> Any:
        """``x`` (host or device, ``(N, ...)`` floats) checked and on the device; raises
        naming ``name``."""
        ...

    def check_labels(self, t: Any, n: int, name: str = "t") -> Any:
        """``n`` labels (``(n,)`` integers or ``(n, K)`` one-hot) checked and on the
        device; raises naming ``name``."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything that changes in training (parameters, statistics, the dropout
        generator's state), as host NumPy arrays."""
        ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s result; raises and changes nothing on a mismatch."""
        ...

    def reseed_dropout(self, *key: int) -> None:
        """Restart the dropout stream from the network's seed extended by ``key``."""
        ...


def missing_members(network: Any, protocol: type) -> list[str]:
    """The members of ``protocol`` (one of the classes above) that ``network`` lacks."""
    names: list[str] = []
    for cls in reversed(protocol.__mro__):
        if cls in (BookStyleNetwork, TrainableNetwork):
            names += vars(cls).get("__annotations__", {})
            names += [n for n, v in vars(cls).items() if callable(v) and not n.startswith("_")]
    return [n for n in names if not hasattr(network, n)]


def is_trainable(network: Any) -> bool:
    """Whether ``network`` is a :class:`TrainableNetwork` (else it is a
    :class:`BookStyleNetwork`); ``TypeError`` naming what it lacks if it is neither."""
    if isinstance(network, TrainableNetwork):
        return True
    if not isinstance(network, BookStyleNetwork):
        lacks = ", ".join(missing_members(network, BookStyleNetwork))
        raise TypeError(
            "network must offer params, gradient(x, t), loss(x, t) and accuracy(x, t); "
            f"this {type(network).__name__} lacks {lacks}"
        )
    return False


def network_backend(network: BookStyleNetwork) -> Backend:
    """The backend a network computes on: its own for a :class:`TrainableNetwork`, else the
    backend of its first parameter (NumPy for a network without parameters)."""
    if isinstance(network, TrainableNetwork):
        return network.backend
    first = next(iter(network.params.values()), None)
    return get_backend("numpy") if first is None else backend_of(first)
