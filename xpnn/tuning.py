"""Hyperparameter random search (section 6.5 of the book).

The book tunes the learning rate and the weight decay by random search on a validation
split: sample each from a log-uniform range, train briefly, keep the best few trials, narrow
the ranges around them and repeat. This module is that loop, generic over what is trained::

    space = {
        "lr": LogUniform(1e-6, 1e-2),            # 10 ** U(-6, -2)
        "weight_decay": LogUniform(1e-8, 1e-4),  # 10 ** U(-8, -4)
        "epochs": 50,                            # a plain value is a constant
    }
    result = random_search(objective, space, n_trials=100, seed=0)
    print(result.table(top=10))
    result.best_ranges(top=5)  # {"lr": (..., ...), "weight_decay": (..., ...)}

``objective(config, seed)`` trains one model with the hyperparameters in ``config`` (a new
``dict``: the constants and one sample of each distribution), seeding everything random
from the integer ``seed``, and returns a mapping of metrics: numbers, and lists such as
learning curves. One of them (``metric``, default ``"val_acc"``) ranks the trials.

**Reproducible whatever runs the trials.** Every configuration is sampled up front, in the
calling process, from one generator seeded with ``seed``, and trial ``i`` gets the integer
seed drawn from ``numpy.random.SeedSequence(seed).spawn(n_trials)[i]``. Trials are then
submitted to ``executor`` (any :class:`concurrent.futures.Executor`; by default they run
one after another in this process) and collected by index, so the same seed gives the same
configurations, the same trial seeds and, for an objective that depends only on its
arguments, the same results, in whatever order and wherever the trials ran. The first ``k``
trials of a search do not depend on ``n_trials``: a longer search extends a shorter one.

**Executors.** ``concurrent.futures.ProcessPoolExecutor()`` spreads trials over the cores of
one machine. A Dask cluster works the same way, because ``distributed.Client.get_executor()``
is a ``concurrent.futures.Executor``; nothing here imports Dask::

    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=4, threads_per_worker=1) as cluster, Client(cluster) as client:
        result = random_search(objective, space, 100, seed=0, executor=client.get_executor())

For an executor that runs trials in other processes or machines, ``objective`` must be
picklable, which means a function defined at the top level of an importable module (not a
lambda, not a closure, not a function defined in ``__main__`` run under the ``spawn`` start
method), or a ``functools.partial`` of one; ``xpnn`` and that module must be importable
where the trials run. Dask's executor submits ``pure=True`` tasks by default: identical
trials are computed once, which is what a deterministic objective wants.

**GPUs and worker processes.** A process started by ``fork`` cannot use CUDA once its
parent has, so on CuPy (or torch on CUDA) every trial of a fork-started pool would fail.
:func:`process_pool` makes a ``ProcessPoolExecutor`` whose workers start by ``spawn`` where
that matters (and by the platform's default elsewhere), and :func:`random_search` refuses a
fork-started pool once this process has used such a backend, saying what to use instead.

**Failures are data.** A trial whose objective raises (a diverging run, say) or whose
metric is missing, not a number or not finite is recorded with status ``"failed"`` and the
error message, and sorts after every successful trial; the search goes on. Only errors of
the machinery itself (an objective that cannot be pickled, a worker process that dies) stop
the search.
"""

from __future__ import annotations

import math
import multiprocessing
import numbers
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validate import positive_int, real
from .backends import Backend, created_backends, get_backend

__all__ = [
    "Choice",
    "Distribution",
    "IntUniform",
    "LogUniform",
    "SearchResult",
    "Trial",
    "Uniform",
    "process_pool",
    "random_search",
]

Objective = Callable[[dict[str, Any], int], Mapping[str, Any]]


# --------------------------------------------------------------------------- distributions


def _check_order(cls: str, low: float, high: float) -> None:
    if not low < high:
        raise ValueError(
            f"{cls} needs low < high, got low={low!r}, high={high!r} "
            "(for a fixed value, put the plain value in the space)"
        )


