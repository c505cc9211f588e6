"""Hyperparameter random search: distributions, seeding, ranking, failures, executors.

The objectives are defined at the top level of this module so that they pickle by reference
(``test_tuning.noisy_quadratic``). Worker processes import this module to unpickle them: a
forked worker inherits ``sys.path`` (where pytest's default ``prepend`` import mode put
``tests/``), and ``multiprocessing``'s spawn start method, which Dask's nanny uses too, hands
the parent's ``sys.path`` to the child. The spawn test below checks exactly that.
"""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import xpnn
from xpnn.tuning import (
    Choice,
    IntUniform,
    LogUniform,
    SearchResult,
    Trial,
    Uniform,
    random_search,
)

# --------------------------------------------------------------------------- objectives


def noisy_quadratic(config: dict, seed: int) -> dict:
    """A stand-in for training: accuracy peaks at lr = 1e-3, plus noise drawn from the
    trial's seed. Constants in the space make it fail on purpose: ``fail_above`` raises
    (a diverging run), ``nan_below`` returns a NaN accuracy."""
    lr = config["lr"]
    if lr > config.get("fail_above", math.inf):
        raise FloatingPointError(f"loss diverged at lr={lr:.2e}")
    rng = np.random.default_rng(seed)
    x = math.log10(lr) + 3.0
    val_acc = 0.9 - 0.05 * x * x + 0.01 * rng.standard_normal()
    if lr < config.get("nan_below", 0.0):
        val_acc = math.nan
    return {
        "val_acc": np.float64(val_acc),  # a NumPy scalar: stored as a Python float
        "val_loss": 0.1 + 0.2 * x * x,
        "curve": np.linspace(0.1, val_acc, 4),  # an array: stored as a list
        "seed": seed,
    }


def no_metric(config: dict, seed: int) -> dict:
    return {"accuracy": 0.5}


def echo(config: dict, seed: int) -> dict:
    config["mutated"] = True  # must not leak into the recorded configuration
    return {"val_acc": 0.5, "config": dict(config), "seed": seed}


SPACE = {
    "lr": LogUniform(1e-6, 1e-1),
    "weight_decay": LogUniform(1e-8, 1e-4),
    "dropout": Uniform(0.0, 0.5),
    "hidden": IntUniform(50, 100),
    "optimizer": Choice(["sgd", "adam"]),
    "epochs": 50,
}


def assert_same_results(a: SearchResult, b: SearchResult) -> None:
    """Equal in every field, trial by trial (``==`` on a trial whose metric is NaN is
    false even against itself; ``numpy.testing.assert_equal`` treats NaNs as equal)."""
    np.testing.assert_equal(
        [dataclasses.asdict(t) for t in a.trials], [dataclasses.asdict(t) for t in b.trials]
    )
    assert (a.space, a.metric, a.mode, a.seed) == (b.space, b.metric, b.mode, b.seed)
    assert a.to_dict() == b.to_dict()


def search(n_trials: int = 12, **kwargs) -> SearchResult:
    kwargs.setdefault("seed", 0)
    return random_search(noisy_quadratic, SPACE, n_trials, **kwargs)


# --------------------------------------------------------------------------- distributions


def test_log_uniform_is_uniform_in_log_space_and_within_bounds():
    rng = np.random.default_rng(0)
    d = LogUniform(1e-6, 1e-2)
    samples = np.array([d.sample(rng) for _ in range(20_000)])
    assert samples.min() >= 1e-6 and samples.max() <= 1e-2
    counts, _ = np.histogram(np.log10(samples), bins=8, range=(-6, -2))
    expected = len(samples) / 8  # 2500, standard deviation about 47
    assert np.all(np.abs(counts - expected) < 0.08 * expected), counts
    # Half the samples below 1e-4, the middle decade: a uniform on [1e-6, 1e-2] would put
    # 99 % of them above it.
    assert np.mean(samples < 1e-4) == pytest.approx(0.5, abs=0.02)


