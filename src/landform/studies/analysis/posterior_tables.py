"""The tunnel paper's tables across runs: mean ± std over seeds of each posterior metric, by
space and K (Dold et al. 2025, "Paths and Ambient Spaces in Neural Loss Landscapes", arXiv
2503.03382)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from landform.errors import ConfigError
from landform.studies.analysis.statistics import _columns, pivot_mean_std

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