class Distribution:
    """A search-space dimension: ``sample(rng)`` draws one value with a NumPy generator.

    Values are plain Python objects (``float``, ``int`` or one of the options), never NumPy
    scalars, so that configurations print, compare and serialise simply.
    """

    def sample(self, rng: np.random.Generator) -> Any:
        """One value drawn with ``rng``."""
        raise NotImplementedError


@dataclass(frozen=True)
class LogUniform(Distribution):
    """``10 ** U(log10(low), log10(high))``: uniform in orders of magnitude, ``0 < low < high``.

    The book's choice for learning rates and weight decay, e.g. ``LogUniform(1e-6, 1e-2)``.
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        low, high = real("low", self.low), real("high", self.high)
        if low <= 0:
            raise ValueError(f"LogUniform needs low > 0, got low={low!r}")
        _check_order("LogUniform", low, high)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def sample(self, rng: np.random.Generator) -> float:
        """One value in ``[low, high]``."""
        exponent = rng.uniform(math.log10(self.low), math.log10(self.high))
        # 10 ** log10(x) can miss x by an ulp; keep the value inside the stated range.
        return min(max(10.0 ** float(exponent), self.low), self.high)


@dataclass(frozen=True)
class Uniform(Distribution):
    """``U(low, high)``, ``low < high``: e.g. a dropout ratio ``Uniform(0.0, 0.5)``."""

    low: float
    high: float

    def __post_init__(self) -> None:
        low, high = real("low", self.low), real("high", self.high)
        _check_order("Uniform", low, high)
        if not math.isfinite(high - low):
            raise ValueError(f"Uniform range is too wide for floats: [{low!r}, {high!r}]")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def sample(self, rng: np.random.Generator) -> float:
        """One value in ``[low, high]`` (``high`` itself only by rounding)."""
        return min(max(float(rng.uniform(self.low, self.high)), self.low), self.high)


@dataclass(frozen=True)
class IntUniform(Distribution):
    """An integer uniform on ``low, low + 1, ..., high`` (both ends included), ``low < high``."""

    low: int
    high: int

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"IntUniform {name} must be an integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        _check_order("IntUniform", self.low, self.high)

    def sample(self, rng: np.random.Generator) -> int:
        """One integer in ``[low, high]``."""
        return int(rng.integers(self.low, self.high, endpoint=True))


@dataclass(frozen=True)
class Choice(Distribution):
    """One of ``options``, each equally likely: e.g. ``Choice(["sgd", "momentum", "adam"])``.

    The option itself is returned (not a copy, not a NumPy scalar), so options may be any
    objects: numbers, strings, classes.
    """

    options: tuple[Any, ...]

    def __post_init__(self) -> None:
        options = self.options
        if hasattr(options, "tolist"):  # a NumPy array: plain Python options
            options = options.tolist()
        if isinstance(options, str | bytes | Mapping) or not isinstance(options, Sequence):
            raise TypeError(f"Choice needs a list or tuple of options, got {options!r}")
        if len(options) == 0:
            raise ValueError("Choice needs at least one option, got none")
        object.__setattr__(self, "options", tuple(options))

    def sample(self, rng: np.random.Generator) -> Any:
        """One of the options."""
        return self.options[int(rng.integers(len(self.options)))]


def _sample_config(space: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """One configuration: each distribution sampled in the space's order, constants copied."""
    return {
        name: value.sample(rng) if isinstance(value, Distribution) else value
        for name, value in space.items()
    }


# --------------------------------------------------------------------------- trials


