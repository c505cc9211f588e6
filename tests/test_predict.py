"""``examples/predict.py CHECKPOINT IMAGE...``: the network back from its file alone, a class
and its probability for each PNG or ``.npy`` image; and the training examples' ``--save``
and ``--export-onnx``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xpnn

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
LINE = re.compile(r"^(?P<name>\S+): (?P<k>\d) \(p = (?P<p>[01]\.\d{3})\)(?P<note>.*)$")


def run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def saved(mnist, tmp_path_factory) -> tuple[Path, xpnn.Network]:
    """A small MultiLayerNet trained for one epoch on 2000 images, saved."""
    (x, t), (xt, tt) = mnist
    net = xpnn.MultiLayerNet(784, [50], 10, use_batchnorm=True, seed=0)
    xpnn.Trainer(net, x[:2000], t[:2000], xt[:100], tt[:100], epochs=1, verbose=False).train()
    path = tmp_path_factory.mktemp("predict") / "model.npz"
    net.save_params(path)
    return path, net


def expected(net: xpnn.Network, images: np.ndarray) -> list[tuple[int, str]]:
    scores = net.backend.to_numpy(net.predict(images.reshape(len(images), -1)))
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return [(int(k), f"{row[k]:.3f}") for k, row in zip(p.argmax(axis=1), p, strict=True)]


def parsed(out: str) -> list[re.Match]:
    matches = [LINE.match(line) for line in out.splitlines()]
    assert all(matches), out
    return matches  # type: ignore[return-value]


def test_an_npy_of_uint8_images_gets_one_line_per_image(saved, mnist, tmp_path):
    path, net = saved
    images = np.round(mnist[1][0][:5] * 255).astype(np.uint8).reshape(5, 28, 28)
    np.save(tmp_path / "digits.npy", images)
    proc = run("predict.py", path, tmp_path / "digits.npy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = parsed(proc.stdout)
    assert [m["name"] for m in lines] == [f"{tmp_path / 'digits.npy'}[{i}]" for i in range(5)]
    assert [(int(m["k"]), m["p"]) for m in lines] == expected(net, images / 255.0)


def test_png_files_are_read_as_gray_and_a_light_one_is_inverted_saying_so(saved, mnist, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.image import imsave

    path, net = saved
    digits = np.round(mnist[1][0][:2] * 255).astype(np.uint8).reshape(2, 28, 28)
    imsave(tmp_path / "a.png", digits[0], cmap="gray")  # an RGBA PNG, light on dark
    imsave(tmp_path / "b.png", 255 - digits[1], cmap="gray")  # dark on light
    proc = run("predict.py", path, tmp_path / "a.png", tmp_path / "b.png", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    a, b = parsed(proc.stdout)
    assert (int(a["k"]), int(b["k"])) == tuple(k for k, _ in expected(net, digits / 255.0))
    assert a["note"] == "" and b["note"] == "  (inverted: a dark digit on a light background)"


def test_a_trainer_checkpoint_of_a_convnet_works_too(mnist, tmp_path):
    (x, t), (xt, tt) = mnist
    net = xpnn.SimpleConvNet((1, 28, 28), {"filter_num": 4, "filter_size": 5}, 20, 10, seed=0)
    xpnn.Trainer(
        net, x[:500], t[:500], xt[:50], tt[:50], epochs=1, verbose=False, checkpoint_dir=tmp_path
    ).train()
    np.save(tmp_path / "x.npy", xt[:3].reshape(3, 1, 28, 28))
    proc = run("predict.py", tmp_path / "checkpoint.npz", tmp_path / "x.npy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [(int(m["k"]), m["p"]) for m in parsed(proc.stdout)] == expected(net, xt[:3])


def test_an_image_of_the_wrong_size_is_one_line_saying_so(saved, tmp_path):
    np.save(tmp_path / "big.npy", np.zeros((2, 32, 32), dtype=np.uint8))
    proc = run("predict.py", saved[0], tmp_path / "big.npy", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().endswith(
        "has shape (32, 32); the network takes images of 784 values (28x28): resize them first"
    )


def test_a_checkpoint_without_an_architecture_says_how_to_load_it(tmp_path):
    net = xpnn.MultiLayerNet(784, [10], 10, seed=0)
    xpnn.save_checkpoint(tmp_path / "old.npz", {"network": net.state_dict()})
    np.save(tmp_path / "x.npy", np.zeros((28, 28), dtype=np.float32))
    proc = run("predict.py", tmp_path / "old.npz", tmp_path / "x.npy", cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "records no architecture" in proc.stderr and "net.load_params(" in proc.stderr


def test_a_missing_image_is_one_line(saved, tmp_path):
    proc = run("predict.py", saved[0], tmp_path / "nope.png", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "No such file or directory" in proc.stderr


def test_mnist_py_saves_a_network_predict_reads_and_exports_onnx(mnist, tmp_path):
    pytest.importorskip("onnx", reason="the onnx extra: pip install 'xpnn[onnx]'")
    ort = pytest.importorskip("onnxruntime", reason="the test extra installs onnxruntime")
    proc = run(
        "mnist.py",
        "--epochs",
        "1",
        "--limit",
        "1000",
        "--hidden",
        "30",
        "--quiet",
        "--save",
        tmp_path / "m.npz",
        "--export-onnx",
        tmp_path / "m.onnx",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    net = xpnn.load_network(tmp_path / "m.npz")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    x = mnist[1][0][:100]
    scores = session.run(["scores"], {"x": x})[0]
    assert np.abs(scores - net.predict(x)).max() < 1e-4


def test_export_onnx_without_onnx_fails_before_training(tmp_path):
    stub = tmp_path / "stub" / "onnx"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('no onnx here')\n")
    env = {**os.environ, "PYTHONPATH": str(stub.parent), "XPNN_DATA": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "convnet.py"), "--export-onnx", "m.onnx"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stdout == ""  # before reading MNIST (not there)
    assert (
        proc.stderr == "convnet.py: error: --export-onnx needs the onnx package: pip install "
        "'xpnn[onnx]'\n"
    )
