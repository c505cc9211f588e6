"""Chapter 6 experiments 5 to 7 (examples/ch06): overfitting and weight decay, Dropout, and
the hyperparameter search. Each script's ``--quick`` run shows the book's qualitative result
at that size and writes its PNG and JSON."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CH06 = Path(__file__).resolve().parents[1] / "examples" / "ch06"

pytest.importorskip("matplotlib")


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """One BLAS thread while these tests run: they multiply batches of 100 by 100-wide
    layers, where a second thread buys little, and on a loaded 2-core machine OpenBLAS's
    spinning threads made them up to ten times slower (91 s instead of 23 s)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional
        yield
        return
    with threadpool_limits(1):
        yield


def _script(name: str):
    """An example script as a module (its folder on ``sys.path``, as when it is run)."""
    if str(CH06) not in sys.path:
        sys.path.insert(0, str(CH06))
    return importlib.import_module(name)


def _written(out: Path, name: str) -> dict:
    """The PNG is a real picture and the JSON parses; the JSON's content."""
    png = out / f"{name}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 10_000 < png.stat().st_size < 300_000
    return json.loads((out / f"{name}.json").read_text())


# -- 5. overfitting and weight decay (figures 6-20, 6-21) ------------------------------------


def test_weight_decay_narrows_the_train_test_gap(tmp_path, mnist):
    results = _script("overfit_weight_decay").main(["--quick", "--out", str(tmp_path)])
    plain, decayed = results["runs"]
    assert (plain["weight_decay_lambda"], decayed["weight_decay_lambda"]) == (0.0, 0.1)
    assert plain["final_train_acc"] > 0.95  # 300 images learned by heart
    assert decayed["final_train_acc"] < plain["final_train_acc"] - 0.05
    assert decayed["gap"] < plain["gap"] - 0.04
    saved = _written(tmp_path, "overfit_weight_decay")
    assert [r["gap"] for r in saved["runs"]] == [plain["gap"], decayed["gap"]]
    assert len(saved["runs"][0]["test_acc"]) == results["epochs"]


# -- 6. Dropout (figures 6-22, 6-23) ---------------------------------------------------------


def test_book_dropout_is_the_books_layer_not_inverted():
    book_dropout = _script("overfit_dropout").BookDropout
    x = np.arange(1.0, 13.0).reshape(3, 4)
    keep = np.array([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 1]], dtype=bool)
    layer = book_dropout(0.25)
    layer.fixed_mask = keep
    np.testing.assert_allclose(layer.forward(x, train_flg=True), x * keep)
    np.testing.assert_allclose(layer.backward(np.ones_like(x)), keep.astype(float))
    np.testing.assert_allclose(layer.forward(x, train_flg=False), x * 0.75)


def test_dropout_narrows_the_train_test_gap(tmp_path, mnist):
    results = _script("overfit_dropout").main(["--quick", "--out", str(tmp_path)])
    plain, dropout, book = results["runs"]
    assert [r["run"] for r in results["runs"]] == [
        "no dropout", "dropout 0.2", "dropout 0.2, book's layer",
    ]  # fmt: skip
    assert plain["final_train_acc"] > 0.95
    assert dropout["gap"] < plain["gap"] - 0.05
    # the book's non-inverted layer shrinks the training signal: it learns more slowly
    assert book["final_train_acc"] < dropout["final_train_acc"] - 0.1
    saved = _written(tmp_path, "overfit_dropout")
    assert [r["gap"] for r in saved["runs"]] == [r["gap"] for r in results["runs"]]


# -- 7. hyperparameter search (figure 6-24) --------------------------------------------------


