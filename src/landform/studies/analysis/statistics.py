"""Generic statistics across the runs of a sweep: mean ± std over seeds, a hyper-parameter
chosen per group by a validation metric, and pivots of ``"mean ± std"`` cells."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from landform.errors import ConfigError


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


def _groups(table: pd.DataFrame, by: list[str]):
    if not by:
        yield "", table
        return
    for key, rows in table.groupby(by, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        yield ", ".join(f"{name}={value}" for name, value in zip(by, key)), rows
