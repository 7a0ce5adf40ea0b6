"""`landform demo`: the two systems landform reproduces, at toy size, in a few minutes.

1. Minima volume (Fan, Sandlund, Ko 2025): the quick variant of
   ``configs/volume/swiss_roll_low_data.yaml`` — minima trained from one initialisation on
   nested two-spirals data, random rays from each, exit radii in every nested landscape,
   volumes, cutoffs; figures (A) and (B), plus the decision regions of the minima.
2. Paths and ambient spaces (Dold et al. 2025): the quick variant of
   ``configs/tunnels/showcase.yaml`` in tunnel and volume coordinates — a Bézier loss tunnel of
   K = 10 on the toy regression file, MCLMC in both spaces at T = 10; the curve predictive with
   posterior draws, and LPPD, RMSE, ESS and R-hat of tunnel against volume coordinates.

The run folder holds each study's own run (with its cached stages, so a second ``landform demo``
is fast) and one report, ``report.html``, that gathers the figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pandas as pd

from landform.errors import ConfigError
from landform.store import Figure, RunFolder, write_report
from landform.studies import load_config, tunnels, volume
from landform.studies.volume import layout

#: The shipped experiment configs (the repository's ``configs/`` folder).
CONFIGS = Path(__file__).resolve().parents[3] / "configs"
#: The demo's two studies: the quick variants of these configs, with these overrides.
VOLUME_CONFIG = ("volume/swiss_roll_low_data.yaml", [])
TUNNEL_CONFIG = ("tunnels/showcase.yaml", ["posterior.spaces=[tunnel, volume]"])
#: Even smaller runs for the test suite (``landform demo --quick``).
VOLUME_TINY_OVERRIDES = [
    "data.levels=[0, 80]",
    "train.epochs=300",
    "volume.directions=20",
    "seeds.model=[0]",
    "seeds.data=[0]",
]
TUNNEL_TINY_OVERRIDES = ["curve.steps=500", "sampler.num_warmup=200", "sampler.num_draws=100", "evaluation.loo=false"]


def demo_configs(quick: bool = False) -> tuple[volume.Config, tunnels.Config]:
    """The validated configs of the demo's volume and tunnel studies (read from ``configs/``)."""
    configs = []
    for (name, overrides), tiny in ((VOLUME_CONFIG, VOLUME_TINY_OVERRIDES), (TUNNEL_CONFIG, TUNNEL_TINY_OVERRIDES)):
        path = CONFIGS / name
        if not path.is_file():
            raise ConfigError(
                f"the demo reads its settings from {path}, which is missing; run it from a checkout of the "
                "landform repository (pip install -e .), where configs/ sits beside src/"
            )
        configs.append(load_config(path, "quick", overrides + (tiny if quick else []))[1])
    return configs[0], configs[1]


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
    config, tunnel_config = demo_configs(quick)
    folder.write_json("config.json", {"volume": config.model_dump(), "tunnels": tunnel_config.model_dump()})

    log("[1/2] minima volume on nested two-spirals data")
    volume_report = volume.run(config, folder.path("volume"), progress=progress, log=log)
    if config.reference is None:  # the volume section ends with reliable numbers, or says why not
        log(volume.reference_line(volume.reference_table([], pd.DataFrame())))
    volume_folder = volume_report.parent
    figures = [
        Figure(
            volume_folder / "figures" / "A_fixed_landscape.png",
            "(A) Log-volume of every minimum in the fixed 20-example landscape against the size of its training set, "
            "and test loss against volume. Minima found on little data are large and generalise badly.",
        ),
        Figure(
            volume_folder / "figures" / "B_across_landscapes.png",
            "(B) Each minimum's log-volume across the nested landscapes it lies in, coloured by test accuracy, "
            "with the minima training finds in their own landscapes.",
        ),
        Figure(
            volume_folder / "figures" / "radius_histograms.png",
            "Exit radii of each minimum's rays in its own landscape.",
        ),
        _decision_regions(folder, config, volume_folder),
    ]
    table = pd.read_parquet(volume_folder / "tables" / "volumes.parquet")
    base = config.data.base + config.figure_landscape
    tau = config.volume.thresholds[-1]
    headline = (
        table[(table.landscape_examples == base) & (table.threshold == tau)]
        .groupby("model_examples")[["log_volume", "mean_log_radius", "test_loss", "test_accuracy"]]
        .mean()
        .reset_index()
    )

    log("[2/2] a loss tunnel on the toy regression, sampled in tunnel and volume coordinates")
    tunnel_report = tunnels.run(tunnel_config, folder.path("tunnels"), progress=progress, log=log)
    tunnel_folder = tunnel_report.parent
    posteriors = pd.read_parquet(tunnel_folder / "tables" / "posteriors.parquet")
    comparison = posteriors[
        [
            c
            for c in (
                "space",
                "temperature",
                "validation_lppd",
                "test_lppd",
                "test_rmse",
                "ess_bulk_min",
                "rhat_max",
                "ess_per_gradient_evaluation",
                "chains_failed",
            )
            if c in posteriors.columns
        ]
    ]
    for name, caption in (
        (
            "predictive_with_draws",
            "The curve predictive: functions of networks along the trained tunnel (grey) and of posterior draws "
            "(blue, mean in red) in tunnel (left) and volume (right) coordinates, "
            "with the training (dots) and test (crosses) data.",
        ),
        (
            "coverage",
            "Prior (grey) and posterior (red) draws in the first two subspace coordinates, with the trained curve: "
            "tunnel coordinates keep the posterior near the tunnel.",
        ),
    ):
        path = tunnel_folder / "figures" / f"{name}.png"
        if path.exists():
            figures.append(Figure(path, caption))
    seconds = time.perf_counter() - started
    by_space = posteriors.set_index("space")
    lppd = ", ".join(
        f"{space} {by_space.loc[space, 'test_lppd']:.3f}"
        for space in by_space.index
        if "test_lppd" in by_space and np.isfinite(by_space.loc[space, "test_lppd"])
    )
    report = write_report(
        folder.path("report.html"),
        title="landform demo",
        summary=(
            f"(1) Minima of a {int(table.parameters.iloc[0])}-parameter MLP trained on nested two-spirals data "
            f"({', '.join(map(str, config.sizes))} examples, {len(config.seeds.pairs())} seeds), "
            f"{config.volume.directions} filter-normalised rays each. "
            f"(2) A Bézier loss tunnel of K = {tunnel_config.curve['degree']} on the toy regression file, "
            "sampled with MCLMC "
            f"({tunnel_config.sampler['num_chains']} chains) at T = {tunnel_config.posterior.temperatures[0]:g}; "
            f"test LPPD per point: {lppd or 'not available'}. "
            f"Total {seconds:.0f} s. Full study reports: {volume_report.relative_to(folder.root)}, "
            f"{tunnel_report.relative_to(folder.root)}."
        ),
        tables={
            f"minima volume: mean over seeds in the {base}-example landscape, τ = {tau}": headline,
            "tunnel against volume coordinates (same sampler budget)": comparison,
        },
        figures=figures,
        config={"volume": config.model_dump(), "tunnels": tunnel_config.model_dump()},
    )
    log(f"demo finished in {seconds:.1f} s")
    return report


