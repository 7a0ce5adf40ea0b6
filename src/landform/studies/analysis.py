"""Analyses across the runs of a sweep: plain functions on tidy tables (pandas DataFrames).

They take the collected tables of ``landform sweep collect`` (one row per measurement, grid
fields and seeds as columns) and return DataFrames or matplotlib figures:

- :func:`select_best`: choose a hyper-parameter (the posterior temperature) per group by a
  validation metric averaged over seeds, and report test metrics as mean ± std over seeds at
  the chosen value (Dold et al. 2025, "Paths and Ambient Spaces in Neural Loss Landscapes",
  arXiv 2503.03382: temperatures chosen by validation LPPD).
- :func:`mean_std`, :func:`pivot_mean_std`, :func:`tunnel_tables`: mean ± std over seeds,
  pivoted as in the tunnel paper's tables (test LPPD, RMSE, ESS, R-hat, time by space and K).
- :func:`fixed_landscape`, :func:`across_landscapes` and their figures: the minima-volume
  paper's figures across seeds (Fan, Sandlund, Ko 2025, "Sharp Minima Can Generalize",
  arXiv 2511.04808): the log-volume of minima trained on n examples, all measured in one fixed
  landscape; and each minimum's log-volume in growing landscapes up to its cutoff.
- :func:`power_law_fit`, :func:`length_power_laws`, :func:`length_figure`: curve length
  against the number of control points K with fits length ≈ a·K^b per depth.
- :func:`per_minimum`, :func:`rank_correlations`, :func:`rank_correlation_figure`: which measure
  of a minimum (log-volume, mean log radius, Hessian top eigenvalue and trace, sharpness, LLC)
  predicts its test loss and generalisation gap, by Kendall's τ with a bootstrap interval over
  minima (Jiang et al. 2020, "Fantastic generalization measures and where to find them").

No function here reads or writes files; ``landform analyse`` does.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from landform.errors import ConfigError
from landform.studies.common import power_law_fit


def _columns(table: pd.DataFrame, names: Sequence[str], what: str) -> None:
    missing = [n for n in names if n not in table.columns]
    if missing:
        raise ConfigError(
            f"{what} needs column(s) {', '.join(map(repr, missing))}; "
            f"the table has: {', '.join(map(str, table.columns))}"
        )


def _list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


# ============================================================================ mean ± std


def format_mean_std(mean: float, std: float, digits: int = 3) -> str:
    """``"mean ± std"`` with ``digits`` significant digits (just the mean when std is NaN)."""
    if mean is None or not np.isfinite(mean):
        return "–" if mean is None or np.isnan(mean) else f"{mean}"
    text = f"{mean:.{digits}g}"
    if std is None or not np.isfinite(std):
        return text
    return f"{text} ± {std:.{max(digits - 1, 1)}g}"


def mean_std(table: pd.DataFrame, group: str | Sequence[str], metrics: str | Sequence[str]) -> pd.DataFrame:
    """Mean, sample standard deviation (ddof=1) and count of each metric per group.

    Columns: the group columns, then ``<metric>_mean``, ``<metric>_std`` per metric and ``n``
    (rows in the group). With one row per seed this is mean ± std over seeds.
    """
    group, metrics = _list(group), _list(metrics)
    _columns(table, group + metrics, "mean_std")
    if not group:
        table = table.assign(_all=0)
        group = ["_all"]
    grouped = table.groupby(group, sort=True, dropna=False)
    out = grouped.size().rename("n").to_frame()
    for metric in metrics:
        out[f"{metric}_mean"] = grouped[metric].mean()
        out[f"{metric}_std"] = grouped[metric].std(ddof=1)
    out = out.reset_index()
    ordered = [c for c in group if c != "_all"] + [c for m in metrics for c in (f"{m}_mean", f"{m}_std")] + ["n"]
    return out[ordered]


def select_best(
    table: pd.DataFrame,
    *,
    group: str | Sequence[str] = (),
    candidate: str = "temperature",
    selection: str = "validation_lppd",
    metrics: str | Sequence[str] = ("test_lppd", "test_rmse"),
    seed: str | None = "seed",
    higher_is_better: bool = True,
) -> pd.DataFrame:
    """Choose ``candidate`` per group by ``selection`` averaged over seeds; metrics there as mean ± std.

    For each group (e.g. dataset, space, K) and each candidate value (e.g. temperature), the
    selection metric is averaged over seeds (first averaged within a seed, if a seed has several
    rows); the candidate with the best average is chosen (highest unless ``higher_is_better`` is
    False; ties go to the first in sorted order). The metrics of the chosen candidate are then
    reported as mean and std over seeds.

    The std is the sample standard deviation over seeds (ddof = 1; NaN for one seed). Rows whose
    selection metric is missing (a failed run) are left out and counted in ``rows_excluded``.
    This is the one selection behind the tunnels study's ``temperature_selection`` table and
    ``landform analyse select``.

    Columns: the group columns, ``candidate`` (the chosen value), ``<selection>_mean``,
    ``<metric>_mean`` and ``<metric>_std`` per metric, ``seeds``, ``rows_excluded``.
    """
    group, metrics = _list(group), [m for m in _list(metrics) if m != selection]
    keys = [seed] if seed else []
    _columns(table, group + [candidate, selection] + metrics + keys, "select_best")
    per_seed = (
        table.groupby(group + [candidate] + keys, sort=True, dropna=False)[[selection] + metrics].mean().reset_index()
    )
    scores = per_seed.groupby(group + [candidate], sort=True, dropna=False)[selection].mean().reset_index()
    rows = []
    for key, candidates in scores.groupby(group, sort=True, dropna=False) if group else [((), scores)]:
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(group, key))
        missing = table[selection].isna()
        for name, value in zip(group, key):
            missing &= table[name] == value
        values = candidates[selection].to_numpy(float)
        if np.all(np.isnan(values)):  # no usable run in this group: said, not dropped
            rows.append({**row, candidate: float("nan"), "seeds": 0, "rows_excluded": int(missing.sum())})
            continue
        best = int(np.nanargmax(values) if higher_is_better else np.nanargmin(values))
        chosen = candidates[candidate].iloc[best]
        members = per_seed[(per_seed[candidate] == chosen) & per_seed[selection].notna()]
        for name, value in zip(group, key):
            members = members[members[name] == value]
        row[candidate] = chosen
        row[f"{selection}_mean"] = float(values[best])
        for metric in metrics:
            row[f"{metric}_mean"] = float(members[metric].mean())
            row[f"{metric}_std"] = float(members[metric].std(ddof=1)) if len(members) > 1 else float("nan")
        row["seeds"] = len(members)
        row["rows_excluded"] = int(missing.sum())
        rows.append(row)
    columns = group + [candidate, f"{selection}_mean"] + [c for m in metrics for c in (f"{m}_mean", f"{m}_std")]
    columns += ["seeds", "rows_excluded"]
    return pd.DataFrame(rows, columns=columns)


def pivot_mean_std(
    table: pd.DataFrame,
    *,
    index: str | Sequence[str],
    columns: str,
    metric: str,
    seed: str | None = "seed",
    digits: int = 3,
) -> pd.DataFrame:
    """A table of ``"mean ± std"`` strings: rows ``index``, columns ``columns``, over seeds.

    With ``seed`` the metric is first averaged within each seed (a seed with several rows counts
    once), then mean and std are taken over seeds.
    """
    index = _list(index)
    keys = [seed] if seed else []
    _columns(table, index + [columns, metric] + keys, "pivot_mean_std")
    data = table.groupby(index + [columns] + keys, dropna=False)[metric].mean().reset_index() if keys else table
    stats = mean_std(data, index + [columns], metric)
    stats["cell"] = [format_mean_std(m, s, digits) for m, s in zip(stats[f"{metric}_mean"], stats[f"{metric}_std"])]
    out = stats.pivot(index=index, columns=columns, values="cell")
    out.columns.name = columns
    return out


#: The posterior table's metrics that :func:`tunnel_tables` pivots when none are named.
TUNNEL_METRICS = ("test_lppd", "test_rmse", "test_accuracy", "ess_bulk_min", "rhat_max", "sampling_seconds")


def tunnel_tables(
    table: pd.DataFrame,
    *,
    metrics: Sequence[str] | None = None,
    index: str | Sequence[str] = "space",
    columns: str = "K",
    seed: str | None = "seed",
    digits: int = 3,
) -> dict[str, pd.DataFrame]:
    """The tunnel paper's tables: one mean ± std pivot per metric.

    ``metrics`` must be columns of ``table`` (a :class:`ConfigError` names the missing ones and
    the columns there are); without it, the metrics of :data:`TUNNEL_METRICS` that the table has.
    """
    if metrics is None:
        metrics = [m for m in TUNNEL_METRICS if m in table.columns]
        if not metrics:
            raise ConfigError(
                f"the table has none of the default metrics {', '.join(TUNNEL_METRICS)}; name them with --metrics"
            )
    _columns(table, list(metrics), "the pivot")
    return {
        metric: pivot_mean_std(table, index=index, columns=columns, metric=metric, seed=seed, digits=digits)
        for metric in metrics
    }


# ============================================================================ minima volume across seeds

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


def _groups(table: pd.DataFrame, by: list[str]):
    if not by:
        yield "", table
        return
    for key, rows in table.groupby(by, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        yield ", ".join(f"{name}={value}" for name, value in zip(by, key)), rows


def fixed_landscape_figure(
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


def across_landscapes_figure(
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


# ============================================================================ length against K


def length_power_laws(
    table: pd.DataFrame, *, x: str = "K", y: str = "length", by: str | Sequence[str] = ("depth",)
) -> pd.DataFrame:
    """Fit y ≈ a·x^b (curve length against the number of control points) per ``by`` group.

    Every row is one point (one seed, one K); columns of the result: the ``by`` columns,
    ``prefactor`` (a), ``exponent`` (b), ``r2`` (of the log-log fit), ``points``.
    """
    by = [c for c in _list(by) if c in table.columns] if by else []
    _columns(table, [x, y], "length_power_laws")
    rows = []
    for key, part in table.groupby(by, sort=True, dropna=False) if by else [((), table)]:
        key = key if isinstance(key, tuple) else (key,)
        a, b, r2 = power_law_fit(part[x], part[y])
        rows.append({**dict(zip(by, key)), "prefactor": a, "exponent": b, "r2": r2, "points": int(len(part))})
    return pd.DataFrame(rows, columns=by + ["prefactor", "exponent", "r2", "points"])


def length_figure(table: pd.DataFrame, *, x: str = "K", y: str = "length", by: str | Sequence[str] = ("depth",)):
    """Curve length against K on log-log axes: every point, mean ± std per K, and the fits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = [c for c in _list(by) if c in table.columns] if by else []
    fits = length_power_laws(table, x=x, y=y, by=by)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for index, (label, part) in enumerate(_groups(table, by)):
        colour = f"C{index}"
        ax.scatter(part[x], part[y], s=10, alpha=0.35, color=colour)
        stats = mean_std(part, x, y)
        ax.errorbar(stats[x], stats[f"{y}_mean"], yerr=stats[f"{y}_std"].fillna(0), fmt="o", color=colour, capsize=3)
        fit = fits.iloc[index]
        if np.isfinite(fit["exponent"]):
            xs = np.geomspace(float(part[x].min()), float(part[x].max()), 50)
            ax.plot(
                xs,
                fit["prefactor"] * xs ** fit["exponent"],
                color=colour,
                label=f"{label + ': ' if label else ''}{y} ≈ {fit['prefactor']:.3g}·{x}^{fit['exponent']:.2f}",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{y} against {x} with power-law fits")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ============================================================================ which measure predicts generalisation?

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
