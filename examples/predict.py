"""Classify images with a trained network, loaded from its file alone.

    python examples/mnist.py --epochs 5 --save model.npz     # or convnet.py --save ...
    python examples/predict.py model.npz digit.png another.png
    python examples/predict.py model.npz digits.npy
    XPNN_BACKEND=cupy python examples/predict.py model.npz digits.npy     # on a GPU

CHECKPOINT is a file written by ``--save`` (``net.save_params``) or a Trainer checkpoint
(``--checkpoint-dir``): it records the network's architecture, so nothing else is needed
(:func:`xpnn.load_network`). Each IMAGE is

- a PNG of one image of the network's input size (28x28 for MNIST), gray or colour (made
  gray, values in [0, 1]). MNIST digits are light on a dark background: an image that is
  mostly light (a dark digit on white paper) is inverted, and the line says so
  (``--no-invert`` keeps it as it is);
- or a ``.npy`` array of such images: (28, 28), (N, 28, 28), (N, 784) or (N, 1, 28, 28);
  integer values (uint8 pixels) are divided by 255, floating ones are taken as they are.

For each image one line: its name, the class and its probability, e.g. ``digit.png: 7
(p = 0.998)``. A missing or unreadable file, an image of the wrong size or a checkpoint
without an architecture ends in one line on stderr and exit status 2; ``--debug`` shows
the traceback.
"""

from __future__ import annotations

import math
import os
import sys

# cli_errors lives beside this file (on sys.path already when this file is run as a script)
sys.path.insert(1, os.path.dirname(os.path.abspath(__file__)))
import cli_errors  # before xpnn: a bad XPNN_BACKEND is a one-line error too
import numpy as np

import xpnn

#: RGB weights of the gray value (ITU-R BT.601, what PIL's convert("L") uses).
GRAY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def read_png(path: str) -> np.ndarray:
    """One image as float32 (H, W) in [0, 1]."""
    from matplotlib.image import imread

    image = np.asarray(imread(path), dtype=np.float32)
    if image.ndim == 3:
        image = image[..., :3] @ GRAY[: image.shape[2]] if image.shape[2] >= 3 else image[..., 0]
    return image


def read_images(path: str, size: int) -> np.ndarray:
    """The images in ``path`` as float32 (N, size), values as described in the docstring."""
    if path.lower().endswith(".npy"):
        array = np.load(path, allow_pickle=False)
        if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
            raise ValueError(f"{path} holds {array.dtype} values, not pixel values")
        images = array.astype(np.float32) / (255.0 if array.dtype.kind in "iu" else 1.0)
        if images.ndim >= 1 and math.prod(images.shape) == size:
            images = images.reshape(1, size)
    else:
        images = read_png(path)[None]
    if images.ndim < 2 or math.prod(images.shape[1:]) != size:
        side = math.isqrt(size)
        raise ValueError(
            f"{path} has shape {images.shape[1:] if images.ndim > 1 else images.shape}; the "
            f"network takes images of {size} values ({side}x{side}): resize them first"
        )
    return images.reshape(len(images), size)


def main(argv: list[str] | None = None) -> int:
    p = cli_errors.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="a file written by --save or a Trainer checkpoint")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG files or .npy arrays")
    p.add_argument("--no-invert", action="store_true", help="never invert a light PNG")
    args = p.parse_args(argv)
    net = xpnn.load_network(args.checkpoint)
    for path in args.images:
        images = read_images(path, net.input_size)
        notes = [""] * len(images)
        if not path.lower().endswith(".npy") and not args.no_invert and images.mean() > 0.5:
            images = 1.0 - images
            notes = ["  (inverted: a dark digit on a light background)"]
        scores = net.backend.to_numpy(net.predict(images))
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        probabilities = e / e.sum(axis=1, keepdims=True)
        for i, (row, note) in enumerate(zip(probabilities, notes, strict=True)):
            name = f"{path}[{i}]" if path.lower().endswith(".npy") else path
            k = int(row.argmax())
            print(f"{name}: {k} (p = {row[k]:.3f}){note}")
    return 0


if __name__ == "__main__":
    cli_errors.run(main)
