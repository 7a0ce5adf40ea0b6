"""Volume estimators from exit radii, with bootstrap intervals, their diagnostics and ranking
stability.

Every estimator here rests on rays and is a *stochastic lower bound in high dimension*: once the
weights ρ_i^n spread over many nats, the mean of K of them is set by the largest one found and
sits below E[ρ^n] with high probability, whatever K is in practice. The diagnostics below say
when this is happening; none of them can see directions no ray hit. The number to trust is a
reference estimator that does not rest on rays: tethered annealing (``landform.volume.annealing``).
Preconditioned rays (:mod:`landform.volume.preconditioned`) shrink the spread of the weights when
the preconditioner matches the basin's curvature, and are lower bounds in the same way.

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
  the diagnostics below and :func:`ranking_stability` before trusting a difference.
  For ``filter`` and ``layer`` directions the formula holds only approximately (their v = D⁻¹d is
  not exactly Gaussian; see :mod:`landform.directions`).
- :func:`log_max_volume`: n·log max_i ρ_i (+ the same optional terms): what log V̂ tends to in
  high dimension.
- :func:`mean_log_radius`: (1/K) Σ log ρ_i; :func:`median_radius`: median ρ_i. Robust summaries
  of the radius, not volumes.

Censored rays (still inside at the largest radius searched) enter with their lower bound, so every
estimate above is then a lower bound: :class:`VolumeEstimate` says so (``is_lower_bound``).
Rays that end "unresolved" (the search stopped before bracketing the exit) enter with a radius
that is neither exact nor a bound; they are counted (``num_unresolved``) and make the estimate
unreliable. Radii of 0 (θ* outside the set) give log-volume −∞, with status "outside".

How much to trust a log-volume (:func:`volume_diagnostics`, :class:`VolumeDiagnostics`). log V̂
is the log of a mean of weights w_i = ρ_i^n, log-weights ℓ_i = n log ρ_i:

- effective number of rays: K_eff = (Σ w_i)² / Σ w_i² = exp(2·logsumexp(ℓ) − logsumexp(2ℓ)),
  computed in log space (no overflow for n in the millions). K_eff = K when every ray weighs the
  same (a ball), and K_eff → 1 when one ray carries the sum; the estimate then rests on the few
  largest radii found, and says nothing about larger ones not found.
- Pareto k̂: the shape of a generalized Pareto distribution fitted to the upper tail of the
  weights (the M largest, M = ⌊3√K⌋ for K > 225 and ⌊K/5⌋ otherwise, their excesses over the
  next one), by ArviZ's PSIS (``arviz_stats``; the empirical-Bayes fit of Zhang and Stephens
  2009 used in Pareto smoothed importance sampling: Vehtari, Simpson, Gelman, Yao, Gabry 2015/2024, "Pareto smoothed
  importance sampling", JMLR 25(72)). The weights' variance is finite only for k < 1/2 and their
  mean only for k < 1; the fit describes the tail seen among K rays (pre-asymptotic), which is
  what decides how the mean of K weights behaves. k̂ = +inf when M < 5 (K < 25: too few rays to
  fit a tail), −inf when the M+1 largest weights are equal (no excess at all: the limit of a
  generalized Pareto with k → −∞; a ball), +inf when the tail cannot be fitted otherwise.
- The rule: an estimate is *reliable* when K_eff ≥ :data:`MIN_EFFECTIVE_RAYS` (10),
  k̂ ≤ :func:`pareto_k_threshold` (K) = min(1 − 1/log10 K, 1/2), and no ray is unresolved.
  Why 1/2 and not the 0.7 of PSIS: log V̂ is the plain (unsmoothed) mean of the weights, whose
  central limit theorem, and with it the bootstrap, needs a finite variance, k < 1/2; 0.7 is
  Vehtari et al.'s bound for Pareto-*smoothed* estimates. 1 − 1/log10 K is their sample-size
  bound (K ≥ 10^{1/(1−k)}); it binds below K = 100. Censored rays do not enter the rule: with
  them the estimate and its interval describe the truncated radii min(ρ, R), a lower bound of
  the volume (``is_lower_bound``).

The interval :func:`bootstrap_interval` returns is a *percentile bootstrap over directions*
(:data:`INTERVAL`): the spread of the statistic when the K rays found are resampled. A resampled
log-volume never exceeds n·log max_i ρ_i, and knows nothing of directions with larger radii that
no ray hit. It is a confidence interval for log E[ρ^n] only where the weights are light-tailed;
elsewhere it measures resampling spread and sits below the truth.

Measured (the coverage study of the tests, scaled up): ellipsoids in dimension n with half the
semi-axes 1.5 and half 1 (ρ(u) = (Σ u_j²/s_j²)^{−1/2}, log E[ρ^n] = Σ log s_j), K = 1000 exact
radii from uniform directions, 95 % intervals from 1000 resamples, 1000 replicates per n:

    n      covers the truth   reliable   covers | reliable   reliable and misses
    2      0.94               1.00       0.94                0.06
    20     0.94               0.98       0.94                0.06
    30     0.93               0.67       0.91                0.06
    40     0.90               0.36       0.84                0.06
    50     0.89               0.15       0.62                0.06
    60     0.85               0.07       0.34                0.04
    80     0.77               0.01       0.00                0.01
    200    0.35               0.00       —                   0.00

Where the weights are light-tailed (n ≤ 20) the rule passes nearly every estimate and the
interval covers at close to the nominal rate (the percentile bootstrap's own small
undercoverage); at n = 200 it covers a third of the time and the rule passes none. In between
the rule is a screen, not a guarantee: it passes fewer estimates as n grows, and those it passes
cover less often than nominal, because a sample whose tail looks light is more often one that
missed the largest radii (no diagnostic computed from the rays can see directions no ray hit).
What it holds down is the rate of estimates called reliable whose interval misses: about the
bootstrap's own miss rate at light tails, at every n measured (K = 1000: 0.04–0.06; K = 5000:
at most 0.05; a tenth of the axes stretched 3× instead: at most 0.07), except with K = 200, whose
intervals fall short of nominal already at n = 20 while k̂ is still below 1/2 (0.09). A bound
of 0.7 on k̂ let through up to 0.13 (0.16 with the 3× axes), and rejecting on K_eff instead
selects the same lucky samples.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy.special import gammaln, logsumexp

from landform.errors import ConfigError, ShapeError, UnknownNameError
from landform.volume.radii import UNRESOLVED

MIN_EFFECTIVE_RAYS = 10.0
"""The fewest effective rays (Σw)²/Σw² a reliable log-volume may rest on."""

MAX_PARETO_K = 0.5
"""The largest Pareto k̂ of a reliable log-volume: the weights' variance is finite below it."""