def _decision_regions(folder: RunFolder, config, volume_folder: Path) -> Figure:
    """The decision regions of the first seed's minima, with the examples each was trained on."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from landform.train import load_trained

    stages = layout.stages_folder(volume_folder)
    trained = {}
    for stage, marker in layout.finished_stages(stages, layout.TRAIN_STAGE):
        inputs = marker["inputs"]
        if inputs["model_seed"] == config.seeds.pairs()[0][0]:
            trained[inputs["size"]] = stage
    data = next(
        path for path in map(layout.data_file, layout.stage_folders(stages, layout.DATA_STAGE)) if path.exists()
    )
    with np.load(data) as arrays:
        pool_x, pool_y = arrays[layout.POOL_X], arrays[layout.POOL_Y]
    sizes = sorted(trained)
    fig, axes = plt.subplots(1, len(sizes), figsize=(3.1 * len(sizes), 3.3), sharex=True, sharey=True)
    grid = np.linspace(-16, 16, 160)
    gx, gy = np.meshgrid(grid, grid)
    points = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], axis=1), jnp.float32)
    for ax, size in zip(np.atleast_1d(axes), sizes):
        model, params, _ = load_trained(trained[size] / layout.FINAL)
        logits = np.asarray(model.apply(params, points)).reshape(gx.shape)
        ax.contourf(gx, gy, logits > 0, levels=[-0.5, 0.5, 1.5], colors=["#cfe0f3", "#f6d3c4"])
        ax.scatter(pool_x[:size, 0], pool_x[:size, 1], c=np.where(pool_y[:size] == 1, "#c0392b", "#2c5fa8"), s=6)
        ax.set_title(f"trained on {size}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("decision regions of the minima (training examples shown)", y=1.04)
    return Figure(
        folder.save_figure("decision_regions", fig),
        "Decision regions of the first seed's minima, each with the examples it was trained on.",
    )
