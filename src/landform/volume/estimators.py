"""Volume estimators from exit radii, with bootstrap intervals and ranking stability.

Let S be the τ-sublevel set around θ* and suppose S is star-shaped about θ*, with radial function
ρ(u) (the exit radius along the unit vector u). In polar coordinates

    Vol(S) = ∫_{S^{n−1}} ρ(u)^n / n dσ(u) = V_n · E_u[ρ(u)^n],

with u uniform on the unit sphere and V_n = π^{n/2} / Γ(n/2 + 1) the volume of the unit n-ball
(the sphere's area is n·V_n). A Gaussian g gives a uniform u = g/‖g‖, and the ray θ* + r·g leaves
S at r = ρ(u)/‖g‖; so the radius to average is ρ_i = r_i·‖g_i‖, which is what
:attr:`landform.volume.ExitRadii.sphere_radii` holds (for ``none`` directions the Euclidean
distance to the exit; for ``filter_scale`` the volume paper's "coefficient × perturbation norm").
For a direction normalisation d = D·g with a fixed linear map D (``filter_scale``: a diagonal of
per-unit norms), ρ_i is the radial function of the pulled-back set D⁻¹(S − θ*), and

    Vol(S) = |det D| · V_n · E[ρ^n],   log Vol(S) = log_jacobian + log V_n + log E[ρ^n].

Estimators (K radii ρ_1..ρ_K in dimension n):

- :func:`log_volume`: log V̂ = logsumexp_i(n log ρ_i) − log K, the minima-volume paper's
  log-volume (Fan, Sandlund, Ko 2025, arXiv 2511.04808), optionally + log V_n
  (``include_ball``) and + log |det D| (``log_jacobian``) to make it a volume in parameter space.
  (1/K)Σρ_i^n is an *unbiased* estimator of E[ρ^n]: exact in expectation for every star-shaped
  set, and exact for every K when ρ is constant (a ball centred at θ*). Its log is biased
  downwards (Jensen) and, in high dimension, its variance explodes for anisotropic sets: for an
  ellipsoid with semi-axes s_j, log ρ(u)^n fluctuates by about sqrt(n/2)·cv(1/s²) across
  directions, so for n in the hundreds of thousands and any real anisotropy the average is
  dominated by the few largest radii and log V̂ behaves like n·log max ρ (a lower estimate with
  high probability). Compare log-volumes of minima measured with the same directions, and read
  bootstrap intervals and :func:`ranking_stability` before trusting a difference.
  For ``filter`` and ``layer`` directions the formula holds only approximately (their v = D⁻¹d is
  not exactly Gaussian; see :mod:`landform.volume.directions`).
- :func:`log_max_volume`: n·log max_i ρ_i (+ the same optional terms): what log V̂ tends to in
  high dimension.
- :func:`mean_log_radius`: (1/K) Σ log ρ_i; :func:`median_radius`: median ρ_i. Robust summaries
  of the radius, not volumes.

Censored rays (still inside at the largest radius searched) enter with their lower bound, so every
estimate above is then a lower bound: :class:`VolumeEstimate` says so (``is_lower_bound``).
Radii of 0 (θ* outside the set) give log-volume −∞, with status "outside".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy.special import gammaln, logsumexp

from landform.errors import ConfigError, ShapeError, UnknownNameError


def log_unit_ball_volume(dimension: int) -> float:
    """log V_n = (n/2) log π − log Γ(n/2 + 1), the log-volume of the unit n-ball."""
    n = float(dimension)
    return 0.5 * n * math.log(math.pi) - float(gammaln(0.5 * n + 1.0))


def _log_radii(radii) -> np.ndarray:
    radii = np.asarray(radii, dtype=np.float64)
    if (radii < 0).any() or np.isnan(radii).any():
        raise ConfigError("exit radii must be non-negative numbers")
    with np.errstate(divide="ignore"):
        return np.log(radii)


def _finish(value, dimension, include_ball, log_jacobian):
    extra = (log_unit_ball_volume(dimension) if include_ball else 0.0) + float(log_jacobian)
    return value + extra if extra != 0.0 else value


def log_volume(
    radii,
    dimension: int,
    *,
    include_ball: bool = False,
    log_jacobian: float = 0.0,
    axis: int = 0,
) -> np.ndarray:
    """log V̂ = logsumexp_i(n log ρ_i) − log K [+ log V_n] [+ log |det D|] along ``axis``.

    The minima-volume paper's log-volume (Fan, Sandlund, Ko 2025); see the module docstring for
    when it is exact and how it behaves in high dimension. ``radii`` are sphere radii ρ_i
    (:attr:`ExitRadii.sphere_radii`), K = ``radii.shape[axis]``, n = ``dimension``.
    """
    logs = _log_radii(radii)
    k = logs.shape[axis]
    if k == 0:
        raise ConfigError("no radii: a log-volume needs at least one direction")
    n = float(dimension)
    with np.errstate(invalid="ignore"):
        value = logsumexp(n * logs, axis=axis) - math.log(k)
    return _finish(value, dimension, include_ball, log_jacobian)


def log_max_volume(radii, dimension: int, *, include_ball: bool = False, log_jacobian: float = 0.0, axis: int = 0):
    """n · log max_i ρ_i [+ log V_n] [+ log |det D|]: the largest single-direction volume."""
    logs = _log_radii(radii)
    return _finish(float(dimension) * np.max(logs, axis=axis), dimension, include_ball, log_jacobian)


def mean_log_radius(radii, dimension: int | None = None, *, axis: int = 0):
    """(1/K) Σ_i log ρ_i (−∞ if any radius is 0)."""
    return np.mean(_log_radii(radii), axis=axis)


def median_radius(radii, dimension: int | None = None, *, axis: int = 0):
    """The median of the radii."""
    return np.median(np.asarray(radii, dtype=np.float64), axis=axis)


STATISTICS: dict[str, Callable[..., Any]] = {
    "log_volume": log_volume,
    "log_max_volume": log_max_volume,
    "mean_log_radius": mean_log_radius,
    "median_radius": median_radius,
}


def get_statistic(name: str) -> Callable[..., Any]:
    """A statistic of exit radii by name (see :data:`STATISTICS`)."""
    if name not in STATISTICS:
        raise UnknownNameError("statistic", name, STATISTICS)
    return STATISTICS[name]


def bootstrap_interval(
    radii,
    dimension: int,
    *,
    statistic: str = "log_volume",
    num_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    **options,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval over directions (axis 0 of ``radii``).

    Resample the K directions with replacement ``num_resamples`` times (seeded), recompute the
    statistic on each resample (vectorised), and return the (1−c)/2 and (1+c)/2 quantiles.
    Extra axes of ``radii`` (landscapes, thresholds) are kept; the same resampled directions are
    used for all of them.
    """
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    if num_resamples < 1:
        raise ConfigError(f"num_resamples must be positive, got {num_resamples}")
    fn = get_statistic(statistic)
    radii = np.asarray(radii, dtype=np.float64)
    k = radii.shape[0]
    if k == 0:
        raise ConfigError("no radii to bootstrap")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, k, size=(num_resamples, k))
    values = fn(radii[picks], dimension, axis=1, **options)  # (B, ...)
    alpha = (1.0 - confidence) / 2.0
    with np.errstate(invalid="ignore"):
        low = np.quantile(values, alpha, axis=0)
        high = np.quantile(values, 1.0 - alpha, axis=0)
    return low, high