INTERVAL = "percentile bootstrap over directions"
"""What :func:`bootstrap_interval` (and :attr:`VolumeEstimate.bootstrap_lower`, ``_upper``) is."""


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
    """log V̂ = logsumexp_i(n log ρ_i) − log K [+ log V_n] [+ log ``|det D|``] along ``axis``.

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
    """n · log max_i ρ_i [+ log V_n] [+ log ``|det D|``]: the largest single-direction volume."""
    logs = _log_radii(radii)
    return _finish(float(dimension) * np.max(logs, axis=axis), dimension, include_ball, log_jacobian)


def mean_log_radius(radii, dimension: int | None = None, *, axis: int = 0):
    """(1/K) Σ_i log ρ_i (−∞ if any radius is 0)."""
    return np.mean(_log_radii(radii), axis=axis)


def median_radius(radii, dimension: int | None = None, *, axis: int = 0):
    """The median of the radii."""
    return np.median(np.asarray(radii, dtype=np.float64), axis=axis)


def _log_weights(radii, dimension, axis):
    """ℓ_i = n log ρ_i with the rays on the last axis."""
    return np.moveaxis(float(dimension) * _log_radii(radii), axis, -1)


def effective_rays(radii, dimension: int, *, axis: int = 0) -> np.ndarray:
    """K_eff = (Σ_i w_i)² / Σ_i w_i², w_i = ρ_i^n, along ``axis``, in log space.

    exp(2·logsumexp(ℓ) − logsumexp(2ℓ)) with ℓ_i = n log ρ_i: K for equal radii, near 1 when one
    ray carries the log-volume. 0 where every radius is 0 (θ* outside the set).
    """
    logs = _log_weights(radii, dimension, axis)
    if logs.shape[-1] == 0:
        raise ConfigError("no radii: effective rays need at least one direction")
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.exp(2.0 * logsumexp(logs, axis=-1) - logsumexp(2.0 * logs, axis=-1))
    return np.where(np.isfinite(logs).any(axis=-1), value, 0.0)


def _pareto_shape(log_weights: np.ndarray) -> float:
    """Pareto k̂ of one row of log-weights: ArviZ's PSIS tail fit (``arviz_stats``, r_eff = 1),
    +inf where the fit is impossible (too few distinct tail values) or fails."""
    from arviz_stats.base import array_stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            # psislw takes log-likelihoods ℓ and smooths the log-ratios −ℓ: pass −log w
            k_hat = array_stats.psislw(-log_weights, r_eff=1.0)[1]
        except ValueError:  # fewer than 5 tail draws, or all tail values equal
            return math.inf
    k_hat = float(np.asarray(k_hat))
    return k_hat if np.isfinite(k_hat) else math.inf


def _tail_size(k: int) -> int:
    """M: the number of largest weights ArviZ's PSIS fits (r_eff = 1): ⌊3√K⌋ for K > 225, else ⌊K/5⌋."""
    return int(math.floor(3.0 * math.sqrt(k))) if k > 225 else k // 5


