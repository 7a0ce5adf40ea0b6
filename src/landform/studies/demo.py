"""`landform demo`: minima trained on nested data, seen in each other's landscapes.

The demonstration follows the set-up of the minima-volume study (Fan, Sandlund, Ko 2025) at toy
size, on the two-spirals ("swiss roll") data, and runs in about a minute on 2 CPU cores:

1. one shared initialisation; nested training sets B ∪ A[:q] (base 20 examples, q in the
   levels below);
2. one minimum per level, trained full batch with AdamW;
3. every minimum evaluated in every nested landscape from one per-example evaluation (prefix
   means), plus its test loss and accuracy;
4. the loss along random layer-normalised rays from each minimum in the largest landscape,
   a first look at how wide each basin is;
5. a tidy table, figures and an HTML report in the run folder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from landform.data import load
from landform.flat import leaf_slices
from landform.landscape import Landscape
from landform.models import mlp
from landform.run import Figure, RunFolder, write_report
from landform.train import TrainConfig, fit

BASE = 20
LEVELS = [0, 30, 80, 180, 380]
QUICK_LEVELS = [0, 80, 380]


def layer_normalised_directions(key: jax.Array, theta: jax.Array, slices, count: int) -> jax.Array:
    """Gaussian directions rescaled tensor by tensor to the norm of the same tensor of θ.

    Direction i comes from ``fold_in(key, i)``. For each parameter tensor T of θ the direction's
    block d_T becomes d_T·‖θ_T‖/‖d_T‖ (the ``layer`` normalisation of Li et al. 2018).
    """

    def one(i):
        d = jax.random.normal(jax.random.fold_in(key, i), theta.shape, theta.dtype)
        blocks = []
        for s in slices:
            block = d[s.start : s.stop]
            scale = jnp.linalg.norm(theta[s.start : s.stop]) / (jnp.linalg.norm(block) + 1e-12)
            blocks.append(block * scale)
        return jnp.concatenate(blocks)

    return jax.vmap(one)(jnp.arange(count))


def run_demo(
    out: str | Path = "runs/demo",
    *,
    quick: bool = False,
    progress=True,
    log: Callable[[str], None] = print,
) -> Path:
    """Run the demo into ``out`` and return the path of its HTML report."""
    started = time.perf_counter()
    folder = RunFolder(out)
    levels = QUICK_LEVELS if quick else LEVELS
    epochs = 300 if quick else 1000
    config = {
        "dataset": {"name": "swiss_roll", "noise": 0.3, "seed": 0, "base": BASE, "levels": levels, "n_test": 2000},
        "model": {"name": "mlp", "input_shape": [2], "hidden": [32, 32, 32], "outputs": 1, "activation": "relu"},
        "loss": "binary_cross_entropy",
        "train": {"optimizer": "adamw", "learning_rate": 1e-3, "weight_decay": 0.01, "epochs": epochs},
        "rays": {"count": 64, "normalisation": "layer", "radii": 41, "max_radius": 1.0},
    }
    folder.write_json("config.json", config)

    data = load("swiss_roll", n_train=BASE + max(levels), n_test=2000, noise=0.3, seed=0)
    pool, test = data.train, data.test  # the pool's order is B (first 20) then A in order
    model = mlp(input_shape=(2,), hidden=[32, 32, 32], outputs=1, activation="relu")
    initial = model.init(jax.random.key(0))
    train_config = TrainConfig(optimizer="adamw", learning_rate=1e-3, weight_decay=0.01, epochs=epochs, seed=0)
    sizes = [BASE + q for q in levels]

    # 1-2. one minimum per nested level, all from the same initialisation
    minima, rows = {}, []
    for size in sizes:
        log(f"training the minimum of the {size}-example landscape ({epochs} full-batch epochs)")
        result = fit(model, initial, pool.take(slice(0, size)), "binary_cross_entropy", train_config, test=test, progress=progress)
        minima[size] = result.params

    # 3. each minimum in every nested landscape, from one per-example evaluation
    landscape = Landscape.from_apply(model.apply, initial, pool.x, pool.y, "binary_cross_entropy")
    test_landscape = Landscape.from_apply(model.apply, initial, test.x, test.y, "binary_cross_entropy")
    from landform.flat import ravel

    thetas = jnp.stack([ravel(minima[size])[0] for size in sizes])
    nested = np.asarray(landscape.prefix_losses_batch(thetas, sizes))
    nested_accuracy = np.asarray(landscape.prefix_losses_batch(thetas, sizes, metric="correct"))
    test_loss = np.asarray(test_landscape.loss_batch(thetas))
    test_accuracy = np.asarray(test_landscape.accuracy_batch(thetas))
    for i, model_size in enumerate(sizes):
        for j, landscape_size in enumerate(sizes):
            rows.append(
                {
                    "model_examples": model_size,
                    "landscape_examples": landscape_size,
                    "train_loss": float(nested[i, j]),
                    "train_accuracy": float(nested_accuracy[i, j]),
                    "test_loss": float(test_loss[i]),
                    "test_accuracy": float(test_accuracy[i]),
                    "parameters": int(landscape.dim),
                }
            )
    table = pd.DataFrame(rows)
    folder.write_table("nested_losses", table)

    # 4. loss along random rays, each minimum in its own training landscape
    slices = leaf_slices(initial)
    radii = np.linspace(0.0, config["rays"]["max_radius"], config["rays"]["radii"])
    ray_rows = []
    log("evaluating the loss along 64 random rays from each minimum")
    for i, size in enumerate(sizes):
        directions = layer_normalised_directions(jax.random.key(1), thetas[i], slices, config["rays"]["count"])
        points = thetas[i][None, None] + radii[None, :, None] * directions[:, None, :]
        own = landscape.subset(size)
        losses = np.asarray(own.loss_batch(points.reshape(-1, landscape.dim))).reshape(len(directions), len(radii))
        for r, radius in enumerate(radii):
            ray_rows.append(
                {
                    "model_examples": size,
                    "radius": float(radius),
                    "median_loss": float(np.median(losses[:, r])),
                    "q10_loss": float(np.quantile(losses[:, r], 0.1)),
                    "q90_loss": float(np.quantile(losses[:, r], 0.9)),
                }
            )
    rays = pd.DataFrame(ray_rows)
    folder.write_table("ray_losses", rays)

    figures = _figures(folder, model, minima, sizes, pool, table, rays)
    seconds = time.perf_counter() - started
    summary = (
        f"{len(sizes)} minima of a {landscape.dim}-parameter MLP trained from one initialisation on nested "
        f"two-spirals data ({', '.join(map(str, sizes))} examples), each evaluated in every nested landscape "
        f"and along 64 random rays; {seconds:.0f} s."
    )
    report = write_report(
        folder.path("report.html"),
        title="landform demo: minima on nested data",
        summary=summary,
        config=config,
        tables={"minima in nested landscapes": table, "loss along random rays": rays.iloc[::5]},
        figures=figures,
    )
    log(f"demo finished in {seconds:.1f} s")
    return report


def _figures(folder: RunFolder, model, minima, sizes, pool, table: pd.DataFrame, rays: pd.DataFrame) -> list[Figure]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = plt.cm.viridis(np.linspace(0, 0.9, len(sizes)))
    figures = []

    # decision regions
    fig, axes = plt.subplots(1, len(sizes), figsize=(3.1 * len(sizes), 3.2), sharex=True, sharey=True)
    grid = np.linspace(-16, 16, 160)
    gx, gy = np.meshgrid(grid, grid)
    points = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], axis=1), jnp.float32)
    for ax, size in zip(np.atleast_1d(axes), sizes):
        logits = np.asarray(model.apply(minima[size], points)).reshape(gx.shape)
        ax.contourf(gx, gy, logits > 0, levels=[-0.5, 0.5, 1.5], colors=["#cfe0f3", "#f6d3c4"])
        xs, ys = pool.x[:size], pool.y[:size]
        ax.scatter(xs[:, 0], xs[:, 1], c=np.where(ys == 1, "#c0392b", "#2c5fa8"), s=6)
        ax.set_title(f"trained on {size}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("decision regions of the minima (training points shown)", y=1.04)
    figures.append(Figure(folder.save_figure("decision_regions", fig), "Each minimum's decision regions with the examples it was trained on."))

    # each minimum across nested landscapes
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for colour, size in zip(colours, sizes):
        rows = table[table.model_examples == size]
        left.plot(rows.landscape_examples, rows.train_loss, "o-", color=colour, label=f"minimum of {size}")
    _log_ticks(left, sizes)
    left.set_yscale("log")
    left.set_xlabel("landscape size (examples)")
    left.set_ylabel("mean loss in that landscape")
    left.set_title("each minimum in the nested landscapes")
    left.legend(fontsize=8)
    per_model = table.drop_duplicates("model_examples")
    right.plot(per_model.model_examples, per_model.test_accuracy, "o-", color="#2c5fa8", label="test accuracy")
    _log_ticks(right, sizes)
    right.set_xlabel("training examples of the minimum")
    right.set_ylabel("test accuracy", color="#2c5fa8")
    twin = right.twinx()
    twin.plot(per_model.model_examples, per_model.test_loss, "s--", color="#c0392b", label="test loss")
    twin.set_ylabel("test loss", color="#c0392b")
    right.set_title("generalisation of each minimum")
    fig.tight_layout()
    figures.append(Figure(folder.save_figure("nested_landscapes", fig), "Left: loss of each minimum in every nested landscape (prefix means of one evaluation). Right: test accuracy and loss against training-set size."))

    # loss along random rays
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for colour, size in zip(colours, sizes):
        rows = rays[rays.model_examples == size]
        ax.plot(rows.radius, rows.median_loss, color=colour, label=f"minimum of {size}")
        ax.fill_between(rows.radius, rows.q10_loss, rows.q90_loss, color=colour, alpha=0.15)
    ax.set_yscale("log")
    ax.set_xlabel("radius along a layer-normalised random ray")
    ax.set_ylabel("loss in the minimum's own training landscape")
    ax.set_title("loss along 64 random rays (median, 10–90 %)")
    ax.legend(fontsize=8)
    figures.append(Figure(folder.save_figure("random_rays", fig), "Loss along random rays from each minimum in its own training landscape: the further the loss stays low, the larger the basin."))
    return figures


def _log_ticks(ax, values) -> None:
    """A log x-axis labelled with the given values only."""
    from matplotlib.ticker import NullFormatter, NullLocator

    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(values, [str(v) for v in values])
