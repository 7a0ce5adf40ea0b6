"""Plotting helpers for curves (each draws on a matplotlib Axes the caller owns).

Numerical modules return arrays; these functions only draw them, so studies and reports decide
where figures go.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from landform.paths.evaluation import CurveEvaluation, Predictive


def plot_curve_predictive(
    ax: Any,
    predictive: Predictive,
    *,
    x_data=None,
    y_data=None,
    output: int = 0,
    colormap: str = "viridis",
    show_sigma: bool = False,
    alpha: float = 0.6,
):
    """Draw the predicted mean of every network of ``predictive`` against x, coloured by t
    (one line per t, the "curve predictive" plot of Dold et al. 2025, arXiv 2503.03382), with
    the data as points. ``show_sigma`` shades mean ± σ for models with a learned σ."""
    import matplotlib.pyplot as plt

    x = np.asarray(predictive.x).reshape(len(predictive.x), -1)[:, 0]
    order = np.argsort(x)
    cmap = plt.get_cmap(colormap)
    for index, t in enumerate(predictive.t):
        colour = cmap(float(t))
        mean = predictive.mean[index, :, output][order]
        ax.plot(x[order], mean, color=colour, alpha=alpha, linewidth=1)
        if show_sigma and predictive.sigma is not None:
            sigma = predictive.sigma[index, :, output][order]
            ax.fill_between(x[order], mean - sigma, mean + sigma, color=colour, alpha=alpha * 0.1, linewidth=0)
    if x_data is not None and y_data is not None:
        ax.scatter(np.ravel(x_data), np.ravel(y_data), s=8, color="black", zorder=3, label="data")
    mappable = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    ax.figure.colorbar(mappable, ax=ax, label="t")
    ax.set_xlabel("x")
    ax.set_ylabel("prediction")
    return ax


def plot_loss_along_curve(ax: Any, evaluation: CurveEvaluation, metric: str = "loss"):
    """Draw ``metric`` ("loss", "nll", "accuracy" or "rmse") against t for every split."""
    for name, split in evaluation.splits.items():
        ax.plot(evaluation.t, getattr(split, metric), marker=".", label=name)
    ax.set_xlabel("t")
    ax.set_ylabel(metric)
    ax.legend()
    return ax
