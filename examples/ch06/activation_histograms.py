"""Figures 6-10 to 6-14: histograms of hidden-layer activations for several initial weights.

    python examples/ch06/activation_histograms.py               # NumPy, float32
    python examples/ch06/activation_histograms.py --backend array_api_strict --quick

As the book's ``ch06/weight_init_activation_histogram.py``: 1000 random inputs of 100 values
(standard normal) go through 5 layers of 100 units, each an :class:`xpnn.Affine` layer (bias
0, as the book's plain ``np.dot``) and an activation, with no training. Six settings:

- sigmoid with std 1 (figure 6-10): activations pile up at 0 and 1, where the gradient
  vanishes;
- sigmoid with std 0.01 (figure 6-11): all near 0.5, every unit says the same thing;
- sigmoid with Xavier, std √(1/n) (figure 6-13): spread out across (0, 1);
- ReLU with std 0.01 (figure 6-14, top): the activations shrink toward 0 layer by layer;
- ReLU with Xavier (figure 6-14, middle): they shrink more slowly;
- ReLU with He, std √(2/n) (figure 6-14, bottom): the spread stays the same in every layer.

The figure is a grid, one row per setting and one column per layer, 30 bins over [0, 1] as
the book draws them. ReLU rows have their y axis cut at 7000 (7 % of the values) as in
figure 6-14: about half of the 100000 values are exactly 0 and would dwarf the rest; each
panel says what fraction is 0. The table gives each layer's mean and std, the fraction of
sigmoid outputs saturated (below 0.05 or above 0.95, where σ' < 0.048, a fifth of its peak)
and of ReLU outputs that are exactly 0.

Everything is computed on the chosen backend (float32); only the histograms and the summary
numbers come back to the host. The input is drawn once; every setting draws the same
standard normal weights (one seed), scaled by its std. ``--quick`` uses 200 inputs.
"""

from __future__ import annotations

import time

import common
import numpy as np

import xpnn
from xpnn.random import spawn_seeds

#: Label: (activation layer, the book's ``weight_init_std``).
SETTINGS = {
    "sigmoid, std=1": (xpnn.Sigmoid, 1.0),
    "sigmoid, std=0.01": (xpnn.Sigmoid, 0.01),
    "sigmoid, Xavier": (xpnn.Sigmoid, "xavier"),
    "ReLU, std=0.01": (xpnn.Relu, 0.01),
    "ReLU, Xavier": (xpnn.Relu, "xavier"),
    "ReLU, He": (xpnn.Relu, "he"),
}
NODES = 100
LAYERS = 5
SATURATED = 0.05  # a sigmoid output below this or above 1 - this counts as saturated


def forward(b: xpnn.Backend, x, activation: type, init, seed) -> list:
    """The activations of each layer (arrays of the backend) for input ``x``."""
    rng = b.rng(seed)
    draw = xpnn.resolve_init(init)
    xp = b.xp
    out = []
    for _ in range(LAYERS):
        W = draw(NODES, NODES, rng, "float32")
        bias = xp.zeros(NODES, dtype=xp.float32, device=b.device)
        x = activation().forward(xpnn.Affine(W, bias).forward(x))
        out.append(x)
    return out


def summary(b: xpnn.Backend, a, is_sigmoid: bool) -> dict[str, float]:
    """Mean, std and the fraction saturated (sigmoid) or zero (ReLU), read once per layer."""
    xp = b.xp
    if is_sigmoid:
        flag = (a < SATURATED) | (a > 1.0 - SATURATED)
    else:
        flag = a == 0.0
    stats = xp.stack([xp.mean(a), xp.std(a), xp.mean(xp.astype(flag, a.dtype))])
    mean, std, frac = (float(v) for v in b.to_numpy(stats))
    key = "saturated" if is_sigmoid else "zero"
    return {"mean": mean, "std": std, key: frac}


def plot(hists: dict[str, list[np.ndarray]], stats: dict[str, list[dict]], edges, values: int,
         title: str):  # fmt: skip
    plt = common.pyplot()
    fig, axes = plt.subplots(len(hists), LAYERS, figsize=(12, 2.0 * len(hists)), sharex=True)
    for r, (name, counts) in enumerate(hists.items()):
        relu = "zero" in stats[name][0]
        for c, h in enumerate(counts):
            ax = axes[r, c]
            ax.bar(edges[:-1], h, width=np.diff(edges), align="edge", color="C0")
            if relu:
                ax.set_ylim(0, 0.07 * values)  # figure 6-14's 7000 of 100000
                ax.text(0.95, 0.9, f"{stats[name][c]['zero']:.0%} zeros", ha="right", va="top",
                        transform=ax.transAxes, fontsize=8)  # fmt: skip
            if r == 0:
                ax.set_title(f"{c + 1}-layer")
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
            else:
                ax.set_yticklabels([])
            ax.tick_params(labelsize=7)
        top = max(axes[r, c].get_ylim()[1] for c in range(LAYERS))
        for c in range(LAYERS):
            axes[r, c].set_ylim(0, top)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    n = 200 if args.quick else 1000
    b = common.backend(args)
    edges = np.linspace(0.0, 1.0, 31)

    start = time.perf_counter()
    input_seed, weight_seed = spawn_seeds(args.seed, 2)
    x = b.rng(input_seed).normal((n, NODES), dtype="float32")
    hists, stats = {}, {}
    for name, (activation, init) in SETTINGS.items():
        acts = forward(b, x, activation, init, weight_seed)
        sig = activation is xpnn.Sigmoid
        stats[name] = [summary(b, a, sig) for a in acts]
        hists[name] = [np.histogram(b.to_numpy(a), bins=edges)[0] for a in acts]
    wall = time.perf_counter() - start

    title = (
        f"activations of {LAYERS} layers of {NODES}, {n} standard normal inputs, "
        f"{b.name} float32, seed {args.seed}"
    )
    rows = []
    for name, per_layer in stats.items():
        for i, s in enumerate(per_layer, start=1):
            rows.append([name, i, s["mean"], s["std"], s.get("saturated", "-"), s.get("zero", "-")])
    print(title)
    print(common.format_table(["setting", "layer", "mean", "std", "saturated", "zero"], rows))
    print(f"wall time {wall:.2f} s")
    common.quick_note(args, f"{n} inputs", "1000")

    results = {
        "experiment": "activation_histograms (figures 6-10 to 6-14)",
        "settings": {
            "backend": b.name,
            "dtype": "float32",
            "seed": args.seed,
            "inputs": n,
            "nodes": NODES,
            "layers": LAYERS,
            "weight_init_std": {k: v[1] for k, v in SETTINGS.items()},
            "saturated": f"sigmoid output < {SATURATED} or > {1 - SATURATED}",
            "quick": args.quick,
        },
        "stats": stats,
        "hist_edges": edges,
        "hist": hists,
        "wall_time_s": wall,
    }
    fig = plot(hists, stats, edges, n * NODES, title)
    common.save_results(args.out, "activation_histograms", results, fig)
    common.pyplot().close(fig)
    return results


if __name__ == "__main__":
    common.run(main)