@dataclass(frozen=True)
class Trial:
    """One evaluated configuration.

    ``index`` is its position in the sampling order (``0 .. n_trials - 1``), ``seed`` the
    integer seed the objective received, ``metrics`` what it returned (as plain Python
    values; empty when it raised), ``status`` ``"ok"`` or ``"failed"``, and ``error`` why it
    failed (``None`` when it did not).
    """

    index: int
    config: dict[str, Any]
    seed: int
    metrics: dict[str, Any]
    status: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the trial succeeded."""
        return self.status == "ok"


def _plain(value: Any) -> Any:
    """Metrics as plain Python values: NumPy (and other array library) scalars and arrays
    become floats, ints and lists, so results compare, pickle and serialise simply."""
    if isinstance(value, str | bytes | bool) or value is None:
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy / cupy / torch arrays and 0-d arrays
        return _plain(value.tolist())
    return value


def _run_trial(
    objective: Objective, config: dict[str, Any], seed: int, metric: str
) -> tuple[str, dict[str, Any], str | None]:
    """Run one trial where the executor puts it; ``(status, metrics, error)``.

    Exceptions of the objective are caught here, on the worker, so that whatever the
    executor raises afterwards is an error of the executor, not of the trial.
    """
    try:
        returned = objective(config, seed)
        if not isinstance(returned, Mapping):
            raise TypeError(
                f"objective must return a mapping of metrics, got {type(returned).__name__}"
            )
        metrics = _plain(returned)
    except Exception as error:
        return "failed", {}, f"{type(error).__name__}: {error}"
    if metric not in metrics:
        return (
            "failed",
            metrics,
            f"KeyError: objective returned no {metric!r} (got {sorted(metrics)})",
        )
    value = metrics[metric]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "failed", metrics, f"TypeError: {metric} must be a number, got {value!r}"
    if not math.isfinite(value):
        return "failed", metrics, f"non-finite {metric}: {value!r}"
    return "ok", metrics, None


# --------------------------------------------------------------------------- result


def _label(value: Any) -> str:
    """A short readable text for a configuration value that is not a number."""
    if isinstance(value, str):
        return value
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    return name if isinstance(name, str) else repr(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _format_column(values: list[Any], fixed: str, scientific: str) -> list[str]:
    """Format a column: numbers share one notation (scientific when any is tiny or huge),
    other values are labelled; ``None`` (no value) is blank."""
    floats = [v for v in values if _is_number(v) and not isinstance(v, numbers.Integral)]
    finite = [abs(v) for v in floats if math.isfinite(v) and v != 0]
    sci = any(v < 1e-2 or v >= 1e5 for v in finite)
    out = []
    for v in values:
        if v is None:
            out.append("")
        elif isinstance(v, numbers.Integral) and not isinstance(v, bool):
            out.append(str(v))
        elif _is_number(v):
            out.append(format(v, scientific if sci else fixed))
        else:
            out.append(_label(v))
    return out


def _jsonable(value: Any) -> Any:
    """``value`` in the JSON data model: non-finite floats become ``None`` (strict JSON has
    no NaN), tuples lists, objects their label."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if _is_number(value):
        return _jsonable(float(value))
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return _label(value)


