"""`landform demo`: the two systems landform reproduces, at toy size, in a few minutes.

1. Minima volume (Fan, Sandlund, Ko 2025): the quick variant of
   ``configs/volume/swiss_roll_low_data.yaml`` — minima trained from one initialisation on
   nested two-spirals data, random rays from each, exit radii in every nested landscape,
   volumes, cutoffs; figures (A) and (B), plus the decision regions of the minima.

The run folder holds each study's own run (with its cached stages, so a second ``landform demo``
is fast) and one report, ``report.html``, that gathers the figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from landform.run import Figure, RunFolder, write_report
from landform.studies import volume

# The quick variant of configs/volume/swiss_roll_low_data.yaml (tests check they agree).
VOLUME_SETTINGS = {
    "study": "volume",
    "name": "swiss_roll_low_data",
    "variant": "quick",
    "description": "Swiss roll, low data — minima trained on 20 to 400 examples",
    "data": {"dataset": "swiss_roll", "options": {"n_train": 2000, "n_test": 2000, "noise": 0.3}, "base": 20, "levels": [0, 30, 80, 180, 380]},
    "model": {"name": "mlp", "hidden": [32, 32, 32, 32, 32], "outputs": 1, "activation": "relu"},
    "loss": "binary_cross_entropy",
    "train": {"optimizer": "adamw", "learning_rate": 0.001, "weight_decay": 0.01, "epochs": 1000, "eval_every": 50},
    "volume": {"directions": 100, "normalization": "filter_scale", "thresholds": [0.05, 0.1], "max_radius": 100.0, "bootstrap": 100},
    "seeds": {"model": [0, 1], "data": [0, 1]},
}

# An even smaller run for the test suite.
TINY_OVERRIDES = {"data": {"levels": [0, 80]}, "train": {"epochs": 300}, "volume": {"directions": 20}, "seeds": {"model": [0], "data": [0]}}


def run_demo(
    out: str | Path = "runs/demo",
    *,
    quick: bool = False,
    progress=True,
    log: Callable[[str], None] = print,
) -> Path:
    """Run the demo into ``out`` and return the path of its HTML report."""
    from landform.studies.config import merge

    started = time.perf_counter()
    folder = RunFolder(out)
    settings = merge(VOLUME_SETTINGS, TINY_OVERRIDES) if quick else VOLUME_SETTINGS
    config = volume.Config.model_validate(settings)
    folder.write_json("config.json", {"volume": config.model_dump()})

    log("[1/1] minima volume on nested two-spirals data")
    volume_report = volume.run(config, folder.path("volume"), progress=progress, log=log)
    volume_folder = volume_report.parent
    figures = [
        Figure(volume_folder / "figures" / "A_fixed_landscape.png", "(A) Log-volume of every minimum in the fixed 20-example landscape against the size of its training set, and test loss against volume. Minima found on little data are large and generalise badly."),
        Figure(volume_folder / "figures" / "B_across_landscapes.png", "(B) Each minimum's log-volume across the nested landscapes it lies in, coloured by test accuracy, with the minima training finds in their own landscapes."),
        Figure(volume_folder / "figures" / "radius_histograms.png", "Exit radii of each minimum's rays in its own landscape."),
        _decision_regions(folder, config, volume_folder),
    ]
    import pandas as pd

    table = pd.read_parquet(volume_folder / "tables" / "volumes.parquet")
    base = config.data.base + config.figure_landscape
    tau = config.volume.thresholds[-1]
    headline = (
        table[(table.landscape_examples == base) & (table.threshold == tau)]
        .groupby("model_examples")[["log_volume", "mean_log_radius", "test_loss", "test_accuracy"]]
        .mean()
        .reset_index()
    )
    seconds = time.perf_counter() - started
    report = write_report(
        folder.path("report.html"),
        title="landform demo",
        summary=(
            f"Minima of a {int(table.parameters.iloc[0])}-parameter MLP trained on nested two-spirals data "
            f"({', '.join(map(str, config.sizes))} examples, {len(config.seeds.pairs())} seeds), "
            f"{config.volume.directions} filter-normalised rays each; total {seconds:.0f} s. "
            f"Full study report: {volume_report.relative_to(folder.root)}."
        ),
        tables={f"mean over seeds in the {base}-example landscape, τ = {tau}": headline},
        figures=figures,
        config={"volume": config.model_dump()},
    )
    log(f"demo finished in {seconds:.1f} s")
    return report


def _decision_regions(folder: RunFolder, config, volume_folder: Path) -> Figure:
    """The decision regions of the first seed's minima, with the examples each was trained on."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from landform.train import load_trained

    stages = volume_folder / "stages"
    trained = {}
    for marker in stages.glob("train-*/_stage.json"):
        inputs = json.loads(marker.read_text())["inputs"]
        if inputs["model_seed"] == config.seeds.pairs()[0][0]:
            trained[inputs["size"]] = marker.parent
    data = next(stages.glob("data-*/data.npz"))
    with np.load(data) as arrays:
        pool_x, pool_y = arrays["pool_x"], arrays["pool_y"]
    sizes = sorted(trained)
    fig, axes = plt.subplots(1, len(sizes), figsize=(3.1 * len(sizes), 3.3), sharex=True, sharey=True)
    grid = np.linspace(-16, 16, 160)
    gx, gy = np.meshgrid(grid, grid)
    points = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], axis=1), jnp.float32)
    for ax, size in zip(np.atleast_1d(axes), sizes):
        model, params, _ = load_trained(trained[size] / "final")
        logits = np.asarray(model.apply(params, points)).reshape(gx.shape)
        ax.contourf(gx, gy, logits > 0, levels=[-0.5, 0.5, 1.5], colors=["#cfe0f3", "#f6d3c4"])
        ax.scatter(pool_x[:size, 0], pool_x[:size, 1], c=np.where(pool_y[:size] == 1, "#c0392b", "#2c5fa8"), s=6)
        ax.set_title(f"trained on {size}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("decision regions of the minima (training examples shown)", y=1.04)
    return Figure(folder.save_figure("decision_regions", fig), "Decision regions of the first seed's minima, each with the examples it was trained on.")