def test_search_ranks_trials_by_validation_accuracy(tmp_path, mnist):
    results = _script("hyperparameter_search").main(["--quick", "--out", str(tmp_path)])
    trials = results["search"]["trials"]
    assert (results["n_train"], results["n_val"]) == (400, 100)
    assert len(trials) == results["n_trials"] and all(t["status"] == "ok" for t in trials)
    val = [t["metrics"]["val_acc"] for t in trials]
    assert val == sorted(val, reverse=True)
    assert val[0] > val[-1] + 0.15  # the learning rate matters: best clearly beats worst
    assert len(trials[0]["metrics"]["val_acc_list"]) == results["epochs"]
    for name, (low, high) in results["best_ranges"].items():
        top = [t["config"][name] for t in trials[:5]]
        assert (low, high) == (min(top), max(top))
    saved = _written(tmp_path, "hyperparameter_search")
    assert [t["metrics"]["val_acc"] for t in saved["search"]["trials"]] == val


def test_search_gives_the_same_trials_on_worker_processes(tmp_path, mnist):
    search = _script("hyperparameter_search")
    tiny = ["--quick", "--trials", "4", "--epochs", "2"]
    alone = search.main([*tiny, "--out", str(tmp_path / "1")])["search"]["trials"]
    pooled = search.main([*tiny, "--workers", "2", "--out", str(tmp_path / "2")])
    assert pooled["search"]["trials"] == alone


def test_search_gives_the_same_trials_on_a_dask_cluster(tmp_path, mnist):
    """``--dask local``, run as a user runs it: the objective lives in ``__main__`` and reaches
    the cluster's worker processes by value."""
    pytest.importorskip("distributed")
    tiny = ["--quick", "--trials", "4", "--epochs", "2"]
    alone = _script("hyperparameter_search").main([*tiny, "--out", str(tmp_path / "1")])
    one_thread = {f"{lib}_NUM_THREADS": "1" for lib in ("OMP", "OPENBLAS", "MKL")}
    proc = subprocess.run(
        [sys.executable, str(CH06 / "hyperparameter_search.py"), *tiny, "--dask", "local",
         "--workers", "2", "--out", str(tmp_path / "dask")],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "MPLBACKEND": "Agg", **one_thread},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "dask: 2 worker(s) at local" in proc.stdout
    on_dask = _written(tmp_path / "dask", "hyperparameter_search")
    assert on_dask["dask"] == "local"
    assert on_dask["search"]["trials"] == alone["search"]["trials"]


def test_search_on_two_stand_in_gpus_runs_one_worker_per_device_and_spreads_the_trials(
    tmp_path, mnist
):
    """``--dask local --devices device1,device2`` on the GPU stand-in: one worker per device,
    each trial on its worker's device, and the trials those of a run in this process."""
    pytest.importorskip("distributed")
    tiny = ["--quick", "--trials", "6", "--epochs", "2", "--backend", "array_api_strict"]
    alone = _script("hyperparameter_search").main([*tiny, "--out", str(tmp_path / "1")])
    one_thread = {f"{lib}_NUM_THREADS": "1" for lib in ("OMP", "OPENBLAS", "MKL")}
    proc = subprocess.run(
        [sys.executable, str(CH06 / "hyperparameter_search.py"), *tiny, "--dask", "local",
         "--devices", "device1,device2", "--out", str(tmp_path / "gpus")],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "MPLBACKEND": "Agg", **one_thread},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "dask: 2 worker(s) at local, one per device: device1, device2" in proc.stdout
    on_gpus = _written(tmp_path / "gpus", "hyperparameter_search")
    assert on_gpus["devices"] == ["device1", "device2"]
    trials = on_gpus["search"]["trials"]
    devices = {t["metrics"]["device"] for t in trials}
    assert devices == {"array_api_strict device1", "array_api_strict device2"}

    def without_device(trials: list[dict]) -> list[dict]:
        return [{**t, "metrics": {k: v for k, v in t["metrics"].items() if k != "device"}}
                for t in trials]  # fmt: skip

    assert {t["metrics"]["device"] for t in alone["search"]["trials"]} == {
        "array_api_strict CPU_DEVICE"
    }
    assert without_device(trials) == without_device(alone["search"]["trials"])
