"""A training step's batch cut into parts, each part's forward and backward pass run at the
same time on its own core, through its own copy of the network's layers: data parallelism
on the CPU, for the NumPy backend.

NumPy threads its matrix products and nothing else: a convolutional network's patch copies,
shifts, pooling, ReLU and dropout run on one core while the others wait. Cutting the
*batch* instead of each operation puts every operation of a step on every core, with one
hand-off per step instead of one per operation (:mod:`xpnn.backends.threads` cuts each
operation, and on 2-core virtual machines the hand-offs cost what they gained). Each part
runs its products on one BLAS thread; the gradients of the parts are then averaged,
weighted by their sizes, into the network's own flat gradient buffer::

    import xpnn
    xpnn.set_data_parallel(2)            # or XPNN_DATA_PARALLEL=2 (or auto) in the environment
    grads = net.gradient(x_batch, t_batch)   # two halves of the batch, on two cores

Measured on a 2-core VM (``python benchmarks/bench_conv.py --limit 3000 --rounds 5``, real
MNIST, batch 100, float32, seconds per 3,000-image epoch at two threads, medians of 5
interleaved rounds): DeepConvNet 2.68 -> 2.04 (torch eager 1.25), SimpleConvNet 0.32 ->
0.31 (torch 0.40). A step of an MLP was slower in parts (784-100x5-10: 0.92 -> 1.38 ms):
its products are most of its work and were threaded already.

**What is the same and what is not.** The loss and the gradients are those of the whole
batch up to rounding: each part's products and sums run over fewer samples and the parts
are added at the end. A run is still reproducible: the same seed and the same number of
parts give the same bits. Dropout masks are the very masks of a one-part step (the
network's generator draws the whole batch's mask for a layer once, in layer order, and
each part takes its rows), so a seed trains the same network with any number of parts up
to rounding.

**Inference too.** ``net.accuracy`` (and so the Trainer's evaluation) runs its
``batch_size``-sample forward passes in parts at once the same way, each part whole
batches: a DeepConvNet's accuracy on 10,000 images 2.8 -> 1.9 s on the machine above. The
count is one part's up to rounding of the scores (a tie between two classes' scores could
fall the other way).

**Where it applies.** ``net.gradient``/``loss_and_gradient``/``accuracy`` (and so the
Trainer) on the NumPy backend (the backends whose ``parts_on_threads`` gives a context),
when more than one part is asked for, the network has a convolution,
every layer computes each sample on its own (:attr:`xpnn.layers.Layer.per_sample`; not
BatchNormalization, whose statistics are the batch's, nor a layer of the user's own that
does not say so), no dropout layer holds a ``fixed_mask``, and the batch has at least
:data:`MIN_PART_SAMPLES` samples a part. Elsewhere the step runs in one part, as without
it. Off by default: it changes the rounding of every step, and what it gains depends on
the machine.

The copies (:class:`Replicas`) share the network's parameter arrays (an optimizer's update
in place reaches them), and have their own activations, workspaces and gradient buffers.
They are made on the first parallel step and again when ``net.layers`` holds other layer
objects (the book's scripts swap layers in); a layer's public settings (``dropout_ratio``,
``input_grad``...) are copied to them at each step.
"""

from __future__ import annotations

import copy
import itertools
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

from .backends.threads import count_or_auto, on_this_thread_only, run_all
from .conv import Convolution
from .flat import FlatDict
from .layers import Dropout, Plans, forward_pass, train_pass

__all__ = [
    "MIN_PART_SAMPLES",
    "Replicas",
    "get_data_parallel",
    "parts_of",
    "set_data_parallel",
]

#: Fewest samples a part may have: below this a part's hand-off outweighs its work.
MIN_PART_SAMPLES = 16

_ENV = "XPNN_DATA_PARALLEL"

T = TypeVar("T")


