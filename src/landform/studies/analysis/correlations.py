"""Which measure of a minimum predicts its generalisation: Kendall's τ with a bootstrap interval
over minima (Jiang et al. 2020, "Fantastic generalization measures and where to find them")."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from landform.studies.analysis.statistics import _columns, _list

#: Measures of a minimum compared with its generalisation, where the table has them: the volume
#: statistics and the curvature measures of :mod:`landform.curvature` (its ``measure`` columns).
GENERALISATION_MEASURES = (
    "log_volume",
    "mean_log_radius",
    "top_eigenvalue",
    "trace",
    "average_sharpness",
    "adaptive_sharpness",
    "llc",
)
GENERALISATION_TARGETS = ("test_loss", "generalisation_gap")


def per_minimum(table: pd.DataFrame, threshold: float | None = None) -> pd.DataFrame:
    """One row per minimum of a minima-volume table, in its own landscape, with its generalisation gap.

    From the ``volumes`` table (one row per minimum, landscape and threshold) keep the rows
    whose landscape is the minimum's own training set (``landscape_examples ==
    model_examples``) at ``threshold`` (default: the smallest in the table), and add
    ``generalisation_gap`` = test_loss − train_loss (the loss on its own training set).
    """
    _columns(table, ["landscape_examples", "model_examples", "threshold", "test_loss", "train_loss"], "per_minimum")
    threshold = float(table.threshold.min()) if threshold is None else threshold
    own = table[(table.landscape_examples == table.model_examples) & np.isclose(table.threshold, threshold)]
    return own.assign(generalisation_gap=own.test_loss - own.train_loss).reset_index(drop=True)


def _kendall(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import kendalltau

    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(kendalltau(x, y).statistic)


def rank_correlations(
    minima: pd.DataFrame,
    *,
    measures: Sequence[str] = GENERALISATION_MEASURES,
    targets: Sequence[str] = GENERALISATION_TARGETS,
    group: str | Sequence[str] | None = None,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Kendall's τ between each measure and each target over minima, with a bootstrap interval.

    As in Jiang, Neyshabur, Mobahi, Krishnan, Bengio 2020 ("Fantastic generalization measures
    and where to find them", ICLR): τ-b (``scipy.stats.kendalltau``) between a measure of each
    minimum (e.g. its log-volume, top Hessian eigenvalue, sharpness, LLC) and its test loss or
    generalisation gap; τ > 0 when larger values of the measure go with larger test loss. The
    interval is a percentile bootstrap over minima (``scipy.stats.bootstrap`` resamples the pairs
    together, ``resamples`` draws; none when ``resamples`` is 0); resamples whose measure or
    target is constant have no τ and are left out of the percentiles. Measures missing from the
    table are skipped; rows where either value is missing are left out of that pair; τ is NaN
    with fewer than three minima or a constant column.

    ``minima`` has one row per minimum (:func:`per_minimum`, or collected tables of a sweep);
    ``group`` computes one τ per group (e.g. per arm). Columns: the group columns, ``measure``,
    ``target``, ``tau``, ``low``, ``high``, ``minima``.
    """
    from scipy.stats import bootstrap

    group = _list(group)
    present = [m for m in measures if m in minima.columns and minima[m].notna().any()]
    targets = [t for t in targets if t in minima.columns]
    columns = group + ["measure", "target", "tau", "low", "high", "minima"]
    rows = []
    rng = np.random.default_rng(seed)
    for key, part in minima.groupby(group, sort=True, dropna=False) if group else [((), minima)]:
        key = key if isinstance(key, tuple) else (key,)
        for measure in present:
            for target in targets:
                pair = part[[measure, target]].astype(float).dropna()
                x, y = pair[measure].to_numpy(), pair[target].to_numpy()
                tau = _kendall(x, y) if len(pair) >= 3 else float("nan")
                low = high = float("nan")
                if resamples and np.isfinite(tau):
                    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # resamples with a constant column have no τ
                        draws = bootstrap(
                            (x, y),
                            _kendall,
                            paired=True,
                            vectorized=False,
                            n_resamples=resamples,
                            method="percentile",
                            rng=rng,
                        ).bootstrap_distribution
                    draws = draws[np.isfinite(draws)]
                    if draws.size:
                        tail = 50 * (1 - confidence)
                        low, high = (float(v) for v in np.percentile(draws, [tail, 100 - tail]))
                rows.append(
                    {
                        **dict(zip(group, key)),
                        "measure": measure,
                        "target": target,
                        "tau": tau,
                        "low": low,
                        "high": high,
                        "minima": int(len(pair)),
                    }
                )
    return pd.DataFrame(rows, columns=columns)


def rank_correlation_figure(correlations: pd.DataFrame, *, title: str | None = None):
    """Kendall τ of each measure (rows) with each target (panels), with its bootstrap interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = list(dict.fromkeys(correlations.target))
    measures = list(dict.fromkeys(correlations.measure))
    fig, axes = plt.subplots(
        1, max(len(targets), 1), figsize=(4.2 * max(len(targets), 1), 0.45 * len(measures) + 1.6), sharey=True
    )
    axes = np.atleast_1d(axes)
    positions = np.arange(len(measures))[::-1]
    for ax, target in zip(axes, targets):
        part = correlations[correlations.target == target].set_index("measure").reindex(measures)
        tau = part.tau.to_numpy(float)
        # a percentile interval need not contain τ itself: draw the part of it on each side
        low = np.clip(np.where(np.isfinite(part.low), tau - part.low, 0.0), 0.0, None)
        high = np.clip(np.where(np.isfinite(part.high), part.high - tau, 0.0), 0.0, None)
        colours = ["C3" if t > 0 else "C0" for t in np.nan_to_num(tau)]
        ax.barh(positions, np.nan_to_num(tau), color=colours, alpha=0.7)
        ax.errorbar(np.nan_to_num(tau), positions, xerr=[low, high], fmt="none", color="black", capsize=3)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_xlim(-1.05, 1.05)
        ax.set_xlabel("Kendall τ")
        ax.set_title(f"with {target.replace('_', ' ')}")
    axes[0].set_yticks(positions)
    axes[0].set_yticklabels(measures)
    minima = int(correlations.minima.max()) if len(correlations) else 0
    fig.suptitle(title or f"rank correlation with generalisation over {minima} minima (bootstrap intervals)")
    fig.tight_layout()
    return fig