def test_uniform_and_int_uniform_cover_their_range():
    rng = np.random.default_rng(1)
    u = [Uniform(-1.0, 3.0).sample(rng) for _ in range(5000)]
    assert min(u) >= -1.0 and max(u) <= 3.0
    assert np.mean(u) == pytest.approx(1.0, abs=0.1)
    ints = [IntUniform(2, 5).sample(rng) for _ in range(2000)]
    assert set(ints) == {2, 3, 4, 5}  # both ends included
    assert all(type(i) is int for i in ints)


def test_choice_returns_the_options_themselves_equally_often():
    rng = np.random.default_rng(2)
    options = [int, "adam", 0.5]
    picks = [Choice(options).sample(rng) for _ in range(3000)]
    assert {id(p) for p in picks} == {id(o) for o in options}
    for option in options:
        assert sum(p is option for p in picks) == pytest.approx(1000, abs=120)


def test_samples_are_plain_python_values():
    rng = np.random.default_rng(3)
    assert type(LogUniform(1e-3, 1.0).sample(rng)) is float
    assert type(Uniform(0.0, 1.0).sample(rng)) is float
    assert type(IntUniform(0, 9).sample(rng)) is int
    assert type(Choice(np.array([1, 2])).sample(rng)) is int


@pytest.mark.parametrize(
    ("low", "high"), [(1e-300, 1e300), (1e-6, 1.000001e-6), (0.5, 2.0), (1e-2, 1e-1)]
)
def test_log_uniform_never_leaves_its_bounds(low, high):
    rng = np.random.default_rng(4)
    d = LogUniform(low, high)
    assert all(low <= d.sample(rng) <= high for _ in range(2000))


def test_distributions_never_leave_their_bounds_for_random_ranges():
    rng = np.random.default_rng(5)
    for _ in range(200):
        a, b = sorted(rng.uniform(-300, 300, size=2))
        log = LogUniform(10.0**a, 10.0**b)
        lin = Uniform(-(10.0**a), 10.0**b)
        assert all(log.low <= log.sample(rng) <= log.high for _ in range(20))
        assert all(lin.low <= lin.sample(rng) <= lin.high for _ in range(20))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: LogUniform(0.0, 1.0), "low > 0"),
        (lambda: LogUniform(-1e-3, 1.0), "low > 0"),
        (lambda: LogUniform(1e-2, 1e-6), "low < high"),
        (lambda: Uniform(1.0, 1.0), "low < high"),
        (lambda: Uniform(2.0, 1.0), "low < high"),
        (lambda: Uniform(math.nan, 1.0), "finite"),
        (lambda: Uniform(0.0, math.inf), "finite"),
        (lambda: Uniform(-1e308, 1e308), "too wide"),
        (lambda: IntUniform(3, 3), "low < high"),
        (lambda: Choice([]), "at least one option"),
    ],
)
def test_bad_distribution_arguments_raise_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    "make",
    [
        lambda: Uniform("0", 1.0),
        lambda: LogUniform(True, 2.0),
        lambda: IntUniform(0.5, 3),
        lambda: Choice("abc"),
        lambda: Choice({1, 2}),
    ],
)
def test_wrong_distribution_argument_types_raise_type_error(make):
    with pytest.raises(TypeError):
        make()


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"n_trials": 0}, ValueError),
        ({"n_trials": 2.5}, ValueError),
        ({"mode": "best"}, ValueError),
        ({"seed": -1}, ValueError),
        ({"seed": 1.5}, TypeError),
        ({"space": [("lr", 0.1)]}, TypeError),
        ({"space": {1: 0.1}}, TypeError),
        ({"executor": object()}, TypeError),
        ({"objective": "noisy_quadratic"}, TypeError),
    ],
)
def test_bad_search_arguments_raise_before_any_trial(kwargs, error):
    calls = []
    args = {"objective": lambda c, s: calls.append(c), "space": SPACE, "n_trials": 3}
    args.update(kwargs)
    with pytest.raises(error):
        random_search(args.pop("objective"), args.pop("space"), args.pop("n_trials"), **args)
    assert calls == []


