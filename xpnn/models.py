"""A network back from its file alone: the architecture recorded in it, then its weights.

::

    net = load_network("model.npz")                  # written by save_params or a Trainer
    net = load_network("model.npz", backend="cupy")  # the same network, on a GPU
    net = network_from_config(net.get_config() | {"hidden_size_list": [50]}, "MultiLayerNet")

Files written by :func:`xpnn.params_io.save_params` (``net.save_params``) and by the
Trainer's checkpoints hold the entry ``"architecture"`` (:mod:`xpnn.architecture`): the
network's class and its constructor's arguments. Only the classes in :data:`NETWORKS` are
built, from JSON values: no code is run from the file. A file without the entry (written
before it was recorded, or from a network of a script's own) still loads into a network
built by hand, with ``net.load_params(path)``; :func:`load_network` says so.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from .backends import Backend
from .checkpoint import CheckpointError, load_checkpoint
from .convnet import DeepConvNet, SimpleConvNet
from .mlp import MultiLayerNet
from .network import Network

__all__ = ["NETWORKS", "load_network", "network_from_config"]

#: The network classes an architecture may name.
NETWORKS: dict[str, type[Network]] = {
    "MultiLayerNet": MultiLayerNet,
    "SimpleConvNet": SimpleConvNet,
    "DeepConvNet": DeepConvNet,
}


def network_from_config(
    config: Mapping[str, Any],
    class_name: str,
    *,
    backend: str | Backend | None = None,
    dtype: Any = None,
    seed: Any = None,
) -> Network:
    """``NETWORKS[class_name](**config)`` on ``backend`` (default: ``XPNN_BACKEND``), with
    ``dtype`` replacing the config's when given. The weights are drawn afresh (``seed``).

    Raises ``ValueError`` for an unknown class, and the constructor's ``TypeError`` or
    ``ValueError`` for arguments it does not take.
    """
    cls = NETWORKS.get(class_name)
    if cls is None:
        raise ValueError(f"unknown network class {class_name!r}; known: {', '.join(NETWORKS)}")
    if not isinstance(config, Mapping) or not all(isinstance(k, str) for k in config):
        raise TypeError(
            f"a {class_name} config is a dict of constructor arguments, not {config!r:.80}"
        )
    kwargs = dict(config)
    if dtype is not None:
        kwargs["dtype"] = dtype
    return cls(**kwargs, backend=backend, seed=seed)


def _architecture(source: str, tree: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    text = tree.get("architecture")
    if text is None:
        raise CheckpointError(
            f"{source} records no architecture (written before xpnn recorded it, or from a "
            "network without get_config()): build the network with its constructor and call "
            f"net.load_params({source!r})"
        )
    try:
        arch = json.loads(text) if isinstance(text, str) else None
        name, config = arch["class"], arch["config"]  # type: ignore[index]
    except (ValueError, TypeError, KeyError):
        raise CheckpointError(
            f"{source}: its 'architecture' entry is not the JSON of a class and a config"
        ) from None
    if not isinstance(name, str) or not isinstance(config, dict):
        raise CheckpointError(f"{source}: its 'architecture' entry names no class and config")
    return name, config


def load_network(
    path: str | os.PathLike, *, backend: str | Backend | None = None, dtype: Any = None
) -> Network:
    """The network saved in ``path`` (by ``save_params`` or a Trainer checkpoint), built from
    its recorded architecture on ``backend`` (default: ``XPNN_BACKEND``) in its saved dtype
    (or ``dtype``), with the saved parameters, BatchNorm statistics and dropout state.

    Raises ``FileNotFoundError`` for a missing file and
    :class:`~xpnn.checkpoint.CheckpointError` (a ``ValueError``) naming the file for one
    that is not an xpnn checkpoint, records no architecture (the message says how to load
    it by hand), or whose architecture or arrays cannot be used.
    """
    source = os.fspath(path)
    if not os.path.exists(source):
        raise FileNotFoundError(f"no network file at {source}")
    tree = load_checkpoint(source)
    name, config = _architecture(source, tree)
    try:
        network = network_from_config(config, name, backend=backend, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{source}: its architecture cannot be built ({exc})") from None
    state = tree.get("network")
    if not isinstance(state, dict):
        raise CheckpointError(f"{source}: an architecture but no 'network' entry of weights")
    try:
        network.load_state_dict(state)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{source}: {exc}") from None
    return network