def _parse(value: Any, name: str) -> int:
    return count_or_auto(
        value, name, "parts", "one a CPU this process may use",
        "1 (the default) runs each step in one part",
    )  # fmt: skip


_parts = _parse(os.environ.get(_ENV, "").strip() or 1, _ENV)


def get_data_parallel() -> int:
    """How many parts a training step's batch is cut into where it can be (1: none)."""
    return _parts


def set_data_parallel(n: int | str) -> None:
    """Cut each training step's batch into ``n`` parts run at once on ``n`` threads (``1``:
    one part, the default; ``'auto'``: one part a CPU this process may use, at most 8). See
    the module docstring for where it applies and what it changes."""
    global _parts
    _parts = _parse(n, "n")


def parts_of(n: int, wanted: int) -> list[tuple[int, int]]:
    """``range(n)`` cut into at most ``wanted`` near-equal ``(lo, hi)`` parts, none of
    fewer than :data:`MIN_PART_SAMPLES` samples (one part if they would be)."""
    k = max(1, min(wanted, n // MIN_PART_SAMPLES))
    cuts = [n * i // k for i in range(k + 1)]
    return list(itertools.pairwise(cuts))


def _is_scalar_setting(name: str, value: Any) -> bool:
    return not name.startswith("_") and isinstance(value, bool | int | float | str)


class _Replica:
    """What one part of a step runs: layers (a network's own, or a copy of them with the
    same parameter arrays and everything else its own), their plans, the last layer, and
    the flat gradient buffer their gradients are bound to."""

    def __init__(
        self, layers: Mapping[str, Any], plans: Plans, last_layer: Any, grads: FlatDict
    ) -> None:
        self.layers = layers
        self.plans = plans
        self.last_layer = last_layer
        self.grads = grads


class _PartDraws:
    """The uniform draws of a step's dropout layers: each layer's whole-batch draw made once
    by its own generator, on the first request of any part, and shared out by rows. Every
    part asks in layer order, so the draws happen in the order of a one-part step."""

    def __init__(self, generators: Sequence[Any], n: int) -> None:
        self._generators = generators
        self._n = n
        self._draws: dict[int, Any] = {}
        self._lock = threading.Lock()

    def rows(self, layer: int, shape: tuple[int, ...], dtype: Any, lo: int, hi: int) -> Any:
        with self._lock:
            draw = self._draws.get(layer)
            if draw is None:
                draw = self._generators[layer].random((self._n, *shape[1:]), dtype=dtype)
                self._draws[layer] = draw
        return draw[lo:hi, ...]


class _PartGenerator:
    """What a dropout layer of one part draws from: its rows of the whole batch's draw."""

    def __init__(self, draws: _PartDraws, layer: int, lo: int, hi: int) -> None:
        self._draws, self._layer, self._lo, self._hi = draws, layer, lo, hi

    def random(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        return self._draws.rows(self._layer, tuple(shape), dtype, self._lo, self._hi)


class Replicas:
    """The copies of a network's layers its data-parallel steps run the other parts on, and
    those steps (:meth:`loss_and_gradient`)."""

    def __init__(self, group: Callable[[list[Any]], list[Any]] | None = None) -> None:
        self._group = group  # how the copies' plans group layers (the network's own rule)
        self._replicas: list[_Replica] = []
        self._key: tuple[int, ...] | None = None

    def train_step(self, net: Any, x: Any, t: Any) -> tuple[Any, FlatDict]:
        """``net``'s data loss on ``(x, t)`` (a 0-d array; no weight decay) and its
        gradients (the views of its flat gradient buffer; no decay term either): one
        training pass of its own layers, or passes in parts where it can (:meth:`parts`)."""
        bounds = self.parts(net, int(x.shape[0]))
        if len(bounds) > 1:
            return self.loss_and_gradient(net, x, t, bounds)
        loss = train_pass(net._plans, net.layers, net.last_layer, x, t)
        return loss, net._store.grads()  # the views: valid until the next backward

    def parts(self, net: Any, n: int) -> list[tuple[int, int]]:
        """The parts a training step of ``net`` on ``n`` samples runs in: ``[(0, n)]`` where
        it runs in one (see the module docstring)."""
        return parts_of(n, self._wanted(net))

    def _wanted(self, net: Any) -> int:
        """The parts asked for, where ``net``'s passes may be cut into parts; else 1."""
        return 1 if _parts == 1 or not self.applies(net) else _parts

    @staticmethod
    def applies(net: Any) -> bool:
        """Whether ``net``'s passes may be cut into parts (the module docstring's list, but
        for the batch size and the number of parts asked for)."""
        if net.backend.parts_on_threads() is None:
            return False
        layers = [*net.layers.values(), net.last_layer]
        if not all(getattr(layer, "per_sample", False) for layer in layers):
            return False
        if not any(isinstance(layer, Convolution) for layer in layers):
            return False  # measured: an MLP's step is slower in parts
        if any(d.fixed_mask is not None for d in _dropouts(layers)):
            return False
        # every parameter is one of the network's (a layer swapped in with arrays of its
        # own would be copied, not shared, and its gradient left out of the average)
        return all(net._store.owns(layer) for layer in layers if layer.PARAMS)

    def _copies(self, net: Any, k: int) -> list[_Replica]:
        """``k`` copies of ``net``'s layers, made again when its layers are other objects."""
        layers = list(net.layers.values())
        key = (*map(id, layers), id(net.last_layer), id(net._store.grads_flat))
        if key != self._key or len(self._replicas) < k:
            self._replicas = [_copy(net, Plans(self._group)) for _ in range(k)]
            self._key = key
        replicas = self._replicas[:k]
        for replica in replicas:
            for ours, theirs in zip(layers, replica.layers.values(), strict=True):
                settings = {n: v for n, v in vars(ours).items() if _is_scalar_setting(n, v)}
                vars(theirs).update(settings)
        return replicas

    def eval_parts(self, net: Any, n: int, step: int) -> list[tuple[int, int]]:
        """The parts an inference pass of ``net`` over ``n`` samples, ``step`` at a time,
        runs in: whole steps each (the forward passes see the batches they would in one
        part), or where there are fewer steps than parts, parts of the samples."""
        wanted = self._wanted(net)
        if wanted == 1:
            return [(0, n)]
        steps = -(-n // step)
        if steps < wanted:  # each part under one step
            return parts_of(n, wanted)
        cuts = [steps * i // wanted for i in range(wanted + 1)]
        return [(lo * step, min(hi * step, n)) for lo, hi in itertools.pairwise(cuts)]

    def map_parts(
        self,
        net: Any,
        bounds: Sequence[tuple[int, int]],
        task: Callable[[Callable[[Any], Any], int, int], T],
    ) -> list[T]:
        """``task(predict, lo, hi)`` for each part ``(lo, hi)`` of ``bounds`` at once, one
        BLAS thread each, ``predict`` being the inference forward pass of that part's
        layers (``net``'s own for the first); the results in order."""
        if len(bounds) == 1:
            return [task(lambda b: forward_pass(net._plans, net.layers, b, False), *bounds[0])]
        runs = [(net.layers, net._plans)]
        runs += [(r.layers, r.plans) for r in self._copies(net, len(bounds) - 1)]

        def part(layers: Mapping[str, Any], plans: Plans, lo: int, hi: int) -> Callable[[], T]:
            def run() -> T:
                with on_this_thread_only():
                    return task(lambda b: forward_pass(plans, layers, b, False), lo, hi)

            return run

        with net.backend.parts_on_threads():
            return run_all([part(*run, lo, hi) for run, (lo, hi) in zip(runs, bounds, strict=True)])

    def loss_and_gradient(
        self, net: Any, x: Any, t: Any, bounds: Sequence[tuple[int, int]]
    ) -> tuple[Any, FlatDict]:
        """The data loss of ``net`` on ``(x, t)`` (a 0-d array, no weight decay) and the
        gradients in ``net``'s flat gradient buffer (no decay term either), computed in the
        parts ``bounds`` of the batch at once: the first part by ``net``'s own layers on
        the calling thread, each other by a copy on a thread of the pool."""
        replicas = self._copies(net, len(bounds) - 1)
        n = int(x.shape[0])
        ours = _Replica(net.layers, net._plans, net.last_layer, net._store.grads())
        runs = [ours, *replicas]
        with ExitStack() as stack:
            stack.enter_context(_shared_dropout_draws(net.backend, runs, n, bounds))
            stack.enter_context(net.backend.parts_on_threads())
            losses = run_all(
                [
                    _part_task(run, x[lo:hi, ...], t[lo:hi, ...])
                    for run, (lo, hi) in zip(runs, bounds, strict=True)
                ]
            )
        grads = ours.grads
        flat = grads.flat
        (lo, hi), *others = bounds
        flat *= (hi - lo) / n
        loss = losses[0] * ((hi - lo) / n)
        for replica, part_loss, (lo, hi) in zip(replicas, losses[1:], others, strict=True):
            flat += replica.grads.flat * ((hi - lo) / n)
            loss = loss + part_loss * ((hi - lo) / n)
        return loss, grads


def _dropouts(layers: Sequence[Any]) -> list[Dropout]:
    return [layer for layer in layers if isinstance(layer, Dropout)]


def _copy(net: Any, plans: Plans) -> _Replica:
    """A copy of ``net``'s layers and last layer sharing its parameter arrays, backend and
    generators, the gradients bound to views of a new flat buffer of its own; run by
    ``plans``."""
    store = net._store
    layers = list(net.layers.values())
    theirs = store.grads_flat.layout.zeros()
    memo: dict[int, Any] = {id(net.backend): net.backend, id(net.dropout_rng): net.dropout_rng}
    for array in store.params.values():
        memo[id(array)] = array
    for layer in _dropouts(layers):
        if layer.generator is not None:
            memo[id(layer.generator)] = layer.generator
    copies = copy.deepcopy([*layers, net.last_layer], memo)
    for layer, copied in zip(layers, copies, strict=False):
        if layer.PARAMS:
            keys = store.keys_of(layer)
            copied.bind_grads(net.backend, {name: theirs[key] for name, key in keys.items()})
    return _Replica(dict(zip(net.layers, copies[:-1], strict=True)), plans, copies[-1], theirs)


@contextmanager
def _shared_dropout_draws(
    backend: Any, runs: Sequence[_Replica], n: int, bounds: Sequence[tuple[int, int]]
) -> Iterator[None]:
    """Within the block, the dropout layers of each run draw their rows of whole-batch
    draws (:class:`_PartDraws`) made by the network's layers' own generators."""
    per_run = [_dropouts(list(run.layers.values())) for run in runs]
    ours = per_run[0]
    if not ours:
        yield
        return
    for layer in ours:
        if layer.generator is None:  # as Dropout.forward would, on first use
            layer.generator = backend.rng()
    draws = _PartDraws([layer.generator for layer in ours], n)
    saved = [[layer.generator for layer in dropouts] for dropouts in per_run]
    try:
        for dropouts, (lo, hi) in zip(per_run, bounds, strict=True):
            for i, layer in enumerate(dropouts):
                layer.generator = _PartGenerator(draws, i, lo, hi)
        yield
    finally:
        for dropouts, generators in zip(per_run, saved, strict=True):
            for layer, generator in zip(dropouts, generators, strict=True):
                layer.generator = generator


def _part_task(run: _Replica, x: Any, t: Any) -> Callable[[], Any]:
    def task() -> Any:
        with on_this_thread_only():
            return train_pass(run.plans, run.layers, run.last_layer, x, t)

    return task