# --------------------------------------------------------------------------- seeding


def test_same_seed_gives_identical_results():
    assert search(seed=42) == search(seed=42)
    assert_same_results(failing_search(), failing_search())


def test_different_seeds_give_different_configurations():
    configs = {t.index: t.config for t in search(seed=1).trials}
    others = {t.index: t.config for t in search(seed=2).trials}
    assert all(configs[i] != others[i] for i in configs)


def test_configurations_come_from_one_generator_and_seeds_from_spawned_sequences():
    result = random_search(noisy_quadratic, {"lr": LogUniform(1e-6, 1e-2), "epochs": 3}, 5, seed=7)
    rng = np.random.default_rng(7)
    children = np.random.SeedSequence(7).spawn(5)
    for trial in sorted(result.trials, key=lambda t: t.index):
        assert trial.config == {"lr": pytest.approx(10 ** rng.uniform(-6, -2)), "epochs": 3}
        assert trial.seed == int(children[trial.index].generate_state(1, np.uint32)[0])
        assert trial.metrics["seed"] == trial.seed  # the objective got the trial's seed


def test_a_longer_search_extends_a_shorter_one():
    short = {t.index: t for t in search(5, seed=3).trials}
    long = {t.index: t for t in search(9, seed=3).trials}
    assert all(long[i] == short[i] for i in short)


def test_no_seed_draws_fresh_entropy_and_records_it():
    first, second = search(4, seed=None), search(4, seed=None)
    assert first.seed != second.seed
    assert search(4, seed=first.seed) == first


def test_the_objective_gets_a_copy_of_the_configuration():
    result = random_search(echo, {"lr": LogUniform(1e-3, 1e-1), "epochs": 2}, 3, seed=0)
    for trial in result.trials:
        assert "mutated" not in trial.config
        assert trial.metrics["config"] == {**trial.config, "mutated": True}


# --------------------------------------------------------------------------- ranking


def test_trials_are_sorted_best_first_for_max():
    result = search(20)
    values = [t.metrics["val_acc"] for t in result.trials]
    assert values == sorted(values, reverse=True)
    assert sorted(t.index for t in result.trials) == list(range(20))
    assert result.best is result.trials[0]
    assert isinstance(result.best, Trial) and result.best.ok


def test_trials_are_sorted_best_first_for_min():
    result = search(20, metric="val_loss", mode="min")
    values = [t.metrics["val_loss"] for t in result.trials]
    assert values == sorted(values)
    assert result.best.metrics["val_loss"] == min(values)


def test_metrics_are_stored_as_plain_python_values():
    trial = search(3).best
    assert type(trial.metrics["val_acc"]) is float
    assert isinstance(trial.metrics["curve"], list) and len(trial.metrics["curve"]) == 4
    assert all(type(v) is float for v in trial.metrics["curve"])


# --------------------------------------------------------------------------- failures


FAILING_SPACE = {"lr": LogUniform(1e-6, 1e-1), "fail_above": 1e-2, "nan_below": 1e-5}


def failing_search(n_trials: int = 20, **kwargs) -> SearchResult:
    return random_search(noisy_quadratic, FAILING_SPACE, n_trials, seed=5, **kwargs)


def test_a_trial_that_raises_is_recorded_as_failed_not_fatal():
    result = failing_search()
    raised = [t for t in result.trials if t.config["lr"] > 1e-2]
    assert raised, "the seed should draw some diverging learning rates"
    for trial in raised:
        assert trial.status == "failed" and not trial.ok
        assert trial.error.startswith("FloatingPointError: loss diverged at lr=")
        assert trial.metrics == {}