@dataclass(frozen=True)
class SearchResult:
    """The trials of a search, best first.

    Successful trials are sorted by ``metric`` (descending for ``mode="max"``, ascending for
    ``"min"``; ties by index), failed ones follow in index order. ``seed`` is the seed the
    search ran with (the fresh entropy drawn when it was given ``None``): passing it again
    reproduces the search.
    """

    trials: tuple[Trial, ...]
    space: Mapping[str, Any]
    metric: str
    mode: str
    seed: int
    params: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        searched = tuple(k for k, v in self.space.items() if isinstance(v, Distribution))
        object.__setattr__(self, "params", searched)

    def __len__(self) -> int:
        return len(self.trials)

    @property
    def succeeded(self) -> tuple[Trial, ...]:
        """The successful trials, best first."""
        return tuple(t for t in self.trials if t.ok)

    @property
    def failed(self) -> tuple[Trial, ...]:
        """The failed trials, in index order."""
        return tuple(t for t in self.trials if not t.ok)

    @property
    def best(self) -> Trial:
        """The best successful trial; an error if every trial failed."""
        if not self.trials or not self.trials[0].ok:
            first = f"; the first error: {self.failed[0].error}" if self.failed else ""
            raise ValueError(f"no successful trial among {len(self.trials)}{first}")
        return self.trials[0]

    def _value(self, trial: Trial) -> float | None:
        """``trial``'s value of the ranking metric (``None`` when it has none)."""
        value = trial.metrics.get(self.metric)
        return value if _is_number(value) else None

    def _top(self, top: int | None) -> tuple[Trial, ...]:
        if top is None:
            return self.trials
        if isinstance(top, bool) or not isinstance(top, int) or top < 1:
            raise ValueError(f"top must be a positive integer or None, got {top!r}")
        return self.trials[:top]

    def table(self, top: int | None = None) -> str:
        """A text table of the first ``top`` trials (all by default), best first.

        Columns: rank (``-`` for a failed trial), the trial's index, the metric (``failed``
        when the trial failed), each searched hyperparameter (learning rates and other tiny
        or huge numbers in scientific notation, e.g. ``1.23e-04``), and, when a shown trial
        failed, its error.
        """
        trials = self._top(top)
        columns: list[tuple[str, list[str], bool]] = []  # (header, cells, right-aligned)
        ranks = [str(i + 1) if t.ok else "-" for i, t in enumerate(trials)]
        columns.append(("rank", ranks, True))
        columns.append(("trial", [str(t.index) for t in trials], True))
        values = _format_column([self._value(t) if t.ok else None for t in trials], ".4f", ".4e")
        cells = [v if t.ok else "failed" for v, t in zip(values, trials, strict=True)]
        columns.append((self.metric, cells, True))
        for name in self.params:
            raw = [t.config.get(name) for t in trials]
            numeric = all(_is_number(v) for v in raw)
            columns.append((name, _format_column(raw, ".4f", ".2e"), numeric))
        if any(not t.ok for t in trials):
            columns.append(("error", [t.error or "" for t in trials], False))

        widths = [max([len(h), *(len(c) for c in cells)]) for h, cells, _ in columns]

        def row(items: list[str]) -> str:
            parts = [
                item.rjust(w) if right else item.ljust(w)
                for item, w, (_, _, right) in zip(items, widths, columns, strict=True)
            ]
            return "  ".join(parts).rstrip()

        lines = [row([h for h, _, _ in columns])]
        lines += [row([cells[i] for _, cells, _ in columns]) for i in range(len(trials))]
        return "\n".join(lines)

    def best_ranges(self, top: int = 5) -> dict[str, tuple[Any, Any]]:
        """``{name: (min, max)}`` of each numeric searched hyperparameter over the best
        ``top`` successful trials: the ranges to narrow the search to, as the book does.

        Hyperparameters with non-numeric values (a choice of names, say) are left out.
        """
        trials = self._top(top)
        best = tuple(t for t in trials if t.ok)
        if not best:
            self.best  # noqa: B018  (raises the "no successful trial" error)
        ranges = {}
        for name in self.params:
            values = [t.config[name] for t in best]
            if all(_is_number(v) for v in values):
                ranges[name] = (min(values), max(values))
        return ranges

    def to_dict(self) -> dict[str, Any]:
        """The search as JSON-ready data (``json.dumps(result.to_dict(), allow_nan=False)``
        works): metric, mode, seed, the space (distributions as their repr), counts, and every
        trial, best first, with its index, seed, config, status, error and metrics.
        Non-finite numbers are written as ``None``; objects in configurations as their name.
        """
        return {
            "metric": self.metric,
            "mode": self.mode,
            "seed": self.seed,
            "space": {
                name: repr(v) if isinstance(v, Distribution) else _jsonable(v)
                for name, v in self.space.items()
            },
            "params": list(self.params),
            "n_trials": len(self.trials),
            "n_failed": len(self.failed),
            "trials": [
                {
                    "rank": rank if t.ok else None,
                    "index": t.index,
                    "seed": t.seed,
                    "status": t.status,
                    "error": t.error,
                    "config": _jsonable(t.config),
                    "metrics": _jsonable(t.metrics),
                }
                for rank, t in enumerate(self.trials, start=1)
            ],
        }


