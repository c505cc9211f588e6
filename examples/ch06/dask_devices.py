"""One Dask worker per device: the local cluster of ``hyperparameter_search.py --dask local``.

On a CPU backend the cluster is a ``distributed.LocalCluster`` of single-threaded worker
processes (``--workers``, default one per core). On a device backend (``is_cpu`` false: a GPU,
or the GPU stand-in) it has **one worker per device**, each running its trials there:

- dask-cuda's ``LocalCUDACluster``, where it is installed and sees as many GPUs as the
  backend's library does: one worker per GPU, each seeing its own GPU first
  (``CUDA_VISIBLE_DEVICES`` rotated), so that the library's first device is that worker's;
- otherwise a cluster of one worker process per device (a ``distributed.SpecCluster`` of
  nannies, what ``LocalCluster`` is made of), each with its own ``XPNN_DEVICE``.

The devices are ``--devices`` (names as ``XPNN_DEVICE`` takes them: ``0,1``, ``cuda:0,cuda:1``,
``device1,device2``) or every device of the backend's library like its own
(:func:`device_keys`). A trial reads its worker's ``XPNN_DEVICE`` when it runs (the
environment is set in the worker after it starts, so not when xpnn is imported there).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

import xpnn

__all__ = ["device_keys", "local_client"]


def device_keys(backend: xpnn.Backend) -> list[str]:
    """Every device of ``backend``'s library like its own: of the same kind, not host
    memory, with every dtype its own device has (the Array API's
    ``__array_namespace_info__()``: ``devices()``, ``dtypes(device=...)``): the GPUs of a
    CUDA library, the stand-in's devices; as ``XPNN_DEVICE`` names them."""
    info = backend.xp.__array_namespace_info__()
    kind = getattr(backend.device, "type", None)  # torch: "cuda", not "cpu" or "meta"
    wanted = set(info.dtypes(device=backend.device))
    keys = []
    for device in info.devices():
        if getattr(device, "type", None) != kind or not wanted <= set(info.dtypes(device=device)):
            continue
        other = xpnn.get_backend(backend.name, device)
        if not other.is_cpu:
            keys.append(str(other.device_key()))
    return keys


def _cuda_cluster(n_devices: int) -> Any:
    """dask-cuda's LocalCUDACluster, if it is installed and sees ``n_devices`` GPUs; the
    workers' ``XPNN_DEVICE`` emptied (each one's first visible GPU is its own)."""
    try:
        import dask
        from dask_cuda import LocalCUDACluster
        from dask_cuda.utils import get_n_gpus
    except ImportError:
        return None
    if get_n_gpus() != n_devices:
        return None
    with dask.config.set({"distributed.nanny.environ": {"XPNN_DEVICE": ""}}):
        return LocalCUDACluster(threads_per_worker=1, dashboard_address=None)


def _spec_cluster(keys: list[str]) -> Any:
    """One single-threaded worker process per device, each with its ``XPNN_DEVICE``."""
    from distributed import Nanny, Scheduler, SpecCluster

    host = "127.0.0.1"
    scheduler = {"cls": Scheduler, "options": {"host": host, "dashboard": False}}
    workers = {
        f"device-{key}": {
            "cls": Nanny,
            "options": {"nthreads": 1, "host": host, "env": {"XPNN_DEVICE": key},
                        "silence_logs": logging.WARNING},
        }
        for key in keys
    }  # fmt: skip
    return SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.WARNING)


@contextlib.contextmanager
def local_client(
    backend: xpnn.Backend, workers: int | None, devices: list[str] | None
) -> Iterator[tuple[Any, str]]:
    """``(client, what)``: a ``distributed.Client`` of a cluster started here (see the module
    docstring) and a line saying what it is."""
    from distributed import Client, LocalCluster

    if devices is None and (backend.is_cpu or workers is not None):
        n = workers or os.cpu_count() or 1
        with (
            LocalCluster(n_workers=n, threads_per_worker=1, dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            yield client, f"{n} worker(s) at local"
        return
    keys = devices if devices is not None else device_keys(backend)
    if not keys:
        raise ValueError(f"no device of {backend.name} found for the workers: pass --devices")
    cluster = None if devices is not None else _cuda_cluster(len(keys))
    what = f"dask-cuda, one per GPU ({len(keys)})"
    if cluster is None:
        cluster, what = _spec_cluster(keys), f"one per device: {', '.join(keys)}"
    with cluster, Client(cluster) as client:
        yield client, f"{len(keys)} worker(s) at local, {what}"