def test_a_non_finite_metric_is_recorded_as_failed_with_its_metrics():
    result = failing_search()
    nans = [t for t in result.trials if t.config["lr"] < 1e-5]
    assert nans, "the seed should draw some learning rates below 1e-5"
    for trial in nans:
        assert trial.status == "failed"
        assert trial.error == "non-finite val_acc: nan"
        assert math.isnan(trial.metrics["val_acc"])


def test_failed_trials_sort_last_in_index_order():
    result = failing_search()
    statuses = [t.status for t in result.trials]
    n_ok = statuses.count("ok")
    assert 0 < n_ok < len(statuses)
    assert statuses == ["ok"] * n_ok + ["failed"] * (len(statuses) - n_ok)
    assert result.failed == result.trials[n_ok:]
    assert [t.index for t in result.failed] == sorted(t.index for t in result.failed)
    assert result.best.ok and 1e-5 <= result.best.config["lr"] <= 1e-2


def test_a_missing_metric_fails_the_trial_and_best_says_so():
    result = random_search(no_metric, {"lr": LogUniform(1e-4, 1e-2)}, 3, seed=0)
    assert all(t.status == "failed" for t in result.trials)
    assert "no 'val_acc'" in result.trials[0].error
    with pytest.raises(ValueError, match="no successful trial among 3"):
        _ = result.best
    with pytest.raises(ValueError, match="no successful trial"):
        result.best_ranges()
    assert "failed" in result.table()


# --------------------------------------------------------------------------- executors


@pytest.fixture(scope="module")
def process_pool():
    with ProcessPoolExecutor(max_workers=2) as pool:
        yield pool


def test_a_process_pool_gives_the_same_results_as_in_process(process_pool):
    assert_same_results(failing_search(executor=process_pool), failing_search())