# --------------------------------------------------------------------------- search


def _fork_unsafe() -> list[Backend]:
    return [b for b in created_backends() if not b.fork_safe]


def process_pool(
    max_workers: int | None = None,
    *,
    backend: str | Backend | None = None,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple[Any, ...] = (),
) -> ProcessPoolExecutor:
    """A ``ProcessPoolExecutor`` whose workers can compute on ``backend`` (default: xpnn's).

    Workers start by ``spawn`` when ``backend``, or any backend this process has used,
    cannot survive a ``fork`` (CuPy; torch on CUDA), and by the platform's default start
    method otherwise (``fork`` on Linux before Python 3.14: the fastest start). Under
    ``spawn`` the objective must be importable (a top-level function of a module, or of a
    script guarded by ``if __name__ == "__main__":``).
    """
    spawn = not get_backend(backend).fork_safe or bool(_fork_unsafe())
    context = multiprocessing.get_context("spawn") if spawn else None
    return ProcessPoolExecutor(
        max_workers, mp_context=context, initializer=initializer, initargs=initargs
    )


def _check_start_method(executor: Executor) -> None:
    """Refuse a fork-started process pool once CUDA is in use in this process."""
    if not isinstance(executor, ProcessPoolExecutor):
        return
    context = getattr(executor, "_mp_context", None) or multiprocessing.get_context()
    unsafe = _fork_unsafe()
    if context.get_start_method() == "fork" and unsafe:
        names = ", ".join(sorted({f"{b.name} ({b.device})" for b in unsafe}))
        raise ValueError(
            f"this ProcessPoolExecutor starts its workers by fork, but this process has "
            f"used {names}: CUDA cannot be used in a forked child, so every trial would "
            "fail. Use xpnn.process_pool(n) (it spawns), or ProcessPoolExecutor(n, "
            "mp_context=multiprocessing.get_context('spawn'))"
        )


def _check_seed(seed: Any) -> None:
    if seed is None:
        return
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be a non-negative integer or None, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")


def random_search(
    objective: Objective,
    space: Mapping[str, Any],
    n_trials: int,
    *,
    seed: int | None = None,
    executor: Executor | None = None,
    metric: str = "val_acc",
    mode: str = "max",
    callback: Callable[[Trial], None] | None = None,
) -> SearchResult:
    """Evaluate ``n_trials`` random configurations of ``space`` and rank them by ``metric``.

    Args:
        objective: ``objective(config, seed) -> {metric name: number or list}``; trains with
            ``config`` and returns at least ``metric``. Must be picklable when ``executor``
            runs trials in other processes (see the module docstring).
        space: ``{name: Distribution or constant}``; distributions are sampled in this order.
        n_trials: how many configurations to try (at least 1).
        seed: seeds the configurations and the trials' seeds; ``None`` draws fresh entropy
            (recorded as ``SearchResult.seed``).
        executor: a :class:`concurrent.futures.Executor` to run the trials
            (:func:`process_pool`, ``distributed.Client(...).get_executor()``, ...). All
            trials are submitted at once; the executor is not shut down. ``None`` runs them
            one after another in this process. A fork-started process pool is refused once
            this process has used CUDA (see the module docstring).
        metric: the name of the returned metric that ranks trials.
        mode: ``"max"`` (higher is better, e.g. accuracy) or ``"min"`` (e.g. a loss).
        callback: called in this process with each finished :class:`Trial` as it finishes
            (in completion order), e.g. to report progress.

    Returns:
        A :class:`SearchResult`, best trial first. Failed trials (the objective raised, or
        its metric was missing or not finite) are recorded, not raised, and sort last.

    Raises:
        TypeError, ValueError: for invalid arguments, before any trial runs.
        Exception: whatever the executor raises for reasons other than the objective
            (an objective it cannot pickle, a worker that died); pending trials are
            cancelled.
    """
    n_trials = _check_search(objective, space, n_trials, executor, metric, mode, callback)
    if executor is not None:
        _check_start_method(executor)
    _check_seed(seed)
    space = dict(space)

    configs, seeds, entropy = _draw(space, n_trials, seed)
    trials: list[Trial | None] = [None] * n_trials

    def record(i: int, outcome: tuple[str, dict[str, Any], str | None]) -> None:
        status, metrics, error = outcome
        trial = trials[i] = Trial(i, configs[i], seeds[i], metrics, status, error)
        if callback is not None:
            callback(trial)

    jobs = [(objective, dict(c), s, metric) for c, s in zip(configs, seeds, strict=True)]
    _run_trials(jobs, executor, record)
    done = [t for t in trials if t is not None]
    return SearchResult(_ranked(done, metric, mode), space, metric, mode, entropy)


