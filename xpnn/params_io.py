"""A network's parameters in a file: ``save_params`` / ``load_params``, without pickle.

::

    save_params(network, "params.pkl")     # an xpnn checkpoint (.npz), whatever the name
    load_params(network, "params.pkl")     # back into the same (or an equal) network

The file is an xpnn checkpoint (:mod:`xpnn.checkpoint`: a ``.npz`` written atomically,
readable with ``numpy.load(path, allow_pickle=False)``) holding one entry, ``network``: the
network's :meth:`state_dict` (parameters, BatchNorm running statistics, the dropout
generator's state). A Trainer checkpoint has the same entry, so it loads here too.

The book's ``save_params`` pickles a dict of arrays. xpnn writes its own format even when
the script names the file ``params.pkl``, and never unpickles: a pickle file (recognised by
its first bytes) is refused with a message that says how to convert it. A plain ``.npz`` of
parameter arrays (``W1``, ``b1``, ...; what that conversion writes) loads as well: its
arrays replace those parameters, everything else stays as it is.

Nothing is read before it is known to fit: every array in the file must have the shape of
the network's array of that name (its header is read first, see
:func:`xpnn.checkpoint.load_checkpoint`'s ``expected``), the rest (the dropout generator's
state) is bounded by :data:`~xpnn.checkpoint.SMALL_BYTES`, and of a Trainer checkpoint only
the ``network`` entry is read. A file cannot make ``load_params`` allocate more than the
network's own arrays plus that constant.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._bounded_npz import BoundedNpz, NpzRefused
from .architecture import architecture_json
from .checkpoint import SMALL_BYTES, CheckpointError, load_checkpoint, save_checkpoint

__all__ = ["load_params", "save_params"]

#: A pickle of protocol 2 or later starts with the PROTO opcode and the protocol number;
#: Python 3 writes protocol 3 to 5 by default.
_PICKLE_PROTOCOLS = range(2, 6)


def _state_of(network: Any) -> Any:
    if not callable(getattr(network, "state_dict", None)) or not callable(
        getattr(network, "load_state_dict", None)
    ):
        raise TypeError(
            f"a {type(network).__name__} has no state_dict/load_state_dict; save_params and "
            "load_params take an xpnn network"
        )
    return network.state_dict()


def save_params(network: Any, path: str | os.PathLike) -> None:
    """Write ``network.state_dict()`` to ``path`` as an xpnn checkpoint, atomically (a crash
    leaves the previous file, if any). The name is used as given: ``params.pkl`` holds a
    ``.npz``, not a pickle."""
    save_checkpoint(
        path, {"network": _state_of(network), "architecture": architecture_json(network)}
    )


def _is_pickle(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(2)
    return len(head) == 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS


def _plain_npz(path: str, state: dict[str, Any]) -> dict[str, np.ndarray] | None:
    """The arrays of a plain ``.npz`` (one without an xpnn manifest), each read only once
    its header shows the shape of the network's array of that name; ``None`` when ``path``
    is not a plain ``.npz``. Raises :class:`CheckpointError` for one that does not fit."""
    try:
        npz = BoundedNpz(path)
    except NpzRefused:
        return None
    with npz:
        if "__xpnn_checkpoint__" in npz.names:
            return None
        unexpected = sorted(set(npz.names) - set(state))
        if unexpected:
            raise CheckpointError(
                f"{path}: arrays {unexpected} are not parameters of this network, which has "
                f"{sorted(k for k in state if k != 'dropout_rng')}"
            )
        try:
            small = 0
            for name in npz.names:
                header, target = npz.header(name), state[name]
                if isinstance(target, np.ndarray):
                    header.check_fits(name, target.shape, target.dtype)
                elif (small := small + header.nbytes) > SMALL_BYTES:
                    raise NpzRefused(
                        f"entry {name!r} declares {header.nbytes} bytes; besides the "
                        f"network's arrays, an .npz may hold {SMALL_BYTES} bytes; refused "
                        "before reading its data"
                    )
            return {name: npz.read(name) for name in npz.names}
        except NpzRefused as exc:
            raise CheckpointError(f"{path}: {exc}") from None


def _saved_state(source: str, current: dict[str, Any]) -> Any:
    """The state a parameter file holds for a network whose state is ``current``."""
    # The network's arrays bound what is read; the rest of its entry (the dropout
    # generator's state) and "architecture" (a string) are small; nothing else is read.
    arrays = {k: v for k, v in current.items() if isinstance(v, np.ndarray)}
    error: CheckpointError | None = None
    try:
        tree = load_checkpoint(source, expected={"network": arrays, "architecture": None})
    except CheckpointError as exc:
        error = exc
    if error is not None:  # out of the except block: a refused plain .npz raises alone
        plain = _plain_npz(source, current)
        if plain is None:
            raise error
        return {**current, **plain}
    saved = tree.get("network")
    if not isinstance(saved, dict):
        raise CheckpointError(
            f"{source}: an xpnn checkpoint, but with no 'network' entry: not written by "
            "save_params or a Trainer"
        )
    return saved


def load_params(network: Any, path: str | os.PathLike) -> None:
    """Load a file written by :func:`save_params` (or a Trainer checkpoint, or a plain
    ``.npz`` of parameter arrays) into ``network``, in place.

    Raises ``FileNotFoundError`` for a missing file; :class:`~xpnn.checkpoint.CheckpointError`
    (a ``ValueError``) naming the file for a pickle, a damaged or foreign file, or one whose
    arrays do not fit the network (missing or unexpected keys, other shapes). Nothing is
    changed when it raises.
    """
    source = os.fspath(path)
    current = _state_of(network)
    if not os.path.exists(source):
        raise FileNotFoundError(f"no parameter file at {source}")
    if _is_pickle(source):
        raise CheckpointError(
            f"{source} is a Python pickle (the book's save_params format); xpnn never loads "
            "pickles, since unpickling runs whatever code the file holds. If you trust the "
            'file, convert it once with: python -c "import pickle, numpy as np; '
            f"np.savez('params.npz', **pickle.load(open('{source}', 'rb')))\" and load "
            "params.npz instead"
        )
    state = _saved_state(source, current)
    try:
        network.load_state_dict(state)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{source}: {exc}") from None
