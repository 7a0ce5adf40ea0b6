"""Curve length against the number of control points K across runs, with power-law fits
length ≈ a·K^b per group."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from landform.studies.analysis.statistics import _columns, _groups, _list, mean_std
from landform.studies.common import power_law_fit


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
