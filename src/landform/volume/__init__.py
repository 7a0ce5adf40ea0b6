"""Minima volumes: random directions, exit radii, volume estimators and cutoffs.

The method of Fan, Sandlund, Ko 2025 ("Sharp Minima Can Generalize: A Loss Landscape Perspective
on Data", arXiv 2511.04808): cast random, filter-normalised rays from a minimum θ*, find where
each leaves the τ-sublevel set of one or several nested landscapes, estimate the volume of the
set from the exit radii, and follow each minimum to the landscape size where it stops being
inside the set.

- :func:`random_directions` → :class:`Directions`: direction i from ``fold_in(key, i)``, with
  ``none``, ``filter`` (Li et al. 2018), ``filter_scale`` (the paper's code) or ``layer``
  normalisation, on all parameters, weights only or a regex of leaf paths.
- :func:`preconditioned_directions` → :class:`PreconditionedDirections`: rays x_i ~ N(0, Σ),
  Σ = D² + U·Uᵀ (:class:`Preconditioner`: from a curvature diagonal, Adam's second moments, or
  given), whose unit vectors follow the angular central Gaussian law (:func:`acg_log_density`).
- :func:`exit_radii` (bracketing search, the default; first crossings up to its ``resolution``,
  :data:`DEFAULT_RESOLUTION`)
  and :func:`grid_radii` (the paper's 100-point grid) → :class:`ExitRadii` of shape (rays,
  landscapes, thresholds), with status, censoring, evaluations per ray and the loss at θ*;
  :func:`save_radii` and :func:`load_radii` store it in a folder.
- :func:`log_volume`, :func:`log_max_volume`, :func:`mean_log_radius`, :func:`median_radius`,
  :func:`bootstrap_interval`, :func:`estimate` → :class:`VolumeEstimate`, and
  :func:`ranking_stability` → :class:`RankingStability`.
- Ray estimates with their diagnostics (:class:`RayEstimate`, :class:`RayDiagnostics`: effective
  rays, Pareto k̂, largest-weight share): :func:`ray_log_volume` (importance-weighted against
  the uniform direction law), :func:`gaussian_log_mass` (the mass of the set under a Gaussian
  prior centred at θ*, in closed form per ray: :func:`log_gammainc`) and :func:`ray_estimate`
  for an :class:`ExitRadii`.

  Every ray estimator (the paper's log-volume included) is a stochastic lower bound in high
  dimension: when the per-ray weights spread over many nats the mean is set by the largest
  weight found. The number to trust is a reference estimator that does not rest on rays,
  tethered annealing (``landform.volume.annealing``).
- :func:`cutoffs`, :func:`landscape_cutoffs` → :class:`Cutoffs` (running mean over the pool).

Basin measures that do not rest on the largest ray:

- :func:`tethered_log_volume` → :class:`BasinEstimate`: tethered annealing (TI + MBAR over a
  ladder of tethers, elliptical slice chains, rounding of the :class:`TetherPreconditioner`, an
  error that is the largest of the within-run error, the replica spread and the doubling shift);
  :func:`capped_log_volume`, :func:`prior_log_mass`, :func:`sublevel_membership`, and the
  paper's ray estimator on bisected radii as a negative control (:func:`paper_ray_log_volume`,
  :func:`bisection_exit_radii`).
- Exact bodies for validation (:mod:`landform.volume.bodies`): :func:`ellipsoid`,
  :func:`lp_body`, :func:`quartic_body`, :func:`slab`, :func:`ellipsoid_gaussian_log_mass`,
  :func:`separable_log_volume`.
"""

from landform.directions import (
    BIASES_NAMES,
    NORMALIZATION_NAMES,
    PERTURB_NAMES,
    Directions,
    random_directions,
)
from landform.volume.annealing import (
    AnnealingSettings,
    BasinEstimate,
    TetherPreconditioner,
    deflated_preconditioner,
    low_rank_refinement,
    tether_preconditioner,
    tethered_log_volume,
)
from landform.volume.bodies import (
    Body,
    Rotation,
    ellipsoid,
    ellipsoid_gaussian_log_mass,
    lp_body,
    power_law,
    quartic_body,
    random_rotation,
    separable_log_volume,
    slab,
)
from landform.volume.cutoffs import Cutoffs, cutoffs, landscape_cutoffs, running_mean
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
from landform.volume.grid import grid_radii
from landform.volume.measures import (
    bisection_exit_radii,
    capped_log_volume,
    isotropic_directions,
    paper_ray_log_volume,
    prior_log_mass,
    sublevel_membership,
)
from landform.volume.preconditioned import (
    LOWER_BOUND_NOTE,
    RAY_QUANTITIES,
    PreconditionedDirections,
    Preconditioner,
    RayDiagnostics,
    RayEstimate,
    acg_log_density,
    gaussian_log_mass,
    log_gammainc,
    preconditioned_directions,
    ray_diagnostics,
    ray_estimate,
    ray_log_volume,
)
from landform.volume.radii import (
    METRIC_NAMES,
    STATUS_NAMES,
    ExitRadii,
    RadiusSettings,
    load_radii,
    save_radii,
)
from landform.volume.search import DEFAULT_RESOLUTION, exit_radii

__all__ = [
    "BIASES_NAMES",
    "DEFAULT_RESOLUTION",
    "LOWER_BOUND_NOTE",
    "METRIC_NAMES",
    "NORMALIZATION_NAMES",
    "PERTURB_NAMES",
    "STATISTICS",
    "STATUS_NAMES",
    "Cutoffs",
    "Directions",
    "ExitRadii",
    "RadiusSettings",
    "RAY_QUANTITIES",
    "PreconditionedDirections",
    "Preconditioner",
    "RankingStability",
    "RayDiagnostics",
    "RayEstimate",
    "VolumeEstimate",
    "acg_log_density",
    "bootstrap_interval",
    "cutoffs",
    "estimate",
    "exit_radii",
    "gaussian_log_mass",
    "get_statistic",
    "grid_radii",
    "landscape_cutoffs",
    "load_radii",
    "log_gammainc",
    "log_max_volume",
    "log_unit_ball_volume",
    "log_volume",
    "mean_log_radius",
    "median_radius",
    "preconditioned_directions",
    "random_directions",
    "ranking_stability",
    "ray_diagnostics",
    "ray_estimate",
    "ray_log_volume",
    "running_mean",
    "save_radii",
    "AnnealingSettings",
    "BasinEstimate",
    "TetherPreconditioner",
    "deflated_preconditioner",
    "low_rank_refinement",
    "tether_preconditioner",
    "tethered_log_volume",
    "Body",
    "Rotation",
    "ellipsoid",
    "ellipsoid_gaussian_log_mass",
    "lp_body",
    "power_law",
    "quartic_body",
    "random_rotation",
    "separable_log_volume",
    "slab",
    "bisection_exit_radii",
    "capped_log_volume",
    "isotropic_directions",
    "paper_ray_log_volume",
    "prior_log_mass",
    "sublevel_membership",
]
