"""Deprecated: the volume study's figures moved to :mod:`landform.studies.volume.figures`.

The old names still work from here for one release, with a :class:`DeprecationWarning`;
``fixed_landscape_figure`` and ``across_landscapes_figure`` (one run's figures A and B) are now
:func:`~landform.studies.volume.figures.fixed_landscape_run_figure` and
:func:`~landform.studies.volume.figures.across_landscapes_run_figure`, apart from the figures of
the same names across runs in :mod:`landform.studies.analysis`.
"""

from __future__ import annotations

from landform.errors import moved_names

#: old name -> its name in :mod:`landform.studies.volume.figures`.
_MOVED = {
    "MARKERS": "MARKERS",
    "RadiusHistogram": "RadiusHistogram",
    "volume_figures": "volume_figures",
    "fixed_landscape_figure": "fixed_landscape_run_figure",
    "across_landscapes_figure": "across_landscapes_run_figure",
    "radius_histograms_figure": "radius_histograms_figure",
    "ranking_stability_figure": "ranking_stability_figure",
}


__getattr__ = moved_names(
    "landform.studies.volume_figures",
    "landform.studies.volume.figures",
    _MOVED,
    "the old path goes in the next release",
)
