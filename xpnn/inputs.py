"""What a network accepts as input and labels, checked at its boundary.

``x`` is (N, ...) with ``input_size`` values per sample, floating point; a network whose
first layer is a convolution reshapes (N, C·H·W) to (N, C, H, W). Labels ``t`` are integers
(N,) in [0, output_size) or one-hot (N, output_size). Each may be a host NumPy array (moved
to the network's device and converted to its dtype) or an array of the network's backend, on
its device and of its dtype (a different float dtype raises ``TypeError``: convert it once,
up front, instead of paying a silent copy every batch). Integer images raise ``TypeError``
(normalise to float, e.g. ``x / 255``).

**Value checks** (NaN or infinity in ``x``, host values beyond the range of the network's
dtype, labels out of range, one-hot values outside [0, 1] or not finite) run where reading a
value costs no device synchronisation: on host NumPy input before it is moved, and on any
input when the backend computes in host memory (``backend.is_cpu``). Arrays already on a
GPU are not value-checked (that would stall the device every batch); the Trainer checks its
data once, on the host.
"""

from __future__ import annotations

import math
from typing import Any

from array_api_compat import array_namespace, is_numpy_array
from array_api_compat import device as device_of

from .backends import Backend, backend_of

__all__ = ["InputChecks", "dtype_label"]


def dtype_label(dtype: Any) -> str:
    """'float32' for numpy's, torch's, cupy's and array_api_strict's float32 alike."""
    return str(dtype).rsplit(".", 1)[-1].strip("'>")