def test_spawned_worker_processes_give_the_same_results():
    """Spawned workers start from a fresh interpreter: they must find this module."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        assert_same_results(failing_search(8, executor=pool), failing_search(8))


@pytest.fixture
def cuda_in_use(monkeypatch):
    """This process has used a backend that cannot survive a fork (as CuPy has once it
    initialised CUDA): simulated by marking the stand-in so."""
    from xpnn.backends import get_backend
    from xpnn.backends.strict import StrictBackend

    monkeypatch.setattr(StrictBackend, "fork_safe", property(lambda self: self.is_cpu))
    return get_backend("array_api_strict", "device1")


def test_a_fork_started_pool_is_refused_once_cuda_is_in_use_saying_what_to_use(cuda_in_use):
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        with pytest.raises(ValueError, match=r"starts its workers by fork.*xpnn\.process_pool"):
            search(2, executor=pool)


def test_process_pool_spawns_its_workers_once_cuda_is_in_use(cuda_in_use):
    with xpnn.process_pool(2) as pool:
        assert pool._mp_context.get_start_method() == "spawn"
        assert_same_results(failing_search(4, executor=pool), failing_search(4))


def test_process_pool_spawns_for_a_backend_that_cannot_survive_a_fork(monkeypatch):
    from xpnn.backends import get_backend
    from xpnn.backends.strict import StrictBackend

    monkeypatch.setattr("xpnn.tuning.created_backends", lambda: [get_backend("numpy")])
    monkeypatch.setattr(StrictBackend, "fork_safe", property(lambda self: self.is_cpu))
    with xpnn.process_pool(1, backend=get_backend("array_api_strict", "device1")) as pool:
        assert pool._mp_context.get_start_method() == "spawn"
    with xpnn.process_pool(1, backend="numpy") as pool:
        assert pool._mp_context.get_start_method() == multiprocessing.get_start_method()


def test_a_local_dask_cluster_gives_the_same_results():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            silence_logs=50,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        result = failing_search(executor=client.get_executor())
    assert_same_results(result, failing_search())


def test_an_executor_error_is_raised_not_recorded(process_pool):
    with pytest.raises(Exception, match="pickle"):
        random_search(lambda c, s: {"val_acc": 1.0}, SPACE, 2, seed=0, executor=process_pool)


def test_the_callback_sees_every_trial_once(process_pool):
    seen: list[Trial] = []
    result = failing_search(executor=process_pool, callback=seen.append)
    assert sorted(seen, key=lambda t: t.index) == sorted(result.trials, key=lambda t: t.index)


# --------------------------------------------------------------------------- reporting


def test_table_lists_trials_best_first_with_readable_values():
    result = failing_search(10)
    lines = result.table().splitlines()
    assert lines[0].split() == ["rank", "trial", "val_acc", "lr", "error"]
    assert len(lines) == 1 + 10
    rows = [line.split() for line in lines[1:]]
    for row, trial in zip(rows, result.trials, strict=True):
        assert row[1] == str(trial.index)
        assert re.fullmatch(r"\d\.\d\de[-+]\d\d", row[3])  # e.g. 1.23e-04
        assert float(row[3]) == pytest.approx(trial.config["lr"], rel=5e-3)
        if trial.ok:
            assert row[0] == str(result.trials.index(trial) + 1)
            assert row[2] == f"{trial.metrics['val_acc']:.4f}"
            assert len(row) == 4  # no error text
        else:
            assert row[:1] + row[2:3] == ["-", "failed"]
            assert " ".join(row[4:]) == trial.error


def test_table_shows_searched_parameters_not_constants_and_honours_top():
    lines = search(10).table(top=3).splitlines()
    assert lines[0].split() == [
        "rank",
        "trial",
        "val_acc",
        "lr",
        "weight_decay",
        "dropout",
        "hidden",
        "optimizer",
    ]
    assert [line.split()[0] for line in lines[1:]] == ["1", "2", "3"]
    assert all(re.fullmatch(r"0\.\d{4}", line.split()[5]) for line in lines[1:])
    assert all(line.split()[7] in ("sgd", "adam") for line in lines[1:])
    with pytest.raises(ValueError, match="top"):
        search(3).table(top=0)


def test_best_ranges_span_the_numeric_parameters_of_the_top_trials():
    result = search(30)
    top = result.trials[:5]
    ranges = result.best_ranges(top=5)
    assert set(ranges) == {"lr", "weight_decay", "dropout", "hidden"}  # not the names
    for name, (low, high) in ranges.items():
        values = [t.config[name] for t in top]
        assert (low, high) == (min(values), max(values))
    assert type(ranges["hidden"][0]) is int
    # The objective peaks at lr = 1e-3: the best range narrows around it.
    assert 1e-5 < ranges["lr"][0] <= 1e-3 <= ranges["lr"][1] < 1e-1


def test_best_ranges_ignore_failed_trials():
    result = failing_search()
    n_ok = len(result.trials) - len(result.failed)
    ranges = result.best_ranges(top=len(result.trials))
    lrs = [t.config["lr"] for t in result.trials[:n_ok]]
    assert ranges == {"lr": (min(lrs), max(lrs))}


def test_to_dict_is_strict_json_with_every_trial_best_first():
    result = failing_search(10)
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["metric"] == "val_acc" and data["mode"] == "max" and data["seed"] == 5
    assert data["space"] == {
        "lr": "LogUniform(low=1e-06, high=0.1)",
        "fail_above": 0.01,
        "nan_below": 1e-05,
    }
    assert data["params"] == ["lr"]
    assert data["n_trials"] == 10 and data["n_failed"] == len(result.failed) > 0
    assert [t["index"] for t in data["trials"]] == [t.index for t in result.trials]
    for saved, trial in zip(data["trials"], result.trials, strict=True):
        assert saved["seed"] == trial.seed and saved["status"] == trial.status
        assert saved["config"] == trial.config and saved["error"] == trial.error
        if trial.ok:
            assert saved["metrics"] == trial.metrics
            assert saved["rank"] == result.trials.index(trial) + 1
        else:
            assert saved["rank"] is None
    nan_trials = [s for s in data["trials"] if (s["error"] or "").startswith("non-finite")]
    assert nan_trials and all(s["metrics"]["val_acc"] is None for s in nan_trials)
