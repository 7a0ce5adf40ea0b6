"""Minima volumes: random directions, exit radii, volume estimators and cutoffs.

The method of Fan, Sandlund, Ko 2025 ("Sharp Minima Can Generalize: A Loss Landscape Perspective
on Data", arXiv 2511.04808): cast random, filter-normalised rays from a minimum θ*, find where
each leaves the τ-sublevel set of a landscape (:func:`exit_radii`, or the paper's grid protocol
:func:`grid_radii`), and estimate the volume of the set from the exit radii
(:func:`log_volume` and friends). :func:`cutoffs` says at which landscape size a minimum stops
being inside the τ-sublevel set.
"""

from landform.volume.cutoffs import Cutoffs, cutoffs, landscape_cutoffs, running_mean
from landform.volume.directions import (
    BIASES_NAMES,
    NORMALIZATION_NAMES,
    PERTURB_NAMES,
    Directions,
    random_directions,
)
from landform.volume.estimators import (
    STATISTICS,
    RankingStability,
    VolumeEstimate,
    bootstrap_interval,
    estimate,
    get_statistic,
    log_max_volume,
    log_unit_ball_volume,
    log_volume,
    mean_log_radius,
    median_radius,
    ranking_stability,
)
from landform.volume.radii import (
    METRIC_NAMES,
    STATUS_NAMES,
    ExitRadii,
    RadiusSettings,
    exit_radii,
    grid_radii,
)

__all__ = [
    "BIASES_NAMES",
    "METRIC_NAMES",
    "NORMALIZATION_NAMES",
    "PERTURB_NAMES",
    "STATISTICS",
    "STATUS_NAMES",
    "Cutoffs",
    "Directions",
    "ExitRadii",
    "RadiusSettings",
    "RankingStability",
    "VolumeEstimate",
    "bootstrap_interval",
    "cutoffs",
    "estimate",
    "exit_radii",
    "get_statistic",
    "grid_radii",
    "landscape_cutoffs",
    "log_max_volume",
    "log_unit_ball_volume",
    "log_volume",
    "mean_log_radius",
    "median_radius",
    "random_directions",
    "ranking_stability",
    "running_mean",
]
