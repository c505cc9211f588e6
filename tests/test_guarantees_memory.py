"""Guarantee: memory does not grow with the number of epochs.

A fresh process trains for 20 epochs (batch norm, dropout, weight decay, Adam, a checkpoint
after every epoch) and measures, after each epoch, the peak of the memory traced by
``tracemalloc`` during that epoch (NumPy registers its array buffers with it, so this
counts every array the step, the evaluation and the checkpoint allocate) and the process's
peak resident set size (``VmHWM`` on Linux). No later epoch may peak more than 10 % above
the first; the first includes the one-time costs (optimizer state, the first checkpoint),
so a leak of even a few arrays per epoch would show within 20. The numbers are printed
(``pytest -s``).

The bound is relative, never an absolute number of bytes: those depend on the platform.
"""

from __future__ import annotations

import json

import pytest
from guarantees_support import run_python

EPOCHS = 20
GROWTH = 1.10

CHILD = """
import json, sys, tempfile, tracemalloc
import numpy as np
from xpnn import MultiLayerNet, Trainer

def peak_rss():
    # VmHWM: this address space's peak. (ru_maxrss would not do on Linux: it keeps the
    # peak of the process before exec, here the pytest process that started this one.)
    try:
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM:"))
    except OSError:
        pass
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024

rng = np.random.default_rng(0)
x = rng.normal(size=(2000, 64)).astype(np.float32)
t = rng.integers(0, 10, 2000)
net = MultiLayerNet(64, [128, 128], 10, seed=0, use_batchnorm=True, use_dropout=True,
                    dropout_ratio=0.2, weight_decay_lambda=1e-4)
traced, rss = [], []  # per epoch: tracemalloc peak, peak resident set so far (bytes)

def measure():
    traced.append(tracemalloc.get_traced_memory()[1])
    rss.append(peak_rss())
    tracemalloc.reset_peak()

def schedule(epoch):  # called before each epoch: the previous one has just ended
    if epoch > 0:
        measure()
    return 1e-3

with tempfile.TemporaryDirectory() as folder:
    trainer = Trainer(net, x, t, x[:500], t[:500], epochs={epochs}, mini_batch_size=100,
                      optimizer="Adam", verbose=False, seed=0, lr_schedule=schedule,
                      checkpoint_dir=folder)
    tracemalloc.start()
    trainer.train()
    measure()
print(json.dumps({{"traced": traced, "rss": rss}}))
"""


@pytest.fixture(scope="module")
def per_epoch() -> dict[str, list[int]]:
    """Per-epoch peaks of a 20-epoch run in a fresh process."""
    # One BLAS thread: memory does not depend on it, and on a busy machine threaded BLAS
    # can spin for a minute where one thread takes two seconds.
    single = {k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    proc = run_python(CHILD.format(epochs=EPOCHS), timeout=300, **single)
    numbers = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(numbers["traced"]) == len(numbers["rss"]) == EPOCHS
    traced, rss = numbers["traced"], numbers["rss"]
    print(
        f"\ntraced peak: epoch 1 {traced[0] / 1e6:.2f} MB, epochs 2-{EPOCHS} at most "
        f"{max(traced[1:]) / 1e6:.2f} MB ({max(traced[1:]) / traced[0] - 1:+.1%})"
    )
    if rss[0] is not None:
        print(
            f"peak RSS: after epoch 1 {rss[0] / 1e6:.1f} MB, after epoch {EPOCHS} "
            f"{rss[-1] / 1e6:.1f} MB ({rss[-1] / rss[0] - 1:+.1%})"
        )
    return numbers


def test_no_epoch_allocates_more_than_the_first_plus_ten_percent(per_epoch):
    first, later = per_epoch["traced"][0], per_epoch["traced"][1:]
    assert max(later) <= GROWTH * first, [round(v / first, 3) for v in later]


def test_peak_resident_memory_after_twenty_epochs_is_within_ten_percent_of_the_first(
    per_epoch,
):
    rss = per_epoch["rss"]
    if rss[0] is None:
        pytest.skip("this platform offers neither /proc/self/status nor the resource module")
    assert rss[-1] <= GROWTH * rss[0], [round(v / rss[0], 3) for v in rss]