def pareto_k(radii, dimension: int, *, axis: int = 0) -> np.ndarray:
    """Pareto k̂ of the weights w_i = ρ_i^n along ``axis`` (ArviZ's PSIS tail fit, r_eff = 1).

    The shape of a generalized Pareto distribution fitted to the excesses of the M largest
    weights over the next one, M = ⌊3√K⌋ for K > 225 and ⌊K/5⌋ otherwise (Vehtari, Simpson,
    Gelman, Yao, Gabry 2024, "Pareto smoothed importance sampling"). +inf where M < 5 (K < 25:
    too few rays to fit a tail); −inf where those M+1 weights are all equal (no excess: a ball);
    +inf where the tail cannot be fitted otherwise; NaN where every radius is 0 (θ* outside the
    set).
    """
    logs = _log_weights(radii, dimension, axis)
    k = logs.shape[-1]
    flat = logs.reshape(-1, k)
    out = np.full(flat.shape[0], np.nan)
    top = np.max(flat, axis=-1) if k else np.full(flat.shape[0], -np.inf)
    fit = np.isfinite(top)
    if fit.any() and k > 0:
        m = _tail_size(k)
        if m < 5:  # K < 25
            out[fit] = np.inf
        else:
            for row in np.flatnonzero(fit):
                ordered = -np.sort(-flat[row])
                tied = ordered[0] <= ordered[m]
                out[row] = -np.inf if tied else _pareto_shape(flat[row])
    return out.reshape(logs.shape[:-1])


def pareto_k_threshold(num_directions: int) -> float:
    """min(1 − 1/log10 K, :data:`MAX_PARETO_K`): the largest k̂ of a reliable estimate from K rays.

    1/2: below it the weights have a finite variance, which the central limit theorem of their
    plain mean (and the bootstrap) needs. 1 − 1/log10 K: Vehtari et al.'s (2024) sample-size
    bound, K ≥ 10^{1/(1−k)} draws for an estimate with tail shape k; it binds for K < 100.
    −inf for K ≤ 1.
    """
    if num_directions <= 1:
        return -math.inf
    return min(1.0 - 1.0 / math.log10(num_directions), MAX_PARETO_K)


