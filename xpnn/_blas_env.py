"""Before NumPy loads its BLAS: OpenBLAS's idle threads go to sleep at once, not after 0.1 s.

After each matrix product, OpenBLAS keeps its worker threads spinning for 2**28 CPU cycles
(about 0.1 s) in case another product follows. A training step's other work (the patch
copies, pooling, activations, the optimizer's update) runs in between, on
:mod:`xpnn.backends.threads`' threads, and found every core but one taken by those spinning
threads: on this project's 2-core machine, splitting DeepConvNet's patch copy over two
threads gained nothing after a product (4.0-4.3 ms against 3.9-5.2 on one thread) and 1.8x
with ``OPENBLAS_THREAD_TIMEOUT=4`` (2.25-2.59 ms), which lets them sleep after 2**4 cycles
(OpenBLAS's minimum). Waking them for the next product costs microseconds; the products of
a convolution take milliseconds.

OpenBLAS reads the variable once, when NumPy first loads it, so this module sets it (unless
it is set already: yours wins) only when NumPy is not imported yet, that is when xpnn is
imported before NumPy. Otherwise set it yourself before starting Python
(``OPENBLAS_THREAD_TIMEOUT=4 python train.py``). It has no effect on other BLAS libraries.
"""

from __future__ import annotations

import os
import sys

#: The value set: OpenBLAS's threads spin for 2**4 cycles, its minimum, before sleeping.
OPENBLAS_THREAD_TIMEOUT = "4"

#: Whether this import set it (NumPy was not loaded yet and the variable was unset).
SET_BY_XPNN = "numpy" not in sys.modules and "OPENBLAS_THREAD_TIMEOUT" not in os.environ
if SET_BY_XPNN:
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = OPENBLAS_THREAD_TIMEOUT
