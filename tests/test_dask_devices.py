"""examples/ch06/dask_devices.py: which local cluster a random search gets, one worker per
device on a device backend. The search itself on two stand-in devices is in
test_ch06_experiments_b.py; here, the choices, without starting a cluster."""

from __future__ import annotations

import contextlib
import io
import sys
import types

import pytest
from guarantees_support import ROOT

sys.path.insert(0, str(ROOT / "examples" / "ch06"))

import dask_devices
import hyperparameter_search

import xpnn


def test_the_devices_of_the_stand_in_are_its_two_gpus():
    keys = dask_devices.device_keys(xpnn.get_backend("array_api_strict", "device1"))
    assert keys == ["device1", "device2"]  # not the CPU, nor the devices without float64/int64


def test_numpy_has_no_device_for_a_worker():
    assert dask_devices.device_keys(xpnn.get_backend("numpy")) == []


@pytest.fixture
def fake_dask_cuda(monkeypatch):
    """A dask_cuda whose LocalCUDACluster records how it was made, seeing ``gpus[0]`` GPUs."""
    pytest.importorskip("dask")
    import dask

    made, gpus = [], [2]

    class LocalCUDACluster:
        def __init__(self, **kwargs):
            environ = dask.config.get("distributed.nanny.environ")
            made.append((kwargs, dict(environ)))

    package = types.ModuleType("dask_cuda")
    package.LocalCUDACluster = LocalCUDACluster
    utils = types.ModuleType("dask_cuda.utils")
    utils.get_n_gpus = lambda: gpus[0]
    monkeypatch.setitem(sys.modules, "dask_cuda", package)
    monkeypatch.setitem(sys.modules, "dask_cuda.utils", utils)
    return made, gpus


def test_dask_cuda_makes_the_cluster_where_it_sees_the_backends_gpus(fake_dask_cuda):
    made, _ = fake_dask_cuda
    cluster = dask_devices._cuda_cluster(2)
    assert cluster is not None
    kwargs, environ = made[0]
    assert kwargs["threads_per_worker"] == 1
    assert environ["XPNN_DEVICE"] == ""  # each worker's first visible GPU is its own


def test_dask_cuda_is_passed_over_when_it_sees_other_gpus(fake_dask_cuda):
    made, gpus = fake_dask_cuda
    gpus[0] = 1
    assert dask_devices._cuda_cluster(2) is None
    assert made == []


def test_without_dask_cuda_there_is_no_cuda_cluster(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask_cuda", None)  # import raises ImportError
    assert dask_devices._cuda_cluster(2) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--devices", "device1"], "--devices starts one worker per device: it goes with "
         "--dask local"),
        (["--dask", "local", "--devices", "device1", "--workers", "2"],
         "--devices starts one worker per device: leave out --workers"),
        (["--dask", "local", "--devices", " , "], "--devices needs at least one device name"),
    ],
)  # fmt: skip
def test_devices_arguments_that_do_not_fit_are_one_line_errors(args, message):
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_, contextlib.redirect_stderr(err):
        hyperparameter_search.main([*args, "--backend", "array_api_strict", "--quick"])
    assert exit_.value.code == 2
    assert message in err.getvalue()
