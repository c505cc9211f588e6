"""The notebooks: ``notebooks/*.ipynb`` (chapter 6 and the convnets) run top to bottom on the
CPU backends and the GPU stand-in, in their quick size (``XPNN_NOTEBOOK_QUICK=1``: the same
cells on fewer images and steps); notebooks written the book's way
(``tests/book_repo/notebooks``) run with the one added first cell (``%load_ext xpnn.book`` or
``xpnn.book.install()``) over the decoy ``common`` and ``dataset`` beside them; and no
committed notebook carries outputs.

Each notebook runs in a fresh IPython kernel (nbclient), with the backend chosen through the
environment as a user would (``XPNN_BACKEND``, ``XPNN_DEVICE``), in a temporary folder (the
convnet notebook writes its saved network and ONNX model there).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from conftest import CASES, Case

import xpnn

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
BOOK_NOTEBOOKS = sorted((ROOT / "tests" / "book_repo" / "notebooks").glob("*.ipynb"))
#: numpy, the GPU stand-in, and CuPy where a GPU is (nox -s gpu).
NOTEBOOK_CASES = [c for c in CASES if c.id in ("numpy", "strict-device1", "cupy")]


def test_the_notebooks_are_there():
    assert [p.stem for p in NOTEBOOKS] == [
        "01_optimizers",
        "02_weight_init",
        "03_batch_norm",
        "04_overfitting",
        "05_hyperparameter_search",
        "06_convnets",
    ]
    assert [p.stem for p in BOOK_NOTEBOOKS] == ["ch05", "ch06", "ch07"]


@pytest.mark.parametrize("path", NOTEBOOKS + BOOK_NOTEBOOKS, ids=lambda p: p.name)
def test_a_committed_notebook_carries_no_outputs(path):
    cells = json.loads(path.read_text())["cells"]
    dirty = [
        i
        for i, c in enumerate(cells)
        if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} carry outputs; clear them before committing (Jupyter: "
        f"Edit > Clear Outputs of All Cells; or jupyter nbconvert --clear-output --inplace)"
    )


def execute(path: Path, cwd: Path, monkeypatch, case: Case | None = None) -> list[str]:
    """Run the notebook at ``path`` in a fresh kernel started in ``cwd``; its streams' text."""
    nbformat = pytest.importorskip("nbformat", reason="the test extra installs nbclient")
    nbclient = pytest.importorskip("nbclient", reason="the test extra installs nbclient")
    pytest.importorskip("ipykernel", reason="the test extra installs ipykernel")
    monkeypatch.setenv("XPNN_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("XPNN_BACKEND", case.name if case else "numpy")
    monkeypatch.setenv("XPNN_DEVICE", (case.device or "") if case else "")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # the kernel shares the cores with this run: one BLAS/OpenMP thread (see test_book.py)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return [
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "stream"
    ]


#: Every notebook on numpy; on the GPU stand-in (and CuPy) those whose cells hold the device
#: idioms (data moved once, batches taken on the device, losses read once, a network loaded
#: onto a backend); the others' device paths are the Trainer's and search's, tested elsewhere.
RUNS = [
    (path, case)
    for case in NOTEBOOK_CASES
    for path in NOTEBOOKS
    if case.id == "numpy" or path.stem in ("01_optimizers", "03_batch_norm", "06_convnets")
]


@pytest.mark.parametrize(("path", "case"), RUNS, ids=[f"{p.stem}-{c.id}" for p, c in RUNS])
def test_a_notebook_runs_top_to_bottom(path, case, tmp_path, monkeypatch, mnist):
    out = execute(path, tmp_path, monkeypatch, case)
    assert out[0].startswith(f"xpnn {xpnn.__version__} on {case.name} ")
    assert out[0].rstrip().endswith("quick: True")
    if path.stem == "06_convnets":  # what it saved loads, what it exported agrees
        assert (tmp_path / "simple_convnet.npz").is_file()
        if importlib.util.find_spec("onnxruntime") is not None:
            assert (tmp_path / "simple_convnet.onnx").is_file()
            assert "the same class on 100.00% of the test images" in "".join(out)


@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_of_the_books_runs_with_one_added_cell(path, monkeypatch, mnist):
    """Run from its own folder, as Jupyter runs it: its ``sys.path.append(os.pardir)`` puts
    the decoys first on the path, and xpnn's modules must win (a decoy raises)."""
    source = json.loads(path.read_text())["cells"]
    first = " ".join("".join(source[1]["source"]).split())
    assert first in ("%load_ext xpnn.book", "import xpnn.book xpnn.book.install()")
    out = "".join(execute(path, path.parent, monkeypatch))
    assert "decoy" not in out