class VolumeEstimate(NamedTuple):
    """A volume statistic of exit radii per (landscape, threshold), with its interval.

    Attributes:
        statistic: the statistic's name (see :data:`STATISTICS`).
        value: (Q, T) the estimate (−inf where θ* is outside the set).
        lower, upper: (Q, T) bootstrap percentile interval.
        is_lower_bound: (Q, T) True where censored rays make ``value`` a lower bound.
        num_censored: (Q, T) number of censored rays.
        is_outside: (Q, T) True where θ* is not inside the τ-sublevel set.
        num_directions: K.
        dimension: n.
        confidence: the interval's level.
    """

    statistic: str
    value: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    is_lower_bound: np.ndarray
    num_censored: np.ndarray
    is_outside: np.ndarray
    num_directions: int
    dimension: int
    confidence: float


def estimate(
    result,
    *,
    statistic: str = "log_volume",
    include_ball: bool = False,
    include_jacobian: bool = False,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> VolumeEstimate:
    """A statistic of an :class:`~landform.volume.ExitRadii` result with bootstrap intervals.

    Uses ``result.sphere_radii`` and ``result.dimension``; ``include_ball`` and
    ``include_jacobian`` add log V_n and log |det D| (volume statistics only). Censored rays
    make the estimate a lower bound (flagged); rays with status "outside" give −∞.
    """
    fn = get_statistic(statistic)
    radii = np.asarray(result.sphere_radii, dtype=np.float64)
    if radii.ndim != 3:
        raise ShapeError(f"expected sphere radii of shape (K, Q, T), got {radii.shape}")
    options = {}
    if statistic in ("log_volume", "log_max_volume"):
        options = {"include_ball": include_ball, "log_jacobian": result.log_jacobian if include_jacobian else 0.0}
    value = fn(radii, result.dimension, axis=0, **options)
    low, high = bootstrap_interval(
        radii, result.dimension, statistic=statistic, num_resamples=num_resamples,
        confidence=confidence, seed=seed, **options,
    )
    censored = np.asarray(result.censored).sum(axis=0)
    outside = np.asarray(result.outside_by) > 0
    value = np.where(outside, -np.inf, value) if statistic != "median_radius" else np.where(outside, 0.0, value)
    return VolumeEstimate(
        statistic=statistic,
        value=value,
        lower=low,
        upper=high,
        is_lower_bound=(censored > 0) & ~outside,
        num_censored=censored,
        is_outside=outside,
        num_directions=int(radii.shape[0]),
        dimension=int(result.dimension),
        confidence=float(confidence),
    )


class RankingStability(NamedTuple):
    """How often k random directions reproduce the ranking of models made with all K.

    Attributes:
        subset_sizes: the k values.
        probability: P(ranking from k directions == ranking from all K), one per k.
        reference_order: model indices sorted by the statistic on all K directions (largest first).
        num_draws: random subsets drawn per k.
    """

    subset_sizes: np.ndarray
    probability: np.ndarray
    reference_order: np.ndarray
    num_draws: int


def ranking_stability(
    radii,
    dimension: int | Sequence[int],
    subset_sizes: Sequence[int] | None = None,
    *,
    statistic: str = "log_volume",
    num_draws: int = 1000,
    seed: int = 0,
) -> RankingStability:
    """P(a random subset of k directions ranks the models as all K directions do), per k.

    ``radii`` has shape (M, K): sphere radii of M models along the same K directions (direction
    j is the same for every model, as in the volume paper). For each k, ``num_draws`` subsets of
    k distinct directions are drawn (seeded), the statistic (default the log-volume) is computed
    for every model on each subset, and the probability is the fraction of subsets whose
    ordering of the models equals the ordering with all K directions.
    """
    fn = get_statistic(statistic)
    radii = np.asarray(radii, dtype=np.float64)
    if radii.ndim != 2:
        raise ShapeError(f"radii must have shape (models, directions), got {radii.shape}")
    m, k_all = radii.shape
    if m < 2:
        raise ConfigError("ranking stability needs at least two models")
    dims = np.broadcast_to(np.asarray(dimension, dtype=np.float64), (m,))
    if subset_sizes is None:
        subset_sizes = sorted({max(1, int(round(k_all * f))) for f in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)})
    sizes = np.asarray(subset_sizes, dtype=np.int64)
    if (sizes < 1).any() or (sizes > k_all).any():
        raise ConfigError(f"subset sizes must lie in 1..{k_all}, got {sizes.tolist()}")

    def values(r):  # r: (M, ..., k) -> (M, ...)
        out = [fn(r[i], dims[i], axis=-1) for i in range(m)]  # a loop over models, not directions
        return np.stack(out)

    reference = values(radii)
    reference_order = np.argsort(-reference, kind="stable")
    reference_rank = np.argsort(reference_order, kind="stable")
    rng = np.random.default_rng(seed)
    probability = np.empty(sizes.size)
    for j, k in enumerate(sizes):  # a loop over subset sizes
        picks = np.argsort(rng.random((num_draws, k_all)), axis=1)[:, :k]  # (D, k) distinct
        sub = values(radii[:, picks])  # (M, D)
        order = np.argsort(-sub, axis=0, kind="stable")
        rank = np.argsort(order, axis=0, kind="stable")
        probability[j] = np.mean(np.all(rank == reference_rank[:, None], axis=0))
    return RankingStability(sizes, probability, reference_order, int(num_draws))
