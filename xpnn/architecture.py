"""A network's architecture as a JSON string, recorded in the files that hold its weights.

::

    architecture_json(net)
    # '{"class": "MultiLayerNet", "config": {"input_size": 784, "hidden_size_list": [100], ...}}'

``class`` is the nearest class in the network's MRO that defines ``get_config`` (so the
book's ``MultiLayerNet``, a subclass of xpnn's, is recorded as xpnn's), ``config`` what its
``get_config()`` returns: the constructor's arguments, JSON-able, without the backend and the
seed. :func:`xpnn.params_io.save_params` and the Trainer's ``state_dict`` store it as the
top-level entry ``"architecture"``; :func:`xpnn.models.load_network` builds the network back
from it. A network without ``get_config`` (a script's own) records none (``None``).

This module imports no network: the checkpoint writers below the networks use it.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["architecture_json"]


def architecture_json(network: Any) -> str | None:
    """``{"class": name, "config": network.get_config()}`` as a JSON string, or ``None``
    when the network has no ``get_config``."""
    get_config = getattr(network, "get_config", None)
    if not callable(get_config):
        return None
    owner = next(c for c in type(network).__mro__ if "get_config" in vars(c))
    return json.dumps({"class": owner.__name__, "config": get_config()}, allow_nan=False)
