"""The minima-volume paper's figures across the runs of a sweep, mean ± std over seeds (Fan,
Sandlund, Ko 2025, "Sharp Minima Can Generalize", arXiv 2511.04808): (A) minima trained on n
examples, all measured in one fixed landscape; (B) each minimum's log-volume in growing
landscapes up to its cutoff.

The volume study draws its own run's figures (A) and (B) in
:mod:`landform.studies.volume_figures`; the figures here take the collected tables of a sweep.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from landform.errors import ConfigError
from landform.studies.analysis.statistics import _columns, _groups, _list, mean_std

VOLUME_COLUMNS = ("model_seed", "model_examples", "landscape_examples", "threshold", "log_volume", "status")


def _volume_rows(
    volumes: pd.DataFrame, threshold: float | None, statistic: str, extra: Sequence[str] = ()
) -> tuple[pd.DataFrame, float]:
    _columns(volumes, list(VOLUME_COLUMNS) + [statistic] + list(extra), "the volume analysis")
    tau = float(volumes["threshold"].min()) if threshold is None else float(threshold)
    rows = volumes[np.isclose(volumes["threshold"].astype(float), tau)]
    if rows.empty:
        raise ConfigError(
            f"no rows with threshold {tau}; thresholds in the table: {sorted(volumes['threshold'].unique())}"
        )
    if "checkpoint" in rows.columns:
        rows = rows[rows["checkpoint"] == "final"] if (rows["checkpoint"] == "final").any() else rows
    return rows[rows["status"] != "outside"], tau


def fixed_landscape(
    volumes: pd.DataFrame,
    *,
    landscape_examples: int | None = None,
    threshold: float | None = None,
    statistic: str = "log_volume",
    by: str | Sequence[str] = (),
) -> pd.DataFrame:
    """Volumes of minima trained on different amounts of data, measured in one landscape.

    Fan, Sandlund, Ko (2025), figure (A): for the landscape of ``landscape_examples`` examples
    (default: the smallest) and threshold τ (default: the smallest), the mean and std over model
    seeds of ``statistic`` for each training-set size ``model_examples`` (and each value of the
    ``by`` columns, e.g. ``arm``), with the test accuracy's mean and std where the table has it.
    Rows whose minimum lies outside the τ-sublevel set of that landscape are left out; ``n``
    counts the seeds that remain.
    """
    by = _list(by)
    rows, tau = _volume_rows(volumes, threshold, statistic, by)
    size = int(rows["landscape_examples"].min()) if landscape_examples is None else int(landscape_examples)
    rows = rows[rows["landscape_examples"] == size]
    metrics = (
        [statistic]
        + (["test_accuracy"] if "test_accuracy" in rows.columns else [])
        + (["test_loss"] if "test_loss" in rows.columns else [])
    )
    out = mean_std(rows, by + ["model_examples"], metrics)
    out.insert(0, "landscape_examples", size)
    out.insert(1, "threshold", tau)
    return out


def across_landscapes(
    volumes: pd.DataFrame,
    *,
    threshold: float | None = None,
    statistic: str = "log_volume",
    by: str | Sequence[str] = (),
) -> pd.DataFrame:
    """Each minimum's volume in every landscape it lies in, mean ± std over seeds.

    Fan, Sandlund, Ko (2025), figure (B): for threshold τ (default: the smallest), per
    (``by``, ``model_examples``, ``landscape_examples``) the mean, std and count over model seeds
    of ``statistic``, over the rows inside the τ-sublevel set (up to each minimum's cutoff);
    ``own`` marks the minimum's own landscape (landscape_examples == model_examples).
    """
    by = _list(by)
    rows, tau = _volume_rows(volumes, threshold, statistic, by)
    metrics = [statistic] + (["test_accuracy"] if "test_accuracy" in rows.columns else [])
    out = mean_std(rows, by + ["model_examples", "landscape_examples"], metrics)
    out.insert(0, "threshold", tau)
    out["own"] = out["landscape_examples"] == out["model_examples"]
    return out


def sweep_fixed_landscape_figure(
    volumes: pd.DataFrame,
    *,
    landscape_examples: int | None = None,
    threshold: float | None = None,
    statistic: str = "log_volume",
    by: str | Sequence[str] = (),
):
    """Figure (A) across seeds: mean ± std log-volume against training-set size; test accuracy against log-volume."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = _list(by)
    summary = fixed_landscape(
        volumes, landscape_examples=landscape_examples, threshold=threshold, statistic=statistic, by=by
    )
    rows, tau = _volume_rows(volumes, threshold, statistic, by)
    size = int(summary["landscape_examples"].iloc[0]) if len(summary) else landscape_examples
    rows = rows[rows["landscape_examples"] == size]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for index, (label, part) in enumerate(_groups(summary, by)):
        part = part.sort_values("model_examples")
        left.errorbar(
            part["model_examples"],
            part[f"{statistic}_mean"],
            yerr=part[f"{statistic}_std"].fillna(0),
            marker="o",
            capsize=3,
            color=f"C{index}",
            label=label or "mean ± std over seeds",
        )
    for index, (label, part) in enumerate(_groups(rows, by)):
        if "test_accuracy" in part.columns:
            right.scatter(
                part[statistic],
                part["test_accuracy"],
                c=np.log10(part["model_examples"].astype(float)),
                cmap="viridis",
                marker="os^Dv"[index % 5],
                label=label or None,
            )
    left.set_xscale("log")
    left.set_xlabel("training examples of the minimum")
    left.set_ylabel(f"{statistic.replace('_', ' ')} in the {size}-example landscape")
    left.set_title(f"(A) fixed landscape, τ = {tau:g}, mean ± std over seeds")
    left.legend(fontsize=8)
    right.set_xlabel(statistic.replace("_", " "))
    right.set_ylabel("test accuracy")
    right.set_title("test accuracy against volume (every seed)")
    fig.tight_layout()
    return fig


def sweep_across_landscapes_figure(
    volumes: pd.DataFrame,
    *,
    threshold: float | None = None,
    statistic: str = "log_volume",
    by: str | Sequence[str] = (),
):
    """Figure (B) across seeds: each minimum's mean ± std log-volume in growing landscapes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = _list(by)
    summary = across_landscapes(volumes, threshold=threshold, statistic=statistic, by=by)
    tau = float(summary["threshold"].iloc[0]) if len(summary) else float("nan")
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    accuracy = "test_accuracy_mean" in summary.columns and summary["test_accuracy_mean"].notna().any()
    norm = (
        matplotlib.colors.Normalize(summary["test_accuracy_mean"].min(), summary["test_accuracy_mean"].max())
        if accuracy
        else None
    )
    styles = ["-", "--", ":", "-."]
    for index, (label, part) in enumerate(_groups(summary, by)):
        for size, curve in part.groupby("model_examples"):
            curve = curve.sort_values("landscape_examples")
            colour = (
                plt.cm.plasma(norm(curve["test_accuracy_mean"].iloc[0]))
                if accuracy and np.isfinite(curve["test_accuracy_mean"].iloc[0])
                else "grey"
            )
            mean, std = curve[f"{statistic}_mean"], curve[f"{statistic}_std"].fillna(0)
            ax.plot(
                curve["landscape_examples"],
                mean,
                styles[index % 4],
                marker="o",
                ms=3,
                color=colour,
                label=f"{label}" if size == part["model_examples"].min() and label else None,
            )
            ax.fill_between(curve["landscape_examples"], mean - std, mean + std, color=colour, alpha=0.12)
        own = part[part["own"]].sort_values("landscape_examples")
        if len(own):
            ax.plot(
                own["landscape_examples"],
                own[f"{statistic}_mean"],
                "k",
                ls=styles[index % 4],
                lw=2,
                label="own landscape" + (f" ({label})" if label else ""),
            )
    ax.set_xscale("log")
    ax.set_xlabel("landscape size (examples)")
    ax.set_ylabel(statistic.replace("_", " "))
    ax.set_title(f"(B) minima across landscapes, τ = {tau:g}, mean ± std over seeds")
    if accuracy:
        fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap="plasma"), ax=ax, label="test accuracy (mean)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
