"""The figures of the minima-volume study (:mod:`landform.studies.volume`; Fan, Sandlund, Ko 2025,
arXiv 2511.04808), drawn from its tables and exit radii.

- ``A_fixed_landscape``: (A) each minimum's mean log exit radius (stable in high dimension) and
  log-volume in one fixed landscape against the size of its own training set, and test loss
  against log-volume; unreliable log-volumes are marked;
- ``B_across_landscapes``: (B) each minimum's log-volume in every landscape up to its cutoff,
  with the power-law fit log V ≈ c + b·log n of the minima found in their own landscapes;
- ``radius_histograms``: the exit radii of each minimum in its own landscape;
- ``ranking_stability``: the probability that k random directions rank the minima as all do.
- ``rank_correlations`` (with a ``measures`` section): Kendall τ of each measure with test loss
  and with the generalisation gap, with bootstrap intervals over minima.

(:func:`fixed_landscape_run_figure` and :func:`across_landscapes_run_figure` draw one run's
table; :mod:`landform.studies.analysis` has figures of the same names across the runs of a sweep.)

Each ``*_figure`` function returns a matplotlib figure (or None when it has nothing to draw);
:func:`volume_figures` saves them into the run folder with their captions.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from landform.store import Figure, RunFolder
from landform.studies.analysis import rank_correlation_figure
from landform.studies.common import log_linear_fit
from landform.views.figures import log_ticks


class RadiusHistogram(NamedTuple):
    """The exit radii of one minimum in its own landscape, at the smallest threshold."""

    model_level: int
    model_seed: int
    arm: str
    checkpoint: str
    radii: np.ndarray  # (K,)


def volume_figures(
    run_folder: RunFolder,
    table: pd.DataFrame,
    stability: pd.DataFrame,
    histograms: list[RadiusHistogram],
    *,
    threshold: float,
    fixed_examples: int,
    correlations: pd.DataFrame | None = None,
) -> list[Figure]:
    """Draw and save the study's figures from the tables ``volumes`` (``table``) and
    ``ranking_stability`` and the exit radii in ``histograms``, at ``threshold`` (τ), with
    the landscape of ``fixed_examples`` examples as figure A's fixed landscape, and the rank
    correlations of the measures with generalisation (``rank_correlations``) when given."""
    import matplotlib

    matplotlib.use("Agg")

    figures: list[Figure] = []
    figure = fixed_landscape_run_figure(table, threshold, fixed_examples)
    caption = (
        f"(A) Left: the mean log exit radius of every minimum in the fixed {fixed_examples}-example landscape "
        "against the size of its own training set, with its percentile bootstrap over directions: a statistic that "
        "stays stable in high dimension. Middle: the paper's log-volume (thin: one trace per seed; thick: mean ± std "
        "over seeds; circled: the landscape's own minimum; red crosses: log-volumes resting on too few effective "
        "rays to be trusted). Right: test loss against log-volume."
    )
    figures.append(Figure(run_folder.save_figure("A_fixed_landscape", figure), caption))
    figure = across_landscapes_run_figure(table, threshold)
    caption = (
        "(B) Each minimum's mean log exit radius (left, stable in high dimension) and log-volume (right) in every "
        "landscape it lies in (up to its cutoff), coloured by its test accuracy; "
        "dashed: the minima training finds in their own landscapes, with a power-law fit; red crosses: "
        "log-volumes resting on too few effective rays to be trusted."
    )
    figures.append(Figure(run_folder.save_figure("B_across_landscapes", figure), caption))
    if histograms:
        figure = radius_histograms_figure(histograms, threshold)
        caption = "Distribution of exit radii of each minimum in its own landscape."
        figures.append(Figure(run_folder.save_figure("radius_histograms", figure), caption))
    if not stability.empty:
        figure = ranking_stability_figure(stability, threshold)
        caption = "Probability that k random directions rank the minima as all directions do."
        figures.append(Figure(run_folder.save_figure("ranking_stability", figure), caption))
    if correlations is not None and not correlations.empty:
        figure = rank_correlation_figure(correlations)
        caption = (
            "Which measure predicts generalisation: Kendall τ over minima between each measure (in the minimum's own "
            "landscape) and its test loss (left) or generalisation gap = test − train loss (right), with percentile "
            "bootstrap intervals over minima (Jiang et al. 2020). τ > 0: larger values go with worse generalisation."
        )
        figures.append(Figure(run_folder.save_figure("rank_correlations", figure), caption))
    return figures


MARKERS = "os^Dv<>"


def fixed_landscape_run_figure(table: pd.DataFrame, threshold: float, fixed_examples: int):
    """(A) Left: log-volume in the landscape of ``fixed_examples`` examples against the training
    examples of each minimum (final parameters, at ``threshold``); right: test loss against it."""
    import matplotlib.pyplot as plt

    final = table[(table.threshold == threshold) & (table.checkpoint == "final")]
    arms = list(dict.fromkeys(table.arm))
    fig, (radius, left, right) = plt.subplots(1, 3, figsize=(16, 4))
    scatter = None
    for index, arm in enumerate(arms):
        rows = final[(final.landscape_examples == fixed_examples) & (final.arm == arm)]
        if rows.empty:
            continue
        marker = MARKERS[index % 7]
        for seed, group in rows.groupby("model_seed"):
            group = group.sort_values("model_examples")
            left.plot(group.model_examples, group.log_volume, marker=marker, alpha=0.35, lw=1, color=f"C{index}")
            _radius_trace(radius, group, "model_examples", f"C{index}", marker, f"{arm}, seed {seed}")
        _mark_unreliable(left, rows, "model_examples", first=index == 0)
        stats = rows.groupby("model_examples").log_volume.agg(["mean", "std"]).reset_index()
        label = f"{arm}: mean ± std" if len(arms) > 1 else "mean ± std"
        left.errorbar(
            stats.model_examples,
            stats["mean"],
            yerr=stats["std"].fillna(0),
            color=f"C{index}",
            lw=2.2,
            capsize=3,
            label=label,
        )
        own = stats[stats.model_examples == fixed_examples]
        own_label = "the landscape's own minimum" if index == 0 else None
        left.scatter(
            own.model_examples, own["mean"], s=160, facecolors="none", edgecolors="k", zorder=5, label=own_label
        )
        colours = np.log10(rows.model_examples)
        scatter = right.scatter(
            rows.log_volume,
            rows.test_loss,
            c=colours,
            cmap="viridis",
            marker=marker,
            label=arm if len(arms) > 1 else None,
        )
    if left.has_data():
        log_ticks(left, sorted(final.model_examples.unique()))
        log_ticks(radius, sorted(final.model_examples.unique()))
    else:
        left.text(
            0.5, 0.5, "no minimum lies inside this landscape's τ-sublevel set", ha="center", transform=left.transAxes
        )
    radius.set_xlabel("training examples of the minimum")
    radius.set_ylabel("mean log exit radius")
    radius.set_title("mean log radius (bars: bootstrap over directions)")
    if radius.get_legend_handles_labels()[0]:
        radius.legend(fontsize=7)
    left.set_xlabel("training examples of the minimum")
    left.set_ylabel(f"log volume in the {fixed_examples}-example landscape")
    left.set_title(f"(A) volume in a fixed landscape, τ = {threshold}")
    if left.get_legend_handles_labels()[0]:
        left.legend(fontsize=8)
    right.set_xlabel("log volume")
    right.set_ylabel("test loss")
    right.set_title("test loss against volume")
    if scatter is not None:
        fig.colorbar(scatter, ax=right, label="log10 training examples")
    fig.tight_layout()
    return fig


def across_landscapes_run_figure(table: pd.DataFrame, threshold: float):
    """(B) Log-volume of each minimum (final parameters of the first arm, at ``threshold``)
    in every landscape it lies in, coloured by test accuracy, with the minima found in their
    own landscapes and their power-law fit."""
    import matplotlib
    import matplotlib.pyplot as plt

    final = table[(table.threshold == threshold) & (table.checkpoint == "final")]
    arms = list(dict.fromkeys(table.arm))
    fig, (radius, ax) = plt.subplots(1, 2, figsize=(14, 4.6))
    first_arm = final[final.arm == arms[0]]
    inside = first_arm[first_arm.status != "outside"]
    accuracy_known = final.test_accuracy.notna().any()
    norm = matplotlib.colors.Normalize(
        vmin=np.nanmin(final.test_accuracy) if accuracy_known else 0,
        vmax=np.nanmax(final.test_accuracy) if accuracy_known else 1,
    )
    for _, group in inside.groupby(["model_seed", "model_level"]):
        group = group.sort_values("landscape_examples")
        accuracy = group.test_accuracy.iloc[0]
        colour = plt.cm.plasma(norm(accuracy)) if np.isfinite(accuracy) else "grey"
        ax.plot(group.landscape_examples, group.log_volume, "-o", ms=3, color=colour, alpha=0.8)
        if "mean_log_radius" in group:
            radius.plot(group.landscape_examples, group.mean_log_radius, "-o", ms=3, color=colour, alpha=0.8)
    _mark_unreliable(ax, inside, "landscape_examples", first=True)
    if radius.has_data():
        log_ticks(radius, sorted(table.landscape_examples.unique()))
    radius.set_xlabel("landscape size (examples)")
    radius.set_ylabel("mean log exit radius")
    radius.set_title("mean log radius across landscapes")
    found = inside[inside.landscape_examples == inside.model_examples].groupby("landscape_examples").log_volume.mean()
    if not found.empty:
        ax.plot(found.index, found.values, "k--", lw=2, label="minima found by training (own landscape)")
        intercept, slope, _ = log_linear_fit(np.log(found.index.to_numpy(float)), found.to_numpy(float))
        if np.isfinite(slope):
            xs = np.geomspace(found.index.min(), found.index.max(), 50)
            ax.plot(
                xs, intercept + slope * np.log(xs), color="#c0392b", lw=1.2, label=f"power-law fit: V ∝ n^{slope:.2f}"
            )
    if ax.has_data():
        log_ticks(ax, sorted(table.landscape_examples.unique()))
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no minimum lies inside any landscape's τ-sublevel set", ha="center", transform=ax.transAxes)
    ax.set_xlabel("landscape size (examples)")
    ax.set_ylabel("log volume")
    ax.set_title(f"(B) each minimum across landscapes up to its cutoff, τ = {threshold}")
    mappable = plt.cm.ScalarMappable(norm=norm, cmap="plasma")
    fig.colorbar(mappable, ax=ax, label="test accuracy")
    fig.tight_layout()
    return fig


def _radius_trace(ax, rows: pd.DataFrame, x: str, colour: str, marker: str, label: str) -> None:
    """Mean log exit radius against ``x`` with its bootstrap interval, for one seed."""
    if "mean_log_radius" not in rows:
        return
    low = rows.mean_log_radius - rows.mean_log_radius_low
    high = rows.mean_log_radius_high - rows.mean_log_radius
    errors = np.vstack([low.fillna(0).clip(lower=0), high.fillna(0).clip(lower=0)])
    ax.errorbar(
        rows[x],
        rows.mean_log_radius,
        yerr=errors,
        marker=marker,
        ms=4,
        lw=1,
        capsize=2,
        color=colour,
        alpha=0.8,
        label=label,
    )


def _mark_unreliable(ax, rows: pd.DataFrame, x: str, *, first: bool) -> None:
    """Red crosses on the log-volumes that rest on too few rays (``log_volume_reliable`` False)."""
    if "log_volume_reliable" not in rows:
        return
    flagged = rows[~rows.log_volume_reliable.astype(bool) & rows.log_volume.notna()]
    if len(flagged):
        label = "unreliable: few effective rays" if first else None
        ax.scatter(flagged[x], flagged.log_volume, marker="x", s=60, color="#c0392b", zorder=6, label=label)


def radius_histograms_figure(histograms: list[RadiusHistogram], threshold: float):
    """Histograms of the exit radii of the final minima of the first histogram's seed and arm,
    one per level."""
    import matplotlib.pyplot as plt

    first = histograms[0]
    chosen = [
        h for h in histograms if h.model_seed == first.model_seed and h.arm == first.arm and h.checkpoint == "final"
    ]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(chosen)))
    for colour, histogram in zip(colours, chosen):
        radii = histogram.radii[np.isfinite(histogram.radii) & (histogram.radii > 0)]
        if radii.size:
            ax.hist(radii, bins=30, histtype="step", lw=1.6, color=colour, label=f"level {histogram.model_level}")
    ax.set_xlabel("exit radius (own landscape)")
    ax.set_ylabel("rays")
    ax.set_title(f"exit radii per minimum (seed {chosen[0].model_seed}, τ = {threshold})")
    ax.legend(fontsize=8)
    return fig


def ranking_stability_figure(stability: pd.DataFrame, threshold: float):
    """Probability of the full ranking against the number of directions k, one line per landscape."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    rows = stability[(stability.threshold == threshold) & (stability.checkpoint == "final")]
    for size, group in rows.groupby("landscape_examples"):
        curve = group.groupby("directions").probability.mean()
        ax.plot(curve.index, curve.values, "-o", ms=3, label=f"{size}-example landscape")
    if ax.has_data():
        ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("number of directions k")
    ax.set_ylabel("P(same ranking as all directions)")
    ax.set_title("ranking stability of the minima's volumes")
    ax.legend(fontsize=7)
    return fig


__all__ = [
    "MARKERS",
    "RadiusHistogram",
    "across_landscapes_run_figure",
    "fixed_landscape_run_figure",
    "radius_histograms_figure",
    "ranking_stability_figure",
    "volume_figures",
]