class InputChecks:
    """The checks of one network's inputs: samples of ``input_shape`` for a backend and
    dtype (``dtype_name``: ``'float32'`` or ``'float64'``), labels of ``output_size``
    classes; ``reshape_input``: whether (N, input_size) input is reshaped to
    (N, *input_shape) for the first layer."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        output_size: int,
        backend: Backend,
        dtype: Any,
        dtype_name: str,
        reshape_input: bool = False,
    ) -> None:
        self.input_shape = tuple(input_shape)
        self.input_size = math.prod(self.input_shape)
        self.output_size = output_size
        self.backend = backend
        self.dtype = dtype
        self.dtype_name = dtype_name
        self.reshape_input = reshape_input
        self.array_type: type | None = None  # the backend's array type, once seen
        if len(self.input_shape) == 1:
            self._doc = str(self.input_size)
            self._name = f"input_size={self.input_size}"
        else:
            dims = ", ".join(map(str, self.input_shape))
            self._doc = f"{dims}) or (N, {self.input_size}"
            self._name = f"input_dim=({dims}), {self.input_size} values"

    # -- the array itself -------------------------------------------------------------------
    def _check_array(self, a: Any, name: str) -> bool:
        """Check that ``a`` is host NumPy or an array of this backend and device; return
        whether its values can be read without a device sync."""
        if is_numpy_array(a):
            return True
        if type(a) is not self.array_type:
            try:
                other = backend_of(a)
            except TypeError:
                raise TypeError(
                    f"{name} must be a NumPy array or an array of the network's backend "
                    f"({self.backend.name}), not {type(a).__name__}"
                ) from None
            if other.name != self.backend.name:
                raise TypeError(
                    f"{name} is a {other.name} array but the network computes with "
                    f"{self.backend.name}; pass a NumPy array (it is moved for you) or an "
                    f"array of {self.backend.name}"
                )
        dev = device_of(a)
        if dev != self.backend.device and str(dev) != str(self.backend.device):
            raise ValueError(
                f"{name} is on device {dev}, the network on {self.backend.device}; move it "
                "there first (or pass a NumPy array)"
            )
        return self.backend.is_cpu

    # -- inputs --------------------------------------------------------------------------
    def check_input(self, x: Any, name: str = "x") -> Any:
        """Validate a batch of inputs and return it as an array of the network's backend,
        device and dtype (host NumPy input is moved and converted; nothing else is copied).

        Raises ``TypeError`` for a foreign array type, integer/bool/complex values or
        (for backend arrays) a different float dtype; ``ValueError`` for a wrong shape or
        feature size, another device, or (where checked, see the module docstring) NaN or
        infinity.
        """
        cheap = self._check_array(x, name)
        xp = array_namespace(x)
        self._check_input_kind(xp, x, name)
        if cheap:
            self._check_input_values(xp, x, name)
        if self.backend.needs_transfer(x):
            x = self.backend.asarray(x, dtype=self.dtype)
        elif x.dtype != self.dtype:
            if not is_numpy_array(x):
                raise TypeError(
                    f"{name} has dtype {dtype_label(x.dtype)} but the network is "
                    f"{self.dtype_name}; convert it once, up front "
                    f"(xp.astype(x, xp.{self.dtype_name}))"
                )
            x = xp.astype(x, self.dtype)  # numpy backend: host input is converted, like on others
        return self.shape_input(x)

    def _check_input_kind(self, xp: Any, x: Any, name: str) -> None:
        if not xp.isdtype(x.dtype, "real floating"):
            kind = dtype_label(x.dtype)
            if xp.isdtype(x.dtype, ("integral", "bool")):
                raise TypeError(
                    f"{name} has dtype {kind}; the network takes floating-point input: "
                    f"normalise images to float first, e.g. x.astype('float32') / 255"
                )
            raise TypeError(f"{name} has dtype {kind}; the network takes real floating input")
        if x.ndim < 2:
            raise ValueError(
                f"{name} must be a batch of shape (N, {self._doc}), got shape "
                f"{tuple(x.shape)}; for one sample use x[None, {':' if x.ndim == 1 else '...'}]"
            )
        features = math.prod(x.shape[1:])
        if features != self.input_size:
            raise ValueError(
                f"{name} has {features} values per sample (shape {tuple(x.shape)}), but the "
                f"network expects {self._name}"
            )

    def _check_input_values(self, xp: Any, x: Any, name: str) -> None:
        if not math.isfinite(float(xp.sum(x))):
            bad = "NaN" if bool(xp.any(xp.isnan(x))) else "infinity"
            if bad == "NaN" or bool(xp.any(xp.isinf(x))):
                raise ValueError(
                    f"{name} contains {bad}; clean the input (e.g. np.nan_to_num) first"
                )
        if is_numpy_array(x) and x.size and x.dtype != getattr(xp, self.dtype_name):
            # Host input is converted to the network's dtype: from a wider float, values
            # beyond the narrower one's range would turn into infinity there.
            limit = float(xp.finfo(getattr(xp, self.dtype_name)).max)
            if float(xp.finfo(x.dtype).max) > limit and (
                float(xp.max(x)) > limit or float(xp.min(x)) < -limit
            ):
                raise ValueError(
                    f"{name} has values beyond the range of {self.dtype_name} (|x| > "
                    f"{limit:.4g}): converted, they would be infinity; rescale the input"
                )

    def shape_input(self, x: Any) -> Any:
        """``x`` as the first layer takes it: (N, *input_shape) for a network whose first
        layer needs that layout (a convolution), else as given (an Affine layer flattens)."""
        if self.reshape_input and tuple(x.shape[1:]) != self.input_shape:
            xp = array_namespace(x)
            return xp.reshape(x, (x.shape[0], *self.input_shape))
        return x

    # -- labels --------------------------------------------------------------------------
    def check_labels(self, t: Any, n: int, name: str = "t") -> Any:
        """Validate labels for a batch of ``n`` samples: integers (n,) in
        [0, output_size) or one-hot (n, output_size) rows of class probabilities (values in
        [0, 1]; soft labels are fine; NaN and infinity are not, where values are checked,
        see the module docstring). Returns them on the network's device
        (integer labels as int64 when moved from the host, one-hot in the network's dtype).
        """
        cheap = self._check_array(t, name)
        xp = array_namespace(t)
        if t.ndim == 1:
            self._check_class_indices(xp, t, n, name, cheap)
            return self.backend.asarray(t, dtype="int64") if self.backend.needs_transfer(t) else t
        if t.ndim == 2:
            self._check_one_hot(xp, t, n, name, cheap)
            if self.backend.needs_transfer(t):
                return self.backend.asarray(t, dtype=self.dtype)
            return t
        k = self.output_size
        raise ValueError(
            f"{name} has shape {tuple(t.shape)}; labels are integers (N,) or one-hot (N, {k})"
        )

    def _check_class_indices(self, xp: Any, t: Any, n: int, name: str, cheap: bool) -> None:
        k = self.output_size
        if not xp.isdtype(t.dtype, "integral"):
            raise TypeError(
                f"{name} has dtype {dtype_label(t.dtype)}; labels are integer "
                f"class indices (N,) or one-hot (N, {k})"
            )
        if t.shape[0] != n:
            raise ValueError(f"{name} has {t.shape[0]} labels for {n} samples")
        if cheap and n:
            lo, hi = int(xp.min(t)), int(xp.max(t))
            if lo < 0 or hi >= k:
                raise ValueError(
                    f"{name} has labels in [{lo}, {hi}], outside [0, {k - 1}] (output_size={k})"
                )

    def _check_one_hot(self, xp: Any, t: Any, n: int, name: str, cheap: bool) -> None:
        k, shape = self.output_size, tuple(t.shape)
        if shape[1] == 1 and k != 1:
            raise ValueError(
                f"{name} has shape {shape}: a column of labels; pass integer class indices "
                f"of shape ({n},) ({name}.ravel() or {name}[:, 0]) or one-hot labels of "
                f"shape ({n}, {k})"
            )
        if shape != (n, k):
            raise ValueError(
                f"{name} has shape {shape}; one-hot labels for this batch have shape ({n}, {k})"
            )
        if xp.isdtype(t.dtype, "complex floating"):
            raise TypeError(f"{name} has complex dtype; labels must be real")
        if cheap and n and not xp.isdtype(t.dtype, "bool"):
            low, high = float(xp.min(t)), float(xp.max(t))
            if not (math.isfinite(low) and math.isfinite(high)):
                bad = "NaN" if bool(xp.any(xp.isnan(t))) else "infinity"
                raise ValueError(f"{name} contains {bad}; one-hot labels are class probabilities")
            if low < 0.0 or high > 1.0:
                raise ValueError(
                    f"{name} has values outside [0, 1] (from {low:g} to {high:g}); one-hot "
                    "(or soft) labels are class probabilities"
                )

    def check_batch(self, x: Any, t: Any) -> tuple[Any, Any]:
        """``(check_input(x), check_labels(t))`` for a non-empty batch."""
        x = self.check_input(x)
        if int(x.shape[0]) == 0:
            raise ValueError("x is an empty batch (0 samples)")
        return x, self.check_labels(t, int(x.shape[0]))
