"""Analyses across the runs of a sweep: plain functions on tidy tables (pandas DataFrames).

They take the collected tables of ``landform sweep collect`` (one row per measurement, grid
fields and seeds as columns) and return DataFrames or matplotlib figures. One module per concept:

- :mod:`~landform.studies.analysis.statistics`: :func:`select_best` chooses a hyper-parameter
  (the posterior temperature) per group by a validation metric averaged over seeds, and reports
  test metrics as mean ± std over seeds at the chosen value (Dold et al. 2025, "Paths and Ambient
  Spaces in Neural Loss Landscapes", arXiv 2503.03382: temperatures chosen by validation LPPD);
  :func:`mean_std`, :func:`pivot_mean_std`, :func:`format_mean_std`.
- :mod:`~landform.studies.analysis.posterior_tables`: :func:`tunnel_tables`, mean ± std over
  seeds pivoted as in the tunnel paper's tables (test LPPD, RMSE, ESS, R-hat, time by space and K).
- :mod:`~landform.studies.analysis.volume_sweeps`: :func:`fixed_landscape`,
  :func:`across_landscapes`, :func:`sweep_fixed_landscape_figure` and
  :func:`sweep_across_landscapes_figure`: the minima-volume paper's figures across the seeds of a
  sweep (Fan, Sandlund, Ko 2025, "Sharp Minima Can Generalize", arXiv 2511.04808): the log-volume
  of minima trained on n examples, all measured in one fixed landscape; and each minimum's
  log-volume in growing landscapes up to its cutoff.
- :mod:`~landform.studies.analysis.lengths`: :func:`length_power_laws`, :func:`length_figure`:
  curve length against the number of control points K with fits length ≈ a·K^b per depth
  (:func:`power_law_fit`).
- :mod:`~landform.studies.analysis.correlations`: :func:`per_minimum`, :func:`rank_correlations`,
  :func:`rank_correlation_figure`: which measure of a minimum (log-volume, mean log radius,
  Hessian top eigenvalue and trace, sharpness, LLC) predicts its test loss and generalisation
  gap, by Kendall's τ with a bootstrap interval over minima (Jiang et al. 2020, "Fantastic
  generalization measures and where to find them").

No function here reads or writes files; ``landform analyse`` does. ``fixed_landscape_figure``
and ``across_landscapes_figure`` are the old names of the two sweep figures (the volume study's
own figures have those names in :mod:`landform.studies.volume_figures`); they still work from
here for one release, with a DeprecationWarning.
"""

from landform.studies.analysis.correlations import (
    GENERALISATION_MEASURES,
    GENERALISATION_TARGETS,
    per_minimum,
    rank_correlation_figure,
    rank_correlations,
)
from landform.studies.analysis.lengths import length_figure, length_power_laws
from landform.studies.analysis.posterior_tables import TUNNEL_METRICS, tunnel_tables
from landform.studies.analysis.statistics import format_mean_std, mean_std, pivot_mean_std, select_best
from landform.studies.analysis.volume_sweeps import (
    VOLUME_COLUMNS,
    across_landscapes,
    fixed_landscape,
    sweep_across_landscapes_figure,
    sweep_fixed_landscape_figure,
)
from landform.studies.common import power_law_fit

__all__ = [
    "GENERALISATION_MEASURES",
    "GENERALISATION_TARGETS",
    "TUNNEL_METRICS",
    "VOLUME_COLUMNS",
    "across_landscapes",
    "fixed_landscape",
    "format_mean_std",
    "length_figure",
    "length_power_laws",
    "mean_std",
    "per_minimum",
    "pivot_mean_std",
    "power_law_fit",
    "rank_correlation_figure",
    "rank_correlations",
    "select_best",
    "sweep_across_landscapes_figure",
    "sweep_fixed_landscape_figure",
    "tunnel_tables",
]

#: Old names of the sweep figures (they collided with the volume study's own figure functions).
_RENAMED = {
    "fixed_landscape_figure": "sweep_fixed_landscape_figure",
    "across_landscapes_figure": "sweep_across_landscapes_figure",
}


def __getattr__(name: str):
    if name in _RENAMED:
        import warnings

        warnings.warn(
            f"landform.studies.analysis.{name} is now landform.studies.analysis.{_RENAMED[name]} (the volume "
            f"study's {name} in landform.studies.volume_figures is another function); the old name goes away "
            "in the next release.",
            DeprecationWarning,
            stacklevel=2,
        )
        return globals()[_RENAMED[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