class VolumeDiagnostics(NamedTuple):
    """How far a log-volume can be trusted, per (landscape, threshold) (shapes (Q, T) below;
    in general the radii's shape without the rays' axis).

    Attributes:
        effective_rays: K_eff = (Σ w_i)² / Σ w_i², w_i = ρ_i^n (0 where θ* is outside).
        pareto_k: k̂ of the weights' upper tail (see :func:`pareto_k`; NaN where θ* is outside).
        reliable: K_eff ≥ :data:`MIN_EFFECTIVE_RAYS`, k̂ ≤ :func:`pareto_k_threshold` (K), no
            unresolved ray, θ* inside. Only then may the bootstrap interval of log V̂ be read as a
            confidence interval for log E[ρ^n]; a screen, not a guarantee (near the dimension
            where the weights turn heavy-tailed, passed estimates cover less than nominal; see
            the module docstring).
        censored: number of censored rays (the estimate is then a lower bound).
        unresolved: number of unresolved rays (the estimate is then unreliable).
        num_directions: K.
    """

    effective_rays: np.ndarray
    pareto_k: np.ndarray
    reliable: np.ndarray
    censored: np.ndarray
    unresolved: np.ndarray
    num_directions: int


def volume_diagnostics(radii, dimension: int, *, censored=None, unresolved=None) -> VolumeDiagnostics:
    """:class:`VolumeDiagnostics` of the log-volume of ``radii`` (rays on axis 0).

    ``censored`` and ``unresolved`` are optional boolean masks of the radii's shape (for an
    :class:`~landform.volume.ExitRadii` ``result``: ``result.censored`` and ``result.status ==
    STATUS_NAMES.index("unresolved")``, which :func:`estimate` passes); they are counted over
    the rays. The rule (module
    docstring): reliable ⇔ effective_rays ≥ :data:`MIN_EFFECTIVE_RAYS` and pareto_k ≤
    :func:`pareto_k_threshold` (K) and unresolved = 0 (and some radius > 0).
    """
    radii = np.asarray(radii, dtype=np.float64)
    if radii.ndim == 0 or radii.shape[0] == 0:
        raise ConfigError("no radii: diagnostics need at least one direction")
    k = int(radii.shape[0])

    def count(mask):
        if mask is None:
            return np.zeros(radii.shape[1:], dtype=np.int64)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != radii.shape:
            raise ShapeError(f"a mask of shape {mask.shape} does not fit radii of shape {radii.shape}")
        return mask.sum(axis=0)

    num_censored, num_unresolved = count(censored), count(unresolved)
    rays = effective_rays(radii, dimension)
    k_hat = pareto_k(radii, dimension)
    reliable = (rays >= MIN_EFFECTIVE_RAYS) & (k_hat <= pareto_k_threshold(k)) & (num_unresolved == 0)
    return VolumeDiagnostics(rays, k_hat, reliable, num_censored, num_unresolved, k)


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


_UNDERFLOW = 1e-250  # resampled sums of scaled weights below this are recomputed in log space