def _draw(
    space: Mapping[str, Any], n_trials: int, seed: int | None
) -> tuple[list[dict[str, Any]], list[int], int]:
    """``n_trials`` configurations of ``space``, a seed for each trial, and the entropy they
    all come from (``seed``, or fresh entropy when ``None``)."""
    root = np.random.SeedSequence(None if seed is None else int(seed))
    entropy = root.entropy  # an int: the seed, or fresh entropy drawn for it
    assert isinstance(entropy, int)
    rng = np.random.default_rng(np.random.SeedSequence(entropy))
    configs = [_sample_config(space, rng) for _ in range(n_trials)]
    # 32-bit seeds: accepted by every library, including the book's np.random.seed.
    seeds = [int(s.generate_state(1, np.uint32)[0]) for s in root.spawn(n_trials)]
    return configs, seeds, entropy


def _check_search(
    objective: Any,
    space: Any,
    n_trials: Any,
    executor: Any,
    metric: Any,
    mode: Any,
    callback: Any,
) -> int:
    """Check :func:`random_search`'s arguments (before any trial runs); ``n_trials``."""
    if not callable(objective):
        raise TypeError(f"objective must be callable, got {objective!r}")
    if not isinstance(space, Mapping):
        raise TypeError(
            f"space must be a mapping of names to distributions or constants, got {space!r}"
        )
    for name in space:
        if not isinstance(name, str):
            raise TypeError(f"space names must be strings, got {name!r}")
    n_trials = positive_int("n_trials", n_trials)
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a string, got {metric!r}")
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError(f"executor must be a concurrent.futures.Executor, got {executor!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {callback!r}")
    return n_trials


def _run_trials(
    jobs: list[tuple[Any, dict[str, Any], int, str]],
    executor: Executor | None,
    record: Callable[[int, tuple[str, dict[str, Any], str | None]], None],
) -> None:
    """Run each job (``_run_trial``'s arguments) here or on ``executor``, recording each
    outcome by its index as it finishes; pending ones are cancelled if the executor fails."""
    if executor is None:
        for i, job in enumerate(jobs):
            record(i, _run_trial(*job))
        return
    futures = [executor.submit(_run_trial, *job) for job in jobs]
    index = {f: i for i, f in enumerate(futures)}
    try:
        for future in as_completed(futures):
            record(index[future], future.result())
    except BaseException:
        for future in futures:
            future.cancel()
        raise


def _ranked(trials: list[Trial], metric: str, mode: str) -> tuple[Trial, ...]:
    """The trials best first (by ``metric``, ``mode``), failed ones last, ties by index."""
    sign = -1.0 if mode == "max" else 1.0

    def order(t: Trial) -> tuple[int, float, int]:
        if not t.ok:
            return (1, 0.0, t.index)
        return (0, sign * t.metrics[metric], t.index)

    return tuple(sorted(trials, key=order))
