"""xpnn: chapter 6 of *Deep Learning from Scratch*, written once against the Array API.

The same layers, initializers and optimizers run on NumPy (CPU), CuPy (CUDA), PyTorch and
``array_api_strict``. ``XPNN_BACKEND`` picks the default backend when xpnn is imported;
:func:`get_backend` gives any other.
"""

from .backends import (
    BACKEND_NAMES,
    Backend,
    BackendError,
    backend_of,
    default_backend,
    get_backend,
)
from .random import Generator, spawn_seeds

#: The default backend, read once from ``XPNN_BACKEND`` at import (``numpy`` when unset).
backend: Backend = default_backend

__version__ = "0.1.0"

__all__ = [
    "BACKEND_NAMES",
    "Backend",
    "BackendError",
    "Generator",
    "__version__",
    "backend",
    "backend_of",
    "get_backend",
    "spawn_seeds",
]
