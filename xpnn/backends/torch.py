"""PyTorch, on the CPU or a CUDA device (an optional backend: torch is never required)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..random import Generator, int_seed, shape_of
from .base import Backend, BackendError, DeviceBackendError, import_library

__all__ = ["TorchBackend", "TorchGenerator", "create", "device_key", "owns"]


class TorchBackend(Backend):
    """torch through ``array_api_compat.torch``, on a ``torch.device``."""

    name = "torch"

    @classmethod
    def create(cls, key: Any) -> TorchBackend:
        torch = import_library("torch", "pip install torch  (CPU or CUDA build)")
        from array_api_compat import torch as xp

        try:
            dev = torch.device(key)
        except RuntimeError as exc:
            raise DeviceBackendError(f"torch has no device {key!r} ({exc})") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise BackendError(
                "torch was asked for a CUDA device but torch.cuda.is_available() is False; "
                "check the driver, or use device='cpu'"
            )
        return cls(xp, dev, torch)

    @property
    def is_cpu(self) -> bool:
        return self.device.type == "cpu"

    @property
    def fork_safe(self) -> bool:
        return self.device.type != "cuda"

    def asarray(self, data: Any, dtype: Any = None, *, copy: bool | None = None) -> Any:
        if isinstance(data, np.ndarray) and (copy or not data.flags.writeable):
            # torch warns on read-only buffers, and torch.asarray(copy=True) fails on a 0-d
            # array with a dtype change ("can't alias tensor with dtype 'Double' into dtype
            # 'Float'"): take a private host copy and let torch convert it.
            data, copy = np.array(data), None
        return super().asarray(data, dtype, copy=copy)

    def to_numpy(self, array: Any) -> np.ndarray:
        if isinstance(array, np.ndarray):
            return array.copy()
        host = array.detach()
        if host.device.type == "cpu":
            return host.numpy().copy()  # .numpy() shares the tensor's memory
        return host.cpu().numpy()  # a transfer is already a copy

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            self._lib.cuda.synchronize(self.device)

    def matmul_into(self, a: Any, b: Any, out: Any) -> None:
        self._lib.matmul(a, b, out=out)

    def sum_into(self, x: Any, axis: int | tuple[int, ...], out: Any) -> None:
        self._lib.sum(x, dim=axis, out=out)

    def rng(self, seed: Any = None) -> TorchGenerator:
        return TorchGenerator(self, seed)

    def device_key(self) -> str:
        return str(self.device)


class TorchGenerator(Generator):
    """A ``torch.Generator`` on the backend's device."""

    def _start(self) -> None:
        torch = self.backend._lib
        self._torch = torch
        self._gen = torch.Generator(device=self.backend.device)
        self._gen.manual_seed(int_seed(self.current_seed))

    def _float(self, dtype: Any) -> Any:
        return getattr(self._torch, self._float_name(dtype))

    def normal(self, shape, std=1.0, mean=0.0, dtype="float32"):
        z = self._torch.randn(
            shape_of(shape), generator=self._gen, dtype=self._float(dtype),
            device=self.backend.device,
        )  # fmt: skip
        z *= float(std)
        if mean:
            z += float(mean)
        return z

    def uniform(self, shape, low=0.0, high=1.0, dtype="float32"):
        u = self._torch.rand(
            shape_of(shape), generator=self._gen, dtype=self._float(dtype),
            device=self.backend.device,
        )  # fmt: skip
        if (low, high) != (0.0, 1.0):
            u *= float(high) - float(low)
            u += float(low)
        return u

    def permutation(self, n):
        return self._torch.randperm(
            int(n), generator=self._gen, device=self.backend.device, dtype=self._torch.int64
        )

    def _get_state(self) -> dict[str, np.ndarray]:
        return {"state": self._gen.get_state().numpy().copy()}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        self._gen.set_state(self._torch.from_numpy(np.ascontiguousarray(state["state"])))


def device_key(device: Any) -> str:
    if device is None:
        return "cpu"
    return str(device)


create = TorchBackend.create


def owns(array: Any) -> str | None:
    from array_api_compat import is_torch_array

    return str(array.device) if is_torch_array(array) else None
