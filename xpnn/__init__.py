"""xpnn: chapters 5-8 of *Deep Learning from Scratch*, written once against the Array API.

The same layers, initializers and optimizers run on NumPy (CPU), CuPy (CUDA), PyTorch and
``array_api_strict``. ``XPNN_BACKEND`` picks the default backend when xpnn is imported;
:func:`get_backend` gives any other.
"""

from .backends import (
    BACKEND_NAMES,
    SEAM,
    Backend,
    BackendError,
    DeviceBackendError,
    backend_of,
    default_backend,
    get_backend,
)
from .backends.threads import get_num_threads, set_num_threads
from .callbacks import (
    Callback,
    DivergenceGuard,
    Evaluation,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
)
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .conv import Convolution, Pooling, col2im, conv_output_size, im2col
from .convnet import DeepConvNet, SimpleConvNet
from .data_parallel import get_data_parallel, set_data_parallel
from .datasets import (
    DatasetError,
    DatasetNotFoundError,
    load_mnist,
    read_idx,
    shuffle_dataset,
    train_val_split,
)
from .gradcheck import GradCheckReport, check_gradients, check_layer, numerical_gradient
from .initializers import INITIALIZERS, resolve_init
from .layers import (
    Activation,
    Affine,
    BatchNormalization,
    Dropout,
    Layer,
    Param,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
)
from .mlp import MultiLayerNet
from .models import NETWORKS, load_network, network_from_config
from .network import Network
from .optimizers import (
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    AdamW,
    Momentum,
    Nesterov,
    Optimizer,
    RMSprop,
    get_optimizer,
)
from .progress import ProgressLogger
from .random import Generator, spawn_seeds
from .summary import Summary
from .trainable import BookStyleNetwork, TrainableNetwork
from .training import DivergenceError, Trainer
from .tuning import (
    Choice,
    IntUniform,
    LogUniform,
    SearchResult,
    Trial,
    Uniform,
    process_pool,
    random_search,
)

#: The default backend, read once from ``XPNN_BACKEND`` at import (``numpy`` when unset).
backend: Backend = default_backend

#: The version, written here only: pyproject.toml reads it (``attr:``) without importing xpnn,
#: and it holds in a checkout that is not installed (``PYTHONPATH``, ``nox -s gpu``) too.
__version__ = "0.1.0"

__all__ = [
    "BACKEND_NAMES",
    "INITIALIZERS",
    "NETWORKS",
    "OPTIMIZERS",
    "SEAM",
    "SGD",
    "Activation",
    "AdaGrad",
    "Adam",
    "AdamW",
    "Affine",
    "Backend",
    "BackendError",
    "BatchNormalization",
    "BookStyleNetwork",
    "Callback",
    "CheckpointError",
    "Choice",
    "Convolution",
    "DatasetError",
    "DatasetNotFoundError",
    "DeepConvNet",
    "DeviceBackendError",
    "DivergenceError",
    "DivergenceGuard",
    "Dropout",
    "Evaluation",
    "Generator",
    "GradCheckReport",
    "IntUniform",
    "LambdaCallback",
    "Layer",
    "LearningRateScheduler",
    "LogUniform",
    "ModelCheckpoint",
    "Momentum",
    "MultiLayerNet",
    "Nesterov",
    "Network",
    "Optimizer",
    "Param",
    "Pooling",
    "ProgressLogger",
    "RMSprop",
    "Relu",
    "SearchResult",
    "Sigmoid",
    "SimpleConvNet",
    "SoftmaxWithLoss",
    "Summary",
    "Tanh",
    "TrainableNetwork",
    "Trainer",
    "Trial",
    "Uniform",
    "__version__",
    "backend",
    "backend_of",
    "check_gradients",
    "check_layer",
    "col2im",
    "conv_output_size",
    "get_backend",
    "get_data_parallel",
    "get_num_threads",
    "get_optimizer",
    "im2col",
    "load_checkpoint",
    "load_mnist",
    "load_network",
    "network_from_config",
    "numerical_gradient",
    "process_pool",
    "random_search",
    "read_idx",
    "resolve_init",
    "save_checkpoint",
    "set_data_parallel",
    "set_num_threads",
    "shuffle_dataset",
    "spawn_seeds",
    "train_val_split",
]
