"""The figures of the loss-tunnel study (:mod:`landform.studies.paths`), drawn from its tables.

- ``loss_along_curve``: train and test loss along each trained curve (mean over seeds), and
  along the straight line between fixed ends;
- ``length_against_degree``: arc length S against the degree K on log-log axes, with the
  power-law fits S ≈ a·K^b of the ``length_fits`` table (Dold et al. 2025, arXiv 2503.03382);
- ``geometry_during_training``: length, its bounds, gyration radius, curvature and validation
  loss against the training step;
- ``curve_predictive``: the regression functions along one curve with 1-D inputs.

Each ``*_figure`` function returns a matplotlib figure; :func:`paths_figures` saves them into
the run folder with their captions.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from landform.data import Split
from landform.store import Figure, RunFolder
from landform.views.figures import log_ticks


class CurveFunctions(NamedTuple):
    """The predictive functions of networks along one trained curve with 1-D inputs, and its data."""

    setting: int  # the setting of the curve (its ``setting`` in the tables)
    seed: int
    values: Any  # landform.paths.Predictive: the functions of the networks at 40 values of t
    train: Split
    test: Split | None


def paths_figures(
    run_folder: RunFolder,
    table: pd.DataFrame,
    along_table: pd.DataFrame,
    history_table: pd.DataFrame,
    fits: pd.DataFrame,
    predictive: CurveFunctions | None,
    *,
    grid_fields: list[str],
    fit_group: str | None,
    fixed_ends: bool,
) -> list[Figure]:
    """Draw and save the study's figures from the tables ``curves`` (``table``), ``along_curve``,
    ``history`` and ``length_fits``; ``grid_fields`` label the settings, ``fit_group`` groups the
    length fits, ``fixed_ends`` says whether the straight lines between the ends were measured."""
    import matplotlib

    matplotlib.use("Agg")

    figures: list[Figure] = []
    figure = loss_along_curve_figure(table, along_table, grid_fields, fixed_ends)
    figures.append(
        Figure(
            run_folder.save_figure("loss_along_curve", figure),
            "Loss of the networks along each trained curve (solid) and, for fixed ends, along the straight line "
            "between them (dashed).",
        )
    )
    if table.degree.nunique() >= 2:
        figure = length_against_degree_figure(table, fits, fit_group)
        figures.append(
            Figure(
                run_folder.save_figure("length_against_degree", figure),
                "Arc length of the trained curves against their degree K on log-log axes, with fitted power laws.",
            )
        )
    figure = geometry_during_training_figure(table, history_table, grid_fields)
    figures.append(
        Figure(
            run_folder.save_figure("geometry_during_training", figure),
            "Length, its lower (chord) and upper (control polygon) bounds, gyration radius, mean curvature and "
            "validation loss during training (mean over seeds).",
        )
    )
    if predictive is not None:
        figure = curve_predictive_figure(predictive, setting_label(table, predictive.setting, grid_fields))
        figures.append(
            Figure(
                run_folder.save_figure("curve_predictive", figure),
                "The regression functions of 40 networks along a trained curve (colour: t), with the training data "
                "(and test points as crosses).",
            )
        )
    return figures


def loss_along_curve_figure(table: pd.DataFrame, along_table: pd.DataFrame, grid_fields: list[str], fixed_ends: bool):
    """Train and test loss along the curve, mean over seeds, one line per setting (dashed: the
    straight line between fixed ends)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=False)
    for ax, split in zip(axes, ("train", "test")):
        rows = along_table[(along_table.split == split)]
        for (setting, curve_kind), group in rows.groupby(["setting", "curve"]):
            mean = group.groupby("t").loss.mean()
            name = setting_label(table, setting, grid_fields)
            style = "--" if curve_kind == "straight line" else "-"
            ax.plot(mean.index, mean.values, style, label=f"{name} ({curve_kind})" if fixed_ends else name)
        ax.set_xlabel("t")
        ax.set_ylabel(f"{split} loss")
        ax.set_title(f"{split} loss along the curve (mean over seeds)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def length_against_degree_figure(table: pd.DataFrame, fits: pd.DataFrame, fit_group: str | None):
    """Arc length against the degree K, log-log, with the fitted power law of each group."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    groups = table.groupby(fit_group) if fit_group else [("all", table)]
    for i, (key, group) in enumerate(groups):
        ax.scatter(group.degree, group.length, s=14, alpha=0.6, color=f"C{i}")
        fit = fits[fits.group == str(key)]
        if len(fit) and np.isfinite(fit.exponent.iloc[0]):
            degrees = np.geomspace(group.degree.min(), group.degree.max(), 40)
            exponent = fit.exponent.iloc[0]
            ax.plot(
                degrees,
                fit.prefactor.iloc[0] * degrees**exponent,
                color=f"C{i}",
                label=f"{key}: S ∝ K^{exponent:.2f}",
            )
    log_ticks(ax, sorted(table.degree.unique()))
    ax.set_yscale("log")
    ax.set_xlabel("degree K")
    ax.set_ylabel("arc length S")
    ax.set_title("curve length against K")
    ax.legend(fontsize=8)
    return fig


GEOMETRY_FIELDS = ("length", "chord", "polygon_length", "gyration_radius", "mean_curvature", "validation_loss")


def geometry_during_training_figure(table: pd.DataFrame, history_table: pd.DataFrame, grid_fields: list[str]):
    """The curve's geometry and validation loss against the training step, mean over seeds."""
    import matplotlib.pyplot as plt

    fields = [f for f in GEOMETRY_FIELDS if f in history_table.columns]
    fig, axes = plt.subplots(1, len(fields), figsize=(3.2 * len(fields), 3.2))
    for ax, field in zip(np.atleast_1d(axes), fields):
        for setting, group in history_table.groupby("setting"):
            mean = group.groupby("step")[field].mean()
            ax.plot(mean.index, mean.values, label=setting_label(table, setting, grid_fields))
        ax.set_xlabel("step")
        ax.set_title(field.replace("_", " "))
        if field in ("validation_loss",) and (history_table[field] > 0).all():
            ax.set_yscale("log")
    np.atleast_1d(axes)[0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def curve_predictive_figure(predictive: CurveFunctions, name: str):
    """The functions along one curve over the training data (test points as crosses); ``name``
    labels the curve's setting in the title."""
    import matplotlib.pyplot as plt

    from landform.paths.plots import plot_curve_predictive

    fig, ax = plt.subplots(figsize=(7, 4))
    plot_curve_predictive(ax, predictive.values, x_data=predictive.train.x, y_data=predictive.train.y)
    test = predictive.test
    if test is not None:
        ax.scatter(test.x[:, 0], np.asarray(test.y).reshape(len(test), -1)[:, 0], s=10, c="k", marker="x", label="test")
    ax.set_title(f"functions along a trained curve ({name}, seed {predictive.seed})", fontsize=10)
    return fig


def setting_label(table: pd.DataFrame, setting: int, fields: list[str]) -> str:
    """A setting's grid values as ``field=value, ...`` (the last part of each dotted field)."""
    rows = table[table.setting == setting]
    if not fields or rows.empty:
        return "curve"
    return ", ".join(f"{f.split('.')[-1]}={rows[f].iloc[0]}" for f in fields if f in rows.columns)