def _resampled_log_volume(radii, dimension, picks, *, include_ball=False, log_jacobian=0.0):
    """:func:`log_volume` of every resample ``radii[picks[b]]`` (shape (B, ...)), without
    materialising the (B, K, ...) resampled radii.

    With ℓ_i = n log ρ_i, m = max_i ℓ_i and c_bi the number of times resample b picked ray i,
    Σ_j w_picks[b,j] = e^m · Σ_i c_bi e^{ℓ_i − m}: one product of the (B, K) counts with the
    (K, ...) scaled weights in [0, 1]. Where that sum underflows (a resample missing every ray
    within ~575 nats of the largest, which happens for n in the hundreds of thousands), the
    resample is recomputed by logsumexp over its picks. Columns whose largest ℓ is not finite
    (θ* outside: −∞) are computed directly.
    """
    b, k = picks.shape
    logs = float(dimension) * _log_radii(radii).reshape(k, -1)  # (K, M)
    counts = np.bincount((picks + k * np.arange(b)[:, None]).ravel(), minlength=b * k).reshape(b, k)
    top = np.max(logs, axis=0)  # (M,)
    finite = np.isfinite(top)
    values = np.empty((b, logs.shape[1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        if finite.any():
            scaled = np.exp(logs[:, finite] - top[finite])
            sums = counts.astype(np.float64) @ scaled  # (B, M_finite)
            values[:, finite] = np.log(sums) + top[finite]
            rows, cols = np.nonzero(sums < _UNDERFLOW)
            columns = np.flatnonzero(finite)[cols]
            chunk = max(1, 2**22 // k)
            for start in range(0, rows.size, chunk):  # a loop over chunks of underflowing resamples
                r, c = rows[start : start + chunk], columns[start : start + chunk]
                values[r, c] = logsumexp(logs[picks[r], c[:, None]], axis=1)
        if (~finite).any():
            values[:, ~finite] = logsumexp(logs[:, ~finite][picks], axis=1)
    values = values.reshape((b,) + radii.shape[1:]) - math.log(k)
    return _finish(values, dimension, include_ball, log_jacobian)


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
    statistic on each resample (vectorised; the log-volume without materialising the resampled
    radii), and return the (1−c)/2 and (1+c)/2 quantiles. Extra axes of ``radii`` (landscapes,
    thresholds) are kept; the same resampled directions are used for all of them.

    This is the spread of the statistic over resamples of the rays found, not a confidence
    interval for the log-volume unless :func:`volume_diagnostics` says the estimate is reliable:
    a resampled log-volume never exceeds n·log max_i ρ_i, so when a few rays dominate the
    weights the interval sits below the truth (module docstring).
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
    if statistic == "log_volume":
        values = _resampled_log_volume(radii, dimension, picks, **options)  # (B, ...)
    else:
        values = fn(radii[picks], dimension, axis=1, **options)  # (B, ...)
    alpha = (1.0 - confidence) / 2.0
    with np.errstate(invalid="ignore"):
        low = np.quantile(values, alpha, axis=0)
        high = np.quantile(values, 1.0 - alpha, axis=0)
    return low, high


class VolumeEstimate(NamedTuple):
    """A volume statistic of exit radii per (landscape, threshold), with its bootstrap interval
    and the diagnostics that say whether that interval can be read as a confidence interval.

    Attributes:
        statistic: the statistic's name (see :data:`STATISTICS`).
        value: (Q, T) the estimate (−inf where θ* is outside the set).
        bootstrap_lower, bootstrap_upper: (Q, T) the percentile bootstrap interval over
            directions (:func:`bootstrap_interval`). A confidence interval only where
            ``reliable``; elsewhere the spread of resampling the rays found, which for the
            log-volume sits below the truth (module docstring). Also available under their old
            names ``lower`` and ``upper``.
        is_lower_bound: (Q, T) True where censored rays make ``value`` a lower bound.
        num_censored: (Q, T) number of censored rays.
        is_outside: (Q, T) True where θ* is not inside the τ-sublevel set.
        num_directions: K.
        dimension: n.
        confidence: the interval's level.
        num_unresolved: (Q, T) number of rays whose search ended "unresolved".
        effective_rays: (Q, T) (Σ w_i)² / Σ w_i², w_i = ρ_i^n: the rays the log-volume rests on.
        pareto_k: (Q, T) Pareto k̂ of the weights w_i (:func:`pareto_k`).
        reliable: (Q, T) whether the interval is a confidence interval for the statistic's
            target; per statistic: ``log_volume``: the rule of :class:`VolumeDiagnostics`
            (enough effective rays, k̂ small enough, no unresolved ray); ``log_max_volume``:
            never (n·log max ρ_i is a lower estimate of the log-volume, and the bootstrap of a
            maximum is not a confidence interval); ``mean_log_radius``, ``median_radius``: no
            unresolved ray. Always False where θ* is outside.
        interval: what the interval is, :data:`INTERVAL`.
    """

    statistic: str
    value: np.ndarray
    bootstrap_lower: np.ndarray
    bootstrap_upper: np.ndarray
    is_lower_bound: np.ndarray
    num_censored: np.ndarray
    is_outside: np.ndarray
    num_directions: int
    dimension: int
    confidence: float
    num_unresolved: np.ndarray
    effective_rays: np.ndarray
    pareto_k: np.ndarray
    reliable: np.ndarray
    interval: str = INTERVAL

    @property
    def lower(self) -> np.ndarray:
        """The old name of :attr:`bootstrap_lower` (a percentile bootstrap bound, not a confidence
        bound unless ``reliable``)."""
        return self.bootstrap_lower

    @property
    def upper(self) -> np.ndarray:
        """The old name of :attr:`bootstrap_upper` (a percentile bootstrap bound, not a confidence
        bound unless ``reliable``)."""
        return self.bootstrap_upper

    @property
    def diagnostics(self) -> VolumeDiagnostics:
        """The log-volume diagnostics of the rays behind this estimate (whatever the statistic)."""
        rule = (self.effective_rays >= MIN_EFFECTIVE_RAYS) & (self.pareto_k <= pareto_k_threshold(self.num_directions))
        reliable = rule & (self.num_unresolved == 0) & ~self.is_outside
        return VolumeDiagnostics(
            self.effective_rays, self.pareto_k, reliable, self.num_censored, self.num_unresolved, self.num_directions
        )


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
    """A statistic of an :class:`~landform.volume.ExitRadii` result with its percentile bootstrap
    interval over directions and its diagnostics.

    Uses ``result.sphere_radii``, ``result.dimension``, ``result.censored`` and
    ``result.status``; ``include_ball`` and ``include_jacobian`` add log V_n and log ``|det D|``
    (volume statistics only). Censored rays make the estimate a lower bound (flagged); rays with
    status "unresolved" are counted and make it unreliable; rays with status "outside" give −∞.
    The interval is a confidence interval only where ``reliable`` (see :class:`VolumeEstimate`);
    read ``effective_rays`` and ``pareto_k`` before comparing log-volumes.
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
        radii,
        result.dimension,
        statistic=statistic,
        num_resamples=num_resamples,
        confidence=confidence,
        seed=seed,
        **options,
    )
    outside = np.asarray(result.outside_by) > 0
    unresolved = np.asarray(result.status) == UNRESOLVED
    checks = volume_diagnostics(radii, result.dimension, censored=result.censored, unresolved=unresolved)
    if statistic == "log_volume":
        reliable = checks.reliable
    elif statistic == "log_max_volume":
        reliable = np.zeros(outside.shape, dtype=bool)
    else:
        reliable = checks.unresolved == 0
    value = np.where(outside, -np.inf, value) if statistic != "median_radius" else np.where(outside, 0.0, value)
    return VolumeEstimate(
        statistic=statistic,
        value=value,
        bootstrap_lower=low,
        bootstrap_upper=high,
        is_lower_bound=(checks.censored > 0) & ~outside,
        num_censored=checks.censored,
        is_outside=outside,
        num_directions=int(radii.shape[0]),
        dimension=int(result.dimension),
        confidence=float(confidence),
        num_unresolved=checks.unresolved,
        effective_rays=np.where(outside, 0.0, checks.effective_rays),
        pareto_k=np.where(outside, np.nan, checks.pareto_k),
        reliable=reliable & ~outside,
        interval=INTERVAL,
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
