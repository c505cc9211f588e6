"""Chapter 6 experiments 1-4 (figures 6-9 to 6-19): each script's ``--quick`` mode shows the
book's result, returns its numbers and writes a PNG and a JSON.

The MNIST experiments read ``$XPNN_DATA/mnist`` (or the cache); without it they are skipped.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

CH06 = Path(__file__).resolve().parents[1] / "examples" / "ch06"

pytest.importorskip("matplotlib")


def _script(name: str):
    """Import ``examples/ch06/<name>.py`` (which imports ``common`` from its folder)."""
    if str(CH06) not in sys.path:
        sys.path.insert(0, str(CH06))
    spec = importlib.util.spec_from_file_location(f"ch06_{name}", CH06 / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(name: str, tmp_path: Path, *extra: str) -> dict:
    return _script(name).main(["--quick", "--out", str(tmp_path), *extra])


def _assert_written(tmp_path: Path, name: str) -> dict:
    png = tmp_path / f"{name}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000
    return json.loads((tmp_path / f"{name}.json").read_text())


# -- 1. optimizers on MNIST (figure 6-9) --------------------------------------------------------
def test_optimizer_compare_momentum_adagrad_adam_end_below_sgd(tmp_path, mnist):
    res = _run("optimizer_compare", tmp_path)
    final = res["final_loss"]
    assert set(final) == {"SGD", "Momentum", "AdaGrad", "Adam", "RMSprop", "Nesterov"}
    assert all(math.isfinite(v) for v in final.values())
    for name in ("Momentum", "AdaGrad", "Adam", "Nesterov", "RMSprop"):
        assert final[name] < 0.6 * final["SGD"], (name, final)
    assert final["SGD"] < 2.0  # SGD learns too, only more slowly
    saved = _assert_written(tmp_path, "optimizer_compare")
    assert saved["final_loss"] == pytest.approx(final)
    assert len(saved["loss"]["Adam"]) == res["settings"]["iterations"]


# -- 2. activation histograms (figures 6-10 to 6-14) ------------------------------------------
@pytest.fixture(scope="module", params=["numpy", "array_api_strict"])
def histograms(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"hist-{request.param}")
    return _run("activation_histograms", out, "--backend", request.param), out


def test_activation_histograms_sigmoid_std1_saturates_while_xavier_does_not(histograms):
    res, _ = histograms
    stats = res["stats"]
    for layer in range(5):
        assert stats["sigmoid, std=1"][layer]["saturated"] > 0.5  # piled up at 0 and 1
        assert stats["sigmoid, Xavier"][layer]["saturated"] < 0.02
        assert stats["sigmoid, Xavier"][layer]["std"] > 0.08  # spread across (0, 1)
        assert stats["sigmoid, std=0.01"][layer]["std"] < 0.04  # all near 0.5
        assert stats["sigmoid, std=0.01"][layer]["mean"] == pytest.approx(0.5, abs=0.02)


def test_activation_histograms_relu_std001_collapses_while_he_keeps_its_spread(histograms):
    res, _ = histograms
    small, xavier, he = (res["stats"][f"ReLU, {k}"] for k in ("std=0.01", "Xavier", "He"))
    assert small[4]["std"] < 1e-4 * he[4]["std"]  # shrinks by about 14x per layer
    assert all(s["std"] > 0.5 for s in he)
    assert 0.5 < he[4]["std"] / he[0]["std"] < 2.0
    assert xavier[4]["std"] < 0.5 * xavier[0]["std"]  # Xavier shrinks, slowly
    assert all(0.3 < s["zero"] < 0.7 for s in he)  # ReLU zeroes about half


def test_activation_histograms_write_png_and_json(histograms):
    res, out = histograms
    saved = _assert_written(out, "activation_histograms")
    assert saved["stats"].keys() == res["stats"].keys()
    assert saved["stats"]["ReLU, He"][4] == pytest.approx(res["stats"]["ReLU, He"][4])
    assert len(saved["hist"]["ReLU, He"]) == 5
    assert sum(saved["hist"]["sigmoid, Xavier"][0]) == res["settings"]["inputs"] * 100


# -- 3. initial weights on MNIST (figure 6-15) --------------------------------------------------
def test_weight_init_std001_stays_at_chance_while_xavier_and_he_learn(tmp_path, mnist):
    res = _run("weight_init_compare", tmp_path)
    final = res["final_loss"]
    assert final["std=0.01"] == pytest.approx(math.log(10), abs=0.03)  # ≈ 2.30: nothing learnt
    assert final["He"] < 1.2
    assert final["He"] < final["Xavier"] < final["std=0.01"] - 0.05  # He learns fastest
    saved = _assert_written(tmp_path, "weight_init_compare")
    assert saved["final_loss"] == pytest.approx(final)


# -- 4. Batch Normalization (figures 6-18, 6-19) ------------------------------------------------
def test_batch_norm_learns_faster_at_most_scales(tmp_path, mnist):
    res = _run("batch_norm", tmp_path)
    scales = list(res["scales"])
    bn, plain = res["final_acc_bn"], res["final_acc_plain"]
    assert len(scales) == len(bn) == len(plain) == 4
    assert res["bn_wins"] >= 3
    near_he = min(range(len(scales)), key=lambda i: abs(math.log(scales[i] / 0.05)))
    assert bn[near_he] > plain[near_he] + 0.3  # the book's default scale region
    assert bn[near_he] > 0.6
    assert not math.isfinite(res["final_loss_plain"][0])  # std 1 without BN blows up
    assert all(math.isfinite(v) for v in res["final_loss_bn"])  # BN never does
    saved = _assert_written(tmp_path, "batch_norm")
    assert saved["final_loss_plain"][0] is None  # JSON writes the non-finite loss as null
    assert len(saved["acc_bn"][0]) == res["settings"]["epochs"]
