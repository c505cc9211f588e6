"""Guarantee: the same seed gives bitwise the same run, in any process, on each CPU backend.

Two separate Python processes (with different hash seeds, so nothing may depend on the
order of a set or a dict built from one) train the same seeded network with the same
seeded Trainer — batch norm, dropout, weight decay, Adam, shuffled epochs — and save the
result. Parameters, batch-norm statistics, the dropout generator, the optimizer's moments
and step counts and the loss/accuracy history must agree bit for bit, on NumPy,
array_api_strict and (where installed) torch on the CPU.

The limits on a GPU (CuPy) are stated in README's "Guarantees" section.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from guarantees_support import CPU_BACKENDS, assert_bitwise_equal, run_python

from xpnn import load_checkpoint

EPOCHS = 2

CHILD = """
from pathlib import Path
from guarantees_support import CPU_BACKENDS, make_trainer, run_state
from xpnn import save_checkpoint

out = Path({out!r})
for backend in CPU_BACKENDS:
    trainer = make_trainer(backend, epochs={epochs})
    trainer.train()
    save_checkpoint(out / f"{{backend}}.npz", run_state(trainer))
"""


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> tuple[Path, Path]:
    """Folders holding each backend's saved run, from two separate processes."""
    folders = []
    for hash_seed in ("1", "2"):
        out = tmp_path_factory.mktemp(f"process-{hash_seed}")
        run_python(CHILD.format(out=str(out), epochs=EPOCHS), PYTHONHASHSEED=hash_seed)
        folders.append(out)
    return folders[0], folders[1]


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_the_same_seed_saves_bitwise_identical_runs_in_two_processes(backend, two_processes):
    first, second = (load_checkpoint(folder / f"{backend}.npz") for folder in two_processes)
    assert first["epoch"] == EPOCHS and len(first["history"]["train_loss"]) == EPOCHS * 7
    assert_bitwise_equal(first, second)
