"""``python -m xpnn.book SCRIPT.py``: scripts in the book's style (``tests/book_repo``) run
from their chapter folder, with xpnn serving ``common`` and ``dataset`` over the decoys at
the top of that repository, on every backend case of conftest (``XPNN_BACKEND`` and
``XPNN_DEVICE`` set for the child process).

Each script asserts its own results; these tests check the exit status and what it prints.
The scripts that read MNIST are skipped only where the ``mnist`` fixture is (MNIST not found
and ``XPNN_DATA`` unset).

Chapter 7's scripts (a SimpleConvNet of their own on xpnn's Convolution and Pooling, its
gradient check and its training with the Trainer) run on numpy, as chapters 4 and 5 do: their
networks are their own NumPy code. Every case runs the training loop by hand, the Trainer,
save/load and the gradient check; the three experiments that use the same calls again
(batch norm, weight decay, the search) run on numpy and on the GPU stand-in
(``strict-device1``) only: each child process costs 2-3 s, most of it loading MNIST.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import CASES, Case

BOOK = Path(__file__).resolve().parent / "book_repo"
NUMPY = next((c for c in CASES if c.id == "numpy"), None)
FIGURES = tempfile.mkdtemp(prefix="xpnn-book-figures-")  # where plt.show() saves, not the repo
atexit.register(shutil.rmtree, FIGURES, True)

pytest.importorskip("matplotlib")


def run_book(script: str, *args: str, case: Case | None = None) -> subprocess.CompletedProcess:
    """Run ``book_repo/<script>`` as ``python -m xpnn.book NAME ARGS`` from its folder."""
    folder, name = script.split("/")
    env = dict(os.environ, MPLBACKEND="Agg")
    env["XPNN_BACKEND"] = case.name if case else "numpy"
    env["XPNN_DEVICE"] = (case.device or "") if case else ""
    # The child processes of a test run share the cores with it: one BLAS/OpenMP thread each
    # (OpenBLAS's second thread waiting for a busy core made some runs 100x slower).
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("XPNN_BOOK_FIGURES", FIGURES)
    return subprocess.run(
        [sys.executable, "-m", "xpnn.book", name, *args],
        cwd=BOOK / folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "decoy" not in result.stderr
    return result.stdout


def values(out: str, pattern: str) -> dict[str, float]:
    """``name:value`` lines (the book's way of printing) matching ``pattern``'s names."""
    return {m[1]: float(m[2]) for m in re.finditer(rf"^({pattern}):(\S+)$", out, re.M)}


def is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


needs_numpy_case = pytest.mark.skipif(NUMPY is None, reason="XPNN_TEST_BACKENDS leaves numpy out")


# -- the runner ---------------------------------------------------------------------------
@needs_numpy_case
def test_a_script_runs_as_main_with_its_args_folder_and_file_and_the_books_imports():
    out = ok(run_book("ch06/runner_checks.py", "one", "--two"))
    assert out.splitlines()[-1] == "runner ok"
    assert "No module named 'common.not_a_module': xpnn.book serves" in out


@needs_numpy_case
def test_an_error_in_the_script_shows_the_scripts_traceback_and_exits_1():
    result = run_book("ch06/raises.py")
    assert result.returncode == 1 and result.stdout == "before the error\n"
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1] == f'  File "{BOOK / "ch06" / "raises.py"}", line 10, in <module>'
    assert lines[-1] == "ZeroDivisionError: division by zero"
    assert "runpy" not in result.stderr and "__main__.py" not in result.stderr


def test_a_syntax_error_shows_the_scripts_line(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("x = 1\nprint(x +)\n")
    result = subprocess.run([sys.executable, "-m", "xpnn.book", "broken.py"], cwd=tmp_path,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 1
    assert f'File "{script}", line 2' in result.stderr and "SyntaxError" in result.stderr


@needs_numpy_case
def test_sys_exit_in_the_script_is_the_exit_status():
    result = run_book("ch06/exits.py")
    assert (result.returncode, result.stdout, result.stderr) == (3, "exiting with 3\n", "")


def test_a_missing_script_gives_one_line_and_exit_status_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "xpnn.book", "nope.py"], cwd=tmp_path,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"xpnn.book: can't open file {str(tmp_path / 'nope.py')!r}: " \
                            "No such file or directory\n"  # fmt: skip


def test_no_script_gives_the_usage_and_exit_status_2():
    result = subprocess.run([sys.executable, "-m", "xpnn.book"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("usage: python -m xpnn.book")


# -- chapters 4 and 5: the scripts' own NumPy networks, xpnn's functions and layers ---------
@needs_numpy_case
def test_ch04_functions_give_the_books_values():
    out = ok(run_book("ch04/functions_check.py"))
    assert "cross_entropy_error: 0.510825457099338" in out and out.endswith("functions ok\n")


@needs_numpy_case
@pytest.mark.parametrize("script", ["ch04/gradient_simplenet.py", "ch04/gradient_2d.py"])
def test_ch04_numerical_gradients_match_the_derivatives(script):
    ok(run_book(script))


@needs_numpy_case
def test_ch05_gradient_check_prints_differences_below_1e_8():
    diffs = values(ok(run_book("ch05/gradient_check.py")), r"W1|b1|W2|b2")
    assert set(diffs) == {"W1", "b1", "W2", "b2"} and max(diffs.values()) < 1e-8


@needs_numpy_case
@pytest.mark.parametrize("script", ["ch04/train_neuralnet.py", "ch05/train_neuralnet.py"])
def test_ch04_and_ch05_networks_train_on_mnist(script, mnist):
    out = ok(run_book(script))
    assert len(out.splitlines()) >= 10


@needs_numpy_case
def test_the_trainer_drives_a_network_of_the_scripts_own(mnist):
    out = ok(run_book("ch06/trainer_own_network.py"))
    assert re.search(r"^=== epoch:3, train acc:0\.\d+, test acc:0\.\d+ ===$", out, re.M)


@needs_numpy_case
def test_ch06_optimizers_move_number_parameters_to_the_minimum(tmp_path):
    out = ok(run_book("ch06/optimizer_compare_naive.py", str(tmp_path / "naive.png")))
    names = [line.split(":")[0] for line in out.splitlines()]
    assert names == ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]
    assert is_png(tmp_path / "naive.png")


# -- chapter 7: the script's own SimpleConvNet on xpnn's Convolution and Pooling -----------
@needs_numpy_case
def test_ch07_gradient_check_through_convolution_and_pooling_prints_tiny_differences():
    diffs = values(ok(run_book("ch07/gradient_check.py")), r"[Wb][123]")
    assert set(diffs) == {"W1", "b1", "W2", "b2", "W3", "b3"} and max(diffs.values()) < 1e-9


@needs_numpy_case
def test_ch07_trainer_trains_the_scripts_own_convnet_on_images(mnist):
    out = ok(run_book("ch07/train_convnet.py"))
    epochs = re.findall(r"^=== epoch:(\d), train acc:0\.\d+, test acc:0\.\d+ ===$", out, re.M)
    assert epochs == ["1", "2", "3"] and "Final Test Accuracy" in out


# -- chapter 6 on every backend ------------------------------------------------------------
@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
def case(request) -> Case:
    return request.param


def test_optimizer_compare_mnist_prints_float_losses(case, tmp_path, mnist):
    out = ok(run_book("ch06/optimizer_compare_mnist.py", str(tmp_path / "loss.png"), case=case))
    assert out.count("===========iteration:") == 3
    losses = values(out, r"SGD|Momentum|AdaGrad|Adam")
    assert set(losses) == {"SGD", "Momentum", "AdaGrad", "Adam"}  # floats, not tensor(...)
    assert is_png(tmp_path / "loss.png")


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.id != "strict-device1"],
    ids=[c.id for c in CASES if c.id != "strict-device1"],
)
def test_batch_norm_gradient_check_prints_float64_size_differences(case):
    """The script applies NumPy functions to the network's arrays (np.abs, np.average), as
    the book's does: fine in host memory, and on CuPy (which NumPy dispatches to), but
    array_api_strict's device1 refuses any conversion to NumPy, so the stand-in case is
    left out here (its float64 numerical gradient is tested in test_book_networks.py)."""
    out = ok(run_book("ch06/batch_norm_gradient_check.py", case=case))
    diffs = values(out, r"[Wb]\d|gamma\d|beta\d")
    assert {"W1", "W3", "gamma1", "beta2"} <= set(diffs) and max(diffs.values()) < 1e-6
    assert "--- dropout" in out


STAND_INS = [c for c in CASES if c.id in ("numpy", "strict-device1")]
on_stand_ins = pytest.mark.parametrize("case", STAND_INS, ids=[c.id for c in STAND_INS])


@on_stand_ins
def test_batch_norm_learns_from_a_small_weight_scale(case, tmp_path, mnist):
    out = ok(run_book("ch06/batch_norm_test.py", str(tmp_path / "bn.png"), case=case))
    assert out.count("epoch:") == 14 and is_png(tmp_path / "bn.png")


@on_stand_ins
def test_weight_decay_experiment_trains_by_hand(case, tmp_path, mnist):
    out = ok(run_book("ch06/overfit_weight_decay.py", str(tmp_path / "wd.png"), case=case))
    assert re.search(r"^epoch:10, train acc:0\.\d+, test acc:0\.\d+$", out, re.M)


def test_dropout_experiment_prints_the_books_trainer_lines(case, tmp_path, mnist):
    out = ok(run_book("ch06/overfit_dropout.py", str(tmp_path / "dropout.png"), case=case))
    lines = out.splitlines()
    epochs = [re.fullmatch(r"=== epoch:(\d+), train acc:0\.\d+, test acc:0\.\d+ ===", line)
              for line in lines[:5]]  # fmt: skip
    assert [m.group(1) for m in epochs] == ["1", "2", "3", "4", "5"]
    assert lines[5] == "=============== Final Test Accuracy ==============="
    assert re.fullmatch(r"test acc:0\.\d+", lines[6]) and len(lines) == 7


@on_stand_ins
def test_hyperparameter_search_uses_shuffle_dataset_and_a_quiet_trainer(case, tmp_path, mnist):
    out = ok(run_book("ch06/hyperparameter_optimization.py", str(tmp_path / "hp.png"), case=case))
    assert out.count("val acc:") == 6 and "Best-3(val acc:" in out


def test_save_params_loads_back_and_a_pickle_is_refused(case, tmp_path):
    out = ok(run_book("ch06/save_load_params.py", str(tmp_path), case=case))
    refused = f"refused: {tmp_path / 'book_params.pkl'} is a Python pickle"
    assert refused in out and "np.savez" in out
    assert (tmp_path / "params.pkl").read_bytes()[:2] == b"PK"
